// Receipt numbering: the number a citizen is given for a new request, and new numbers for
// pending creates when a recovery finds the old ones taken (recovery.cc).
//
// Invariants: a device never gives one receipt number twice. The day's counter continues after
// the highest number of that day already stored (so a clock that went back cannot repeat one),
// moves only when a create commits, and restarts when the server assigns a new series.
#include "receipts.h"

#include <algorithm>
#include <cstdio>

#include "van_store_impl.h"

namespace mpp::store {

std::string WibDay(int64_t unix_ms) {
  int64_t days = (unix_ms + kWibOffsetMs) / 86400000;
  // Civil-from-days (H. Hinnant), valid for the proleptic Gregorian calendar.
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[64];
  snprintf(buf, sizeof buf, "%04lld%02lld%02lld", static_cast<long long>(y),
           static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

bool IsVanCode(std::string_view code) {
  return !code.empty() && code.size() <= 12 && std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

std::string ReceiptNumber(int64_t counter) {
  char number[32];
  snprintf(number, sizeof number, "%04lld", static_cast<long long>(counter));
  return number;
}

std::string VanStore::Impl::ReceiptPrefix(const std::string& day) const {
  return ReceiptPrefix(day, receipt_series_);
}

std::string VanStore::Impl::ReceiptPrefix(const std::string& day, uint32_t series) const {
  std::string prefix = van_code_ + "-" + day + "-";
  if (series > 1) prefix += std::to_string(series) + "-";
  return prefix;
}

Result<std::string> VanStore::Impl::NextReceipt(std::string& receipt_day, int64_t& receipt_counter,
                                                int64_t& counter) {
  const std::string today = WibDay(clock_.NowMillis());
  if (today != receipt_day) {
    // The day changed, or the clock went back to a day that already has receipts: continue
    // after that day's highest counter so a receipt number is never given twice.
    receipt_day = today;
    MPP_ASSIGN_OR_RETURN(receipt_counter, HighestReceiptCounter(ReceiptPrefix(today)));
    counter = receipt_counter;
  }
  return ReceiptPrefix(receipt_day) + ReceiptNumber(++counter);
}

Result<void> VanStore::Impl::SaveReceiptSeries(uint32_t series) {
  if (series == 0 || series == receipt_series_) return Ok();
  MPP_ASSIGN_OR_RETURN(auto stmt, db_.Prepare("UPDATE device SET receipt_series = ?"));
  stmt.Bind(1, int64_t{series});
  MPP_RETURN_IF_ERROR(stmt.Run());
  return db_.Exec("UPDATE sync_state SET receipt_day = '', receipt_counter = 0");
}

void VanStore::Impl::AdoptReceiptSeries(uint32_t series) {
  if (series != 0) receipt_series_ = series;
}

Result<int64_t> VanStore::Impl::HighestReceiptCounter(const std::string& prefix) {
  MPP_ASSIGN_OR_RETURN(auto stmt,
                       db_.Prepare("SELECT max(CAST(substr(receipt, ?1) AS INTEGER)) FROM "
                                   "requests WHERE substr(receipt, 1, ?2) = ?3 AND "
                                   "instr(substr(receipt, ?1), '-') = 0"));
  stmt.Bind(1, static_cast<int64_t>(prefix.size() + 1));
  stmt.Bind(2, static_cast<int64_t>(prefix.size())).Bind(3, prefix);
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.ColumnInt(0) : 0;
}

Result<VanStore::ReissuedReceipt> VanStore::Impl::ReissueReceipt(sync::Mutation& m,
                                                                 uint32_t series) {
  const size_t day_at = van_code_.size() + 1;
  std::string day = m.receipt.size() >= day_at + 8 ? m.receipt.substr(day_at, 8) : "";
  if (day.size() != 8 || day.find_first_not_of("0123456789") != std::string::npos) {
    day = WibDay(clock_.NowMillis());
  }
  const std::string prefix = ReceiptPrefix(day, series);
  MPP_ASSIGN_OR_RETURN(int64_t highest, HighestReceiptCounter(prefix));
  ReissuedReceipt reissued{m.receipt, prefix + ReceiptNumber(highest + 1)};
  m.receipt = reissued.new_receipt;
  MPP_ASSIGN_OR_RETURN(auto view, LoadView(m.request_id));
  if (view) {
    view->receipt = reissued.new_receipt;
    MPP_RETURN_IF_ERROR(SaveView(*view, /*is_new=*/false));
  }
  MPP_ASSIGN_OR_RETURN(auto row, db_.Prepare("UPDATE requests SET receipt = ? WHERE id = ?"));
  row.Bind(1, reissued.new_receipt).Bind(2, m.request_id);
  MPP_RETURN_IF_ERROR(row.Run());
  return reissued;
}

Result<void> VanStore::Impl::ReissueFrom(std::vector<sync::Mutation>& mutations, uint64_t first_seq,
                                         uint32_t series, RecoveryReport& report) {
  for (auto& m : mutations) {
    if (m.seq < first_seq || m.kind != sync::MutationKind::kCreate) continue;
    MPP_ASSIGN_OR_RETURN(auto reissued, ReissueReceipt(m, series));
    report.reissued.push_back(std::move(reissued));
  }
  // The day's counter continues in the new series at the next registration.
  return db_.Exec("UPDATE sync_state SET receipt_day = '', receipt_counter = 0");
}

}  // namespace mpp::store
