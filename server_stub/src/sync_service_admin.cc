// The staff's and administrator's SyncService calls beyond single request changes: the NIK index
// and its duplicate flag, loading a new catalog, settling conflicts, revoking tokens.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "mpp/server/sync_service.h"
#include "mpp/sync/crypto.h"

namespace mpp::server {
namespace {

using nlohmann::json;

std::string DuplicateReason(const NikMatch& other) {
  return "possible duplicate: NIK has an open request " + other.receipt +
         " for this service (van " + other.van_code + ")";
}

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

const sync::FieldSpec* NikFieldOf(const sync::Service& service) {
  for (const auto& f : service.fields) {
    if (f.name == "nik" && f.type == sync::FieldType::kNik) return &f;
  }
  for (const auto& f : service.fields) {
    if (f.required && f.type == sync::FieldType::kNik) return &f;
  }
  return nullptr;
}

Bytes NikIndexHash(ByteView key, std::string_view nik) {
  const auto mac = crypto::HmacSha256(key, ViewOf(nik));
  return Bytes(mac.begin(), mac.end());
}

std::optional<Bytes> SyncService::NikHash(std::string_view nik) const {
  if (options_.nik_index_key.empty()) return std::nullopt;
  return NikIndexHash(options_.nik_index_key, nik);
}

Result<size_t> SyncService::IndexNik(StorageTxn& txn, const sync::Catalog& catalog,
                                     const std::optional<sync::Request>& before,
                                     const sync::Request& request, bool flag, int64_t now_ms) {
  if (options_.nik_index_key.empty()) return size_t{0};
  const sync::Service* service = catalog.FindService(request.service_id);
  const sync::FieldSpec* spec = service == nullptr ? nullptr : NikFieldOf(*service);
  if (spec == nullptr) return size_t{0};
  auto field = request.fields.find(spec->name);
  if (field == request.fields.end() || field->second.value.empty()) return size_t{0};
  const std::string& nik = field->second.value;
  bool changed = !before || before->service_id != request.service_id;
  if (!changed) {
    auto old = before->fields.find(spec->name);
    changed = old == before->fields.end() || old->second.value != nik;
  }
  if (!changed && !flag) return size_t{0};
  const Bytes hash = *NikHash(nik);
  MPP_RETURN_IF_ERROR(txn.IndexNik(request.id, hash, request.service_id));
  if (!flag || sync::IsFinal(request.status)) return size_t{0};

  MPP_ASSIGN_OR_RETURN(auto matches, txn.FindByNikHash(hash, request.service_id));
  auto self = std::find_if(matches.begin(), matches.end(),
                           [&](const NikMatch& m) { return m.request_id == request.id; });
  if (self == matches.end()) return Error::Internal("the NIK index lacks the request just saved");
  const NikMatch mine = *self;
  size_t flagged = 0;
  for (const NikMatch& other : matches) {
    // Another van's open request: the same van already warned its officer (use_cases.cc).
    if (other.request_id == request.id || other.van_code == mine.van_code ||
        sync::IsFinal(other.status)) {
      continue;
    }
    MPP_ASSIGN_OR_RETURN(bool fresh, txn.RecordDuplicate(request.id, other.request_id, now_ms));
    if (!fresh) continue;  // a re-sent request: the pair is flagged already
    MPP_ASSIGN_OR_RETURN(auto other_request, txn.LoadRequest(other.request_id));
    if (!other_request) continue;
    const sync::Version this_version{request.created, request.device_id};
    const sync::Version other_version{other_request->created, other_request->device_id};
    // Each van's record names its own request, and the other by receipt only (never the NIK).
    sync::ConflictRecord for_this{request.id,    "duplicate",   mine.receipt,          this_version,
                                  other.receipt, other_version, DuplicateReason(other)};
    sync::ConflictRecord for_other{other.request_id,     "duplicate",  other.receipt,
                                   other_version,        mine.receipt, this_version,
                                   DuplicateReason(mine)};
    MPP_RETURN_IF_ERROR(txn.AddConflict(request.device_id, for_this, now_ms));
    MPP_RETURN_IF_ERROR(txn.AddConflict(other.device_id, for_other, now_ms));
    MPP_RETURN_IF_ERROR(txn.AppendAudit("server", "request.duplicate", request.id,
                                        mine.receipt + " and " + other.receipt, now_ms));
    ++flagged;
  }
  return flagged;
}

Result<std::vector<StoredRequest>> SyncService::RequestsWithNik(const std::string& nik) {
  auto hash = NikHash(nik);
  if (!hash) return Error::Unavailable("this server has no NIK index key");
  return storage_.RequestsWithNikHash(*hash);
}

Result<int64_t> SyncService::LoadCatalog(const std::string& catalog_json, const std::string& by) {
  if (by.empty()) return Error::InvalidInput("say who loads the catalog (--by NAME)");
  MPP_ASSIGN_OR_RETURN(sync::Catalog parsed, sync::Catalog::FromJson(catalog_json));
  const int64_t now = clock_.NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, storage_.Begin());
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
  std::lock_guard<std::mutex> lock(catalog_mu_);
  if (version > catalog().version()) AdoptCatalog(std::move(parsed));
  return version;
}

Result<StoredConflict> SyncService::ResolveConflict(uint64_t rev, Resolution how,
                                                    const std::string& value,
                                                    const std::string& by) {
  if (by.empty()) return Error::InvalidInput("say who resolves the conflict (--by NAME)");
  std::optional<StoredConflict> found;
  {
    MPP_ASSIGN_OR_RETURN(auto txn, storage_.Begin());
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
    const int64_t now = clock_.NowMillis();
    MPP_ASSIGN_OR_RETURN(auto txn, storage_.Begin());
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
    auto changed = ApplyStaff(
        c.request_id, std::move(m),
        [&](StorageTxn& txn, const sync::Request&) { return mark(txn, clock_.NowMillis()); });
    if (!changed) return changed.error();
  }
  found->resolved_ms = clock_.NowMillis();
  found->resolved_by = by;
  found->resolution = resolution;
  return *found;
}

}  // namespace mpp::server
