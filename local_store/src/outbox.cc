// The outbox: the van's mutations the server has not acknowledged, sealed, one row per seq;
// appending, reading what is pending, and retiring what a push acknowledgement (or a pull's
// last_applied_seq) says the server applied.
//
// Invariants: the outbox holds exactly the mutations the server has not acknowledged, in seq
// order; seqs are gap-free per device, starting at 1. A mutation leaves the outbox in the same
// transaction that folds it into the base (or leaves the base to the pull), never before.
#include <algorithm>
#include <map>
#include <set>

#include "keys.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/merge.h"
#include "van_store_impl.h"

namespace mpp::store {

Result<void> VanStore::Impl::AppendOutbox(const sync::Mutation& m) {
  MPP_ASSIGN_OR_RETURN(Bytes sealed, Seal(sync::EncodeMutation(m), OutboxAad(m.seq)));
  MPP_ASSIGN_OR_RETURN(Statement * insert,
                       Cached("INSERT INTO outbox(seq, request_id, body) VALUES (?, ?, ?)"));
  insert->Bind(1, static_cast<int64_t>(m.seq)).Bind(2, m.request_id).Bind(3, sealed);
  return insert->Run();
}

Result<bool> VanStore::Impl::HasPendingAfter(const std::string& request_id, uint64_t after_seq) {
  MPP_ASSIGN_OR_RETURN(Statement * stmt,
                       Cached("SELECT 1 FROM outbox WHERE request_id = ? AND seq > ? LIMIT 1"));
  stmt->Bind(1, request_id).Bind(2, static_cast<int64_t>(after_seq));
  return stmt->Step();
}

Result<std::vector<sync::Mutation>> VanStore::Impl::PendingFor(const std::string& request_id) {
  MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("SELECT seq, body FROM outbox WHERE request_id = ? "
                                              "ORDER BY seq"));
  stmt.Bind(1, request_id);
  return OpenMutations(stmt);
}

Result<std::vector<sync::Mutation>> VanStore::Impl::OpenMutations(Statement& stmt) const {
  std::vector<sync::Mutation> out;
  for (;;) {
    MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    MPP_ASSIGN_OR_RETURN(auto m, OpenMutation(stmt.ColumnBlob(1), stmt.ColumnInt(0)));
    out.push_back(std::move(m));
  }
  return out;
}

Result<void> VanStore::Impl::RetireAcknowledged(
    const sync::Catalog& catalog, uint64_t last_applied_seq,
    const std::function<bool(const sync::Mutation&)>& fold, std::span<const sync::Mutation> sent) {
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
  MPP_ASSIGN_OR_RETURN(auto acked,
                       db_.Prepare("UPDATE requests SET acked_ms = ?1 WHERE id IN (SELECT "
                                   "request_id FROM outbox WHERE seq <= ?2)"));
  acked.Bind(1, clock_.NowMillis()).Bind(2, static_cast<int64_t>(last_applied_seq));
  MPP_RETURN_IF_ERROR(acked.Run());
  MPP_ASSIGN_OR_RETURN(auto drop, db_.Prepare("DELETE FROM outbox WHERE seq <= ?"));
  drop.Bind(1, static_cast<int64_t>(last_applied_seq));
  return drop.Run();
}

Result<std::vector<sync::Mutation>> VanStore::Impl::ReadOutbox() {
  MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("SELECT seq, body FROM outbox ORDER BY seq"));
  return OpenMutations(stmt);
}

Result<void> VanStore::Impl::WriteOutbox(const std::vector<sync::Mutation>& mutations) {
  MPP_RETURN_IF_ERROR(db_.Exec("DELETE FROM outbox"));
  for (const auto& m : mutations) MPP_RETURN_IF_ERROR(AppendOutbox(m));
  return Ok();
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

}  // namespace mpp::store
