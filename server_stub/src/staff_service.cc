#include "mpp/server/staff_service.h"

#include <nlohmann/json.hpp>

#include "mpp/server/nik_index.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/merge.h"
#include "mpp/sync/text.h"

namespace mpp::server {
namespace {

using nlohmann::json;

// What in `request` would not hold under `catalog`, one text per problem, naming the receipt and
// the field (never a value: a NIK or a name is personal; an enum option is not).
void CheckAgainst(const sync::Catalog& catalog, const sync::Request& request,
                  std::vector<std::string>& problems) {
  const sync::Service* service = catalog.FindService(request.service_id);
  if (service == nullptr) {
    problems.push_back(request.receipt + ": service " + request.service_id + " is removed");
    return;
  }
  for (const auto& [name, field] : request.fields) {
    if (field.value.empty()) continue;
    const sync::FieldSpec* spec = service->FindField(name);
    if (spec == nullptr) {
      problems.push_back(request.receipt + ": field " + name + " is removed");
    } else if (!sync::ValidateFieldValue(*spec, field.value).ok()) {
      problems.push_back(request.receipt + ": field " + name +
                         (spec->type == sync::FieldType::kEnum
                              ? " no longer has the option \"" + field.value + "\""
                              : " no longer accepts its value"));
    }
  }
  for (const auto& spec : service->fields) {
    auto it = request.fields.find(spec.name);
    if (spec.required && (it == request.fields.end() || it->second.value.empty())) {
      problems.push_back(request.receipt + ": required field " + spec.name + " is missing");
    }
  }
}

}  // namespace

Result<sync::Request> StaffService::ApplyStaff(
    const std::string& id_or_receipt, sync::Mutation m,
    const std::function<Result<void>(StorageTxn&, const sync::Request&)>& also) {
  MPP_RETURN_IF_ERROR(core_.RefreshCatalog());
  const sync::Catalog& catalog = core_.catalog();
  MPP_ASSIGN_OR_RETURN(auto found, core_.storage().FindRequest(id_or_receipt));
  if (!found) return Error::NotFound("no request with id or receipt " + id_or_receipt);
  m.request_id = found->request.id;
  std::optional<sync::Request> changed;
  MPP_RETURN_IF_ERROR(core_.RunTransaction([&]() -> Result<void> {
    MPP_ASSIGN_OR_RETURN(changed, ApplyStaffOnce(catalog, m, also));
    return Ok();
  }));
  return *changed;
}

Result<sync::Request> StaffService::ApplyStaffOnce(
    const sync::Catalog& catalog, sync::Mutation m,
    const std::function<Result<void>(StorageTxn&, const sync::Request&)>& also) {
  const std::string id = m.request_id;
  const int64_t now = core_.clock().NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, core_.storage().Begin());
  MPP_ASSIGN_OR_RETURN(std::optional<RequestRow> row, txn->LoadRequest(id));
  if (!row) return Error::NotFound("no request " + id);
  std::optional<sync::Request> state = row->request;
  MPP_ASSIGN_OR_RETURN(m.hlc, core_.Stamp(*txn));
  // What staff type goes into the form's stored spelling, as on the van (Catalog::NormaliseForm).
  if (const sync::Service* service = catalog.FindService(state->service_id)) {
    for (auto& w : m.writes) {
      if (const sync::FieldSpec* spec = service->FindField(w.name)) {
        w.value = sync::NormaliseFieldValue(*spec, std::move(w.value));
      }
    }
  }
  // Staff edit what they see: the base of each write is the current version.
  for (auto& w : m.writes) {
    auto f = state->fields.find(w.name);
    if (f != state->fields.end()) w.base = f->second.version;
  }
  m.status_base = state->status_version;
  const std::optional<sync::Request> before = state;
  MPP_ASSIGN_OR_RETURN(sync::MergeOutcome outcome,
                       sync::ApplyMutation(catalog, state, m, sync::Role::kStaff));
  if (!outcome.clean) {
    // A person at the console gets the refusal directly; nothing is stored.
    return Error::Conflict(outcome.conflicts.front().reason);
  }
  MPP_RETURN_IF_ERROR(SaveChange(*txn, row, *state, core_.AgencyOf(catalog, state->service_id),
                                 row->van_code, /*notify_owner=*/true, now));
  MPP_RETURN_IF_ERROR(IndexNik(*txn, core_.options().nik_index_key, catalog, before, *state,
                               /*flag=*/false, now));
  std::string detail = m.kind == sync::MutationKind::kSetStatus
                           ? std::string("status=") + sync::StatusName(m.status_to)
                           : "fields";
  if (m.kind == sync::MutationKind::kSetFields) {
    for (const auto& w : m.writes) detail += " " + w.name;  // names only: values are personal
  }
  MPP_RETURN_IF_ERROR(txn->AppendAudit(m.origin, "request.change", id, detail, now));
  if (also) MPP_RETURN_IF_ERROR(also(*txn, *state));
  MPP_RETURN_IF_ERROR(txn->Commit());
  return *state;
}

Result<sync::Request> StaffService::SetStatus(const std::string& id_or_receipt,
                                              sync::RequestStatus to, const std::string& by,
                                              const std::string& note) {
  if (by.empty()) return Error::InvalidInput("say who makes the change (--by NAME)");
  sync::Mutation m;
  m.origin = "staff:" + by;
  m.actor = m.origin;
  m.kind = sync::MutationKind::kSetStatus;
  m.status_to = to;
  m.note = note;
  return ApplyStaff(id_or_receipt, std::move(m));
}

Result<sync::Request> StaffService::SetFields(const std::string& id_or_receipt,
                                              const sync::FieldMap& fields, const std::string& by) {
  if (by.empty()) return Error::InvalidInput("say who makes the change (--by NAME)");
  if (fields.empty()) return Error::InvalidInput("nothing to change: give --set key=value");
  sync::Mutation m;
  m.origin = "staff:" + by;
  m.actor = m.origin;
  m.kind = sync::MutationKind::kSetFields;
  for (const auto& [name, value] : fields) m.writes.push_back({name, value, {}});
  return ApplyStaff(id_or_receipt, std::move(m));
}

Result<std::vector<StoredRequest>> StaffService::RequestsWithNik(const std::string& nik) {
  const Bytes& key = core_.options().nik_index_key;
  if (key.empty()) return Error::Unavailable("this server has no NIK index key");
  return core_.storage().RequestsWithNikHash(NikIndexHash(key, nik));
}

Result<int64_t> StaffService::LoadCatalog(const std::string& catalog_json, const std::string& by) {
  if (by.empty()) return Error::InvalidInput("say who loads the catalog (--by NAME)");
  MPP_ASSIGN_OR_RETURN(sync::Catalog parsed, sync::Catalog::FromJson(catalog_json));
  const int64_t now = core_.clock().NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, core_.storage().Begin());
  MPP_ASSIGN_OR_RETURN(auto current, txn->LoadCatalog());
  const int64_t version = std::max(parsed.version(), current.first + 1);
  std::string text = catalog_json;
  if (version != parsed.version()) {
    // FromJson accepted the text, so it is one JSON object; only its version changes.
    json j = json::parse(catalog_json);
    j["version"] = version;
    text = j.dump(2) + "\n";
    MPP_ASSIGN_OR_RETURN(parsed, sync::Catalog::FromJson(text));
  }
  MPP_ASSIGN_OR_RETURN(auto open, txn->OpenRequests());
  std::vector<std::string> problems;
  for (const auto& r : open) CheckAgainst(parsed, r, problems);
  if (!problems.empty()) {
    constexpr size_t kShown = 10;
    std::string list;
    for (size_t i = 0; i < problems.size() && i < kShown; ++i) {
      list += (i == 0 ? "" : "; ") + problems[i];
    }
    if (problems.size() > kShown) {
      list += "; and " + std::to_string(problems.size() - kShown) + " more";
    }
    return Error::Conflict("the catalog would invalidate open requests, nothing changed: " + list);
  }
  MPP_RETURN_IF_ERROR(txn->SaveCatalog(version, text));
  MPP_RETURN_IF_ERROR(txn->AppendAudit(by, "catalog.load", "version " + std::to_string(version),
                                       "was version " + std::to_string(current.first), now));
  MPP_RETURN_IF_ERROR(txn->Commit());
  core_.Adopt(std::move(parsed));
  return version;
}

Result<StoredConflict> StaffService::ResolveConflict(uint64_t rev, Resolution how,
                                                     const std::string& value,
                                                     const std::string& by) {
  if (by.empty()) return Error::InvalidInput("say who resolves the conflict (--by NAME)");
  std::optional<StoredConflict> found;
  {
    MPP_ASSIGN_OR_RETURN(auto txn, core_.storage().Begin());
    MPP_ASSIGN_OR_RETURN(found, txn->FindConflict(rev));
  }  // rolled back: only a read
  if (!found) return Error::NotFound("no conflict " + std::to_string(rev));
  if (!found->open()) {
    return Error::Conflict("conflict " + std::to_string(rev) + " was already resolved by " +
                           found->resolved_by);
  }
  const sync::ConflictRecord& c = found->conflict;
  const bool is_staff_origin_lost = c.lost_version.origin.rfind("staff:", 0) == 0;
  std::string target;
  std::string resolution;
  switch (how) {
    case Resolution::kKeepServer:
      resolution = "kept the server's value";
      break;
    case Resolution::kKeepVan:
      // The van's side is the version a device wrote: the one not applied, unless that one is
      // a staff change (the van's write won then, and stays).
      target = is_staff_origin_lost ? c.kept_value : c.lost_value;
      resolution = "kept the van's value";
      break;
    case Resolution::kValue:
      target = value;
      resolution = "set to a value given by staff";
      break;
  }
  if (c.field == "duplicate" && how != Resolution::kKeepServer) {
    return Error::InvalidInput(
        "a possible duplicate is settled with --keep server (both requests stay); to end one of "
        "them, change its status with `mpp-server request set-status`");
  }
  const std::string target_name = "conflict " + std::to_string(rev);
  auto mark = [&](StorageTxn& txn, int64_t now) -> Result<void> {
    MPP_ASSIGN_OR_RETURN(auto still, txn.FindConflict(rev));
    if (!still || !still->open()) {
      return Error::Conflict(target_name + " was resolved meanwhile");
    }
    MPP_RETURN_IF_ERROR(txn.ResolveConflict(rev, by, resolution, now));
    return txn.AppendAudit("staff:" + by, "conflict.resolve", target_name,
                           c.request_id + " " + c.field + ": " + resolution, now);
  };
  if (how == Resolution::kKeepServer) {
    const int64_t now = core_.clock().NowMillis();
    MPP_ASSIGN_OR_RETURN(auto txn, core_.storage().Begin());
    MPP_RETURN_IF_ERROR(mark(*txn, now));
    MPP_RETURN_IF_ERROR(txn->Commit());
  } else {
    sync::Mutation m;
    m.origin = "staff:" + by;
    m.actor = m.origin;
    if (c.field == "status") {
      auto to = sync::ParseStatus(target);
      if (!to) return Error::InvalidInput("unknown status \"" + target + "\"");
      m.kind = sync::MutationKind::kSetStatus;
      m.status_to = *to;
      m.note = "conflict resolved";
    } else {
      m.kind = sync::MutationKind::kSetFields;
      m.writes.push_back({c.field, target, {}});
    }
    auto changed =
        ApplyStaff(c.request_id, std::move(m), [&](StorageTxn& txn, const sync::Request&) {
          return mark(txn, core_.clock().NowMillis());
        });
    if (!changed) return changed.error();
  }
  found->resolved_ms = core_.clock().NowMillis();
  found->resolved_by = by;
  found->resolution = resolution;
  return *found;
}

Result<AuditReport> StaffService::VerifyEnvelopes() {
  AuditReport report;
  sync::EnvelopeLimits limits = core_.options().limits;
  MPP_RETURN_IF_ERROR(core_.storage().ForEachEnvelope([&](const EnvelopeRecord& e) -> Result<void> {
    ++report.checked;
    // Revoked devices' envelopes stay verifiable: look the key up regardless of revocation.
    auto lookup = [this](const std::string& signer) -> Result<Bytes> {
      MPP_ASSIGN_OR_RETURN(auto device, core_.storage().FindDevice(signer));
      if (!device) return Error::Unauthenticated("unknown device " + signer);
      return device->public_key;
    };
    auto opened = sync::OpenEnvelope(e.bytes, sync::EnvelopeKind::kPush, lookup, limits);
    if (!opened) {
      report.failures.push_back("envelope " + std::to_string(e.id) + " from " + e.device_id + ": " +
                                opened.error().message());
    } else if (opened->signer != e.device_id || opened->header.first_seq != e.first_seq ||
               opened->header.last_seq != e.last_seq) {
      report.failures.push_back("envelope " + std::to_string(e.id) +
                                ": stored device or seq range differs from the signed one");
    }
    return Ok();
  }));
  return report;
}

Result<std::optional<StoredRequest>> StaffService::FindRequest(const std::string& id_or_receipt) {
  return core_.storage().FindRequest(id_or_receipt);
}

Result<std::vector<StoredRequest>> StaffService::ListRequests(const RequestQuery& query) {
  return core_.storage().ListRequests(query);
}

Result<std::vector<StoredConflict>> StaffService::ConflictsOf(const std::string& request_id) {
  return core_.storage().ConflictsOf(request_id);
}

Result<std::vector<StoredConflict>> StaffService::ListConflicts() {
  return core_.storage().ListConflicts();
}

Result<std::vector<DuplicatePair>> StaffService::ListDuplicates() {
  return core_.storage().ListDuplicates();
}

Result<std::vector<DeviceRecord>> StaffService::ListDevices() {
  return core_.storage().ListDevices();
}

Result<RequestPageRows> StaffService::PageRequests(const RequestPageQuery& query) {
  return core_.storage().PageRequests(query);
}

Result<void> StaffService::AddComment(const std::string& request_id, const std::string& text,
                                      const std::string& by) {
  MPP_RETURN_IF_ERROR(sync::CheckText(text, "a comment", sync::TextRules::Note()));
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Error::InvalidInput("a comment needs some text");
  }
  if (text.size() > sync::kMaxNoteBytes) {
    return Error::TooLarge("a comment has at most " + std::to_string(sync::kMaxNoteBytes) +
                           " bytes");
  }
  MPP_RETURN_IF_ERROR(core_.storage().staff_store().AddComment(
      StaffComment{request_id, core_.clock().NowMillis(), by, text}));
  return Audit(by, "request.comment", request_id, "");  // the text stays in the comment
}

Result<std::vector<StaffComment>> StaffService::CommentsOf(const std::string& request_id) {
  return core_.storage().staff_store().CommentsOf(request_id);
}

Result<void> StaffService::Audit(const std::string& by, const std::string& action,
                                 const std::string& target, const std::string& detail) {
  return core_.Audit("staff:" + by, action, target, detail);
}

}  // namespace mpp::server
