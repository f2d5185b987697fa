// JSON views of the model, shared by `mpp-field --json`, `mpp-server --json` and the staff API,
// so a request reads the same everywhere.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

#include "mpp/sync/catalog.h"
#include "mpp/sync/model.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

// {"id", "receipt", "service_id", "status", "status_note", "device_id", "officer", "created",
//  "fields": {name: value}} plus "history": [{"at", "actor", "text"}] when with_history.
nlohmann::json RequestToJson(const Request& request, bool with_history);
// {"request_id", "field", "kept_value", "kept_by", "lost_value", "lost_by", "reason"}
nlohmann::json ConflictToJson(const ConflictRecord& conflict);
// {"agencies": [{"id", "name", "name_en"}], "services": [{"id", "agency", "name", "fields"}]},
// restricted to one agency when agency is not empty, and the catalog's "places" when it has them
// (all of them, whatever the agency: catalog.h).
nlohmann::json CatalogToJson(const Catalog& catalog, std::string_view agency);

// Parses a JSON document that must be one object, strictly (THREATS.md row 38): refuses, with
// kInvalidInput, text that is not JSON (RFC 8259; a NUL byte anywhere included, where nlohmann
// alone would stop reading), a top level that is not an object, a key repeated in any object at
// any depth (the message names the key, quoted as JSON with non-ASCII escaped), and nesting
// deeper than max_depth (the top-level object is depth 1). Messages never echo the text. The
// caller bounds the size of `text` before calling. Never throws.
Result<nlohmann::json> ParseJsonObjectStrict(std::string_view text, size_t max_depth);

}  // namespace mpp::sync
