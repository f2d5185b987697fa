#include "mpp/sync/patch.h"

#include <algorithm>

namespace mpp::sync {

ChangeRevs NextChangeRevs(const std::optional<Request>& before, const Request& after,
                          const ChangeRevs& revs, uint64_t rev) {
  if (!before || before->id != after.id || before->history.size() > after.history.size() ||
      std::any_of(before->fields.begin(), before->fields.end(),
                  [&after](const auto& f) { return after.fields.count(f.first) == 0; })) {
    // New, or changed in a way a patch cannot say (a part removed): the request starts afresh,
    // and a van whose cursor is older gets it whole.
    ChangeRevs fresh;
    fresh.created = rev;
    return fresh;
  }
  ChangeRevs next = revs;
  if (before->status != after.status || before->status_version != after.status_version ||
      before->status_note != after.status_note) {
    next.status = rev;
  }
  for (const auto& [name, value] : after.fields) {
    auto old = before->fields.find(name);
    if (old == before->fields.end() || old->second != value) next.fields[name] = rev;
  }
  // Entries that existed before keep their revision (the created ones have none listed).
  const size_t listed_from =
      before->history.size() - std::min(before->history.size(), next.history.size());
  next.history.resize(after.history.size() - listed_from, rev);
  return next;
}

std::optional<RequestPatch> PatchSince(const Request& request, const ChangeRevs& revs,
                                       uint64_t cursor) {
  if (revs.created == 0 || revs.created > cursor) return std::nullopt;
  RequestPatch patch;
  patch.part.id = request.id;
  patch.part.created = request.created;
  if (revs.status > cursor) {
    patch.status_changed = true;
    patch.part.status = request.status;
    patch.part.status_version = request.status_version;
    patch.part.status_note = request.status_note;
  }
  for (const auto& [name, rev] : revs.fields) {
    auto f = request.fields.find(name);
    if (rev > cursor && f != request.fields.end()) patch.part.fields.insert(*f);
  }
  // revs.history covers the last revs.history.size() entries; the ones before are as old as
  // the request.
  const size_t listed_from =
      request.history.size() - std::min(request.history.size(), revs.history.size());
  size_t from = request.history.size();
  for (size_t i = revs.history.size(); i > 0 && revs.history[i - 1] > cursor; --i) {
    from = listed_from + i - 1;
  }
  patch.history_from = static_cast<uint32_t>(from);
  patch.part.history.assign(request.history.begin() + static_cast<std::ptrdiff_t>(from),
                            request.history.end());
  return patch;
}

Result<void> ApplyPatch(Request& base, const RequestPatch& patch) {
  if (base.id != patch.part.id) {
    return Error::Corrupt("a change for request " + patch.part.id + " was applied to " + base.id);
  }
  if (patch.history_from > base.history.size()) {
    return Error::Corrupt("a change to request " + base.id + " continues its history at entry " +
                          std::to_string(patch.history_from) + ", but this van holds " +
                          std::to_string(base.history.size()));
  }
  if (patch.status_changed) {
    base.status = patch.part.status;
    base.status_version = patch.part.status_version;
    base.status_note = patch.part.status_note;
  }
  for (const auto& [name, value] : patch.part.fields) base.fields[name] = value;
  base.history.resize(patch.history_from);
  base.history.insert(base.history.end(), patch.part.history.begin(), patch.part.history.end());
  return Ok();
}

}  // namespace mpp::sync
