#include "mpp/store/van_store.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "mpp/sqlite/sqlite.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/hlc.h"
#include "mpp/sync/merge.h"
#include "mpp/sync/text.h"
#include "mpp/sync/uuid.h"
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

// The data key, unsealed under the key derived from `passphrase` (kUnauthenticated when it is
// not the store's passphrase), and the store's KDF cost in `params`.
Result<Bytes> UnwrapDataKey(Database& db, std::string_view passphrase,
                            crypto::Argon2Params& params) {
  MPP_ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT kdf_salt, kdf_time_cost, kdf_memory_kib, "
                                             "kdf_parallelism, wrapped_data_key FROM device"));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::Corrupt("the store has no device identity");
  params.time_cost = static_cast<uint32_t>(stmt.ColumnInt(1));
  params.memory_kib = static_cast<uint32_t>(stmt.ColumnInt(2));
  params.parallelism = static_cast<uint32_t>(stmt.ColumnInt(3));
  MPP_ASSIGN_OR_RETURN(Bytes kek,
                       crypto::Argon2idDeriveKey(passphrase, stmt.ColumnBlob(0), params));
  auto data_key = crypto::AesGcmOpen(kek, stmt.ColumnBlob(4), ViewOf(kDataKeyAad));
  crypto::Cleanse(kek);
  if (!data_key) return Error::Unauthenticated("wrong passphrase");
  return std::move(data_key).value();
}

}  // namespace

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
  const Bytes salt = crypto::RandomBytes(crypto::kArgon2SaltBytes);
  MPP_ASSIGN_OR_RETURN(Bytes kek, crypto::Argon2idDeriveKey(passphrase, salt, options.kdf));
  Bytes data_key = crypto::RandomBytes(crypto::kAesKeyBytes);
  MPP_ASSIGN_OR_RETURN(Bytes wrapped, crypto::AesGcmSeal(kek, data_key, ViewOf(kDataKeyAad)));
  crypto::Cleanse(kek);
  MPP_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair keys, crypto::GenerateEd25519KeyPair());
  MPP_ASSIGN_OR_RETURN(Bytes sealed_private,
                       crypto::AesGcmSeal(data_key, keys.private_key, ViewOf(kPrivateKeyAad)));
  crypto::Cleanse(keys.private_key);

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
    device.Bind(4, clock.NowMillis()).Bind(5, keys.public_key).Bind(6, sealed_private);
    device.Bind(7, salt).Bind(8, int64_t{options.kdf.time_cost});
    device.Bind(9, int64_t{options.kdf.memory_kib}).Bind(10, int64_t{options.kdf.parallelism});
    device.Bind(11, wrapped);
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
  impl->data_key_ = std::move(data_key);
  const auto index_key = crypto::HmacSha256(impl->data_key_, ViewOf(kNikIndexLabel));
  impl->index_key_.assign(index_key.begin(), index_key.end());
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

Result<void> VanStore::Unlock(std::string_view passphrase) {
  crypto::Argon2Params params;
  MPP_ASSIGN_OR_RETURN(impl_->data_key_, UnwrapDataKey(impl_->db_, passphrase, params));
  const auto index_key = crypto::HmacSha256(impl_->data_key_, ViewOf(kNikIndexLabel));
  impl_->index_key_.assign(index_key.begin(), index_key.end());
  return Ok();
}

bool VanStore::unlocked() const { return !impl_->data_key_.empty(); }

Result<void> VanStore::ChangePassphrase(std::string_view old_passphrase,
                                        std::string_view new_passphrase) {
  if (new_passphrase.size() < 8) {
    return Error::InvalidInput("the passphrase must be at least 8 characters");
  }
  Impl& s = *impl_;
  // BEGIN IMMEDIATE before reading the wrapped key: another process changing the passphrase at
  // the same time waits, so it cannot wrap a key this call then overwrites with a stale salt.
  MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(s.db_));
  crypto::Argon2Params params;
  MPP_ASSIGN_OR_RETURN(Bytes data_key, UnwrapDataKey(s.db_, old_passphrase, params));
  const Bytes salt = crypto::RandomBytes(crypto::kArgon2SaltBytes);
  auto new_kek = crypto::Argon2idDeriveKey(new_passphrase, salt, params);
  if (!new_kek) {
    crypto::Cleanse(data_key);
    return new_kek.error();
  }
  auto wrapped = crypto::AesGcmSeal(*new_kek, data_key, ViewOf(kDataKeyAad));
  crypto::Cleanse(*new_kek);
  crypto::Cleanse(data_key);
  if (!wrapped) return wrapped.error();
  MPP_ASSIGN_OR_RETURN(auto update,
                       s.db_.Prepare("UPDATE device SET kdf_salt = ?, wrapped_data_key = ?"));
  update.Bind(1, salt).Bind(2, *wrapped);
  MPP_RETURN_IF_ERROR(update.Run());
  return txn.Commit();
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

Result<std::vector<sync::Request>> VanStore::Commit(std::vector<MutationDraft> drafts) {
  std::vector<sync::Request> views;
  views.reserve(drafts.size());
  MPP_RETURN_IF_ERROR(impl_->CommitDrafts(drafts, nullptr, &views));
  return views;
}

Result<size_t> VanStore::CommitValid(std::vector<MutationDraft> drafts,
                                     const RefusedDraft& refused) {
  return impl_->CommitDrafts(drafts, &refused, nullptr);
}

Result<size_t> VanStore::Impl::CommitDrafts(std::vector<MutationDraft>& drafts,
                                            const RefusedDraft* refused,
                                            std::vector<sync::Request>* views_out) {
  MPP_RETURN_IF_ERROR(RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(const sync::Catalog* catalog, LoadCatalog());
  MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(db_));
  MPP_ASSIGN_OR_RETURN(auto state, db_.Prepare("SELECT next_seq, hlc, receipt_day, receipt_counter "
                                               "FROM sync_state"));
  MPP_ASSIGN_OR_RETURN(bool has_state, state.Step());
  if (!has_state) return Error::Corrupt("the store has no sync state");
  uint64_t next_seq = static_cast<uint64_t>(state.ColumnInt(0));
  hlc_.Restore(sync::HlcTimestamp::FromPacked(state.ColumnInt(1)));
  std::string receipt_day = state.ColumnText(2);
  int64_t receipt_counter = state.ColumnInt(3);

  // Views touched by this batch, so several drafts on one request see each other.
  std::map<std::string, std::optional<sync::Request>> views;
  std::map<std::string, bool> is_new;
  size_t committed = 0;
  for (size_t i = 0; i < drafts.size(); ++i) {
    MutationDraft& m = drafts[i];
    const auto where = [&] {
      return drafts.size() > 1 ? "change " + std::to_string(i + 1) + ": " : std::string();
    };
    m.origin = device_id_;
    m.actor = officer_;
    m.seq = next_seq;
    m.hlc = hlc_.Now();
    // The receipt counter moves only when the draft commits: a refused one gives its number
    // back.
    int64_t counter = receipt_counter;
    if (m.kind == sync::MutationKind::kCreate) {
      if (m.request_id.empty()) m.request_id = sync::NewUuidV7(clock_, rng_);
      const std::string today = WibDay(clock_.NowMillis());
      if (today != receipt_day) {
        // The day changed, or the clock went back to a day that already has receipts: continue
        // after that day's highest counter so a receipt number is never given twice.
        receipt_day = today;
        MPP_ASSIGN_OR_RETURN(receipt_counter, HighestReceiptCounter(ReceiptPrefix(today)));
        counter = receipt_counter;
      }
      char number[32];
      snprintf(number, sizeof number, "%04lld", static_cast<long long>(++counter));
      m.receipt = ReceiptPrefix(receipt_day) + number;
    }
    auto it = views.find(m.request_id);
    const bool first_of_request = it == views.end();
    if (first_of_request) {
      MPP_ASSIGN_OR_RETURN(auto loaded, m.kind == sync::MutationKind::kCreate
                                            ? Result<std::optional<sync::Request>>(std::nullopt)
                                            : LoadView(m.request_id));
      if (loaded) MPP_RETURN_IF_ERROR(KeepBaseBeforeEdit(*loaded));
      it = views.emplace(m.request_id, std::move(loaded)).first;
      is_new[m.request_id] = !it->second.has_value();
    }
    std::optional<sync::Request>& view = it->second;
    // The officer edits what they see: each write's base is the version in the view.
    if (view) {
      for (auto& w : m.writes) {
        auto f = view->fields.find(w.name);
        w.base = f == view->fields.end() ? sync::Version{} : f->second.version;
      }
      m.status_base = view->status_version;
    }
    // ApplyMutation is where every draft is validated against the catalog; it leaves the view
    // unchanged when it refuses one.
    auto outcome = sync::ApplyMutation(*catalog, view, m, sync::Role::kVan);
    if (!outcome || !outcome->clean) {
      if (refused == nullptr) {
        if (!outcome) {
          return outcome.error().WithContext(where().empty() ? "refused" : where() + "refused");
        }
        return Error::InvalidInput(where() + outcome->conflicts.front().reason);
      }
      (*refused)(
          i, outcome ? Error::InvalidInput(outcome->conflicts.front().reason) : outcome.error());
      if (first_of_request) {  // nothing in this batch changed it
        is_new.erase(m.request_id);
        views.erase(it);
      }
      continue;
    }
    MPP_RETURN_IF_ERROR(AppendOutbox(m));
    ++next_seq;
    receipt_counter = counter;
    ++committed;
    if (views_out != nullptr) views_out->push_back(*view);
  }
  if (committed == 0 && refused != nullptr) return size_t{0};  // the transaction rolls back
  for (auto& [id, view] : views) {
    MPP_RETURN_IF_ERROR(SaveView(*view, is_new[id]));
  }
  MPP_ASSIGN_OR_RETURN(auto save_state, db_.Prepare("UPDATE sync_state SET next_seq = ?, hlc = ?, "
                                                    "receipt_day = ?, receipt_counter = ?"));
  save_state.Bind(1, static_cast<int64_t>(next_seq)).Bind(2, hlc_.last().Packed());
  save_state.Bind(3, receipt_day).Bind(4, receipt_counter);
  MPP_RETURN_IF_ERROR(save_state.Run());
  MPP_RETURN_IF_ERROR(txn.Commit());
  return committed;
}

Result<RequestRow> VanStore::Find(std::string_view id_or_receipt) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  // Receipts are written in capitals (van codes are capital letters and digits), but an officer
  // types what the citizen reads out: the receipt is matched in capitals. Ids (UUIDs, lowercase
  // hex) are matched exactly.
  std::string receipt(id_or_receipt);
  std::transform(receipt.begin(), receipt.end(), receipt.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  });
  MPP_ASSIGN_OR_RETURN(
      auto stmt, impl_->db_.Prepare(
                     "SELECT id, view, EXISTS(SELECT 1 FROM outbox o WHERE o.request_id = r.id) "
                     "FROM requests r WHERE id = ?1 OR receipt = ?2 ORDER BY id = ?1 DESC, id "
                     "LIMIT 2"));
  stmt.Bind(1, id_or_receipt).Bind(2, receipt);
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::NotFound("no request with id or receipt " + std::string(id_or_receipt));
  MPP_ASSIGN_OR_RETURN(RequestRow found, impl_->ReadRow(stmt));
  if (found.view.id != id_or_receipt) {
    // Receipts are unique per van now; stores synced before may hold two with one number.
    MPP_ASSIGN_OR_RETURN(bool second, stmt.Step());
    if (second) {
      return Error::Conflict("receipt " + receipt + " names two requests (" + found.view.id +
                             " and " + stmt.ColumnText(0) + "): give the request id");
    }
  }
  return found;
}

Result<std::vector<RequestRow>> VanStore::List(const RequestFilter& filter) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  // Only the conditions asked for: "(?3 IS NULL OR nik_index = ?3)" would make SQLite scan every
  // row instead of using the NIK index, and a registration looks its citizen up by NIK.
  std::string sql =
      "SELECT id, view, EXISTS(SELECT 1 FROM outbox o WHERE o.request_id = r.id) "
      "FROM requests r WHERE 1";
  if (filter.status) sql += " AND status = ?1";
  if (filter.service_id) sql += " AND service_id = ?2";
  if (filter.nik) sql += " AND nik_index = ?3";
  sql += " ORDER BY receipt";
  // Cached: an import looks up each line's citizen (eight SQL texts at most).
  MPP_ASSIGN_OR_RETURN(sqlite::Statement * stmt, impl_->Cached(sql));
  if (filter.status) stmt->Bind(1, sync::StatusName(*filter.status));
  if (filter.service_id) stmt->Bind(2, *filter.service_id);
  if (filter.nik) stmt->Bind(3, impl_->NikIndex(*filter.nik));
  std::vector<RequestRow> rows;
  for (;;) {
    MPP_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    MPP_ASSIGN_OR_RETURN(RequestRow r, impl_->ReadRow(*stmt));
    // The keyed index can (with negligible probability) collide: confirm on the clear value.
    if (filter.nik) {
      auto nik = r.view.fields.find("nik");
      if (nik == r.view.fields.end() || nik->second.value != *filter.nik) continue;
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

Result<std::vector<sync::ConflictRecord>> VanStore::Conflicts() {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(auto stmt,
                       impl_->db_.Prepare("SELECT request_id, body FROM conflicts ORDER BY id"));
  std::vector<sync::ConflictRecord> out;
  for (;;) {
    MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    MPP_ASSIGN_OR_RETURN(Bytes plain, crypto::AesGcmOpen(impl_->data_key_, stmt.ColumnBlob(1),
                                                         ViewOf(ConflictAad(stmt.ColumnText(0)))));
    MPP_ASSIGN_OR_RETURN(auto conflict, sync::DecodeConflict(plain));
    out.push_back(std::move(conflict));
  }
  return out;
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

Result<Bytes> VanStore::SignWithDeviceKey(ByteView message) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(auto stmt, impl_->db_.Prepare("SELECT sealed_private_key FROM device"));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::Corrupt("the store has no device key");
  MPP_ASSIGN_OR_RETURN(Bytes private_key, crypto::AesGcmOpen(impl_->data_key_, stmt.ColumnBlob(0),
                                                             ViewOf(kPrivateKeyAad)));
  auto signature = crypto::Ed25519Sign(private_key, message);
  crypto::Cleanse(private_key);
  return signature;
}

Result<VanStore::SyncState> VanStore::LoadSyncState() {
  MPP_ASSIGN_OR_RETURN(auto stmt, impl_->db_.Prepare("SELECT cursor, acked_seq, "
                                                     "(SELECT version FROM catalog), "
                                                     "complete_cursor, server_epoch, "
                                                     "(SELECT receipt_series FROM device), "
                                                     "next_seq, resync FROM sync_state"));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::Corrupt("the store has no sync state");
  SyncState state;
  state.cursor = static_cast<uint64_t>(stmt.ColumnInt(0));
  state.acked_seq = static_cast<uint64_t>(stmt.ColumnInt(1));
  state.catalog_version = stmt.ColumnInt(2);
  state.complete_cursor = static_cast<uint64_t>(stmt.ColumnInt(3));
  state.server_epoch = static_cast<uint64_t>(stmt.ColumnInt(4));
  state.receipt_series = static_cast<uint32_t>(stmt.ColumnInt(5));
  state.next_seq = static_cast<uint64_t>(stmt.ColumnInt(6));
  state.resync = stmt.ColumnInt(7) != 0;
  return state;
}

Result<std::vector<sync::Mutation>> VanStore::PendingMutations(size_t limit) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(auto stmt,
                       impl_->db_.Prepare("SELECT seq, body FROM outbox ORDER BY seq LIMIT ?"));
  stmt.Bind(1, static_cast<int64_t>(limit));
  return impl_->OpenMutations(stmt);
}

Result<void> VanStore::ApplyAck(const sync::PushAck& ack, const sync::HlcTimestamp& server_hlc,
                                std::span<const sync::Mutation> sent) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(const sync::Catalog* catalog, impl_->LoadCatalog());
  Impl& s = *impl_;
  MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(s.db_));
  const std::set<uint64_t> unclean(ack.unclean_seqs.begin(), ack.unclean_seqs.end());
  const uint64_t acked =
      sent.empty() ? ack.last_applied_seq : std::min(ack.last_applied_seq, sent.back().seq);
  MPP_RETURN_IF_ERROR(s.RetireAcknowledged(
      *catalog, acked, [&](const auto& m) { return unclean.count(m.seq) == 0; }, sent));
  s.hlc_.ObserveTrusted(server_hlc);
  // The epoch is adopted the first time (a store from before epochs); a different one never
  // gets here: the pusher recovers first (RecoverFromServerRestore).
  MPP_ASSIGN_OR_RETURN(auto state, s.db_.Prepare("UPDATE sync_state SET acked_seq = max(acked_seq, "
                                                 "?), hlc = max(hlc, ?), server_epoch = CASE WHEN "
                                                 "server_epoch = 0 THEN ? ELSE server_epoch END"));
  state.Bind(1, static_cast<int64_t>(acked)).Bind(2, s.hlc_.last().Packed());
  state.Bind(3, static_cast<int64_t>(ack.epoch));
  MPP_RETURN_IF_ERROR(state.Run());
  MPP_RETURN_IF_ERROR(s.SaveReceiptSeries(ack.receipt_series));
  MPP_RETURN_IF_ERROR(txn.Commit());
  s.AdoptReceiptSeries(ack.receipt_series);
  return Ok();
}

Result<void> VanStore::ApplyPull(const sync::PullAnswer& answer,
                                 const sync::HlcTimestamp& server_hlc,
                                 const PulledRequest& pulled) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(const sync::Catalog* catalog, impl_->LoadCatalog());
  std::optional<sync::Catalog> new_catalog;
  if (!answer.catalog_json.empty()) {
    auto parsed = sync::Catalog::FromJson(answer.catalog_json);
    if (!parsed) return parsed.error().WithContext("catalog from the server");
    new_catalog = std::move(parsed).value();
    catalog = &*new_catalog;
  }
  Impl& s = *impl_;
  MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(s.db_));
  std::set<std::string> in_answer;
  for (const auto& r : answer.requests) in_answer.insert(r.id);
  for (const auto& p : answer.patches) in_answer.insert(p.part.id);
  const std::set<uint64_t> unclean(answer.unclean_seqs.begin(), answer.unclean_seqs.end());

  // 1. Acknowledged mutations whose ack was lost: the server state in this answer already holds
  //    them; for requests not in it, those that applied cleanly fold into the base (an unclean
  //    one is not folded: the server's state of its request comes in this or a later page).
  MPP_RETURN_IF_ERROR(s.RetireAcknowledged(*catalog, answer.last_applied_seq, [&](const auto& m) {
    return in_answer.count(m.request_id) == 0 && unclean.count(m.seq) == 0;
  }));

  // 2. Patches bring the base up to the server's state: only the parts changed since the cursor
  //    travel, and everything the server applied after the cursor (acknowledged mutations of
  //    this van included, which step 1 therefore does not fold) is among them.
  std::vector<sync::Request> server_states = answer.requests;
  for (const sync::RequestPatch& patch : answer.patches) {
    const std::string& id = patch.part.id;
    MPP_ASSIGN_OR_RETURN(auto base, s.LoadBase(id));
    if (!base) {
      // A NULL base with nothing pending is the view (see KeepBaseBeforeEdit).
      MPP_ASSIGN_OR_RETURN(bool pending, s.HasPendingAfter(id, 0));
      if (!pending) {
        MPP_ASSIGN_OR_RETURN(base, s.LoadView(id));
      }
    }
    if (!base) {
      return Error::NotFound("the server sent a change to request " + id +
                             ", which this van does not hold");
    }
    MPP_RETURN_IF_ERROR(sync::ApplyPatch(*base, patch));
    server_states.push_back(std::move(*base));
  }

  // 3. Rebase: the server's state is the base; the view is base + what is still pending.
  for (const sync::Request& server_state : server_states) {
    MPP_ASSIGN_OR_RETURN(auto existing, s.LoadView(server_state.id));
    MPP_ASSIGN_OR_RETURN(auto pending, s.PendingFor(server_state.id));
    std::optional<sync::Request> view = server_state;
    for (const auto& m : pending) {
      // A pending change the new state refuses stays pending: the server decides and records a
      // conflict when it arrives. The view shows the server's state for it meanwhile.
      std::optional<sync::Request> next = view;
      if (sync::ApplyMutation(*catalog, next, m, sync::Role::kVan).ok()) view = std::move(next);
    }
    MPP_RETURN_IF_ERROR(s.SaveView(*view, !existing.has_value()));
    MPP_RETURN_IF_ERROR(s.SaveBase(server_state));
    if (pulled) pulled(existing, *view);
  }

  // 4. Conflicts, catalog, cursor, clock.
  for (const auto& c : answer.conflicts) {
    MPP_ASSIGN_OR_RETURN(Bytes sealed, s.Seal(sync::EncodeConflict(c), ConflictAad(c.request_id)));
    MPP_ASSIGN_OR_RETURN(auto ins, s.db_.Prepare("INSERT INTO conflicts(request_id, body, "
                                                 "received_ms) VALUES (?, ?, ?)"));
    ins.Bind(1, c.request_id).Bind(2, sealed).Bind(3, s.clock_.NowMillis());
    MPP_RETURN_IF_ERROR(ins.Run());
  }
  if (new_catalog) {
    MPP_ASSIGN_OR_RETURN(auto cat, s.db_.Prepare("UPDATE catalog SET version = ?, body = ?"));
    cat.Bind(1, new_catalog->version()).Bind(2, answer.catalog_json);
    MPP_RETURN_IF_ERROR(cat.Run());
  }
  s.hlc_.ObserveTrusted(server_hlc);
  MPP_ASSIGN_OR_RETURN(
      auto state, s.db_.Prepare("UPDATE sync_state SET cursor = ?1, acked_seq = max(acked_seq, "
                                "?2), hlc = max(hlc, ?3), complete_cursor = CASE WHEN ?4 "
                                "THEN complete_cursor ELSE ?1 END, server_epoch = CASE WHEN "
                                "server_epoch = 0 THEN ?5 ELSE server_epoch END, resync = "
                                "CASE WHEN ?4 THEN resync ELSE 0 END"));
  state.Bind(1, static_cast<int64_t>(answer.cursor));
  state.Bind(2, static_cast<int64_t>(answer.last_applied_seq)).Bind(3, s.hlc_.last().Packed());
  state.Bind(4, int64_t{answer.more ? 1 : 0}).Bind(5, static_cast<int64_t>(answer.epoch));
  MPP_RETURN_IF_ERROR(state.Run());
  MPP_RETURN_IF_ERROR(txn.Commit());
  if (new_catalog) s.catalog_ = std::move(new_catalog);
  return Ok();
}

Result<void> VanStore::MarkSynced(int64_t now_ms) {
  MPP_ASSIGN_OR_RETURN(auto stmt, impl_->db_.Prepare("UPDATE sync_state SET last_sync_ms = ?"));
  stmt.Bind(1, now_ms);
  return stmt.Run();
}

std::string VanStore::DatabasePathForTesting() const { return impl_->path_; }

Result<void> VanStore::SetMaxPagesForTesting(int64_t pages) {
  return impl_->db_.Exec("PRAGMA max_page_count=" + std::to_string(pages));
}

}  // namespace mpp::store
