#include "mpp/store/van_store.h"

#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "mpp/sqlite/sqlite.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/hlc.h"
#include "mpp/sync/merge.h"
#include "mpp/sync/uuid.h"
#include "schema.h"

namespace mpp::store {
namespace {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

// Associated data binds each sealed blob to its place, so a blob copied to another row or
// column fails to open instead of showing the wrong citizen's data.
constexpr std::string_view kDataKeyAad = "mpp-van-data-key-v1";
constexpr std::string_view kPrivateKeyAad = "mpp-van-device-key-v1";
constexpr std::string_view kNikIndexLabel = "mpp-van-nik-index-v1";
// Receipts carry the date in Kubu Raya's time zone (WIB, UTC+7).
constexpr int64_t kWibOffsetMs = 7 * 3600 * 1000;

std::string ViewAad(std::string_view id) { return "view:" + std::string(id); }
std::string BaseAad(std::string_view id) { return "base:" + std::string(id); }
std::string OutboxAad(uint64_t seq) { return "outbox:" + std::to_string(seq); }
std::string ConflictAad(std::string_view request_id) {
  return "conflict:" + std::string(request_id);
}

// YYYYMMDD of a Unix time in WIB.
std::string WibDay(int64_t unix_ms) {
  int64_t days = (unix_ms + kWibOffsetMs) / 86400000;
  // Civil-from-days (H. Hinnant), valid for the proleptic Gregorian calendar.
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[64];
  snprintf(buf, sizeof buf, "%04lld%02lld%02lld", static_cast<long long>(y),
           static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

bool IsVanCode(std::string_view code) {
  return !code.empty() && code.size() <= 12 && std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

}  // namespace

class VanStore::Impl {
 public:
  Impl(Database db, std::string path, sync::Clock& clock, sync::Rng& rng)
      : db_(std::move(db)), path_(std::move(path)), clock_(clock), rng_(rng), hlc_(&clock) {}

  Database db_;
  std::string path_;
  sync::Clock& clock_;
  sync::Rng& rng_;
  sync::HybridClock hlc_;
  Bytes data_key_;   // empty while locked
  Bytes index_key_;  // HMAC key of the NIK index
  // Made from data_key_ and index_key_ on first use; both keys are fixed once unlocked. The
  // sealer keeps the nonce invariant of crypto::AesGcmSealer for everything this store seals.
  std::optional<crypto::AesGcmSealer> sealer_;
  std::optional<crypto::HmacSha256Keyed> nik_mac_;
  std::optional<sync::Catalog> catalog_;
  std::string device_id_;
  std::string van_code_;
  std::string officer_;

  ~Impl() {
    crypto::Cleanse(data_key_);
    crypto::Cleanse(index_key_);
  }

  Result<void> LoadIdentity() {
    MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("SELECT device_id, van_code, officer FROM device"));
    MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return Error::Corrupt("the store has no device identity (an interrupted init?)");
    device_id_ = stmt.ColumnText(0);
    van_code_ = stmt.ColumnText(1);
    officer_ = stmt.ColumnText(2);
    MPP_ASSIGN_OR_RETURN(auto state, db_.Prepare("SELECT hlc FROM sync_state"));
    MPP_ASSIGN_OR_RETURN(bool has_state, state.Step());
    if (has_state) hlc_.Restore(sync::HlcTimestamp::FromPacked(state.ColumnInt(0)));
    return Ok();
  }

  Result<void> RequireUnlocked() const {
    if (data_key_.empty()) return Error::Unauthenticated("the store is locked: passphrase needed");
    return Ok();
  }

  Bytes NikIndex(std::string_view nik) {
    if (!nik_mac_) nik_mac_.emplace(index_key_);
    const auto mac = nik_mac_->Mac(ViewOf(nik));
    return Bytes(mac.begin(), mac.begin() + 16);
  }

  Result<Bytes> Seal(const Bytes& plaintext, const std::string& aad) {
    MPP_RETURN_IF_ERROR(RequireUnlocked());
    if (!sealer_) {
      MPP_ASSIGN_OR_RETURN(auto sealer, crypto::AesGcmSealer::Create(data_key_));
      sealer_.emplace(std::move(sealer));
    }
    return sealer_->Seal(plaintext, ViewOf(aad));
  }

  // The parsed catalog, kept for the life of the store; the pointer stays valid until ApplyPull
  // stores a newer catalog.
  Result<const sync::Catalog*> LoadCatalog() {
    if (!catalog_) {
      MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("SELECT body FROM catalog"));
      MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return Error::Corrupt("the store has no catalog");
      MPP_ASSIGN_OR_RETURN(auto catalog, sync::Catalog::FromJson(stmt.ColumnText(0)));
      catalog_ = std::move(catalog);
    }
    return &*catalog_;
  }

  // Commit and CommitValid (see van_store.h). Without `refused` a refused draft fails the batch;
  // with it, the draft is reported and left out. `views` (may be null) receives the view after
  // each committed draft. Returns how many drafts committed.
  Result<size_t> CommitDrafts(std::vector<MutationDraft>& drafts, const RefusedDraft* refused,
                              std::vector<sync::Request>* views_out);

  Result<sync::Request> OpenRequest(const Bytes& sealed, const std::string& aad) const {
    auto plain = crypto::AesGcmOpen(data_key_, sealed, ViewOf(aad));
    if (!plain) return plain.error().WithContext("request row " + aad);
    return sync::DecodeRequest(*plain);
  }

  Result<RequestRow> ReadRow(Statement& stmt) const {
    // Columns: id, view, pending
    RequestRow row;
    MPP_ASSIGN_OR_RETURN(row.view, OpenRequest(stmt.ColumnBlob(1), ViewAad(stmt.ColumnText(0))));
    row.pending = stmt.ColumnInt(2) != 0;
    return row;
  }

  Result<std::optional<sync::Request>> LoadView(const std::string& id) {
    MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("SELECT view FROM requests WHERE id = ?"));
    stmt.Bind(1, id);
    MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return std::optional<sync::Request>();
    MPP_ASSIGN_OR_RETURN(auto view, OpenRequest(stmt.ColumnBlob(0), ViewAad(id)));
    return std::optional<sync::Request>(std::move(view));
  }

  Result<void> SaveView(const sync::Request& view, bool is_new) {
    const Bytes encoded = sync::EncodeRequest(view);
    MPP_ASSIGN_OR_RETURN(Bytes sealed, Seal(encoded, ViewAad(view.id)));
    auto nik = view.fields.find("nik");
    const Bytes nik_index = nik == view.fields.end() ? Bytes() : NikIndex(nik->second.value);
    Statement* stmt = nullptr;
    if (is_new) {
      MPP_ASSIGN_OR_RETURN(
          stmt, Cached("INSERT INTO requests(id, receipt, service_id, status, nik_index, view, "
                       "updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"));
      stmt->Bind(1, view.id).Bind(2, view.receipt).Bind(3, view.service_id);
      stmt->Bind(4, sync::StatusName(view.status)).Bind(5, nik_index).Bind(6, sealed);
      stmt->Bind(7, clock_.NowMillis());
    } else {
      MPP_ASSIGN_OR_RETURN(stmt, Cached("UPDATE requests SET status = ?, nik_index = ?, view = ?, "
                                        "updated_ms = ? WHERE id = ?"));
      stmt->Bind(1, sync::StatusName(view.status)).Bind(2, nik_index).Bind(3, sealed);
      stmt->Bind(4, clock_.NowMillis()).Bind(5, view.id);
    }
    return stmt->Run();
  }

  Result<void> AppendOutbox(const sync::Mutation& m) {
    MPP_ASSIGN_OR_RETURN(Bytes sealed, Seal(sync::EncodeMutation(m), OutboxAad(m.seq)));
    MPP_ASSIGN_OR_RETURN(Statement * insert,
                         Cached("INSERT INTO outbox(seq, request_id, body) VALUES (?, ?, ?)"));
    insert->Bind(1, static_cast<int64_t>(m.seq)).Bind(2, m.request_id).Bind(3, sealed);
    return insert->Run();
  }

  Result<int64_t> HighestReceiptCounter(const std::string& van_code, const std::string& day) {
    const std::string prefix = van_code + "-" + day + "-";
    MPP_ASSIGN_OR_RETURN(auto stmt,
                         db_.Prepare("SELECT max(CAST(substr(receipt, ?1) AS INTEGER)) FROM "
                                     "requests WHERE substr(receipt, 1, ?2) = ?3"));
    stmt.Bind(1, static_cast<int64_t>(prefix.size() + 1));
    stmt.Bind(2, static_cast<int64_t>(prefix.size())).Bind(3, prefix);
    MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row ? stmt.ColumnInt(0) : 0;
  }

  Result<std::optional<sync::Request>> LoadBase(const std::string& id) {
    MPP_ASSIGN_OR_RETURN(Statement * stmt, Cached("SELECT base FROM requests WHERE id = ?"));
    stmt->Bind(1, id);
    MPP_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row || stmt->ColumnIsNull(0)) return std::optional<sync::Request>();
    MPP_ASSIGN_OR_RETURN(auto base, OpenRequest(stmt->ColumnBlob(0), BaseAad(id)));
    return std::optional<sync::Request>(std::move(base));
  }

  // True when the outbox holds a mutation of the request after `after_seq`.
  Result<bool> HasPendingAfter(const std::string& request_id, uint64_t after_seq) {
    MPP_ASSIGN_OR_RETURN(Statement * stmt,
                         Cached("SELECT 1 FROM outbox WHERE request_id = ? AND seq > ? LIMIT 1"));
    stmt->Bind(1, request_id).Bind(2, static_cast<int64_t>(after_seq));
    return stmt->Step();
  }

  // Invariant: a NULL base means either "not acknowledged yet" (its create is in the outbox) or,
  // when nothing of the request is pending, "the base is the view". RetireAcknowledged leaves a
  // cleanly acknowledged create that way rather than encrypting a second copy of every new
  // request. Before the officer's next change moves the view ahead, the base gets its own copy.
  Result<void> KeepBaseBeforeEdit(const sync::Request& view) {
    MPP_ASSIGN_OR_RETURN(Statement * stmt,
                         Cached("SELECT base IS NULL FROM requests WHERE id = ?"));
    stmt->Bind(1, view.id);
    MPP_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row || stmt->ColumnInt(0) == 0) return Ok();
    MPP_ASSIGN_OR_RETURN(bool pending, HasPendingAfter(view.id, 0));
    if (pending) return Ok();
    return SaveBase(view);
  }

  Result<void> SaveBase(const sync::Request& base) {
    MPP_ASSIGN_OR_RETURN(Bytes sealed, Seal(sync::EncodeRequest(base), BaseAad(base.id)));
    MPP_ASSIGN_OR_RETURN(Statement * stmt, Cached("UPDATE requests SET base = ? WHERE id = ?"));
    stmt->Bind(1, sealed).Bind(2, base.id);
    return stmt->Run();
  }

  Result<sync::Mutation> OpenMutation(const Bytes& sealed, uint64_t seq) const {
    auto plain = crypto::AesGcmOpen(data_key_, sealed, ViewOf(OutboxAad(seq)));
    if (!plain) return plain.error().WithContext("outbox entry " + std::to_string(seq));
    return sync::DecodeMutation(*plain);
  }

  // Pending mutations of one request, in seq order.
  Result<std::vector<sync::Mutation>> PendingFor(const std::string& request_id) {
    MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("SELECT seq, body FROM outbox WHERE request_id = ? "
                                                "ORDER BY seq"));
    stmt.Bind(1, request_id);
    std::vector<sync::Mutation> out;
    for (;;) {
      MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      MPP_ASSIGN_OR_RETURN(auto m, OpenMutation(stmt.ColumnBlob(1), stmt.ColumnInt(0)));
      out.push_back(std::move(m));
    }
    return out;
  }

  // Removes the mutations up to `last_applied_seq` from the outbox. Those `fold` accepts were
  // applied by the server exactly as written: they are folded into the base, in seq order, so
  // the base stays equal to the server's state without the server sending it back. A fold that
  // fails would mean the base had drifted from the server; it is then left as it was, and the
  // next change from the server replaces it. `sent` holds outbox entries the caller already has
  // in memory (the batch just pushed), so they need not be read and decrypted again.
  Result<void> RetireAcknowledged(const sync::Catalog& catalog, uint64_t last_applied_seq,
                                  const std::function<bool(const sync::Mutation&)>& fold,
                                  std::span<const sync::Mutation> sent = {}) {
    MPP_ASSIGN_OR_RETURN(auto stmt,
                         db_.Prepare("SELECT seq, body FROM outbox WHERE seq <= ? ORDER BY seq"));
    stmt.Bind(1, static_cast<int64_t>(last_applied_seq));
    std::map<std::string, std::optional<sync::Request>> bases;
    for (;;) {
      MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      const auto seq = static_cast<uint64_t>(stmt.ColumnInt(0));
      const sync::Mutation* known = nullptr;
      if (!sent.empty() && seq >= sent.front().seq && seq - sent.front().seq < sent.size()) {
        known = &sent[seq - sent.front().seq];  // `sent` is contiguous in seq
      }
      sync::Mutation opened;
      if (known == nullptr || known->seq != seq) {
        MPP_ASSIGN_OR_RETURN(opened, OpenMutation(stmt.ColumnBlob(1), seq));
        known = &opened;
      }
      const sync::Mutation& m = *known;
      if (!fold(m)) continue;
      auto base = bases.find(m.request_id);
      if (base == bases.end()) {
        std::optional<sync::Request> loaded;
        if (m.kind == sync::MutationKind::kCreate) {
          // A create makes its request: there is no base before it. When nothing of the request
          // follows it, the base is the view (see KeepBaseBeforeEdit) and nothing is written.
          MPP_ASSIGN_OR_RETURN(bool more, HasPendingAfter(m.request_id, m.seq));
          if (!more) continue;
        } else {
          MPP_ASSIGN_OR_RETURN(loaded, LoadBase(m.request_id));
        }
        base = bases.emplace(m.request_id, std::move(loaded)).first;
      }
      std::optional<sync::Request> next = base->second;
      if (sync::ApplyMutation(catalog, next, m, sync::Role::kVan).ok()) {
        base->second = std::move(next);
      }
    }
    for (const auto& [id, base] : bases) {
      if (base) MPP_RETURN_IF_ERROR(SaveBase(*base));
    }
    MPP_ASSIGN_OR_RETURN(auto drop, db_.Prepare("DELETE FROM outbox WHERE seq <= ?"));
    drop.Bind(1, static_cast<int64_t>(last_applied_seq));
    return drop.Run();
  }

  // The statements of the hot paths, prepared once.
  Result<Statement*> Cached(const std::string& sql) { return statements_.Get(sql); }

  sqlite::StatementCache statements_{db_};
};

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
  if (options.officer.empty() || options.officer.size() > 100) {
    return Error::InvalidInput("officer name must be 1-100 characters");
  }
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
    device.Bind(1, sync::NewUuidV7(clock, rng)).Bind(2, options.van_code).Bind(3, options.officer);
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
    return Error::NotFound("no store in " + dir + " (run `mpp-field init` first)");
  }
  MPP_ASSIGN_OR_RETURN(Database db, Database::Open(path, Database::Mode::kReadWrite));
  auto migrated = MigrateToCurrent(db, /*fresh=*/false);
  if (!migrated) return migrated.error().WithContext(path);
  auto impl = std::make_unique<Impl>(std::move(db), path, clock, rng);
  MPP_RETURN_IF_ERROR(impl->LoadIdentity());
  return std::unique_ptr<VanStore>(new VanStore(std::move(impl)));
}

Result<void> VanStore::Unlock(std::string_view passphrase) {
  MPP_ASSIGN_OR_RETURN(auto stmt,
                       impl_->db_.Prepare("SELECT kdf_salt, kdf_time_cost, kdf_memory_kib, "
                                          "kdf_parallelism, wrapped_data_key FROM device"));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::Corrupt("the store has no device identity");
  crypto::Argon2Params params;
  params.time_cost = static_cast<uint32_t>(stmt.ColumnInt(1));
  params.memory_kib = static_cast<uint32_t>(stmt.ColumnInt(2));
  params.parallelism = static_cast<uint32_t>(stmt.ColumnInt(3));
  MPP_ASSIGN_OR_RETURN(Bytes kek,
                       crypto::Argon2idDeriveKey(passphrase, stmt.ColumnBlob(0), params));
  auto data_key = crypto::AesGcmOpen(kek, stmt.ColumnBlob(4), ViewOf(kDataKeyAad));
  crypto::Cleanse(kek);
  if (!data_key) return Error::Unauthenticated("wrong passphrase");
  impl_->data_key_ = std::move(data_key).value();
  const auto index_key = crypto::HmacSha256(impl_->data_key_, ViewOf(kNikIndexLabel));
  impl_->index_key_.assign(index_key.begin(), index_key.end());
  return Ok();
}

bool VanStore::unlocked() const { return !impl_->data_key_.empty(); }

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
        MPP_ASSIGN_OR_RETURN(receipt_counter, HighestReceiptCounter(van_code_, today));
        counter = receipt_counter;
      }
      char number[32];
      snprintf(number, sizeof number, "%04lld", static_cast<long long>(++counter));
      m.receipt = van_code_ + "-" + receipt_day + "-" + number;
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
  MPP_ASSIGN_OR_RETURN(
      auto stmt, impl_->db_.Prepare(
                     "SELECT id, view, EXISTS(SELECT 1 FROM outbox o WHERE o.request_id = r.id) "
                     "FROM requests r WHERE id = ?1 OR receipt = ?1"));
  stmt.Bind(1, id_or_receipt);
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::NotFound("no request with id or receipt " + std::string(id_or_receipt));
  return impl_->ReadRow(stmt);
}

Result<std::vector<RequestRow>> VanStore::List(const RequestFilter& filter) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  std::string sql =
      "SELECT id, view, EXISTS(SELECT 1 FROM outbox o WHERE o.request_id = r.id) "
      "FROM requests r WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR service_id = ?2) "
      "AND (?3 IS NULL OR nik_index = ?3) ORDER BY receipt";
  MPP_ASSIGN_OR_RETURN(auto stmt, impl_->db_.Prepare(sql));
  if (filter.status) stmt.Bind(1, sync::StatusName(*filter.status));
  if (filter.service_id) stmt.Bind(2, *filter.service_id);
  if (filter.nik) stmt.Bind(3, impl_->NikIndex(*filter.nik));
  std::vector<RequestRow> rows;
  for (;;) {
    MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    MPP_ASSIGN_OR_RETURN(RequestRow r, impl_->ReadRow(stmt));
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

Result<void> VanStore::SaveEnrollment(const std::string& server_url, ByteView server_public_key) {
  MPP_ASSIGN_OR_RETURN(auto stmt, impl_->db_.Prepare("UPDATE device SET server_url = ?, "
                                                     "server_public_key = ?, enrolled_ms = ?"));
  stmt.Bind(1, server_url).Bind(2, server_public_key).Bind(3, impl_->clock_.NowMillis());
  return stmt.Run();
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
                                                     "complete_cursor FROM sync_state"));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::Corrupt("the store has no sync state");
  SyncState state;
  state.cursor = static_cast<uint64_t>(stmt.ColumnInt(0));
  state.acked_seq = static_cast<uint64_t>(stmt.ColumnInt(1));
  state.catalog_version = stmt.ColumnInt(2);
  state.complete_cursor = static_cast<uint64_t>(stmt.ColumnInt(3));
  return state;
}

Result<std::vector<sync::Mutation>> VanStore::PendingMutations(size_t limit) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(auto stmt,
                       impl_->db_.Prepare("SELECT seq, body FROM outbox ORDER BY seq LIMIT ?"));
  stmt.Bind(1, static_cast<int64_t>(limit));
  std::vector<sync::Mutation> out;
  for (;;) {
    MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    MPP_ASSIGN_OR_RETURN(auto m, impl_->OpenMutation(stmt.ColumnBlob(1), stmt.ColumnInt(0)));
    out.push_back(std::move(m));
  }
  return out;
}

Result<void> VanStore::ApplyAck(const sync::PushAck& ack, const sync::HlcTimestamp& server_hlc,
                                std::span<const sync::Mutation> sent) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(const sync::Catalog* catalog, impl_->LoadCatalog());
  Impl& s = *impl_;
  MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(s.db_));
  const std::set<uint64_t> unclean(ack.unclean_seqs.begin(), ack.unclean_seqs.end());
  MPP_RETURN_IF_ERROR(s.RetireAcknowledged(
      *catalog, ack.last_applied_seq, [&](const auto& m) { return unclean.count(m.seq) == 0; },
      sent));
  s.hlc_.ObserveTrusted(server_hlc);
  MPP_ASSIGN_OR_RETURN(auto state, s.db_.Prepare("UPDATE sync_state SET acked_seq = max(acked_seq, "
                                                 "?), hlc = max(hlc, ?)"));
  state.Bind(1, static_cast<int64_t>(ack.last_applied_seq)).Bind(2, s.hlc_.last().Packed());
  MPP_RETURN_IF_ERROR(state.Run());
  return txn.Commit();
}

Result<void> VanStore::ApplyPull(const sync::PullAnswer& answer,
                                 const sync::HlcTimestamp& server_hlc) {
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
      return Error::Corrupt("the server sent a change to request " + id +
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
                                "THEN complete_cursor ELSE ?1 END"));
  state.Bind(1, static_cast<int64_t>(answer.cursor));
  state.Bind(2, static_cast<int64_t>(answer.last_applied_seq)).Bind(3, s.hlc_.last().Packed());
  state.Bind(4, int64_t{answer.more ? 1 : 0});
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
