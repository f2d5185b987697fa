// Local changes: the officer's drafts applied to the view and appended to the outbox.
//
// Invariants: a local change and its outbox mutation commit in one transaction. Each committed
// draft takes the next seq (gap-free per device) and, for a create, the next receipt number; a
// refused draft takes neither. Every draft is validated by the same merge the server runs
// (sync::ApplyMutation as Role::kVan), so what the van commits the server accepts.
#include <map>

#include "mpp/sync/merge.h"
#include "mpp/sync/uuid.h"
#include "van_store_impl.h"

namespace mpp::store {

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
      MPP_ASSIGN_OR_RETURN(m.receipt, NextReceipt(receipt_day, receipt_counter, counter));
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

}  // namespace mpp::store
