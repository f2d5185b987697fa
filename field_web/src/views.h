// The JSON the officer's pages read: requests with an honest state, search, and the work of the
// next visit grouped by place. Pure functions of the store's rows and the catalog.
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "mpp/store/van_store.h"
#include "mpp/sync/catalog.h"
#include "mpp/sync/result.h"

namespace mpp::field_web {

// Where a request stands, as the officer tells the citizen:
//  "saved"      tersimpan di perangkat: changes on this van the server has not acknowledged;
//  "sent"       terkirim: the server holds exactly what the van wrote, staff have not acted;
//  "processing" diproses: staff moved it on (its status and note say how).
const char* RequestState(const store::RequestRow& row);

// sync::RequestToJson plus "pending", "state", "acked_ms", "service_name", "service_name_en",
// "agency", "village" {"code", "name", "district"} when the form names one, and "conflicts"
// (how many conflict records the server sent about it).
nlohmann::json RowJson(const store::RequestRow& row, const sync::Catalog& catalog, size_t conflicts,
                       bool with_history);

// What the officer typed in the search box, as MatchesSearch takes it: trimmed, lower-cased,
// at most 100 bytes.
std::string SearchQuery(std::string_view typed);

// True when `query` (a SearchQuery) finds the request: a part of its receipt
// number, of its NIK (4 digits or more), or of a citizen's name on the form.
bool MatchesSearch(const sync::Request& request, std::string_view query);

// The open work of the next visit: requests waiting for information from the citizen and
// documents ready to hand over, grouped by district and village of the form's village_code,
// in the catalog's order of places; those without a known village last.
nlohmann::json VisitsJson(const std::vector<store::RequestRow>& rows, const sync::Catalog& catalog,
                          const std::map<std::string, size_t>& conflicts_by_request);

// A form's problems for the page: {"fields": {name: [message]}, "general": [message]}, each
// detail of the catalog's error filed under the field it names ("field NAME: ...").
nlohmann::json ProblemsJson(const Error& error);

}  // namespace mpp::field_web
