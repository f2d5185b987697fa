#include "request_api.h"

#include <algorithm>
#include <set>

#include "api_input.h"
#include "api_views.h"
#include "export.h"
#include "web_util.h"

namespace mpp::staff_web {
namespace {

using nlohmann::json;
using server::WebAnswer;
using server::WebRequest;

constexpr size_t kMaxBulkIds = 500;

struct StatusChange {
  sync::RequestStatus to;
  std::string note;
};

// "status" (required) and "note" of a status change's body.
Result<StatusChange> ReadStatusChange(const json& body) {
  MPP_ASSIGN_OR_RETURN(std::string name, StringMember(body, "status", true));
  MPP_ASSIGN_OR_RETURN(std::string note, StringMember(body, "note", false));
  auto to = sync::ParseStatus(name);
  if (!to) return Error::InvalidInput("unknown status; see API.md for the names");
  return StatusChange{*to, std::move(note)};
}

}  // namespace

WebAnswer RequestApi::ListRequests(const WebRequest& request) {
  auto query = ParseQuery(request.target);
  if (!query) return JsonError(query.error());
  auto search = ReadSearch(*query, offset_minutes_);
  if (!search) return JsonError(search.error());
  auto page = scope_.Search(*search);
  if (!page) return JsonError(page.error());
  json items = json::array();
  for (const auto& s : page->items) items.push_back(SummaryJson(catalog_, s));
  const json counts = CountsJson(page->counts);
  return Json(200, {{"items", items},
                    {"total", page->total},
                    {"page", search->page},
                    {"per_page", search->per_page},
                    {"counts", counts}});
}

WebAnswer RequestApi::ShowRequest(const std::string& id) {
  auto found = scope_.Request(id);
  if (!found) return JsonError(found.error());
  return RequestJson(*found);
}

WebAnswer RequestApi::SetStatus(const WebRequest& request, const std::string& id) {
  auto body = ReadBody(request, {"status", "note"});
  if (!body) return JsonError(body.error());
  auto change = ReadStatusChange(*body);
  if (!change) return JsonError(change.error());
  auto changed = scope_.SetStatus(id, change->to, change->note);
  if (!changed) return JsonError(changed.error());
  return ShowRequest(changed->id);
}

WebAnswer RequestApi::SetFields(const WebRequest& request, const std::string& id) {
  auto body = ReadBody(request, {"fields"});
  if (!body) return JsonError(body.error());
  auto it = body->find("fields");
  if (it == body->end() || !it->is_object() || it->empty()) {
    return JsonError(400, "\"fields\" must be an object of field names and new values");
  }
  sync::FieldMap fields;
  for (const auto& [name, value] : it->items()) {
    if (!value.is_string()) return JsonError(400, "each field's new value must be text");
    fields[name] = value.get<std::string>();
  }
  auto changed = scope_.SetFields(id, fields);
  if (!changed) return JsonError(changed.error());
  return ShowRequest(changed->id);
}

WebAnswer RequestApi::BulkStatus(const WebRequest& request) {
  auto body = ReadBody(request, {"ids", "status", "note"});
  if (!body) return JsonError(body.error());
  auto ids = body->find("ids");
  if (ids == body->end() || !ids->is_array() || ids->empty() || ids->size() > kMaxBulkIds) {
    return JsonError(400, "\"ids\" must list 1 to " + std::to_string(kMaxBulkIds) + " requests");
  }
  for (const auto& id : *ids) {
    if (!id.is_string()) return JsonError(400, "each id must be text");
  }
  auto change = ReadStatusChange(*body);
  if (!change) return JsonError(change.error());
  size_t changed = 0;
  json failed = json::array();
  for (const auto& id : *ids) {
    auto done = scope_.SetStatus(id.get<std::string>(), change->to, change->note);
    if (done) {
      ++changed;
    } else {
      failed.push_back({{"id", id}, {"error", done.error().message()}});
    }
  }
  return Json(200, {{"changed", changed}, {"failed", failed}});
}

WebAnswer RequestApi::ListConflicts(const WebRequest& request) {
  auto query = ParseQuery(request.target);
  if (!query) return JsonError(query.error());
  auto open = query->find("open");
  auto list = scope_.Conflicts(open != query->end() && open->second == "1");
  if (!list) return JsonError(list.error());
  json items = json::array();
  for (const auto& c : *list) items.push_back(ConflictJson(c));
  return Json(200, {{"items", items}});
}

WebAnswer RequestApi::ResolveConflict(const WebRequest& request, const std::string& rev_text) {
  if (rev_text.empty() || rev_text.size() > 18 ||
      rev_text.find_first_not_of("0123456789") != std::string::npos) {
    return JsonError(404, "no such conflict");
  }
  auto body = ReadBody(request, {"keep", "value"});
  if (!body) return JsonError(body.error());
  auto keep = StringMember(*body, "keep", true);
  auto value = StringMember(*body, "value", false);
  if (!keep) return JsonError(keep.error());
  if (!value) return JsonError(value.error());
  server::Resolution how;
  if (*keep == "van") {
    how = server::Resolution::kKeepVan;
  } else if (*keep == "server") {
    how = server::Resolution::kKeepServer;
  } else if (*keep == "value") {
    how = server::Resolution::kValue;
  } else {
    return JsonError(400, "\"keep\" is van, server or value");
  }
  auto resolved = scope_.ResolveConflict(std::stoull(rev_text), how, *value);
  if (!resolved) return JsonError(resolved.error());
  return Json(200, ConflictJson(*resolved));
}

WebAnswer RequestApi::Summary() {
  auto summary = scope_.Summary();
  if (!summary) return JsonError(summary.error());
  json agencies = json::array();
  for (const auto& s : *summary) {
    const sync::Agency* agency = catalog_.FindAgency(s.agency);
    const json counts = CountsJson(s.counts);
    json services = json::array();
    for (const auto& [service_id, n] : s.per_service) {
      json one = {{"service_id", service_id}, {"count", n}};
      one.update(ServiceNames(catalog_, service_id));
      services.push_back(one);
    }
    json oldest = nullptr;
    if (s.oldest_open) {
      oldest = {{"id", s.oldest_open->request.id},
                {"receipt", s.oldest_open->request.receipt},
                {"created_ms", s.oldest_open->request.created.wall_ms}};
    }
    agencies.push_back({{"agency", s.agency},
                        {"name", agency ? agency->name : s.agency},
                        {"name_en", agency ? agency->name_en : s.agency},
                        {"counts", counts},
                        {"services", services},
                        {"oldest_open", oldest}});
  }
  return Json(200, {{"agencies", agencies}});
}

WebAnswer RequestApi::Places() {
  json districts = json::array();
  for (const auto& d : catalog_.districts()) {
    districts.push_back({{"code", d.code}, {"name", d.name}});
  }
  json villages = json::array();
  for (const auto& v : catalog_.villages()) {
    villages.push_back({{"code", v.code}, {"name", v.name}, {"district", v.district_code}});
  }
  return Json(200, {{"districts", districts}, {"villages", villages}});
}

WebAnswer RequestApi::AddComment(const WebRequest& request, const std::string& id) {
  auto body = ReadBody(request, {"text"});
  if (!body) return JsonError(body.error());
  auto text = StringMember(*body, "text", true);
  if (!text) return JsonError(text.error());
  if (auto done = scope_.AddComment(id, *text); !done) return JsonError(done.error());
  return ShowRequest(id);
}

WebAnswer RequestApi::Export(const WebRequest& request) {
  auto query = ParseQuery(request.target);
  if (!query) return JsonError(query.error());
  std::string format = "csv";
  bool mask = false;
  if (auto it = query->find("format"); it != query->end()) {
    format = it->second;
    query->erase(it);
  }
  if (auto it = query->find("mask"); it != query->end()) {
    mask = it->second == "1";
    query->erase(it);
  }
  if (format != "csv" && format != "json") return JsonError(400, "format is csv or json");
  auto search = ReadSearch(*query, offset_minutes_);
  if (!search) return JsonError(search.error());
  auto cursor = scope_.Matching(*search);
  if (!cursor) return JsonError(cursor.error());
  // Which filters, not their values: a NIK or a name searched for is personal data.
  std::string filters;
  for (const auto& [name, value] : *query) filters += (filters.empty() ? "" : ",") + name;
  if (auto audited =
          scope_.Audit("export", format + (mask ? " masked" : " unmasked") +
                                     ", filters: " + (filters.empty() ? "none" : filters));
      !audited) {
    return JsonError(audited.error());
  }
  // The CSV's columns: the fields of every service the export may hold.
  std::vector<const sync::Service*> services;
  for (const auto& service : catalog_.services()) {
    if (!scope_.actor().Sees(service.agency)) continue;
    if (!search->service_id.empty() && service.id != search->service_id) continue;
    if (!search->agency.empty() && service.agency != search->agency) continue;
    services.push_back(&service);
  }
  return ExportAnswer(
      services_.staff, scope_.actor().by(), catalog_, std::move(services), std::move(*cursor),
      format == "csv" ? ExportFormat::kCsv : ExportFormat::kJson, mask, offset_minutes_);
}

WebAnswer RequestApi::RequestJson(const server::StoredRequest& stored) {
  const sync::Request& r = stored.request;
  json j = {{"id", r.id},
            {"receipt", r.receipt},
            {"service_id", r.service_id},
            {"agency", stored.agency},
            {"device_id", r.device_id},
            {"officer", r.officer},
            {"status", sync::StatusName(r.status)},
            {"status_note", r.status_note},
            {"created_ms", r.created.wall_ms}};
  j.update(ServiceNames(catalog_, r.service_id));
  int64_t updated = std::max(r.created.wall_ms, r.status_version.hlc.wall_ms);
  json fields = json::array();
  std::set<std::string> shown;
  if (const sync::Service* service = catalog_.FindService(r.service_id)) {
    for (const auto& spec : service->fields) {
      auto it = r.fields.find(spec.name);
      json field = {{"name", spec.name},
                    {"label", spec.label},
                    {"value", it == r.fields.end() ? "" : it->second.value}};
      // A village by its name and district, not only its Kemendagri code.
      if (spec.type == sync::FieldType::kVillageCode && it != r.fields.end()) {
        if (auto words = VillageWords(catalog_, it->second.value); !words.empty()) {
          field["display"] = words;
        }
      }
      fields.push_back(field);
      shown.insert(spec.name);
    }
  }
  for (const auto& [name, field] : r.fields) {
    updated = std::max(updated, field.version.hlc.wall_ms);
    if (shown.count(name) == 0) {
      fields.push_back({{"name", name}, {"label", name}, {"value", field.value}});
    }
  }
  j["fields"] = fields;
  j["updated_ms"] = updated;
  json history = json::array();
  for (const auto& h : r.history) {
    history.push_back({{"at_ms", h.at.wall_ms}, {"actor", h.actor}, {"text", h.text}});
  }
  j["history"] = history;
  json allowed = json::array();
  if (scope_.actor().MayChange(stored.agency)) {
    for (auto to : sync::AllowedTransitions(r.status, sync::Role::kStaff)) {
      allowed.push_back(sync::StatusName(to));
    }
  }
  j["allowed_statuses"] = allowed;
  json conflicts = json::array();
  if (auto list = scope_.ConflictsOf(r.id)) {
    for (const auto& c : *list) conflicts.push_back(ConflictJson(c));
  }
  j["conflicts"] = conflicts;
  json comments = json::array();
  if (auto list = scope_.Comments(r.id)) {
    for (const auto& c : *list) {
      comments.push_back({{"at_ms", c.at_ms}, {"by", c.by}, {"text", c.text}});
    }
  }
  j["comments"] = comments;
  // The van code of the device that made it.
  if (auto device = services_.core.storage().FindDevice(r.device_id); device && *device) {
    j["van_code"] = (*device)->van_code;
  } else {
    j["van_code"] = "";
  }
  return Json(200, j);
}

}  // namespace mpp::staff_web
