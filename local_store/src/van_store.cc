// Opening and creating a van store, its device identity (device id, van code, officer,
// enrolment) and its catalog. The other jobs of VanStore live in the files van_store_impl.h
// lists; the public contract is mpp/store/van_store.h.
//
// Invariants: a store is created whole in one transaction (device row, catalog, sync state) or
// not at all, and is migrated to kSchemaVersion before anything reads it. The identity loaded
// here (device id, van code, officer, receipt series) is what every mutation is signed with.
#include "mpp/store/van_store.h"

#include <filesystem>

#include "keys.h"
#include "mpp/sqlite/sqlite.h"
#include "mpp/sync/text.h"
#include "mpp/sync/uuid.h"
#include "receipts.h"
#include "schema.h"
#include "van_store_impl.h"

namespace mpp::store {

namespace {

// The officer's name goes into every mutation, which the server checks (sync/text.h): NFC,
// 1-100 bytes, the rules of a name.
Result<std::string> OfficerName(std::string_view typed) {
  std::string officer = sync::ToNfc(typed);
  if (officer.empty() || officer.size() > 100) {
    return Error::InvalidInput("officer name must be 1-100 characters");
  }
  MPP_RETURN_IF_ERROR(sync::CheckText(officer, "officer name", sync::TextRules::Name()));
  return officer;
}

}  // namespace

Result<void> VanStore::Impl::LoadIdentity() {
  MPP_ASSIGN_OR_RETURN(
      auto stmt, db_.Prepare("SELECT device_id, van_code, officer, receipt_series FROM device"));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::Corrupt("the store has no device identity (an interrupted init?)");
  device_id_ = stmt.ColumnText(0);
  van_code_ = stmt.ColumnText(1);
  officer_ = stmt.ColumnText(2);
  receipt_series_ = static_cast<uint32_t>(stmt.ColumnInt(3));
  MPP_ASSIGN_OR_RETURN(auto state, db_.Prepare("SELECT hlc FROM sync_state"));
  MPP_ASSIGN_OR_RETURN(bool has_state, state.Step());
  if (has_state) hlc_.Restore(sync::HlcTimestamp::FromPacked(state.ColumnInt(0)));
  return Ok();
}

Result<const sync::Catalog*> VanStore::Impl::LoadCatalog() {
  if (!catalog_) {
    MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("SELECT body FROM catalog"));
    MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return Error::Corrupt("the store has no catalog");
    MPP_ASSIGN_OR_RETURN(auto catalog, sync::Catalog::FromJson(stmt.ColumnText(0)));
    catalog_ = std::move(catalog);
  }
  return &*catalog_;
}

VanStore::VanStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VanStore::~VanStore() = default;

Result<std::unique_ptr<VanStore>> VanStore::Create(const std::string& dir,
                                                   std::string_view passphrase,
                                                   const InitOptions& options, sync::Clock& clock,
                                                   sync::Rng& rng) {
  if (!IsVanCode(options.van_code)) {
    return Error::InvalidInput("van code \"" + options.van_code +
                               "\" must be 1-12 capital letters or digits, e.g. KR01");
  }
  MPP_ASSIGN_OR_RETURN(const std::string officer, OfficerName(options.officer));
  if (passphrase.size() < 8) {
    return Error::InvalidInput("the passphrase must be at least 8 characters");
  }
  MPP_ASSIGN_OR_RETURN(sync::Catalog catalog, sync::Catalog::FromJson(options.catalog_json));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error::InvalidInput("cannot create data directory " + dir + ": " + ec.message());
  const std::string path = (std::filesystem::path(dir) / kStoreFileName).string();
  if (std::filesystem::exists(path)) {
    return Error::Conflict("a store already exists in " + dir + " (refusing to overwrite it)");
  }
  MPP_ASSIGN_OR_RETURN(Database db, Database::Open(path, Database::Mode::kReadWriteCreate));
  auto migrated = MigrateToCurrent(db, /*fresh=*/true);
  if (!migrated) {
    std::filesystem::remove(path, ec);
    return migrated.error();
  }

  // Keys: a random data key seals personal data; the passphrase key only wraps the data key,
  // so changing the passphrase never re-encrypts the requests.
  MPP_ASSIGN_OR_RETURN(NewStoreKeys keys, MakeNewStoreKeys(passphrase, options.kdf));

  auto impl = std::make_unique<Impl>(std::move(db), path, clock, rng);
  {
    MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(impl->db_));
    MPP_ASSIGN_OR_RETURN(
        auto device,
        impl->db_.Prepare("INSERT INTO device(id, device_id, van_code, officer, created_ms, "
                          "public_key, sealed_private_key, kdf_salt, kdf_time_cost, "
                          "kdf_memory_kib, kdf_parallelism, wrapped_data_key) "
                          "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    device.Bind(1, sync::NewUuidV7(clock, rng)).Bind(2, options.van_code).Bind(3, officer);
    device.Bind(4, clock.NowMillis()).Bind(5, keys.public_key).Bind(6, keys.sealed_private_key);
    device.Bind(7, keys.salt).Bind(8, int64_t{options.kdf.time_cost});
    device.Bind(9, int64_t{options.kdf.memory_kib}).Bind(10, int64_t{options.kdf.parallelism});
    device.Bind(11, keys.wrapped_data_key);
    MPP_RETURN_IF_ERROR(device.Run());
    MPP_ASSIGN_OR_RETURN(
        auto cat, impl->db_.Prepare("INSERT INTO catalog(id, version, body) VALUES (1, ?, ?)"));
    cat.Bind(1, catalog.version()).Bind(2, options.catalog_json);
    MPP_RETURN_IF_ERROR(cat.Run());
    MPP_RETURN_IF_ERROR(impl->db_.Exec(
        "INSERT INTO sync_state(id, next_seq, acked_seq, cursor, hlc, last_sync_ms, receipt_day, "
        "receipt_counter) VALUES (1, 1, 0, 0, 0, 0, '', 0)"));
    MPP_RETURN_IF_ERROR(txn.Commit());
  }
  MPP_RETURN_IF_ERROR(impl->LoadIdentity());
  impl->AdoptDataKey(std::move(keys.data_key));
  return std::unique_ptr<VanStore>(new VanStore(std::move(impl)));
}

Result<std::unique_ptr<VanStore>> VanStore::Open(const std::string& dir, sync::Clock& clock,
                                                 sync::Rng& rng) {
  const std::string path = (std::filesystem::path(dir) / kStoreFileName).string();
  if (!std::filesystem::exists(path)) {
    return Error::NotFound("no van store in " + dir + ": create one first");
  }
  MPP_ASSIGN_OR_RETURN(Database db, Database::Open(path, Database::Mode::kReadWrite));
  auto migrated = MigrateToCurrent(db, /*fresh=*/false);
  if (!migrated) return migrated.error().WithContext(path);
  auto impl = std::make_unique<Impl>(std::move(db), path, clock, rng);
  MPP_RETURN_IF_ERROR(impl->LoadIdentity());
  return std::unique_ptr<VanStore>(new VanStore(std::move(impl)));
}

Result<void> VanStore::SetOfficer(std::string_view officer) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(std::string name, OfficerName(officer));
  MPP_ASSIGN_OR_RETURN(auto stmt, impl_->db_.Prepare("UPDATE device SET officer = ?"));
  stmt.Bind(1, name);
  MPP_RETURN_IF_ERROR(stmt.Run());
  impl_->officer_ = std::move(name);
  return Ok();
}

Result<DeviceInfo> VanStore::Device() {
  MPP_ASSIGN_OR_RETURN(
      auto stmt,
      impl_->db_.Prepare(
          "SELECT device_id, van_code, officer, public_key, server_url, server_public_key, "
          "enrolled_ms, (SELECT last_sync_ms FROM sync_state), (SELECT count(*) FROM outbox), "
          "(SELECT user_version FROM pragma_user_version) FROM device"));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::Corrupt("the store has no device identity");
  DeviceInfo info;
  info.device_id = stmt.ColumnText(0);
  info.van_code = stmt.ColumnText(1);
  info.officer = stmt.ColumnText(2);
  info.public_key = stmt.ColumnBlob(3);
  info.fingerprint = crypto::KeyFingerprint(info.public_key);
  info.server_url = stmt.ColumnText(4);
  info.server_public_key = stmt.ColumnBlob(5);
  info.enrolled_ms = stmt.ColumnInt(6);
  info.last_sync_ms = stmt.ColumnInt(7);
  info.pending = stmt.ColumnInt(8);
  info.schema_version = static_cast<int>(stmt.ColumnInt(9));
  return info;
}

Result<sync::Catalog> VanStore::Catalog() {
  MPP_ASSIGN_OR_RETURN(const sync::Catalog* catalog, impl_->LoadCatalog());
  return *catalog;
}

Result<void> VanStore::SaveEnrollment(const std::string& server_url, ByteView server_public_key,
                                      uint32_t receipt_series) {
  MPP_ASSIGN_OR_RETURN(
      auto stmt, impl_->db_.Prepare("UPDATE device SET server_url = ?, server_public_key = ?, "
                                    "enrolled_ms = ?, receipt_series = ?"));
  stmt.Bind(1, server_url).Bind(2, server_public_key).Bind(3, impl_->clock_.NowMillis());
  stmt.Bind(4, int64_t{receipt_series});
  MPP_RETURN_IF_ERROR(stmt.Run());
  impl_->receipt_series_ = receipt_series;
  return Ok();
}

std::string VanStore::DatabasePathForTesting() const { return impl_->path_; }

Result<void> VanStore::SetMaxPagesForTesting(int64_t pages) {
  return impl_->db_.Exec("PRAGMA max_page_count=" + std::to_string(pages));
}

}  // namespace mpp::store
