// The staff API's JSON views of what the core returns (API.md): one function per kind of item,
// so a request reads the same in a list, a detail and an export.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "mpp/server/staff_accounts.h"
#include "mpp/server/staff_scope.h"
#include "mpp/sync/catalog.h"

namespace mpp::staff_web {

inline constexpr sync::RequestStatus kStatuses[] = {
    sync::RequestStatus::kSubmitted, sync::RequestStatus::kReceived,
    sync::RequestStatus::kInReview,  sync::RequestStatus::kNeedsInfo,
    sync::RequestStatus::kCompleted, sync::RequestStatus::kDelivered,
    sync::RequestStatus::kRejected,  sync::RequestStatus::kCancelled};

// {"submitted": n, ...} with every status, 0 where none.
nlohmann::json CountsJson(const std::map<sync::RequestStatus, size_t>& counts);
// {"service_name", "service_name_en"} (the id when the catalog lacks the service).
nlohmann::json ServiceNames(const sync::Catalog& catalog, const std::string& service_id);
// "Desa Tanjung Beringin, Kec. Batu Ampar" for a village code of the catalog's places, or "".
std::string VillageWords(const sync::Catalog& catalog, const std::string& code);
nlohmann::json SummaryJson(const sync::Catalog& catalog, const server::RequestSummary& s);
nlohmann::json ConflictJson(const server::StoredConflict& c);
nlohmann::json AccountJson(const server::StaffAccount& a);
nlohmann::json ActorJson(const server::StaffLogin& login);

}  // namespace mpp::staff_web
