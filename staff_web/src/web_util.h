// Small pieces of HTTP the staff API needs: the query string, cookies, JSON answers.
// Everything here reads untrusted bytes, already bounded by the HTTP layer (header block,
// body limit).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "mpp/server/http_server.h"
#include "mpp/sync/result.h"

namespace mpp::staff_web {

// Percent-decoding of a query component ('+' is a space); nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text);

// The query of `target` as name -> value (the first of a repeated name); kInvalidInput for a
// malformed escape.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view target);

// Standard base64 with padding (RFC 4648 §4), for data: URLs.
std::string Base64(std::string_view bytes);

server::WebAnswer Json(int status, const nlohmann::json& body);
// {"code", "error"} with the message; a 5xx says only that the server failed (its reason goes
// to the log, not to the page).
server::WebAnswer JsonError(int status, const std::string& message);
server::WebAnswer JsonError(const Error& error);

}  // namespace mpp::staff_web
