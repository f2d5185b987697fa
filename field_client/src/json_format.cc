#include "mpp/field/json_format.h"

namespace mpp::field {

nlohmann::json RequestChangeToJson(const RequestChange& change) {
  using Kind = RequestChange::Kind;
  const char* kind = change.kind == Kind::kStatus  ? "status"
                     : change.kind == Kind::kField ? "field"
                                                   : "conflict";
  return {{"kind", kind},
          {"request_id", change.request_id},
          {"receipt", change.receipt},
          {"field", change.field},
          {"old_value", change.old_value},
          {"new_value", change.new_value},
          {"note", change.note},
          {"by", change.by},
          {"text", DescribeChange(change)}};
}

nlohmann::json SyncReportToJson(const SyncReport& report) {
  nlohmann::json reissued = nlohmann::json::array();
  for (const auto& r : report.reissued_receipts) {
    reissued.push_back({{"old", r.old_receipt}, {"new", r.new_receipt}});
  }
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& c : report.changes) changes.push_back(RequestChangeToJson(c));
  return {{"pushed", report.pushed},
          {"acknowledged", report.acknowledged},
          {"pulled", report.pulled},
          {"conflicts", report.conflicts},
          {"retries", report.retries},
          {"duration_ms", report.duration_ms},
          {"bytes_sent", report.bytes_sent},
          {"bytes_received", report.bytes_received},
          {"server_restored", report.server_restored},
          {"store_restored", report.store_restored},
          {"renumbered", report.renumbered},
          {"resent", report.resent},
          {"reissued_receipts", std::move(reissued)},
          {"changes", std::move(changes)},
          {"new_requests", report.new_requests}};
}

}  // namespace mpp::field
