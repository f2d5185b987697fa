#include "mpp/sync/json_format.h"

namespace mpp::sync {

using nlohmann::json;

json RequestToJson(const Request& r, bool with_history) {
  json fields = json::object();
  for (const auto& [name, value] : r.fields) fields[name] = value.value;
  json j = {{"id", r.id},
            {"receipt", r.receipt},
            {"service_id", r.service_id},
            {"status", StatusName(r.status)},
            {"status_note", r.status_note},
            {"device_id", r.device_id},
            {"officer", r.officer},
            {"created_ms", r.created.wall_ms},
            {"fields", std::move(fields)}};
  if (with_history) {
    json history = json::array();
    for (const auto& h : r.history) {
      history.push_back({{"at_ms", h.at.wall_ms}, {"actor", h.actor}, {"text", h.text}});
    }
    j["history"] = std::move(history);
  }
  return j;
}

json ConflictToJson(const ConflictRecord& c) {
  return {{"request_id", c.request_id},
          {"field", c.field},
          {"kept_value", c.kept_value},
          {"kept_by", c.kept_version.origin},
          {"kept_at", c.kept_version.hlc.ToString()},
          {"lost_value", c.lost_value},
          {"lost_by", c.lost_version.origin},
          {"lost_at", c.lost_version.hlc.ToString()},
          {"reason", c.reason}};
}

json CatalogToJson(const Catalog& catalog, std::string_view agency) {
  json agencies = json::array();
  for (const auto& a : catalog.agencies()) {
    if (!agency.empty() && a.id != agency) continue;
    agencies.push_back({{"id", a.id}, {"name", a.name}, {"name_en", a.name_en}});
  }
  json services = json::array();
  for (const auto& s : catalog.services()) {
    if (!agency.empty() && s.agency != agency) continue;
    json fields = json::array();
    for (const auto& f : s.fields) {
      json fj = {{"name", f.name},         {"type", FieldTypeName(f.type)},
                 {"required", f.required}, {"personal", f.personal},
                 {"label", f.label},       {"max_length", f.max_length}};
      if (!f.options.empty()) fj["options"] = f.options;
      fields.push_back(std::move(fj));
    }
    services.push_back({{"id", s.id},
                        {"agency", s.agency},
                        {"name", s.name},
                        {"name_en", s.name_en},
                        {"fields", std::move(fields)}});
  }
  return {{"version", catalog.version()},
          {"name", catalog.name()},
          {"agencies", agencies},
          {"services", services}};
}

}  // namespace mpp::sync
