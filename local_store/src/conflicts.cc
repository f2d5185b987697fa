// Conflicts the server recorded (a change of this van it could not apply as written), kept
// sealed for the officer to read.
//
// Invariant: conflicts are only ever added, in the transaction of the pull that brought them,
// and listed in the order they arrived.
#include "keys.h"
#include "mpp/sync/codec.h"
#include "van_store_impl.h"

namespace mpp::store {

Result<void> VanStore::Impl::SaveConflict(const sync::ConflictRecord& conflict) {
  MPP_ASSIGN_OR_RETURN(Bytes sealed,
                       Seal(sync::EncodeConflict(conflict), ConflictAad(conflict.request_id)));
  MPP_ASSIGN_OR_RETURN(auto ins, db_.Prepare("INSERT INTO conflicts(request_id, body, "
                                             "received_ms) VALUES (?, ?, ?)"));
  ins.Bind(1, conflict.request_id).Bind(2, sealed).Bind(3, clock_.NowMillis());
  return ins.Run();
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

}  // namespace mpp::store
