#include "api_input.h"

#include <algorithm>
#include <set>

#include "mpp/sync/json_format.h"
#include "mpp/sync/text.h"

namespace mpp::staff_web {
namespace {

using nlohmann::json;
using server::WebRequest;

constexpr size_t kMaxJsonDepth = 8;

}  // namespace

Result<json> ReadBody(const WebRequest& request, std::initializer_list<std::string_view> allowed) {
  MPP_ASSIGN_OR_RETURN(json body, sync::ParseJsonObjectStrict(request.body, kMaxJsonDepth));
  for (const auto& [key, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string keys;
      for (auto k : allowed) keys += (keys.empty() ? "" : ", ") + std::string(k);
      return Error::InvalidInput("unknown key in the request body; the keys are " + keys);
    }
  }
  return body;
}

Result<std::string> StringMember(const json& body, const char* key, bool required) {
  auto it = body.find(key);
  if (it == body.end()) {
    if (required) return Error::InvalidInput(std::string("\"") + key + "\" is missing");
    return std::string();
  }
  if (!it->is_string()) return Error::InvalidInput(std::string("\"") + key + "\" must be text");
  return it->get<std::string>();
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// The first millisecond of a YYYY-MM-DD day in the zone `offset_minutes` east of UTC.
Result<int64_t> DayStartMs(std::string_view text, int offset_minutes, const char* what) {
  auto bad = [&] { return Error::InvalidInput(std::string(what) + " must be a date YYYY-MM-DD"); };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return bad();
  int parts[3] = {0, 0, 0};
  const size_t starts[3] = {0, 5, 8};
  const size_t lengths[3] = {4, 2, 2};
  for (int p = 0; p < 3; ++p) {
    for (size_t i = 0; i < lengths[p]; ++i) {
      const char c = text[starts[p] + i];
      if (c < '0' || c > '9') return bad();
      parts[p] = parts[p] * 10 + (c - '0');
    }
  }
  if (parts[1] < 1 || parts[1] > 12 || parts[2] < 1 || parts[2] > 31) return bad();
  const int64_t days =
      DaysFromCivil(parts[0], static_cast<unsigned>(parts[1]), static_cast<unsigned>(parts[2]));
  return days * 86'400'000 - int64_t{offset_minutes} * 60'000;
}

Result<size_t> PositiveNumber(const std::map<std::string, std::string>& query, const char* name,
                              size_t fallback) {
  auto it = query.find(name);
  if (it == query.end() || it->second.empty()) return fallback;
  if (it->second.size() > 6 || it->second.find_first_not_of("0123456789") != std::string::npos) {
    return Error::InvalidInput(std::string(name) + " must be a whole number");
  }
  return static_cast<size_t>(std::stoul(it->second));
}

Result<server::RequestSearch> ReadSearch(const std::map<std::string, std::string>& query,
                                         int offset_minutes) {
  static const std::set<std::string> kKnown = {
      "status", "service", "agency", "van",  "officer",   "district", "village", "q",
      "nik",    "from",    "to",     "sort", "duplicate", "page",     "per_page"};
  for (const auto& [name, value] : query) {
    if (kKnown.count(name) == 0) {
      return Error::InvalidInput(
          "unknown filter; the filters are status, service, agency, van, officer, district, "
          "village, q, nik, from, to, duplicate, sort, page, per_page");
    }
    MPP_RETURN_IF_ERROR(sync::CheckText(value, "a filter", sync::TextRules::Line()));
  }
  auto get = [&](const char* name) {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  };
  server::RequestSearch s;
  if (const std::string status = get("status"); !status.empty()) {
    s.status = sync::ParseStatus(status);
    if (!s.status) return Error::InvalidInput("unknown status; see API.md for the names");
  }
  s.service_id = get("service");
  s.agency = get("agency");
  s.van_code = get("van");
  s.officer = get("officer");
  s.district_code = get("district");
  s.village_code = get("village");
  s.text = get("q");
  s.nik = get("nik");
  if (!s.nik.empty() &&
      (s.nik.size() != 16 || s.nik.find_first_not_of("0123456789") != std::string::npos)) {
    return Error::InvalidInput("a NIK has 16 digits");
  }
  if (const std::string from = get("from"); !from.empty()) {
    MPP_ASSIGN_OR_RETURN(s.created_from_ms, DayStartMs(from, offset_minutes, "from"));
  }
  if (const std::string to = get("to"); !to.empty()) {
    MPP_ASSIGN_OR_RETURN(int64_t start, DayStartMs(to, offset_minutes, "to"));
    s.created_to_ms = start + 86'400'000;  // inclusive of the whole day
  }
  s.duplicates_only = get("duplicate") == "1";
  std::string sort = get("sort");
  if (!sort.empty() && sort[0] == '-') {
    s.ascending = true;  // "-" reverses the default (newest or last first)
    sort.erase(0, 1);
  }
  if (sort.empty() || sort == "updated") {
    s.sort = server::RequestSort::kUpdated;
  } else if (sort == "created") {
    s.sort = server::RequestSort::kCreated;
  } else if (sort == "receipt") {
    s.sort = server::RequestSort::kReceipt;
    s.ascending = !s.ascending;  // receipts read A to Z by default
  } else {
    return Error::InvalidInput("sort is updated, created or receipt (a leading - reverses it)");
  }
  MPP_ASSIGN_OR_RETURN(s.page, PositiveNumber(query, "page", 1));
  MPP_ASSIGN_OR_RETURN(s.per_page, PositiveNumber(query, "per_page", 50));
  return s;
}

}  // namespace mpp::staff_web
