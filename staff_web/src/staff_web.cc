#include "mpp/staff_web/staff_web.h"

#include <algorithm>
#include <set>

#include "assets.h"
#include "export.h"
#include "mpp/server/qr_code.h"
#include "mpp/server/staff_scope.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/enrollment_qr.h"
#include "mpp/sync/json_format.h"
#include "mpp/sync/text.h"
#include "web_util.h"

namespace mpp::staff_web {
namespace {

using nlohmann::json;
using server::WebAnswer;
using server::WebRequest;

constexpr std::string_view kSessionCookie = "mpp_session";
constexpr size_t kMaxJsonDepth = 8;
constexpr size_t kMaxBulkIds = 500;
constexpr sync::RequestStatus kStatuses[] = {
    sync::RequestStatus::kSubmitted, sync::RequestStatus::kReceived,
    sync::RequestStatus::kInReview,  sync::RequestStatus::kNeedsInfo,
    sync::RequestStatus::kCompleted, sync::RequestStatus::kDelivered,
    sync::RequestStatus::kRejected,  sync::RequestStatus::kCancelled};

// The pages run only the server's own script and style: no inline script, no outside origin.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

void AddSecurityHeaders(WebAnswer& a) {
  a.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  a.headers.emplace_back("X-Content-Type-Options", "nosniff");
  a.headers.emplace_back("X-Frame-Options", "DENY");
  a.headers.emplace_back("Referrer-Policy", "no-referrer");
}

std::string_view ContentTypeOf(std::string_view path) {
  auto ends = [&](std::string_view s) {
    return path.size() >= s.size() && path.substr(path.size() - s.size()) == s;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  return "application/octet-stream";
}

const Asset* FindAsset(std::string_view path) {
  for (const Asset& a : Assets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

// The body as a JSON object whose keys are all in `allowed` (API.md: unknown keys are refused).
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

json ServiceNames(const sync::Catalog& catalog, const std::string& service_id) {
  const sync::Service* service = catalog.FindService(service_id);
  return {{"service_name", service ? service->name : service_id},
          {"service_name_en", service ? service->name_en : service_id}};
}

// "Desa Tanjung Beringin, Kec. Batu Ampar" for a village code of the catalog's places.
std::string VillageWords(const sync::Catalog& catalog, const std::string& code) {
  const sync::Village* v = catalog.FindVillage(code);
  if (v == nullptr) return "";
  const sync::District* d = catalog.FindDistrict(v->district_code);
  return "Desa " + v->name + (d ? ", Kec. " + d->name : "");
}

json SummaryJson(const sync::Catalog& catalog, const server::RequestSummary& s) {
  const sync::Request& r = s.stored.request;
  json j = {{"id", r.id},
            {"receipt", r.receipt},
            {"service_id", r.service_id},
            {"agency", s.stored.agency},
            {"van_code", s.van_code},
            {"officer", r.officer},
            {"name", s.citizen_name},
            {"village_code", s.village_code},
            {"village", VillageWords(catalog, s.village_code)},
            {"status", sync::StatusName(r.status)},
            {"created_ms", s.created_ms},
            {"updated_ms", s.updated_ms},
            {"duplicate", s.duplicate}};
  j.update(ServiceNames(catalog, r.service_id));
  return j;
}

json ConflictJson(const server::StoredConflict& c) {
  return {{"rev", c.rev},
          {"request_id", c.conflict.request_id},
          {"receipt", c.receipt},
          {"van_code", c.van_code},
          {"field", c.conflict.field},
          {"kept_value", c.conflict.kept_value},
          {"lost_value", c.conflict.lost_value},
          {"reason", c.conflict.reason},
          {"created_ms", c.created_ms},
          {"open", c.open()},
          {"resolved_by", c.resolved_by},
          {"resolution", c.resolution}};
}

json AccountJson(const server::StaffAccount& a) {
  return {{"user", a.user},
          {"agency", a.agency},
          {"role", server::StaffRoleName(a.role)},
          {"created_ms", a.created_ms},
          {"disabled", a.disabled()}};
}

json ActorJson(const server::StaffLogin& login) {
  return {{"user", login.actor.user},
          {"agency", login.actor.agency},
          {"role", server::StaffRoleName(login.actor.role)},
          {"csrf", login.csrf}};
}

// /api/requests/{id}[/{action}] -> {id, action}; nullopt for any other path.
std::optional<std::pair<std::string, std::string>> SplitItemPath(std::string_view path,
                                                                 std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view rest = path.substr(prefix.size());
  const size_t slash = rest.find('/');
  auto id = PercentDecode(rest.substr(0, slash));
  if (!id || id->empty() || id->size() > 100) return std::nullopt;
  std::string action = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  return std::make_pair(std::move(*id), std::move(action));
}

class ApiCall {
 public:
  ApiCall(server::Services& services, server::StaffAccounts& accounts,
          const server::StaffLogin& login, int offset_minutes)
      : services_(services),
        accounts_(accounts),
        catalog_(services.staff.catalog()),
        scope_(services.staff, login.actor),
        offset_minutes_(offset_minutes) {}

  WebAnswer ListRequests(const WebRequest& request) {
    auto query = ParseQuery(request.target);
    if (!query) return JsonError(query.error());
    auto search = ReadSearch(*query, offset_minutes_);
    if (!search) return JsonError(search.error());
    auto page = scope_.Search(*search);
    if (!page) return JsonError(page.error());
    json items = json::array();
    for (const auto& s : page->items) items.push_back(SummaryJson(catalog_, s));
    json counts = json::object();
    for (auto st : kStatuses) counts[sync::StatusName(st)] = Count(page->counts, st);
    return Json(200, {{"items", items},
                      {"total", page->total},
                      {"page", search->page},
                      {"per_page", search->per_page},
                      {"counts", counts}});
  }

  WebAnswer ShowRequest(const std::string& id) {
    auto found = scope_.Request(id);
    if (!found) return JsonError(found.error());
    return RequestJson(*found);
  }

  WebAnswer SetStatus(const WebRequest& request, const std::string& id) {
    auto body = ReadBody(request, {"status", "note"});
    if (!body) return JsonError(body.error());
    auto status_name = StringMember(*body, "status", true);
    auto note = StringMember(*body, "note", false);
    if (!status_name) return JsonError(status_name.error());
    if (!note) return JsonError(note.error());
    auto to = sync::ParseStatus(*status_name);
    if (!to) return JsonError(400, "unknown status; see API.md for the names");
    auto changed = scope_.SetStatus(id, *to, *note);
    if (!changed) return JsonError(changed.error());
    return ShowRequest(changed->id);
  }

  WebAnswer SetFields(const WebRequest& request, const std::string& id) {
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

  WebAnswer BulkStatus(const WebRequest& request) {
    auto body = ReadBody(request, {"ids", "status", "note"});
    if (!body) return JsonError(body.error());
    auto ids = body->find("ids");
    if (ids == body->end() || !ids->is_array() || ids->empty() || ids->size() > kMaxBulkIds) {
      return JsonError(400, "\"ids\" must list 1 to " + std::to_string(kMaxBulkIds) + " requests");
    }
    for (const auto& id : *ids) {
      if (!id.is_string()) return JsonError(400, "each id must be text");
    }
    auto status_name = StringMember(*body, "status", true);
    auto note = StringMember(*body, "note", false);
    if (!status_name) return JsonError(status_name.error());
    if (!note) return JsonError(note.error());
    auto to = sync::ParseStatus(*status_name);
    if (!to) return JsonError(400, "unknown status; see API.md for the names");
    size_t changed = 0;
    json failed = json::array();
    for (const auto& id : *ids) {
      auto done = scope_.SetStatus(id.get<std::string>(), *to, *note);
      if (done) {
        ++changed;
      } else {
        failed.push_back({{"id", id}, {"error", done.error().message()}});
      }
    }
    return Json(200, {{"changed", changed}, {"failed", failed}});
  }

  WebAnswer ListConflicts(const WebRequest& request) {
    auto query = ParseQuery(request.target);
    if (!query) return JsonError(query.error());
    auto open = query->find("open");
    auto list = scope_.Conflicts(open != query->end() && open->second == "1");
    if (!list) return JsonError(list.error());
    json items = json::array();
    for (const auto& c : *list) items.push_back(ConflictJson(c));
    return Json(200, {{"items", items}});
  }

  WebAnswer ResolveConflict(const WebRequest& request, const std::string& rev_text) {
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

  WebAnswer ListVans(const WebRequest& request) {
    if (!scope_.actor().admin()) return JsonError(403, "only an admin sees the vans");
    auto query = ParseQuery(request.target);
    if (!query) return JsonError(query.error());
    auto stale_days = PositiveNumber(*query, "stale_days", 3);
    if (!stale_days) return JsonError(stale_days.error());
    auto devices = services_.staff.ListDevices();
    if (!devices) return JsonError(devices.error());
    const int64_t stale_before =
        services_.core.clock().NowMillis() - static_cast<int64_t>(*stale_days) * 86'400'000;
    json items = json::array();
    for (const auto& d : *devices) {
      const int64_t seen = std::max(d.last_sync_ms, d.enrolled_ms);
      items.push_back({{"device_id", d.device_id},
                       {"van_code", d.van_code},
                       {"enrolled_ms", d.enrolled_ms},
                       {"last_sync_ms", d.last_sync_ms},
                       {"revoked", d.revoked()},
                       {"stale", !d.revoked() && seen < stale_before}});
    }
    return Json(200, {{"items", items}});
  }

  WebAnswer RevokeVan(const WebRequest& request, const std::string& device_id) {
    if (!scope_.actor().admin()) return JsonError(403, "only an admin revokes vans");
    if (auto body = ReadBody(request, {}); !body) return JsonError(body.error());
    auto device = services_.devices.FindDevice(device_id);
    if (!device) return JsonError(device.error());
    if (!*device) return JsonError(404, "no such van device");
    if (auto done = services_.devices.RevokeDevice(device_id, "staff:" + scope_.actor().by());
        !done) {
      return JsonError(done.error());
    }
    return Json(200, {{"device_id", device_id}, {"revoked", true}});
  }

  WebAnswer ListTokens() {
    if (!scope_.actor().admin()) return JsonError(403, "only an admin sees enrolment tokens");
    auto tokens = services_.devices.ListTokens();
    if (!tokens) return JsonError(tokens.error());
    const int64_t now = services_.core.clock().NowMillis();
    json items = json::array();
    for (const auto& [id, t] : *tokens) {
      const char* state = t.revoked_ms != 0     ? "revoked"
                          : t.used_ms != 0      ? "used"
                          : t.expires_ms <= now ? "expired"
                                                : "unused";
      items.push_back({{"id", id},
                       {"van_code", t.van_code},
                       {"state", state},
                       {"created_ms", t.created_ms},
                       {"expires_ms", t.expires_ms},
                       {"used_ms", t.used_ms},
                       {"used_by", t.used_by}});
    }
    return Json(200, {{"items", items}});
  }

  WebAnswer CreateToken(const WebRequest& request) {
    if (!scope_.actor().admin()) return JsonError(403, "only an admin makes enrolment tokens");
    auto body = ReadBody(request, {"van_code", "hours", "server_url"});
    if (!body) return JsonError(body.error());
    auto van_code = StringMember(*body, "van_code", true);
    auto server_url = StringMember(*body, "server_url", true);
    if (!van_code) return JsonError(van_code.error());
    if (!server_url) return JsonError(server_url.error());
    int64_t hours = 24;
    if (auto h = body->find("hours"); h != body->end()) {
      if (!h->is_number_integer() || h->get<int64_t>() < 1 || h->get<int64_t>() > 24 * 30) {
        return JsonError(400, "\"hours\" is a whole number from 1 to 720 (30 days)");
      }
      hours = h->get<int64_t>();
    }
    // Checked before the token is made, so a bad address leaves no token behind.
    auto probe = sync::EncodeEnrollmentQr({*server_url, "t", "f"});
    if (!probe) return JsonError(probe.error());
    const int64_t ttl_ms = hours * 3'600'000;
    auto token = services_.devices.CreateEnrollmentToken(*van_code, ttl_ms);
    if (!token) return JsonError(token.error());
    auto payload =
        sync::EncodeEnrollmentQr({*server_url, *token, services_.core.server_fingerprint()});
    if (!payload) return JsonError(payload.error());
    auto svg = server::QrCodeSvg(*payload);
    if (!svg) return JsonError(svg.error());
    const auto hash = crypto::Sha256(ViewOf(*token));
    const std::string id =
        ToHex(ByteView(hash.data(), hash.size())).substr(0, server::kTokenIdChars);
    if (auto audited = scope_.Audit("token.create", "van " + *van_code + ", token " + id);
        !audited) {
      return JsonError(audited.error());
    }
    return Json(200, {{"id", id},
                      {"token", *token},
                      {"van_code", *van_code},
                      {"expires_ms", services_.core.clock().NowMillis() + ttl_ms},
                      {"qr_payload", *payload},
                      {"qr_svg", "data:image/svg+xml;base64," + Base64(*svg)}});
  }

  WebAnswer RevokeToken(const WebRequest& request, const std::string& id) {
    if (!scope_.actor().admin()) return JsonError(403, "only an admin revokes enrolment tokens");
    if (auto body = ReadBody(request, {}); !body) return JsonError(body.error());
    if (auto done = services_.devices.RevokeToken(id, "staff:" + scope_.actor().by()); !done) {
      return JsonError(done.error());
    }
    return Json(200, {{"id", id}, {"state", "revoked"}});
  }

  WebAnswer ListStaff() {
    if (!scope_.actor().admin()) return JsonError(403, "only an admin manages staff accounts");
    auto all = accounts_.List();
    if (!all) return JsonError(all.error());
    json items = json::array();
    for (const auto& a : *all) items.push_back(AccountJson(a));
    return Json(200, {{"items", items}});
  }

  WebAnswer AddStaff(const WebRequest& request) {
    if (!scope_.actor().admin()) return JsonError(403, "only an admin manages staff accounts");
    auto body = ReadBody(request, {"user", "agency", "role", "password"});
    if (!body) return JsonError(body.error());
    auto user = StringMember(*body, "user", true);
    auto agency = StringMember(*body, "agency", true);
    auto role_name = StringMember(*body, "role", true);
    auto password = StringMember(*body, "password", true);
    for (auto* part : {&user, &agency, &role_name, &password}) {
      if (!*part) return JsonError(part->error());
    }
    auto role = server::ParseStaffRole(*role_name);
    if (!role) return JsonError(400, "\"role\" is viewer, officer or admin");
    auto added = accounts_.Add(*user, *agency, *role, *password, scope_.actor().by());
    if (!added) return JsonError(added.error());
    return Json(200, AccountJson(*added));
  }

  WebAnswer ChangeStaff(const WebRequest& request, const std::string& user,
                        const std::string& action) {
    if (!scope_.actor().admin()) return JsonError(403, "only an admin manages staff accounts");
    if (action == "disable") {
      if (auto body = ReadBody(request, {}); !body) return JsonError(body.error());
      if (auto done = accounts_.Disable(user, scope_.actor().by()); !done) {
        return JsonError(done.error());
      }
      return Json(200, {{"user", user}, {"disabled", true}});
    }
    auto body = ReadBody(request, {"password"});
    if (!body) return JsonError(body.error());
    auto password = StringMember(*body, "password", true);
    if (!password) return JsonError(password.error());
    if (auto done = accounts_.SetPassword(user, *password, scope_.actor().by()); !done) {
      return JsonError(done.error());
    }
    return Json(200, {{"user", user}});
  }

  WebAnswer Summary() {
    auto summary = scope_.Summary();
    if (!summary) return JsonError(summary.error());
    json agencies = json::array();
    for (const auto& s : *summary) {
      const sync::Agency* agency = catalog_.FindAgency(s.agency);
      json counts = json::object();
      for (auto st : kStatuses) counts[sync::StatusName(st)] = Count(s.counts, st);
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

  WebAnswer Places() {
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

  WebAnswer AddComment(const WebRequest& request, const std::string& id) {
    auto body = ReadBody(request, {"text"});
    if (!body) return JsonError(body.error());
    auto text = StringMember(*body, "text", true);
    if (!text) return JsonError(text.error());
    if (auto done = scope_.AddComment(id, *text); !done) return JsonError(done.error());
    return ShowRequest(id);
  }

  WebAnswer Export(const WebRequest& request) {
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

 private:
  WebAnswer RequestJson(const server::StoredRequest& stored) {
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

  static size_t Count(const std::map<sync::RequestStatus, size_t>& counts,
                      sync::RequestStatus status) {
    auto it = counts.find(status);
    return it == counts.end() ? 0 : it->second;
  }

  server::Services& services_;
  server::StaffAccounts& accounts_;
  const sync::Catalog& catalog_;
  server::ScopedStaff scope_;
  const int offset_minutes_;
};

}  // namespace

bool StaffWeb::Serves(std::string_view path) const {
  return path == "/" || path.substr(0, 5) == "/api/" || FindAsset(path) != nullptr;
}

WebAnswer StaffWeb::Handle(const WebRequest& request) {
  const std::string_view target = request.target;
  const std::string_view path = target.substr(0, target.find('?'));
  WebAnswer answer = Route(request, path);
  AddSecurityHeaders(answer);
  return answer;
}

WebAnswer StaffWeb::Route(const WebRequest& request, std::string_view path) {
  if (path.substr(0, 5) != "/api/") return Asset(request, path);
  WebAnswer answer;
  if (path == "/api/login") {
    answer = request.method == "POST" ? Login(request) : JsonError(405, "use POST for login");
  } else {
    auto login = accounts_.Authenticate(CookieValue(request.Header("cookie"), kSessionCookie));
    if (!login) {
      answer = JsonError(login.error());
    } else if (request.method == "POST" && !SameOrigin(request)) {
      answer = JsonError(403, "the request did not come from this dashboard (Origin)");
    } else if (request.method == "POST" &&
               !ConstantTimeEquals(request.Header("x-csrf-token"), login->csrf)) {
      answer = JsonError(403, "the page's CSRF token is missing or wrong; reload the page");
    } else {
      answer = Api(request, path, *login);
    }
  }
  // Answers of the API hold citizens' data: never kept by a cache.
  answer.headers.emplace_back("Cache-Control", "no-store");
  return answer;
}

WebAnswer StaffWeb::Asset(const WebRequest& request, std::string_view path) const {
  if (request.method != "GET" && request.method != "HEAD") {
    WebAnswer a = JsonError(405, "use GET for the dashboard's pages");
    a.headers.emplace_back("Allow", "GET, HEAD");
    return a;
  }
  const class Asset* asset = FindAsset(path == "/" ? "/index.html" : path);
  if (asset == nullptr) return JsonError(404, "no such page");
  WebAnswer a;
  a.content_type = std::string(ContentTypeOf(asset->path));
  if (request.method == "GET") a.body = std::string(asset->bytes);
  // Revalidated at each load, so a new server version's pages are used at once.
  a.headers.emplace_back("Cache-Control", "no-cache");
  return a;
}

bool StaffWeb::SameOrigin(const WebRequest& request) const {
  const std::string origin = request.Header("origin");
  const std::string host = request.Header("host");
  if (origin.empty() || host.empty()) return false;
  return origin == (options_.tls ? "https://" : "http://") + host;
}

WebAnswer StaffWeb::Login(const WebRequest& request) {
  // A login form posted from another site would log the victim into the attacker's account.
  if (!request.Header("origin").empty() && !SameOrigin(request)) {
    return JsonError(403, "the request did not come from this dashboard (Origin)");
  }
  auto body = ReadBody(request, {"user", "password"});
  if (!body) return JsonError(body.error());
  auto user = StringMember(*body, "user", true);
  auto password = StringMember(*body, "password", true);
  if (!user) return JsonError(user.error());
  if (!password) return JsonError(password.error());
  int retry_after_s = 0;
  auto login = accounts_.Login(*user, *password, request.client_address, &retry_after_s);
  if (!login) {
    if (retry_after_s > 0) {
      WebAnswer a = JsonError(429, login.error().message());
      a.retry_after_s = retry_after_s;
      return a;
    }
    return JsonError(login.error());
  }
  WebAnswer a = Json(200, ActorJson(*login));
  std::string cookie =
      std::string(kSessionCookie) + "=" + login->session_id +
      "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
      std::to_string(std::chrono::seconds(server::StaffAccounts::kAbsoluteExpiry).count());
  if (options_.tls) cookie += "; Secure";
  a.headers.emplace_back("Set-Cookie", cookie);
  return a;
}

WebAnswer StaffWeb::Api(const WebRequest& request, std::string_view path,
                        const server::StaffLogin& login) {
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  ApiCall call(services_, accounts_, login, options_.utc_offset_minutes);
  if (path == "/api/me" && get) return Json(200, ActorJson(login));
  if (path == "/api/logout" && post) {
    auto done = accounts_.Logout(login.session_id);
    if (!done) return JsonError(done.error());
    WebAnswer a;
    a.status = 204;
    a.content_type = "text/plain; charset=utf-8";
    a.headers.emplace_back("Set-Cookie", std::string(kSessionCookie) +
                                             "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    return a;
  }
  if (path == "/api/requests" && get) return call.ListRequests(request);
  if (path == "/api/requests/bulk-status" && post) return call.BulkStatus(request);
  if (auto item = SplitItemPath(path, "/api/requests/")) {
    const auto& [id, action] = *item;
    if (action.empty() && get) return call.ShowRequest(id);
    if (action == "status" && post) return call.SetStatus(request, id);
    if (action == "fields" && post) return call.SetFields(request, id);
    if (action == "comments" && post) return call.AddComment(request, id);
  }
  if (path == "/api/summary" && get) return call.Summary();
  if (path == "/api/places" && get) return call.Places();
  if (path == "/api/export" && get) return call.Export(request);
  if (path == "/api/conflicts" && get) return call.ListConflicts(request);
  if (auto item = SplitItemPath(path, "/api/conflicts/")) {
    if (item->second == "resolve" && post) return call.ResolveConflict(request, item->first);
  }
  if (path == "/api/vans" && get) return call.ListVans(request);
  if (auto item = SplitItemPath(path, "/api/vans/")) {
    if (item->second == "revoke" && post) return call.RevokeVan(request, item->first);
  }
  if (path == "/api/tokens" && get) return call.ListTokens();
  if (path == "/api/tokens" && post) return call.CreateToken(request);
  if (auto item = SplitItemPath(path, "/api/tokens/")) {
    if (item->second == "revoke" && post) return call.RevokeToken(request, item->first);
  }
  if (path == "/api/staff" && get) return call.ListStaff();
  if (path == "/api/staff" && post) return call.AddStaff(request);
  if (auto item = SplitItemPath(path, "/api/staff/")) {
    if ((item->second == "disable" || item->second == "password") && post) {
      return call.ChangeStaff(request, item->first, item->second);
    }
  }
  return JsonError(404, "no such API call (server_stub/API.md lists them)");
}

}  // namespace mpp::staff_web
