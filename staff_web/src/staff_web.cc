#include "mpp/staff_web/staff_web.h"

#include <algorithm>
#include <set>

#include "admin_api.h"
#include "api_input.h"
#include "api_views.h"
#include "mpp/web_assets/web_assets.h"
#include "request_api.h"
#include "web_util.h"

namespace mpp::staff_web {

// The dashboard's files (staff_web/assets), embedded at build time (generated assets.cc).
const web_assets::AssetList& Assets();

namespace {

using nlohmann::json;
using server::WebAnswer;
using server::WebRequest;

constexpr std::string_view kSessionCookie = "mpp_session";

void AddSecurityHeaders(WebAnswer& a) {
  for (const auto& [name, value] : web_assets::SecurityHeaders()) {
    a.headers.emplace_back(std::string(name), std::string(value));
  }
}

// The body as a JSON object whose keys are all in `allowed` (API.md: unknown keys are refused).

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

}  // namespace

bool StaffWeb::Serves(std::string_view path) const {
  return path == "/" || path.substr(0, 5) == "/api/" || web_assets::Find(Assets(), path) != nullptr;
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
    auto login =
        accounts_.Authenticate(web_assets::CookieValue(request.Header("cookie"), kSessionCookie));
    if (!login) {
      answer = JsonError(login.error());
    } else if (request.method == "POST" && !SameOrigin(request)) {
      answer = JsonError(403, "the request did not come from this dashboard (Origin)");
    } else if (request.method == "POST" &&
               !web_assets::ConstantTimeEquals(request.Header("x-csrf-token"), login->csrf)) {
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
  const web_assets::Asset* asset = web_assets::Find(Assets(), path);
  if (asset == nullptr) return JsonError(404, "no such page");
  WebAnswer a;
  a.content_type = std::string(web_assets::ContentTypeOf(asset->path));
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
  RequestApi call(services_, login.actor, options_.utc_offset_minutes);
  AdminApi admin(services_, accounts_, login.actor);
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
  if (path == "/api/vans" && get) return admin.ListVans(request);
  if (auto item = SplitItemPath(path, "/api/vans/")) {
    if (item->second == "revoke" && post) return admin.RevokeVan(request, item->first);
  }
  if (path == "/api/tokens" && get) return admin.ListTokens();
  if (path == "/api/tokens" && post) return admin.CreateToken(request);
  if (auto item = SplitItemPath(path, "/api/tokens/")) {
    if (item->second == "revoke" && post) return admin.RevokeToken(request, item->first);
  }
  if (path == "/api/staff" && get) return admin.ListStaff();
  if (path == "/api/staff" && post) return admin.AddStaff(request);
  if (auto item = SplitItemPath(path, "/api/staff/")) {
    if ((item->second == "disable" || item->second == "password") && post) {
      return admin.ChangeStaff(request, item->first, item->second);
    }
  }
  return JsonError(404, "no such API call (server_stub/API.md lists them)");
}

}  // namespace mpp::staff_web
