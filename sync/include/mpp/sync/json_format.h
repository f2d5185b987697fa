// JSON views of the model, shared by `mpp-field --json`, `mpp-server --json` and the staff API,
// so a request reads the same everywhere.
#pragma once

#include <nlohmann/json.hpp>

#include "mpp/sync/catalog.h"
#include "mpp/sync/model.h"

namespace mpp::sync {

// {"id", "receipt", "service_id", "status", "status_note", "device_id", "officer", "created",
//  "fields": {name: value}} plus "history": [{"at", "actor", "text"}] when with_history.
nlohmann::json RequestToJson(const Request& request, bool with_history);
// {"request_id", "field", "kept_value", "kept_by", "lost_value", "lost_by", "reason"}
nlohmann::json ConflictToJson(const ConflictRecord& conflict);
// {"agencies": [{"id", "name", "name_en"}], "services": [{"id", "agency", "name", "fields"}]},
// restricted to one agency when agency is not empty.
nlohmann::json CatalogToJson(const Catalog& catalog, std::string_view agency);

}  // namespace mpp::sync
