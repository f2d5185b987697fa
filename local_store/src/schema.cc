#include "schema.h"

#include <array>
#include <string>

#include "mpp/store/van_store.h"

namespace mpp::store {
namespace {

// Migration N takes a store from schema N-1 to N. Never edit a shipped migration: stores made
// by it are in the field. tests/store/fixtures/ holds a store made at v1 that must keep opening.
constexpr std::array<const char*, kSchemaVersion> kMigrations = {
    // v1: the first field release.
    R"sql(
    CREATE TABLE device(
      id INTEGER PRIMARY KEY CHECK (id = 1),
      device_id TEXT NOT NULL,
      van_code TEXT NOT NULL,
      officer TEXT NOT NULL,
      created_ms INTEGER NOT NULL,
      public_key BLOB NOT NULL,
      sealed_private_key BLOB NOT NULL,
      kdf_salt BLOB NOT NULL,
      kdf_time_cost INTEGER NOT NULL,
      kdf_memory_kib INTEGER NOT NULL,
      kdf_parallelism INTEGER NOT NULL,
      wrapped_data_key BLOB NOT NULL,
      server_url TEXT NOT NULL DEFAULT '',
      server_public_key BLOB,
      enrolled_ms INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE catalog(
      id INTEGER PRIMARY KEY CHECK (id = 1),
      version INTEGER NOT NULL,
      body TEXT NOT NULL);
    CREATE TABLE requests(
      id TEXT PRIMARY KEY,
      receipt TEXT NOT NULL UNIQUE,
      service_id TEXT NOT NULL,
      status TEXT NOT NULL,
      nik_index BLOB,
      base BLOB,
      view BLOB NOT NULL,
      updated_ms INTEGER NOT NULL);
    CREATE INDEX requests_nik ON requests(nik_index);
    CREATE TABLE outbox(
      seq INTEGER PRIMARY KEY,
      request_id TEXT NOT NULL,
      body BLOB NOT NULL);
    CREATE INDEX outbox_request ON outbox(request_id);
    CREATE TABLE sync_state(
      id INTEGER PRIMARY KEY CHECK (id = 1),
      next_seq INTEGER NOT NULL,
      acked_seq INTEGER NOT NULL,
      cursor INTEGER NOT NULL,
      hlc INTEGER NOT NULL,
      last_sync_ms INTEGER NOT NULL,
      receipt_day TEXT NOT NULL,
      receipt_counter INTEGER NOT NULL);
    CREATE TABLE conflicts(
      id INTEGER PRIMARY KEY,
      request_id TEXT NOT NULL,
      body BLOB NOT NULL,
      received_ms INTEGER NOT NULL);
    )sql",
    // v2: filtering by status/service without a scan; officers mark conflicts as seen.
    R"sql(
    CREATE INDEX requests_status ON requests(status, service_id);
    ALTER TABLE conflicts ADD COLUMN seen INTEGER NOT NULL DEFAULT 0;
    )sql",
    // v3: pulls of only what changed need the cursor of the last complete pull (0 for a store
    // made before: its first pull then brings requests whole).
    R"sql(
    ALTER TABLE sync_state ADD COLUMN complete_cursor INTEGER NOT NULL DEFAULT 0;
    )sql",
    // v4: recovery when van and server disagree about what was applied. The receipt series the
    // server gave this device (receipts unique across a van's tablets); the server's epoch (a
    // new one: it was restored from a backup); whether the next pull takes the whole scope again
    // (the van's copy went back in time); receipts no longer UNIQUE, so data from before receipts
    // were unique per van can never make a pull fail (Find reports an ambiguous receipt).
    R"sql(
    ALTER TABLE device ADD COLUMN receipt_series INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN server_epoch INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN resync INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE requests_v4(
      id TEXT PRIMARY KEY,
      receipt TEXT NOT NULL,
      service_id TEXT NOT NULL,
      status TEXT NOT NULL,
      nik_index BLOB,
      base BLOB,
      view BLOB NOT NULL,
      updated_ms INTEGER NOT NULL);
    INSERT INTO requests_v4(id, receipt, service_id, status, nik_index, base, view, updated_ms)
      SELECT id, receipt, service_id, status, nik_index, base, view, updated_ms FROM requests;
    DROP TABLE requests;
    ALTER TABLE requests_v4 RENAME TO requests;
    CREATE INDEX requests_nik ON requests(nik_index);
    CREATE INDEX requests_status ON requests(status, service_id);
    CREATE INDEX requests_receipt ON requests(receipt);
    )sql",
    // v5: when the server acknowledged the van's changes of a request, for the officer's
    // "sent, acknowledged at ..." (0: never, or acknowledged before this version kept it).
    R"sql(
    ALTER TABLE requests ADD COLUMN acked_ms INTEGER NOT NULL DEFAULT 0;
    )sql",
};

}  // namespace

Result<int> MigrateToCurrent(sqlite::Database& db, bool fresh) {
  MPP_ASSIGN_OR_RETURN(int64_t app_id, db.PragmaInt("application_id"));
  MPP_ASSIGN_OR_RETURN(int64_t version, db.PragmaInt("user_version"));
  if (!fresh && app_id != kApplicationId) {
    return Error::InvalidInput("the database is not an MPP van store (application_id " +
                               std::to_string(app_id) + ")");
  }
  if (version > kSchemaVersion) {
    return Error::InvalidInput(
        "the store has schema v" + std::to_string(version) +
        ", made by a newer version of the van's software; this version knows up to v" +
        std::to_string(kSchemaVersion) + ": update the software");
  }
  MPP_RETURN_IF_ERROR(db.UseDurableWal());
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    MPP_ASSIGN_OR_RETURN(auto txn, sqlite::Transaction::Begin(db));
    MPP_RETURN_IF_ERROR(db.Exec(kMigrations[v]));
    MPP_RETURN_IF_ERROR(db.Exec("PRAGMA application_id=" + std::to_string(kApplicationId) +
                                "; PRAGMA user_version=" + std::to_string(v + 1)));
    MPP_RETURN_IF_ERROR(txn.Commit());
  }
  return kSchemaVersion;
}

}  // namespace mpp::store
