// Pulling only what changed. The server remembers at which revision each part of a request last
// changed (ChangeRevs); a pull then sends, for a request the van already holds, just the parts
// changed after the van's cursor (RequestPatch) instead of the whole request: a status change
// costs tens of bytes instead of the citizen's whole form.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mpp/sync/model.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

// The server revision at which each part of one request last changed. Kept by the server only.
struct ChangeRevs {
  uint64_t created = 0;  // the request reached the server; every part is at least this
  uint64_t status = 0;   // status, its version and its note; 0: unchanged since created
  std::map<std::string, uint64_t> fields;  // a field absent here is unchanged since created
  std::vector<uint64_t> history;           // per entry, for entries added after created

  bool operator==(const ChangeRevs&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(created, status, fields, history);
  }
};

// The revisions after `before` became `after` at revision `rev` (before is empty for a new
// request). History only grows; a shorter history than before counts as all new.
ChangeRevs NextChangeRevs(const std::optional<Request>& before, const Request& after,
                          const ChangeRevs& revs, uint64_t rev);

// The parts of one request changed after a van's cursor. `part` holds the request's id and
// created time, the status trio when status_changed, the changed fields, and the history entries
// from index history_from on.
struct RequestPatch {
  Request part;
  bool status_changed = false;
  uint32_t history_from = 0;

  bool operator==(const RequestPatch&) const = default;
};

// nullopt when the van cannot hold the request yet (it reached the server after `cursor`): send
// it whole.
std::optional<RequestPatch> PatchSince(const Request& request, const ChangeRevs& revs,
                                       uint64_t cursor);

// Applies a patch to the van's copy of the server state. Fails when it does not fit (another
// request, or a history the copy does not reach).
Result<void> ApplyPatch(Request& base, const RequestPatch& patch);

}  // namespace mpp::sync
