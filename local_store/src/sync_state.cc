// The sync state: the pull cursors, the highest acknowledged seq, the seq the next local change
// gets, the server's epoch and the time of the last sync (one row of sync_state).
//
// Invariants: next_seq only grows, except when a recovery renumbers the outbox (recovery.cc);
// acked_seq never passes what the server acknowledged; the cursors move only with the pulled
// state they cover (rebase.cc).
#include "van_store_impl.h"

namespace mpp::store {

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

Result<uint64_t> VanStore::Impl::NextSeq() {
  MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("SELECT next_seq FROM sync_state"));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::Corrupt("the store has no sync state");
  return static_cast<uint64_t>(stmt.ColumnInt(0));
}

Result<void> VanStore::Impl::SaveNextSeq(uint64_t next_seq) {
  MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("UPDATE sync_state SET next_seq = ?"));
  stmt.Bind(1, static_cast<int64_t>(next_seq));
  return stmt.Run();
}

Result<void> VanStore::MarkSynced(int64_t now_ms) {
  MPP_ASSIGN_OR_RETURN(auto stmt, impl_->db_.Prepare("UPDATE sync_state SET last_sync_ms = ?"));
  stmt.Bind(1, now_ms);
  return stmt.Run();
}

}  // namespace mpp::store
