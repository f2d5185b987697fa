#include "mpp/sync/json_format.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

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
  json out = {{"version", catalog.version()},
              {"name", catalog.name()},
              {"agencies", agencies},
              {"services", services}};
  // Only a catalog with places has the section: one without is the same text as before.
  if (!catalog.districts().empty()) {
    json districts = json::array();
    for (const auto& d : catalog.districts()) {
      districts.push_back({{"code", d.code}, {"name", d.name}});
    }
    json villages = json::array();
    for (const auto& v : catalog.villages()) {
      villages.push_back({{"code", v.code}, {"name", v.name}, {"district", v.district_code}});
    }
    json places = {{"districts", std::move(districts)}, {"villages", std::move(villages)}};
    if (!catalog.regency_name().empty()) {
      places["regency"] = {{"code", catalog.regency_code()}, {"name", catalog.regency_name()}};
    }
    out["places"] = std::move(places);
  }
  return out;
}

Result<json> ParseJsonObjectStrict(std::string_view text, size_t max_depth) {
  const auto not_json = [](size_t byte) {
    return Error::InvalidInput("not valid JSON (at byte " + std::to_string(byte) + ")");
  };
  // nlohmann's lexer takes a NUL byte for the end of the input and would ignore what follows;
  // no JSON text holds one (not even inside a string), so refuse it outright.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) return not_json(nul + 1);
  using Event = json::parse_event_t;
  std::optional<Error> problem;  // the first repeated key or too deep container in the text
  // keys[d]: the names seen so far in the object open at depth d + 1. nlohmann does not report
  // the end of a discarded object, so each object clears its slot when it starts instead.
  std::vector<std::set<std::string>> keys;
  const json::parser_callback_t callback = [&](int depth, Event event, json& parsed) {
    const auto d = static_cast<size_t>(depth);  // containers open before this event
    if (event == Event::object_start || event == Event::array_start) {
      if (d + 1 > max_depth) {
        if (!problem) {
          problem = Error::InvalidInput("JSON nested deeper than " + std::to_string(max_depth) +
                                        " levels");
        }
        return false;  // not built
      }
      if (event == Event::object_start) {
        keys.resize(d + 1);
        keys[d].clear();
      }
    } else if (event == Event::key && !problem) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!keys[d - 1].insert(key).second) {
        problem =
            Error::InvalidInput("duplicate key " + json(key).dump(-1, ' ', /*ensure_ascii=*/true));
      }
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text, callback);
  } catch (const json::parse_error& e) {
    return not_json(e.byte);
  } catch (const json::exception&) {
    return Error::InvalidInput("not valid JSON");
  }
  if (problem) return *problem;
  if (!doc.is_object()) return Error::InvalidInput("JSON text must be an object");
  return doc;
}

}  // namespace mpp::sync
