#include "bench_corpus.h"

#include <stdlib.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "mpp/field/use_cases.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/hlc.h"
#include "mpp/sync/uuid.h"

namespace mpp::bench {
namespace {

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "mpp-micro-bench: %s\n", why.c_str());
  std::abort();
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The generator's output for (n, seed) is byte-identical across runs (its documented contract),
// so every run of the benchmarks sees the same requests.
std::string RunWorkload() {
  const std::string command = std::string("python3 '") + MPP_WORKLOAD + "' --n " +
                              std::to_string(kBatchItems) + " --seed " +
                              std::to_string(kWorkloadSeed);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) Die("cannot run " + command);
  std::string out;
  std::array<char, 64 * 1024> buffer;
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  if (pclose(pipe) != 0) Die(command + " failed");
  return out;
}

Corpus BuildCorpus() {
  Corpus c;
  c.catalog_json = ReadFileOrDie(MPP_DEFAULT_CATALOG);
  auto catalog = sync::Catalog::FromJson(c.catalog_json);
  if (!catalog) Die("default catalog: " + catalog.error().message());
  c.catalog = std::move(catalog).value();

  std::istringstream lines(RunWorkload());
  std::string line;
  while (std::getline(lines, line)) {
    auto parsed = field::ParseImportLine(line);
    if (!parsed)
      Die("workload line " + std::to_string(c.drafts.size() + 1) + ": " + parsed.error().message());
    sync::Mutation draft;
    draft.kind = sync::MutationKind::kCreate;
    draft.service_id = std::move(parsed->service_id);
    for (auto& [name, value] : parsed->fields) draft.writes.push_back({name, value, {}});
    c.drafts.push_back(std::move(draft));
  }
  if (c.drafts.size() != kBatchItems) {
    Die("the workload generator gave " + std::to_string(c.drafts.size()) + " lines, expected " +
        std::to_string(kBatchItems));
  }

  // What VanStore::Commit fills in for one import transaction: one clock reading, so the HLC
  // only counts up its logical part, and receipts of the day numbered from 1.
  sync::FakeClock clock(kStartMs);
  sync::SeededRng rng(kWorkloadSeed);
  sync::HybridClock hlc(&clock);
  c.device_id = sync::NewUuidV7(clock, rng);
  Bytes seed(crypto::kEd25519PrivateKeyBytes);
  rng.Fill(seed);
  auto public_key = crypto::Ed25519PublicKeyOf(seed);
  if (!public_key) Die("device key: " + public_key.error().message());
  c.device_key = {std::move(public_key).value(), std::move(seed)};
  for (size_t i = 0; i < c.drafts.size(); ++i) {
    sync::Mutation m = c.drafts[i];
    m.origin = c.device_id;
    m.actor = kOfficer;
    m.seq = i + 1;
    m.hlc = hlc.Now();
    m.request_id = sync::NewUuidV7(clock, rng);
    char counter[24];
    std::snprintf(counter, sizeof counter, "%04zu", i + 1);
    m.receipt = std::string(kVanCode) + "-20251128-" + counter;  // kStartMs's day in WIB
    c.mutations.push_back(std::move(m));
  }
  c.encoded = sync::EncodeMutations(c.mutations);
  return c;
}

}  // namespace

const Corpus& GetCorpus() {
  static const Corpus corpus = BuildCorpus();
  return corpus;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "mpp-micro-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) Die("cannot create a directory like " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;  // a leftover temp dir is not worth failing a benchmark over
  std::filesystem::remove_all(path_, ignored);
}

Result<std::unique_ptr<store::VanStore>> CreateVanStore(const std::string& dir, sync::Clock& clock,
                                                        sync::Rng& rng) {
  store::InitOptions options;
  options.van_code = kVanCode;
  options.officer = kOfficer;
  options.catalog_json = GetCorpus().catalog_json;
  options.kdf.memory_kib = 64;
  options.kdf.time_cost = 1;
  return store::VanStore::Create(dir, kPassphrase, options, clock, rng);
}

Result<server::ServerHome> CreateServerHome(const std::string& dir) {
  MPP_RETURN_IF_ERROR(server::InitServerHome(dir, GetCorpus().catalog_json));
  sync::SystemClock clock;  // dates a new epoch only, which a fresh directory never starts
  return server::OpenServerHome(dir, clock);
}

}  // namespace mpp::bench
