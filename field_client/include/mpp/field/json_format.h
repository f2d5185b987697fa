// JSON views of what the van's sync reports, shared by `mpp-field --json` and the C API
// (libmppfield), so a change reads the same in both.
//
// Its own header rather than sync_client.h: the sync client's callers (the sync loop, the
// fleet, the tests) need no JSON, and nlohmann/json.hpp is heavy to compile; only those that
// print JSON include this, as mpp/sync/json_format.h does for the model.
#pragma once

#include <nlohmann/json.hpp>

#include "mpp/field/sync_client.h"

namespace mpp::field {

// {"kind": "status" | "field" | "conflict", "request_id", "receipt", "field", "old_value",
//  "new_value", "note", "by", "text"}; "text" is DescribeChange(change).
nlohmann::json RequestChangeToJson(const RequestChange& change);

}  // namespace mpp::field
