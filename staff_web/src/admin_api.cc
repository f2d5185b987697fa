#include "admin_api.h"

#include <algorithm>

#include "api_input.h"
#include "api_views.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/enrollment_qr.h"
#include "mpp/sync/qr_code.h"
#include "web_util.h"

namespace mpp::staff_web {

using nlohmann::json;
using server::WebAnswer;
using server::WebRequest;

WebAnswer AdminApi::ListVans(const WebRequest& request) {
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

WebAnswer AdminApi::RevokeVan(const WebRequest& request, const std::string& device_id) {
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

WebAnswer AdminApi::ListTokens() {
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

WebAnswer AdminApi::CreateToken(const WebRequest& request) {
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
  auto svg = sync::QrCodeSvg(*payload);
  if (!svg) return JsonError(svg.error());
  const auto hash = crypto::Sha256(ViewOf(*token));
  const std::string id = ToHex(ByteView(hash.data(), hash.size())).substr(0, server::kTokenIdChars);
  if (auto audited = scope_.Audit("token.create", "van " + *van_code + ", token " + id); !audited) {
    return JsonError(audited.error());
  }
  return Json(200, {{"id", id},
                    {"token", *token},
                    {"van_code", *van_code},
                    {"expires_ms", services_.core.clock().NowMillis() + ttl_ms},
                    {"qr_payload", *payload},
                    {"qr_svg", "data:image/svg+xml;base64," + Base64(*svg)}});
}

WebAnswer AdminApi::RevokeToken(const WebRequest& request, const std::string& id) {
  if (!scope_.actor().admin()) return JsonError(403, "only an admin revokes enrolment tokens");
  if (auto body = ReadBody(request, {}); !body) return JsonError(body.error());
  if (auto done = services_.devices.RevokeToken(id, "staff:" + scope_.actor().by()); !done) {
    return JsonError(done.error());
  }
  return Json(200, {{"id", id}, {"state", "revoked"}});
}

WebAnswer AdminApi::ListStaff() {
  if (!scope_.actor().admin()) return JsonError(403, "only an admin manages staff accounts");
  auto all = accounts_.List();
  if (!all) return JsonError(all.error());
  json items = json::array();
  for (const auto& a : *all) items.push_back(AccountJson(a));
  return Json(200, {{"items", items}});
}

WebAnswer AdminApi::AddStaff(const WebRequest& request) {
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

WebAnswer AdminApi::ChangeStaff(const WebRequest& request, const std::string& user,
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

}  // namespace mpp::staff_web
