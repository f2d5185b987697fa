// What both web apps (the staff dashboard, the officer's app) share: their pages shipped inside
// the program (the files of an assets/ folder embedded at build time by mpp_embed_assets,
// web_assets/MppAssets.cmake), found by path, served with their type and the headers that keep
// them to themselves; and the session cookie and CSRF token checks.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mpp::web_assets {

struct Asset {
  std::string_view path;  // "/app.js"
  std::string_view bytes;
};
// What mpp_embed_assets generates: `const AssetList& Assets()` in the library's namespace.
using AssetList = std::vector<Asset>;

// The asset at `path`, "/" being "/index.html"; nullptr when there is none.
const Asset* Find(const AssetList& assets, std::string_view path);

// "text/html; charset=utf-8", "text/javascript; ...", "text/css; ...", "image/svg+xml",
// "image/png" by the path's ending; "application/octet-stream" otherwise.
std::string_view ContentTypeOf(std::string_view path);

// The pages run only the program's own script and style: no inline script, no outside origin,
// no framing.
inline constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

// Every answer of a web app carries these (name, value): the policy above, no MIME sniffing,
// no framing, no referrer.
const std::vector<std::pair<std::string_view, std::string_view>>& SecurityHeaders();

// The value of cookie `name` in a Cookie header, "" without it.
std::string CookieValue(std::string_view cookie_header, std::string_view name);

// Equal in time independent of where they differ (CSRF tokens).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace mpp::web_assets
