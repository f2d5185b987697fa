// The data the micro-benchmarks work on, built once per process: one import batch of
// `tools/workload --n 500 --seed 1` lines, as the drafts the van's import hands to
// VanStore::Commit and as the mutations a push carries, so sizes and entropy (and therefore the
// compression figures) are those of real requests. Plus the small helpers every benchmark
// file needs: a temp dir, a cheap van store, a server home, and error checks.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mpp/server/server_home.h"
#include "mpp/store/van_store.h"
#include "mpp/sync/bytes.h"
#include "mpp/sync/catalog.h"
#include "mpp/sync/clock.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/model.h"
#include "mpp/sync/result.h"

namespace mpp::bench {

inline constexpr size_t kBatchItems = 500;
inline constexpr uint64_t kWorkloadSeed = 1;
inline constexpr char kVanCode[] = "KR01";
inline constexpr char kOfficer[] = "Rahmat Hidayat";
inline constexpr char kPassphrase[] = "bench-passphrase";
// Every clock in the benchmarks starts here (2025-11-28 10:20 WIB), so stamps and receipts are
// the same from run to run.
inline constexpr int64_t kStartMs = 1'764'300'000'000;

struct Corpus {
  std::string catalog_json;  // data/catalog.json
  sync::Catalog catalog;
  // Create drafts as ImportFile builds them: service and writes only.
  std::vector<sync::Mutation> drafts;
  // The same requests as VanStore::Commit completes them (origin, actor, seq 1-500, HLC,
  // UUIDv7 id, receipt): what PendingMutations returns and a push batch carries.
  std::vector<sync::Mutation> mutations;
  Bytes encoded;  // EncodeMutations(mutations): the raw body of a push
  std::string device_id;
  // Derived from a fixed seed, so the signed bytes are the same in every run.
  crypto::Ed25519KeyPair device_key;
};

// Built on first use. Aborts the process, saying why on stderr, when the workload generator or
// the catalog cannot be read or a line does not parse: no figure would mean anything then.
const Corpus& GetCorpus();

// A fresh directory under the system temp dir (TMPDIR; /dev/shm takes fsync out of the store
// figures), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A new van store in dir, unlocked, holding the default catalog. Argon2id runs with 64 KiB and
// one pass, as in the tests: the passphrase derivation is not a hot path and would dwarf setup.
Result<std::unique_ptr<store::VanStore>> CreateVanStore(const std::string& dir, sync::Clock& clock,
                                                        sync::Rng& rng);

// A new server home in dir (key, SQLite storage, default catalog), opened.
Result<server::ServerHome> CreateServerHome(const std::string& dir);

// On error, stops the benchmark with `what` and the message and returns true. The caller must
// then leave its loop at once, without pausing or resuming the timer (benchmark checks that).
template <typename T>
bool Failed(benchmark::State& state, const Result<T>& result, const char* what) {
  if (result.ok()) return false;
  state.SkipWithError((std::string(what) + ": " + result.error().message()).c_str());
  return true;
}

inline bool Failed(benchmark::State& state, bool ok, const char* what) {
  if (ok) return false;
  state.SkipWithError(what);
  return true;
}

}  // namespace mpp::bench
