// Applying a mutation to the state of one request: the merge rules of DESIGN.md §4.
// Pure: no I/O, no clock. The server uses it to apply van and staff mutations; the van uses it to
// build its view (server state + pending mutations) and to rebase after a pull.
#pragma once

#include <optional>
#include <vector>

#include "mpp/sync/catalog.h"
#include "mpp/sync/model.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

struct MergeOutcome {
  // True when every write fast-forwarded and any status change was allowed: the writer's view of
  // the request is exactly the result, so the server need not send it back.
  bool clean = true;
  std::vector<ConflictRecord> conflicts;
};

// Applies `mutation` made by `role` to `state` (nullopt when the request does not exist yet).
// Per field: base == current version -> the write fast-forwards; otherwise the higher
// (HLC, origin) wins and a ConflictRecord keeps both values. A status change the state machine
// does not allow is not applied and becomes a ConflictRecord, and so is a rejection without a
// note. Field writes to a final request (rejected, cancelled, delivered), and writes that break
// the rules between the form's fields (Catalog::CheckFormRules, as of the write's time) are not
// applied either: a ConflictRecord per write, with the reason.
// A create of an id that exists, by the device that made it, with its receipt and service, changes
// nothing and is unclean (a tablet's copy re-sent after a server restore arrived first).
// Errors (state unchanged): creating an id that exists otherwise, changing an unknown request, an
// unknown service or field, a value that fails validation.
//
// kRestore (a van re-sending its copy of a request after a server restore, model.h): the copy
// is validated as stored (Catalog::ValidateStored); without a state it becomes the state; otherwise
// each field and the status keep the higher version of the two, and the van's history entries the
// server lacks are appended (a history only grows at its end). Clean when the result equals the
// van's copy. Only the server decides whether a device may send one.
Result<MergeOutcome> ApplyMutation(const Catalog& catalog, std::optional<Request>& state,
                                   const Mutation& mutation, Role role);

}  // namespace mpp::sync
