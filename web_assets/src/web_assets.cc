#include "mpp/web_assets/web_assets.h"

namespace mpp::web_assets {

const Asset* Find(const AssetList& assets, std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const Asset& a : assets) {
    if (a.path == path) return &a;
  }
  return nullptr;
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

const std::vector<std::pair<std::string_view, std::string_view>>& SecurityHeaders() {
  static const std::vector<std::pair<std::string_view, std::string_view>> kHeaders = {
      {"Content-Security-Policy", kContentSecurityPolicy},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"}};
  return kHeaders;
}

}  // namespace mpp::web_assets
