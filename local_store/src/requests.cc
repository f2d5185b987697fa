// Request rows: each request as the server last confirmed it (base) and as the officer sees it
// (view), both sealed, and the lookups by id, receipt, status, service and NIK.
//
// Invariants: view = base + the request's pending mutations, in seq order. A NULL base means
// either "not acknowledged yet" (its create is in the outbox) or, when nothing of the request
// is pending, "the base is the view" (KeepBaseBeforeEdit). The NIK is never stored in the
// clear: the row holds a keyed hash of it (nik_index) for lookups.
#include <algorithm>

#include "keys.h"
#include "mpp/sync/codec.h"
#include "van_store_impl.h"

namespace mpp::store {

Result<RequestRow> VanStore::Impl::ReadRow(Statement& stmt) const {
  // Columns: id, view, pending, acked_ms
  RequestRow row;
  MPP_ASSIGN_OR_RETURN(row.view, OpenRequest(stmt.ColumnBlob(1), ViewAad(stmt.ColumnText(0))));
  row.pending = stmt.ColumnInt(2) != 0;
  row.acked_ms = stmt.ColumnInt(3);
  return row;
}

Result<std::optional<sync::Request>> VanStore::Impl::LoadView(const std::string& id) {
  MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("SELECT view FROM requests WHERE id = ?"));
  stmt.Bind(1, id);
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<sync::Request>();
  MPP_ASSIGN_OR_RETURN(auto view, OpenRequest(stmt.ColumnBlob(0), ViewAad(id)));
  return std::optional<sync::Request>(std::move(view));
}

Result<void> VanStore::Impl::SaveView(const sync::Request& view, bool is_new) {
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

Result<std::optional<sync::Request>> VanStore::Impl::LoadBase(const std::string& id) {
  MPP_ASSIGN_OR_RETURN(Statement * stmt, Cached("SELECT base FROM requests WHERE id = ?"));
  stmt->Bind(1, id);
  MPP_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row || stmt->ColumnIsNull(0)) return std::optional<sync::Request>();
  MPP_ASSIGN_OR_RETURN(auto base, OpenRequest(stmt->ColumnBlob(0), BaseAad(id)));
  return std::optional<sync::Request>(std::move(base));
}

Result<void> VanStore::Impl::SaveBase(const sync::Request& base) {
  MPP_ASSIGN_OR_RETURN(Bytes sealed, Seal(sync::EncodeRequest(base), BaseAad(base.id)));
  MPP_ASSIGN_OR_RETURN(Statement * stmt, Cached("UPDATE requests SET base = ? WHERE id = ?"));
  stmt->Bind(1, sealed).Bind(2, base.id);
  return stmt->Run();
}

Result<void> VanStore::Impl::KeepBaseBeforeEdit(const sync::Request& view) {
  MPP_ASSIGN_OR_RETURN(Statement * stmt, Cached("SELECT base IS NULL FROM requests WHERE id = ?"));
  stmt->Bind(1, view.id);
  MPP_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row || stmt->ColumnInt(0) == 0) return Ok();
  MPP_ASSIGN_OR_RETURN(bool pending, HasPendingAfter(view.id, 0));
  if (pending) return Ok();
  return SaveBase(view);
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
      auto stmt,
      impl_->db_.Prepare(
          "SELECT id, view, EXISTS(SELECT 1 FROM outbox o WHERE o.request_id = r.id), acked_ms "
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
      "SELECT id, view, EXISTS(SELECT 1 FROM outbox o WHERE o.request_id = r.id), acked_ms "
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

}  // namespace mpp::store
