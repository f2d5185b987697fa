// The van store's private state and the helpers its parts share (van_store.cc: opening,
// unlocking, commits, sync; recovery.cc: what the van does when it and the server disagree
// about what was applied). Not part of the public API.
#pragma once

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "mpp/sqlite/sqlite.h"
#include "mpp/store/van_store.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/hlc.h"
#include "mpp/sync/merge.h"

namespace mpp::store {

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

inline std::string ViewAad(std::string_view id) { return "view:" + std::string(id); }
inline std::string BaseAad(std::string_view id) { return "base:" + std::string(id); }
inline std::string OutboxAad(uint64_t seq) { return "outbox:" + std::to_string(seq); }
inline std::string ConflictAad(std::string_view request_id) {
  return "conflict:" + std::string(request_id);
}

// YYYYMMDD of a Unix time in WIB.
inline std::string WibDay(int64_t unix_ms) {
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

inline bool IsVanCode(std::string_view code) {
  return !code.empty() && code.size() <= 12 && std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

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
  uint32_t receipt_series_ = 0;  // 0 until the server gives one (then series 1's format)

  ~Impl() {
    crypto::Cleanse(data_key_);
    crypto::Cleanse(index_key_);
  }

  Result<void> LoadIdentity() {
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

  // Receipts of this device on `day`: VAN-YYYYMMDD-NNNN in series 0 and 1,
  // VAN-YYYYMMDD-S-NNNN in series S > 1 (the server gives each tablet of a van its own series).
  std::string ReceiptPrefix(const std::string& day) const {
    return ReceiptPrefix(day, receipt_series_);
  }
  std::string ReceiptPrefix(const std::string& day, uint32_t series) const {
    std::string prefix = van_code_ + "-" + day + "-";
    if (series > 1) prefix += std::to_string(series) + "-";
    return prefix;
  }

  // Stores the series the server assigned (0: it said nothing). A new series restarts the day's
  // counter (CommitDrafts recomputes it). AdoptReceiptSeries after the transaction committed.
  Result<void> SaveReceiptSeries(uint32_t series) {
    if (series == 0 || series == receipt_series_) return Ok();
    MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("UPDATE device SET receipt_series = ?"));
    stmt.Bind(1, int64_t{series});
    MPP_RETURN_IF_ERROR(stmt.Run());
    return db_.Exec("UPDATE sync_state SET receipt_day = '', receipt_counter = 0");
  }
  void AdoptReceiptSeries(uint32_t series) {
    if (series != 0) receipt_series_ = series;
  }

  // The highest counter after `prefix` (exactly: a receipt of another series does not count).
  Result<int64_t> HighestReceiptCounter(const std::string& prefix) {
    MPP_ASSIGN_OR_RETURN(auto stmt,
                         db_.Prepare("SELECT max(CAST(substr(receipt, ?1) AS INTEGER)) FROM "
                                     "requests WHERE substr(receipt, 1, ?2) = ?3 AND "
                                     "instr(substr(receipt, ?1), '-') = 0"));
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
    return OpenMutations(stmt);
  }

  // Every row of an outbox query whose columns are (seq, body), opened.
  Result<std::vector<sync::Mutation>> OpenMutations(Statement& stmt) const {
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

  // Recovery (recovery.cc). The whole outbox in seq order, and replacing it (each mutation
  // sealed under its own, possibly new, seq).
  Result<std::vector<sync::Mutation>> ReadOutbox();
  Result<void> WriteOutbox(const std::vector<sync::Mutation>& mutations);
  // Gives the pending create `m` a new receipt in `series`, on the day of its old one, and
  // stores it on the request's row and view.
  Result<ReissuedReceipt> ReissueReceipt(sync::Mutation& m, uint32_t series);
  // ReissueReceipt for the creates among `mutations` from `first_seq` on.
  Result<void> ReissueFrom(std::vector<sync::Mutation>& mutations, uint64_t first_seq,
                           uint32_t series, RecoveryReport& report);
  Result<uint64_t> NextSeq();
  Result<void> SaveNextSeq(uint64_t next_seq);

  // The statements of the hot paths, prepared once.
  Result<Statement*> Cached(const std::string& sql) { return statements_.Get(sql); }

  sqlite::StatementCache statements_{db_};
};

}  // namespace mpp::store
