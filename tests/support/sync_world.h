// A server and several vans in one process, on stores in a temp dir, joined by in-process
// transports (with a FaultyTransport in front of each van). The building block of scenario
// tests and the deterministic simulation: everything runs on one FakeClock and seeded Rngs.
//
// The server's storage is the backend MPP_TEST_STORAGE names (storage_backend.h): SQLite's
// server.db in the server's data dir by default; with "postgres", a fresh database of the test
// binary's throwaway cluster per world (the keys stay in the data dir), dropped with the world.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mpp/field/sync_client.h"
#include "mpp/server/server_home.h"
#include "mpp/server/services.h"
#include "mpp/store/van_store.h"
#include "support/loopback_transport.h"
#include "support/storage_backend.h"
#include "support/test_util.h"

namespace mpp::test {

inline constexpr char kVanPassphrase[] = "van-passphrase";

// A van's own clock: the world's time plus an offset the simulation sets (a dead RTC, a wrong
// time zone, a manual change).
class SkewedClock final : public sync::Clock {
 public:
  explicit SkewedClock(sync::Clock& base) : base_(base) {}
  int64_t NowMillis() override { return base_.NowMillis() + offset_ms_; }
  void SleepFor(std::chrono::milliseconds d) override { base_.SleepFor(d); }
  void set_offset_ms(int64_t offset_ms) { offset_ms_ = offset_ms; }
  int64_t offset_ms() const { return offset_ms_; }

 private:
  sync::Clock& base_;
  int64_t offset_ms_ = 0;
};

struct Van {
  std::unique_ptr<SkewedClock> clock;
  std::string dir;
  std::string van_code;
  std::unique_ptr<store::VanStore> store;
  std::unique_ptr<FaultyTransport> link;  // in front of the world's loopback
  std::string device_id() const { return store->Device().value().device_id; }
};

class SyncWorld {
 public:
  // Uses the default catalog (data/catalog.json) unless catalog_json is given.
  explicit SyncWorld(uint64_t seed, std::string catalog_json = "", std::string parent_dir = "");

  sync::FakeClock& clock() { return clock_; }
  sync::SeededRng& rng() { return rng_; }
  server::Services& services() { return *services_; }
  server::ServerStorage& storage() { return *home_.storage; }
  LoopbackTransport& loopback() { return *loopback_; }
  const std::string& dir() const { return dir_.path().native(); }

  // Creates a van store and enrols it with a fresh token. Fails the test on error.
  Van& AddVan(const std::string& van_code);
  Van& van(size_t i) { return *vans_[i]; }
  size_t van_count() const { return vans_.size(); }

  // Reopens a van's store from disk (a crash of the van process).
  void ReopenVan(Van& van);
  // Reopens the server's storage and service from disk (a crash of the server process); on
  // PostgreSQL the same database.
  void RestartServer();

  // Stores that go back in time. A copy of the van's store as it is now (the officer's backup),
  // and putting it back later (the officer restores it): the van then reuses seqs and receipts
  // the server already holds. Restoring without a snapshot is a test failure.
  void SnapshotVan(Van& van);
  bool HasVanSnapshot(const Van& van) const;
  void RestoreVanSnapshot(Van& van);
  // The server's backup now (`mpp-server backup`), and `mpp-server restore` of it later: a new
  // epoch, in which the server lacks what it acknowledged after the backup. On PostgreSQL,
  // whose backups are the database's own: a copy of the database (CREATE DATABASE ... TEMPLATE,
  // which needs the server closed meanwhile, so the snapshot also restarts it), and putting
  // the copy back then starting a new epoch, as `mpp-server restore` does for SQLite.
  void SnapshotServer();
  bool HasServerSnapshot() const;
  void RestoreServerSnapshot();

  Result<field::SyncReport> Sync(Van& van, field::SyncOptions options = {});

  // A valid import line's fields for the default catalog's KTP-el service.
  static sync::FieldMap KtpFields(int serial);
  // Registers KtpFields(serial) on the van; fails the test (and returns an empty request) when
  // the van refuses it.
  static sync::Request RegisterKtp(Van& van, int serial);
  // The server's state of a request; fails the test when the server does not hold it.
  sync::Request ServerState(const std::string& id);

  StorageBackend backend() const { return backend_; }
  // The server's database as InitServerHome and OpenServerHome take it: "" (SQLite in the data
  // dir) or a postgresql:// URL.
  const std::string& server_db() const { return server_db_; }

 private:
  void StopServer();

  std::unique_ptr<TempDir> dir_holder_;
  TempDir& dir_;
  sync::FakeClock clock_{1'764'300'000'000};
  sync::SeededRng rng_;
  StorageBackend backend_;
  // PostgreSQL: the server's database and the snapshot's copy; declared before home_, so they
  // are dropped after the storage on them closed. Null on SQLite.
  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<ScratchDatabase> db_snapshot_;
  std::string server_db_;
  server::ServerHome home_;
  std::unique_ptr<server::Services> services_;
  std::unique_ptr<LoopbackTransport> loopback_;
  std::vector<std::unique_ptr<Van>> vans_;
};

}  // namespace mpp::test
