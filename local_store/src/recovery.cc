// What the van does when it and the server disagree about what was applied (PROTOCOL.md §4,
// "When the two sides disagree"): its store was restored from an older copy and reused seqs, a
// receipt it issued is already held on the server, or the server was restored from a backup.
// Each recovery is one transaction; afterwards the outbox is again gap-free and holds exactly
// what the server has not applied, so the next push goes through.
#include <algorithm>

#include "mpp/sync/codec.h"
#include "van_store_impl.h"

namespace mpp::store {

Result<VanStore::RecoveryReport> VanStore::RenumberAfterReuse(uint64_t first_reused_seq,
                                                              uint64_t server_last_applied_seq,
                                                              uint32_t receipt_series) {
  Impl& s = *impl_;
  MPP_RETURN_IF_ERROR(s.RequireUnlocked());
  if (server_last_applied_seq < first_reused_seq) {
    return Error::Corrupt("the server says seq " + std::to_string(first_reused_seq) +
                          " was reused but it applied only up to " +
                          std::to_string(server_last_applied_seq));
  }
  MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(s.db_));
  MPP_ASSIGN_OR_RETURN(std::vector<sync::Mutation> mutations, s.ReadOutbox());
  RecoveryReport report;
  // Every pending mutation from the reused seq on was made after the restore: none of them is
  // on the server. They keep their order and follow what the server applied, gap-free. Those
  // before it are the very mutations the server applied (a retry): they stay, and the pusher
  // sends them in a batch of their own (batches are runs of consecutive seqs).
  uint64_t next = server_last_applied_seq + 1;
  for (auto& m : mutations) {
    if (m.seq < first_reused_seq) continue;
    m.seq = next++;
    ++report.renumbered;
  }
  MPP_RETURN_IF_ERROR(
      s.ReissueFrom(mutations, server_last_applied_seq + 1, receipt_series, report));
  MPP_RETURN_IF_ERROR(s.WriteOutbox(mutations));
  MPP_ASSIGN_OR_RETURN(uint64_t next_seq, s.NextSeq());
  MPP_RETURN_IF_ERROR(s.SaveNextSeq(report.renumbered > 0 ? next : std::max(next_seq, next)));
  // The server holds this device's work made after the copy: pull the whole scope again.
  MPP_RETURN_IF_ERROR(
      s.db_.Exec("UPDATE sync_state SET resync = 1, cursor = 0, complete_cursor = 0"));
  MPP_RETURN_IF_ERROR(s.SaveReceiptSeries(receipt_series));
  MPP_RETURN_IF_ERROR(txn.Commit());
  s.AdoptReceiptSeries(receipt_series);
  return report;
}

Result<VanStore::RecoveryReport> VanStore::ReissueReceipts(uint64_t first_seq,
                                                           uint32_t receipt_series) {
  Impl& s = *impl_;
  MPP_RETURN_IF_ERROR(s.RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(s.db_));
  MPP_ASSIGN_OR_RETURN(std::vector<sync::Mutation> mutations, s.ReadOutbox());
  RecoveryReport report;
  MPP_RETURN_IF_ERROR(s.ReissueFrom(mutations, first_seq, receipt_series, report));
  MPP_RETURN_IF_ERROR(s.WriteOutbox(mutations));
  MPP_RETURN_IF_ERROR(s.SaveReceiptSeries(receipt_series));
  MPP_RETURN_IF_ERROR(txn.Commit());
  s.AdoptReceiptSeries(receipt_series);
  return report;
}

Result<VanStore::RecoveryReport> VanStore::RecoverFromServerRestore(
    uint64_t epoch, uint64_t server_last_applied_seq, uint32_t receipt_series) {
  Impl& s = *impl_;
  MPP_RETURN_IF_ERROR(s.RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(s.db_));
  const uint64_t last = server_last_applied_seq;
  RecoveryReport report;

  // 1. Every request the van holds goes back as a kRestore mutation: its state as the van holds
  //    it (the base: the server's state as last seen, with every acknowledged change). The van
  //    cannot tell which ones the server lost: its own acknowledged work after the backup, the
  //    work of another tablet of the van that can no longer sync, staff decisions it pulled.
  //    A restore is rare; re-sending a van's requests costs a few hundred bytes each, and the
  //    merge takes the newer of each part, so sending one the server has changes nothing.
  MPP_ASSIGN_OR_RETURN(auto lost, s.db_.Prepare("SELECT id FROM requests ORDER BY rowid"));
  std::vector<std::string> lost_ids;
  for (;;) {
    MPP_ASSIGN_OR_RETURN(bool row, lost.Step());
    if (!row) break;
    lost_ids.push_back(lost.ColumnText(0));
  }
  std::vector<sync::Mutation> restores;
  for (const auto& id : lost_ids) {
    MPP_ASSIGN_OR_RETURN(std::optional<sync::Request> state, s.LoadBase(id));
    if (!state) {
      // A NULL base with nothing pending is the view (KeepBaseBeforeEdit).
      MPP_ASSIGN_OR_RETURN(bool pending, s.HasPendingAfter(id, 0));
      if (!pending) {
        MPP_ASSIGN_OR_RETURN(state, s.LoadView(id));
      }
    }
    if (!state) continue;
    sync::Mutation m;
    m.origin = s.device_id_;
    m.actor = s.officer_;
    m.hlc = s.hlc_.Now();
    m.kind = sync::MutationKind::kRestore;
    m.request_id = id;
    m.service_id = state->service_id;
    m.receipt = state->receipt;
    const Bytes encoded = sync::EncodeRequest(*state);
    m.note.assign(encoded.begin(), encoded.end());
    restores.push_back(std::move(m));
  }

  // 2. The outbox: what the server already has (seqs up to `last`, when its backup is newer
  //    than this van's last acknowledgement) stays; the re-sent requests follow `last`; the
  //    pending work follows them, in order.
  MPP_ASSIGN_OR_RETURN(std::vector<sync::Mutation> pending, s.ReadOutbox());
  std::vector<sync::Mutation> outbox;
  uint64_t next = last + 1;
  for (auto& m : pending) {
    if (m.seq <= last) outbox.push_back(m);
  }
  for (auto& m : restores) {
    m.seq = next++;
    outbox.push_back(std::move(m));
    ++report.resent;
  }
  for (auto& m : pending) {
    if (m.seq <= last) continue;
    if (m.seq != next) ++report.renumbered;
    m.seq = next++;
    outbox.push_back(std::move(m));
  }
  MPP_RETURN_IF_ERROR(s.WriteOutbox(outbox));

  // 3. The sync state: acknowledged only what the server holds; the pull starts again from the
  //    beginning (the server's change numbering went back with its database).
  MPP_ASSIGN_OR_RETURN(auto state,
                       s.db_.Prepare("UPDATE sync_state SET next_seq = ?1, acked_seq = "
                                     "min(acked_seq, ?2), cursor = 0, complete_cursor = 0, "
                                     "resync = 1, server_epoch = ?3, hlc = max(hlc, ?4)"));
  state.Bind(1, static_cast<int64_t>(next)).Bind(2, static_cast<int64_t>(last));
  state.Bind(3, static_cast<int64_t>(epoch)).Bind(4, s.hlc_.last().Packed());
  MPP_RETURN_IF_ERROR(state.Run());
  MPP_RETURN_IF_ERROR(s.SaveReceiptSeries(receipt_series));
  MPP_RETURN_IF_ERROR(txn.Commit());
  s.AdoptReceiptSeries(receipt_series);
  return report;
}

Result<void> VanStore::RequestResync() {
  return impl_->db_.Exec("UPDATE sync_state SET resync = 1, cursor = 0, complete_cursor = 0");
}

}  // namespace mpp::store
