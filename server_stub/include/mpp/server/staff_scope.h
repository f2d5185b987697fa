// What one staff member may see and do: StaffService's look-ups and changes limited to the
// account's agency and role (StaffActor). Another agency's request is kNotFound, exactly like a
// request that does not exist, in every call: staff learn nothing of another agency's citizens,
// not even that a receipt exists. A viewer's change is kPermissionDenied. The CLI (`--by U`) and
// the dashboard's JSON API both go through here.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mpp/server/staff_accounts.h"
#include "mpp/server/staff_service.h"

namespace mpp::server {

enum class RequestSort : uint8_t { kUpdated, kCreated, kReceipt };

// The inbox's filters; every one optional.
struct RequestSearch {
  std::optional<sync::RequestStatus> status;
  std::string service_id;
  std::string agency;  // admins only; others always get their own
  std::string van_code;
  std::string officer;
  std::string district_code;    // "61.12.05": its village_code field is in that district
  std::string village_code;     // "61.12.05.2001"
  std::string text;             // the receipt or the citizen's name contains it, any case
  std::string nik;              // exact, through the NIK index
  int64_t created_from_ms = 0;  // inclusive; 0: no bound
  int64_t created_to_ms = 0;    // exclusive; 0: no bound
  bool duplicates_only = false;
  RequestSort sort = RequestSort::kUpdated;
  bool ascending = false;  // newest / last first by default
  size_t page = 1;         // 1-based
  size_t per_page = 50;
};

// A request as the inbox lists it.
struct RequestSummary {
  StoredRequest stored;
  std::string van_code;
  std::string citizen_name;  // its "name" field, "" without one
  std::string village_code;  // its "village_code" field, "" without one
  int64_t created_ms = 0;
  int64_t updated_ms = 0;  // the latest change of any field or the status
  bool duplicate = false;  // flagged as a possible duplicate
};

// One agency's work at a glance (the summary page).
struct AgencySummary {
  std::string agency;
  std::map<sync::RequestStatus, size_t> counts;
  std::map<std::string, size_t> per_service;
  std::optional<StoredRequest> oldest_open;  // the earliest created that is not final
};

struct RequestPage {
  std::vector<RequestSummary> items;
  size_t total = 0;  // matching the filters
  // Per status over the same filters except the status.
  std::map<sync::RequestStatus, size_t> counts;
};

class ScopedStaff;

// What every request is checked against in a search: the filters, and what the storage knows
// besides the request (duplicate pairs).
struct SearchContext {
  RequestSearch search;
  std::optional<std::string> agency;  // the actor's, or the admin's filter
  std::set<std::string> duplicates;   // request ids flagged as possible duplicates

  // The request's summary when it passes every filter but the status (nullopt otherwise);
  // `van_code` is its scope, as the requests table holds it.
  std::optional<RequestSummary> Match(StoredRequest stored, const std::string& van_code) const;
};

// Every request a search matches (page, per_page and sort ignored), a batch at a time in the
// order they were made (id order): an export of the whole regency holds one batch in memory.
class RequestCursor {
 public:
  // The next matches; empty once every request was read.
  Result<std::vector<RequestSummary>> Next();

 private:
  friend class ScopedStaff;
  RequestCursor(StaffService& staff, SearchContext context, size_t batch)
      : staff_(staff), context_(std::move(context)), batch_(batch) {}

  StaffService& staff_;
  SearchContext context_;
  size_t batch_;
  std::string after_id_;
  bool done_ = false;
};

class ScopedStaff {
 public:
  static constexpr size_t kMaxPerPage = 200;

  ScopedStaff(StaffService& staff, StaffActor actor) : staff_(staff), actor_(std::move(actor)) {}

  const StaffActor& actor() const { return actor_; }

  Result<StoredRequest> Request(const std::string& id_or_receipt);
  Result<RequestPage> Search(const RequestSearch& search);
  Result<RequestCursor> Matching(const RequestSearch& search, size_t batch = 1000);
  // Per agency the actor sees (every agency of the catalog for an admin), in catalog order.
  Result<std::vector<AgencySummary>> Summary();

  Result<std::vector<StaffComment>> Comments(const std::string& id_or_receipt);
  Result<void> AddComment(const std::string& id_or_receipt, const std::string& text);
  // Records in the audit trail what the actor did that changes nothing (an export).
  Result<void> Audit(const std::string& action, const std::string& detail);

  Result<sync::Request> SetStatus(const std::string& id_or_receipt, sync::RequestStatus to,
                                  const std::string& note);
  Result<sync::Request> SetFields(const std::string& id_or_receipt, const sync::FieldMap& fields);

  // Conflicts of the actor's agencies, in rev order (open_only: unresolved ones).
  Result<std::vector<StoredConflict>> Conflicts(bool open_only);
  Result<std::vector<StoredConflict>> ConflictsOf(const std::string& request_id);
  Result<StoredConflict> ResolveConflict(uint64_t rev, Resolution how, const std::string& value);

 private:
  Result<StoredRequest> Changeable(const std::string& id_or_receipt);
  Result<SearchContext> ContextFor(const RequestSearch& search);

  StaffService& staff_;
  const StaffActor actor_;
};

}  // namespace mpp::server
