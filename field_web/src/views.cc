#include "views.h"

#include <algorithm>
#include <cctype>

#include "mpp/sync/json_format.h"

namespace mpp::field_web {
namespace {

using nlohmann::json;

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsNameField(const std::string& name) { return name == "name" || name.rfind("nama", 0) == 0; }

const sync::Village* VillageOf(const sync::Request& request, const sync::Catalog& catalog) {
  auto it = request.fields.find("village_code");
  if (it == request.fields.end()) return nullptr;
  return catalog.FindVillage(it->second.value);
}

}  // namespace

std::string SearchQuery(std::string_view typed) {
  typed = typed.substr(0, 100);
  while (!typed.empty() && std::isspace(static_cast<unsigned char>(typed.front()))) {
    typed.remove_prefix(1);
  }
  while (!typed.empty() && std::isspace(static_cast<unsigned char>(typed.back()))) {
    typed.remove_suffix(1);
  }
  return Lower(typed);
}

const char* RequestState(const store::RequestRow& row) {
  if (row.pending) return "saved";
  return row.view.status == sync::RequestStatus::kSubmitted ? "sent" : "processing";
}

json RowJson(const store::RequestRow& row, const sync::Catalog& catalog, size_t conflicts,
             bool with_history) {
  json j = sync::RequestToJson(row.view, with_history);
  j["pending"] = row.pending;
  j["state"] = RequestState(row);
  j["acked_ms"] = row.acked_ms;
  j["conflicts"] = conflicts;
  if (const sync::Service* service = catalog.FindService(row.view.service_id)) {
    j["service_name"] = service->name;
    j["service_name_en"] = service->name_en;
    j["agency"] = service->agency;
  }
  if (const sync::Village* village = VillageOf(row.view, catalog)) {
    const sync::District* district = catalog.FindDistrict(village->district_code);
    j["village"] = {{"code", village->code},
                    {"name", village->name},
                    {"district", district ? district->name : ""}};
  }
  return j;
}

bool MatchesSearch(const sync::Request& request, std::string_view query) {
  if (query.empty()) return true;
  if (Lower(request.receipt).find(query) != std::string::npos) return true;
  const bool digits =
      std::all_of(query.begin(), query.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
  for (const auto& [name, field] : request.fields) {
    if (digits && query.size() >= 4 && (name == "nik" || name.rfind("nik_", 0) == 0) &&
        field.value.find(query) != std::string::npos) {
      return true;
    }
    if (IsNameField(name) && Lower(field.value).find(query) != std::string::npos) return true;
  }
  return false;
}

json VisitsJson(const std::vector<store::RequestRow>& rows, const sync::Catalog& catalog,
                const std::map<std::string, size_t>& conflicts_by_request) {
  // village code -> its requests; "" for a form without a known village.
  std::map<std::string, json> by_village;
  for (const auto& row : rows) {
    const sync::Village* village = VillageOf(row.view, catalog);
    auto c = conflicts_by_request.find(row.view.id);
    json& list = by_village[village ? village->code : ""];
    if (list.is_null()) list = json::array();
    list.push_back(RowJson(row, catalog, c == conflicts_by_request.end() ? 0 : c->second, false));
  }
  json districts = json::array();
  for (const auto& district : catalog.districts()) {
    json villages = json::array();
    for (const auto& village : catalog.villages()) {
      if (village.district_code != district.code) continue;
      auto it = by_village.find(village.code);
      if (it == by_village.end()) continue;
      villages.push_back(
          {{"code", village.code}, {"name", village.name}, {"requests", it->second}});
    }
    if (!villages.empty()) {
      districts.push_back(
          {{"code", district.code}, {"name", district.name}, {"villages", std::move(villages)}});
    }
  }
  auto unplaced = by_village.find("");
  return {{"districts", std::move(districts)},
          {"unplaced", unplaced == by_village.end() ? json::array() : unplaced->second},
          {"total", rows.size()}};
}

json ProblemsJson(const Error& error) {
  json fields = json::object();
  json general = json::array();
  std::vector<std::string> details = error.details();
  if (details.empty()) details.push_back(error.message());
  for (const auto& detail : details) {
    // "field NAME: ..." or "field NAME (Label) is required".
    constexpr std::string_view kPrefix = "field ";
    if (detail.rfind(kPrefix, 0) == 0) {
      const size_t end = detail.find_first_of(": (", kPrefix.size());
      const std::string name = detail.substr(kPrefix.size(), end - kPrefix.size());
      if (!name.empty()) {
        if (!fields.contains(name)) fields[name] = json::array();
        fields[name].push_back(detail);
        continue;
      }
    }
    general.push_back(detail);
  }
  return {{"fields", std::move(fields)}, {"general", std::move(general)}};
}

}  // namespace mpp::field_web
