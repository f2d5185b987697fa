// The one mapping of an Error to an HTTP status, and the word the JSON APIs give a status
// ("code" of an error answer, server_stub/API.md "Errors"): shared by the server, the staff
// API, the loopback transport of the tests and the van's own app (field_web).
#pragma once

#include "mpp/sync/result.h"

namespace mpp::sync {

// 400 invalid/corrupt, 401 unauthenticated, 403 denied, 404, 409 conflict, 413 too large,
// 503 unavailable, timeout, storage full and aborted (the server's disk full is transient from a
// van's view, THREATS.md row 13; answers carry Retry-After), 500 otherwise.
int HttpStatusFor(const Error& error);

// "invalid", "unauthenticated", "forbidden", "not_found", "method_not_allowed", "conflict",
// "too_large", "too_many", "unavailable"; "internal" for another 5xx, "invalid" for another 4xx.
const char* ApiCodeFor(int status);

}  // namespace mpp::sync
