// A pull answer applied: the server's state of each request becomes its base, and the view is
// rebuilt as base + the request's still-pending mutations (the rebase).
//
// Invariants: one answer is one transaction. The cursor moves only in the transaction that
// stores the state it covers; complete_cursor moves only when a pull ran to its end. A pending
// mutation the new base refuses stays pending (the server decides, and records a conflict).
#include <set>

#include "mpp/sync/merge.h"
#include "van_store_impl.h"

namespace mpp::store {

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
  for (const auto& c : answer.conflicts) MPP_RETURN_IF_ERROR(s.SaveConflict(c));
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

}  // namespace mpp::store
