// Receipt numbering: the day and van code a receipt carries. Private to local_store
// (receipts.cc; the numbering members of VanStore::Impl are defined there too).
//
// Invariant: a receipt number is never given twice by one device. Receipts are
// VAN-YYYYMMDD-NNNN in series 0 and 1 and VAN-YYYYMMDD-S-NNNN in series S > 1, the day in
// Kubu Raya's time zone (WIB, UTC+7).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mpp::store {

// Receipts carry the date in Kubu Raya's time zone (WIB, UTC+7).
constexpr int64_t kWibOffsetMs = 7 * 3600 * 1000;

// YYYYMMDD of a Unix time in WIB.
std::string WibDay(int64_t unix_ms);

// A van code, printed at the start of every receipt: 1-12 capital letters or digits.
bool IsVanCode(std::string_view code);

// The counter part of a receipt: at least four digits, zero-padded.
std::string ReceiptNumber(int64_t counter);

}  // namespace mpp::store
