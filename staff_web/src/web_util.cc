#include "web_util.h"

#include "mpp/sync/http_status.h"

namespace mpp::staff_web {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = HexDigit(text[i + 1]);
      const int lo = HexDigit(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

Result<std::map<std::string, std::string>> ParseQuery(std::string_view target) {
  std::map<std::string, std::string> out;
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    auto name = PercentDecode(part.substr(0, eq));
    auto value = PercentDecode(eq == std::string_view::npos ? "" : part.substr(eq + 1));
    if (!name || !value) return Error::InvalidInput("the query has a malformed %-escape");
    out.emplace(std::move(*name), std::move(*value));
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

server::WebAnswer Json(int status, const nlohmann::json& body) {
  server::WebAnswer a;
  a.status = status;
  a.content_type = "application/json; charset=utf-8";
  // Invalid UTF-8 a van could never have stored is replaced, not thrown on.
  a.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return a;
}

server::WebAnswer JsonError(int status, const std::string& message) {
  return Json(status, {{"code", sync::ApiCodeFor(status)}, {"error", message}});
}

server::WebAnswer JsonError(const Error& error) {
  const int status = sync::HttpStatusFor(error);
  if (status >= 500) {
    server::WebAnswer a = JsonError(status, status == 503 ? "the server is busy or its database "
                                                            "is unavailable; try again shortly"
                                                          : "the server failed; see its log");
    if (status == 503) a.retry_after_s = 5;
    return a;
  }
  return JsonError(status, error.message());
}

}  // namespace mpp::staff_web
