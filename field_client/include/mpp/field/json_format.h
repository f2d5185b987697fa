// JSON views of what the van's sync reports, shared by `mpp-field --json`, the C API
// (libmppfield) and the officer's app, so a sync reads the same in all three.
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

// {"pushed", "acknowledged", "pulled", "conflicts", "retries", "duration_ms", "bytes_sent",
//  "bytes_received", "server_restored", "store_restored", "renumbered", "resent",
//  "reissued_receipts": [{"old", "new"}], "changes": [RequestChangeToJson], "new_requests"}.
nlohmann::json SyncReportToJson(const SyncReport& report);

}  // namespace mpp::field
