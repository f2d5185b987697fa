// What the staff API reads from a request: its JSON body and the inbox's query, bounded and
// checked before use (unknown keys and filters are refused, so a typo never silently widens a
// list), each refusal a message a person can act on.
#pragma once

#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "mpp/server/http_server.h"
#include "mpp/server/staff_scope.h"
#include "mpp/sync/result.h"

namespace mpp::staff_web {

// The body as a JSON object whose keys are all in `allowed` (strict JSON, nesting bounded).
Result<nlohmann::json> ReadBody(const server::WebRequest& request,
                                std::initializer_list<std::string_view> allowed);
// body[key] as text; "" when absent and not required.
Result<std::string> StringMember(const nlohmann::json& body, const char* key, bool required);
// query[name] as a whole number of at most 6 digits, `fallback` when absent.
Result<size_t> PositiveNumber(const std::map<std::string, std::string>& query, const char* name,
                              size_t fallback);
// The inbox's filters (API.md "Requests"); dates are read in the zone `offset_minutes` east of
// UTC.
Result<server::RequestSearch> ReadSearch(const std::map<std::string, std::string>& query,
                                         int offset_minutes);

}  // namespace mpp::staff_web
