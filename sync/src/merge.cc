#include "mpp/sync/merge.h"

#include <algorithm>
#include <set>

#include "mpp/sync/codec.h"
#include "mpp/sync/uuid.h"

namespace mpp::sync {
namespace {

FieldMap WrittenValues(const Mutation& m) {
  FieldMap values;
  for (const auto& w : m.writes) values[w.name] = w.value;
  return values;
}

Result<MergeOutcome> ApplyCreate(const Catalog& catalog, std::optional<Request>& state,
                                 const Mutation& m) {
  if (!IsUuid(m.request_id)) {
    return Error::InvalidInput("request id \"" + m.request_id + "\" is not a UUID");
  }
  if (state.has_value()) {
    // The same device's create of a request the server already holds under the same receipt:
    // after a server restore, another tablet of the van re-sent its copy (kRestore) before this
    // create, whose ack was lost, arrived again. The copy holds the create's effects; nothing
    // applies, and the van takes the state with its next pull.
    if (state->device_id == m.origin && state->receipt == m.receipt &&
        state->service_id == m.service_id) {
      MergeOutcome outcome;
      outcome.clean = false;
      return outcome;
    }
    return Error::Conflict("request " + m.request_id + " already exists");
  }
  MPP_RETURN_IF_ERROR(catalog.ValidateNew(m.service_id, WrittenValues(m), m.hlc.wall_ms));
  Request r;
  r.id = m.request_id;
  r.receipt = m.receipt;
  r.service_id = m.service_id;
  r.device_id = m.origin;
  r.officer = m.actor;
  r.status = RequestStatus::kSubmitted;
  r.status_version = m.version();
  r.created = m.hlc;
  for (const auto& w : m.writes) {
    if (!w.value.empty()) r.fields[w.name] = {w.value, m.version()};
  }
  r.history.push_back({m.hlc, m.actor, "status submitted"});
  state = std::move(r);
  return MergeOutcome{};
}

// Every write of `m` refused for `reason`: a record each, nothing applied. The writer sees why
// (a van refuses it before it is saved; the server keeps it for both sides).
MergeOutcome RefuseWrites(const Request& r, const Mutation& m, const std::string& reason) {
  MergeOutcome outcome;
  outcome.clean = false;
  for (const auto& w : m.writes) {
    auto current = r.fields.find(w.name);
    ConflictRecord c{r.id, w.name, {}, {}, w.value, m.version(), reason};
    if (current != r.fields.end()) {
      c.kept_value = current->second.value;
      c.kept_version = current->second.version;
    }
    outcome.conflicts.push_back(std::move(c));
  }
  return outcome;
}

Result<MergeOutcome> ApplySetFields(const Catalog& catalog, Request& r, const Mutation& m) {
  MPP_RETURN_IF_ERROR(catalog.ValidateUpdate(r.service_id, WrittenValues(m)));
  // A final request is final: what its citizen was told stays as it was. Decided on the state
  // the write meets, so an edit that was made offline before the request became final is kept
  // as a record instead of failing the van's push.
  if (IsFinal(r.status)) {
    return RefuseWrites(r, m,
                        std::string("the request is ") + StatusWords(r.status) +
                            ", which is final: its fields cannot change any more");
  }
  // The rules between fields, on the values the request would hold. Also a record, not an error:
  // the van checked them on its own copy, which a concurrent change may have made differ.
  {
    FieldMap after;
    for (const auto& [name, field] : r.fields) after[name] = field.value;
    std::set<std::string> changed;
    for (const auto& w : m.writes) {
      after[w.name] = w.value;
      changed.insert(w.name);
    }
    if (auto rules = catalog.CheckFormRules(r.service_id, after, &changed, m.hlc.wall_ms); !rules) {
      return RefuseWrites(r, m, rules.error().message());
    }
  }
  MergeOutcome outcome;
  const Version incoming = m.version();
  std::string changed;
  for (const auto& w : m.writes) {
    FieldValue& current = r.fields[w.name];  // a missing field has the zero version
    if (w.base == current.version) {
      current = {w.value, incoming};
      changed += (changed.empty() ? "" : ", ") + w.name;
      continue;
    }
    // Concurrent writes: the higher (HLC, origin) wins everywhere, whatever the arrival order.
    outcome.clean = false;
    ConflictRecord c{r.id, w.name, {}, {}, {}, {}, "concurrent edits"};
    if (current.version < incoming) {
      c.kept_value = w.value;
      c.kept_version = incoming;
      c.lost_value = current.value;
      c.lost_version = current.version;
      current = {w.value, incoming};
      changed += (changed.empty() ? "" : ", ") + w.name;
    } else {
      c.kept_value = current.value;
      c.kept_version = current.version;
      c.lost_value = w.value;
      c.lost_version = incoming;
    }
    outcome.conflicts.push_back(std::move(c));
  }
  // Keep the map free of empty entries created by the lookup above for never-set fields.
  std::erase_if(r.fields, [](const auto& kv) { return kv.second.version.is_zero(); });
  if (!changed.empty()) r.history.push_back({m.hlc, m.actor, "changed " + changed});
  return outcome;
}

MergeOutcome ApplySetStatus(Request& r, const Mutation& m, Role role) {
  MergeOutcome outcome;
  auto allowed = CheckTransition(r.status, m.status_to, role);
  if (allowed && m.status_to == RequestStatus::kRejected && m.note.empty()) {
    allowed = Error::InvalidInput("a rejection needs a note saying why: the citizen must hear it");
  }
  if (!allowed) {
    outcome.clean = false;
    outcome.conflicts.push_back({r.id, "status", StatusName(r.status), r.status_version,
                                 StatusName(m.status_to), m.version(), allowed.error().message()});
    return outcome;
  }
  std::string text =
      std::string("status ") + StatusName(r.status) + " -> " + StatusName(m.status_to);
  if (!m.note.empty()) text += ": " + m.note;
  r.history.push_back({m.hlc, m.actor, std::move(text)});
  r.status = m.status_to;
  r.status_version = m.version();
  r.status_note = m.note;
  return outcome;
}

Result<MergeOutcome> ApplyRestore(const Catalog& catalog, std::optional<Request>& state,
                                  const Mutation& m) {
  MPP_ASSIGN_OR_RETURN(Request copy, DecodeRequest(ViewOf(m.note)));
  if (copy.id != m.request_id || !IsUuid(copy.id) || copy.receipt != m.receipt) {
    return Error::InvalidInput(
        "the restored request does not match the mutation's request id and receipt");
  }
  if (state && (state->receipt != copy.receipt || state->service_id != copy.service_id)) {
    return Error::InvalidInput("the restored request " + copy.id +
                               " names another receipt or service than the server's");
  }
  FieldMap values;
  for (const auto& [name, field] : copy.fields) values[name] = field.value;
  // Accepted once already: the rules added since do not undo it.
  MPP_RETURN_IF_ERROR(catalog.ValidateStored(copy.service_id, values));
  if (!state) {
    state = copy;
    return MergeOutcome{};
  }
  Request& r = *state;
  for (const auto& [name, field] : copy.fields) {
    auto current = r.fields.find(name);
    if (current == r.fields.end() || current->second.version < field.version) {
      r.fields[name] = field;
    }
  }
  if (r.status_version < copy.status_version) {
    r.status = copy.status;
    r.status_version = copy.status_version;
    r.status_note = copy.status_note;
  }
  // The van's entries the server lacks go after the server's: a history only ever grows at
  // its end, which pulls of only what changed rely on (sync/patch.h).
  for (const auto& entry : copy.history) {
    if (std::find(r.history.begin(), r.history.end(), entry) == r.history.end()) {
      r.history.push_back(entry);
    }
  }
  MergeOutcome outcome;
  outcome.clean = r == copy;
  return outcome;
}

}  // namespace

Result<MergeOutcome> ApplyMutation(const Catalog& catalog, std::optional<Request>& state,
                                   const Mutation& mutation, Role role) {
  if (mutation.kind == MutationKind::kCreate) {
    if (role != Role::kVan) return Error::InvalidInput("only a van registers new requests");
    return ApplyCreate(catalog, state, mutation);
  }
  if (mutation.kind == MutationKind::kRestore) {
    if (role != Role::kVan) return Error::InvalidInput("only a van restores its requests");
    return ApplyRestore(catalog, state, mutation);
  }
  if (!state.has_value()) {
    return Error::NotFound("request " + mutation.request_id + " does not exist");
  }
  if (mutation.kind == MutationKind::kSetFields) {
    // Validation failure leaves the state as it was: ApplySetFields validates before writing.
    return ApplySetFields(catalog, *state, mutation);
  }
  return ApplySetStatus(*state, mutation, role);
}

}  // namespace mpp::sync
