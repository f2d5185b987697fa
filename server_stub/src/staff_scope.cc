#include "mpp/server/staff_scope.h"

#include <algorithm>
#include <set>
#include <unordered_map>

namespace mpp::server {
namespace {

Error NoSuchRequest(const std::string& id_or_receipt) {
  return Error::NotFound("no request with id or receipt " + id_or_receipt);
}

// Case-insensitive (ASCII) "contains": receipts and names are searched as staff type them.
bool ContainsNoCase(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [&](char a, char b) { return lower(a) == lower(b); });
  return it != haystack.end();
}

int64_t LatestChangeMs(const sync::Request& r) {
  int64_t latest = std::max(r.created.wall_ms, r.status_version.hlc.wall_ms);
  for (const auto& [name, field] : r.fields) latest = std::max(latest, field.version.hlc.wall_ms);
  return latest;
}

RequestSummary Summarise(StoredRequest stored, const std::string& van_code) {
  RequestSummary s;
  const sync::Request& r = stored.request;
  s.van_code = van_code;
  s.created_ms = r.created.wall_ms;
  s.updated_ms = LatestChangeMs(r);
  if (auto name = r.fields.find("name"); name != r.fields.end()) {
    s.citizen_name = name->second.value;
  }
  if (auto village = r.fields.find("village_code"); village != r.fields.end()) {
    s.village_code = village->second.value;
  }
  s.stored = std::move(stored);
  return s;
}

}  // namespace

Result<StoredRequest> ScopedStaff::Request(const std::string& id_or_receipt) {
  MPP_ASSIGN_OR_RETURN(auto found, staff_.FindRequest(id_or_receipt));
  if (!found || !actor_.Sees(found->agency)) return NoSuchRequest(id_or_receipt);
  return std::move(*found);
}

Result<std::vector<StaffComment>> ScopedStaff::Comments(const std::string& id_or_receipt) {
  MPP_ASSIGN_OR_RETURN(StoredRequest found, Request(id_or_receipt));
  return staff_.CommentsOf(found.request.id);
}

Result<void> ScopedStaff::AddComment(const std::string& id_or_receipt, const std::string& text) {
  MPP_ASSIGN_OR_RETURN(StoredRequest found, Changeable(id_or_receipt));
  return staff_.AddComment(found.request.id, text, actor_.by());
}

Result<void> ScopedStaff::Audit(const std::string& action, const std::string& detail) {
  return staff_.Audit(actor_.by(), action, actor_.agency, detail);
}

Result<std::vector<AgencySummary>> ScopedStaff::Summary() {
  std::vector<AgencySummary> out;
  std::map<std::string, size_t> index;
  for (const auto& agency : staff_.catalog().agencies()) {
    if (!actor_.Sees(agency.id)) continue;
    index[agency.id] = out.size();
    out.push_back(AgencySummary{agency.id, {}, {}, std::nullopt});
  }
  RequestQuery query;
  if (!actor_.admin()) query.agency = actor_.agency;
  MPP_ASSIGN_OR_RETURN(auto all, staff_.ListRequests(query));
  for (auto& stored : all) {
    auto it = index.find(stored.agency);
    if (it == index.end()) continue;
    AgencySummary& s = out[it->second];
    ++s.counts[stored.request.status];
    ++s.per_service[stored.request.service_id];
    if (!sync::IsFinal(stored.request.status) &&
        (!s.oldest_open || stored.request.created < s.oldest_open->request.created)) {
      s.oldest_open = std::move(stored);
    }
  }
  return out;
}

Result<StoredRequest> ScopedStaff::Changeable(const std::string& id_or_receipt) {
  MPP_ASSIGN_OR_RETURN(StoredRequest found, Request(id_or_receipt));
  if (!actor_.MayChange(found.agency)) {
    return Error::PermissionDenied("the account " + actor_.user + " (" +
                                   StaffRoleName(actor_.role) + ") may only read requests");
  }
  return found;
}

Result<sync::Request> ScopedStaff::SetStatus(const std::string& id_or_receipt,
                                             sync::RequestStatus to, const std::string& note) {
  // A rejection's note is the merge's rule (for vans too); asking for information is staff's.
  if (to == sync::RequestStatus::kNeedsInfo &&
      note.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Error::InvalidInput(
        "asking for information needs a note saying what is missing: the van shows it to the "
        "citizen");
  }
  MPP_ASSIGN_OR_RETURN(StoredRequest found, Changeable(id_or_receipt));
  return staff_.SetStatus(found.request.id, to, actor_.by(), note);
}

Result<sync::Request> ScopedStaff::SetFields(const std::string& id_or_receipt,
                                             const sync::FieldMap& fields) {
  MPP_ASSIGN_OR_RETURN(StoredRequest found, Changeable(id_or_receipt));
  return staff_.SetFields(found.request.id, fields, actor_.by());
}

Result<std::vector<StoredConflict>> ScopedStaff::Conflicts(bool open_only) {
  MPP_ASSIGN_OR_RETURN(auto all, staff_.ListConflicts());
  std::unordered_map<std::string, bool> seen;  // request id -> the actor sees it
  std::vector<StoredConflict> out;
  for (auto& c : all) {
    if (open_only && !c.open()) continue;
    auto it = seen.find(c.conflict.request_id);
    if (it == seen.end()) {
      MPP_ASSIGN_OR_RETURN(auto request, staff_.FindRequest(c.conflict.request_id));
      it = seen.emplace(c.conflict.request_id, request && actor_.Sees(request->agency)).first;
    }
    if (it->second) out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<StoredConflict>> ScopedStaff::ConflictsOf(const std::string& request_id) {
  MPP_ASSIGN_OR_RETURN(StoredRequest found, Request(request_id));
  return staff_.ConflictsOf(found.request.id);
}

Result<StoredConflict> ScopedStaff::ResolveConflict(uint64_t rev, Resolution how,
                                                    const std::string& value) {
  MPP_ASSIGN_OR_RETURN(auto all, staff_.ListConflicts());
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& c) { return c.rev == rev; });
  const Error none = Error::NotFound("no conflict " + std::to_string(rev));
  if (it == all.end()) return none;
  auto request = Request(it->conflict.request_id);
  if (!request) return request.error().code() == ErrorCode::kNotFound ? none : request.error();
  MPP_RETURN_IF_ERROR(Changeable(request->request.id));
  return staff_.ResolveConflict(rev, how, value, actor_.by());
}

std::optional<RequestSummary> SearchContext::Match(StoredRequest stored,
                                                   const std::string& van_code) const {
  const sync::Request& r = stored.request;
  if (agency && stored.agency != *agency) return std::nullopt;
  if (!search.service_id.empty() && r.service_id != search.service_id) return std::nullopt;
  if (!search.officer.empty() && r.officer != search.officer) return std::nullopt;
  if (!search.van_code.empty() && van_code != search.van_code) return std::nullopt;
  if (search.created_from_ms != 0 && r.created.wall_ms < search.created_from_ms) {
    return std::nullopt;
  }
  if (search.created_to_ms != 0 && r.created.wall_ms >= search.created_to_ms) return std::nullopt;
  const bool duplicate = duplicates.count(r.id) != 0;
  if (search.duplicates_only && !duplicate) return std::nullopt;
  RequestSummary s = Summarise(std::move(stored), van_code);
  s.duplicate = duplicate;
  if (!search.village_code.empty() && s.village_code != search.village_code) return std::nullopt;
  if (!search.district_code.empty() && s.village_code.rfind(search.district_code + ".", 0) != 0) {
    return std::nullopt;
  }
  if (!ContainsNoCase(s.stored.request.receipt, search.text) &&
      !ContainsNoCase(s.citizen_name, search.text)) {
    return std::nullopt;
  }
  return s;
}

Result<std::vector<RequestSummary>> RequestCursor::Next() {
  std::vector<RequestSummary> out;
  while (!done_ && out.empty()) {
    RequestPageRows page;
    if (!context_.search.nik.empty()) {  // few: one batch, their van codes from the devices
      MPP_ASSIGN_OR_RETURN(page.rows, staff_.RequestsWithNik(context_.search.nik));
      MPP_ASSIGN_OR_RETURN(auto devices, staff_.ListDevices());
      std::unordered_map<std::string, std::string> van_of_device;
      for (const auto& d : devices) van_of_device[d.device_id] = d.van_code;
      for (const auto& r : page.rows) page.van_codes.push_back(van_of_device[r.request.device_id]);
      done_ = true;
    } else {
      RequestPageQuery q;
      q.agency = context_.agency;
      q.status = context_.search.status;
      q.service_id = context_.search.service_id;
      q.after_id = after_id_;
      q.limit = batch_;
      MPP_ASSIGN_OR_RETURN(page, staff_.PageRequests(q));
      done_ = page.rows.size() < batch_;
      if (!page.rows.empty()) after_id_ = page.rows.back().request.id;
    }
    for (size_t i = 0; i < page.rows.size(); ++i) {
      auto s = context_.Match(std::move(page.rows[i]), page.van_codes[i]);
      if (!s) continue;
      if (context_.search.status && s->stored.request.status != *context_.search.status) continue;
      out.push_back(std::move(*s));
    }
  }
  return out;
}

Result<SearchContext> ScopedStaff::ContextFor(const RequestSearch& search) {
  SearchContext context;
  context.search = search;
  if (!actor_.admin()) {
    context.agency = actor_.agency;
  } else if (!search.agency.empty()) {
    context.agency = search.agency;
  }
  MPP_ASSIGN_OR_RETURN(auto pairs, staff_.ListDuplicates());
  for (const auto& p : pairs) {
    context.duplicates.insert(p.request.request_id);
    context.duplicates.insert(p.other.request_id);
  }
  return context;
}

Result<RequestCursor> ScopedStaff::Matching(const RequestSearch& search, size_t batch) {
  MPP_ASSIGN_OR_RETURN(SearchContext context, ContextFor(search));
  return RequestCursor(staff_, std::move(context), std::max<size_t>(1, batch));
}

Result<RequestPage> ScopedStaff::Search(const RequestSearch& search) {
  if (search.page == 0 || search.per_page == 0 || search.per_page > kMaxPerPage) {
    return Error::InvalidInput("pages are numbered from 1, with 1 to " +
                               std::to_string(kMaxPerPage) + " requests each");
  }
  MPP_ASSIGN_OR_RETURN(const SearchContext context, ContextFor(search));
  // The inbox as it opens (an agency, perhaps a status, service or van): the database pages it
  // and only the page's requests are decoded. Every other filter reads the agency's requests.
  const bool indexed_filters_only = search.text.empty() && search.officer.empty() &&
                                    search.nik.empty() && search.created_from_ms == 0 &&
                                    search.created_to_ms == 0 && search.district_code.empty() &&
                                    search.village_code.empty() && !search.duplicates_only &&
                                    search.sort != RequestSort::kCreated;
  if (indexed_filters_only) {
    RequestPageQuery q;
    q.agency = context.agency;
    q.status = search.status;
    q.service_id = search.service_id;
    q.van_code = search.van_code;
    q.by_receipt = search.sort == RequestSort::kReceipt;
    // RequestSearch's default is newest (or last receipt) first.
    q.reversed = q.by_receipt ? !search.ascending : search.ascending;
    q.offset = (search.page - 1) * search.per_page;
    q.limit = search.per_page;
    MPP_ASSIGN_OR_RETURN(RequestPageRows rows, staff_.PageRequests(q));
    RequestPage page;
    page.counts = rows.counts;
    for (const auto& [status, n] : rows.counts) {
      if (!search.status || status == *search.status) page.total += n;
    }
    for (size_t i = 0; i < rows.rows.size(); ++i) {
      RequestSummary s = Summarise(std::move(rows.rows[i]), rows.van_codes[i]);
      s.duplicate = context.duplicates.count(s.stored.request.id) != 0;
      page.items.push_back(std::move(s));
    }
    return page;
  }
  RequestPage page;
  std::vector<RequestSummary> matching;
  MPP_ASSIGN_OR_RETURN(RequestCursor cursor, Matching(search));
  cursor.context_.search.status.reset();  // counted per status below
  for (;;) {
    MPP_ASSIGN_OR_RETURN(auto batch, cursor.Next());
    if (batch.empty()) break;
    for (auto& s : batch) {
      ++page.counts[s.stored.request.status];
      if (search.status && s.stored.request.status != *search.status) continue;
      matching.push_back(std::move(s));
    }
  }
  auto key_less = [&](const RequestSummary& a, const RequestSummary& b) {
    switch (search.sort) {
      case RequestSort::kCreated:
        return std::tie(a.created_ms, a.stored.request.receipt) <
               std::tie(b.created_ms, b.stored.request.receipt);
      case RequestSort::kReceipt:
        return a.stored.request.receipt < b.stored.request.receipt;
      case RequestSort::kUpdated:
        break;
    }
    return std::tie(a.updated_ms, a.stored.request.receipt) <
           std::tie(b.updated_ms, b.stored.request.receipt);
  };
  std::sort(matching.begin(), matching.end(), [&](const auto& a, const auto& b) {
    return search.ascending ? key_less(a, b) : key_less(b, a);
  });
  page.total = matching.size();
  const size_t first = (search.page - 1) * search.per_page;
  for (size_t i = first; i < matching.size() && i < first + search.per_page; ++i) {
    page.items.push_back(std::move(matching[i]));
  }
  return page;
}

}  // namespace mpp::server
