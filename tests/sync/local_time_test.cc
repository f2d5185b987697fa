#include "mpp/sync/local_time.h"

#include <gtest/gtest.h>

namespace mpp::sync {
namespace {

// 2026-12-02 01:15:00 UTC
constexpr int64_t kMs = 1796174100000;

TEST(LocalTime, PrintsWibByDefault) {
  EXPECT_EQ(FormatLocalTime(kMs, TimeZone{}), "2026-12-02 08:15");
}

TEST(LocalTime, OtherZonesAndOffsets) {
  EXPECT_EQ(FormatLocalTime(kMs, *ParseTimeZone("wita")), "2026-12-02 09:15");
  EXPECT_EQ(FormatLocalTime(kMs, *ParseTimeZone("WIT")), "2026-12-02 10:15");
  EXPECT_EQ(FormatLocalTime(kMs, *ParseTimeZone("UTC")), "2026-12-02 01:15");
  EXPECT_EQ(FormatLocalTime(kMs, *ParseTimeZone("-03:30")), "2026-12-01 21:45");
}

TEST(LocalTime, CrossesDayAndYearBoundaries) {
  // 2026-12-31 20:00 UTC is 2027-01-01 03:00 WIB.
  EXPECT_EQ(FormatLocalTime(1798747200000, TimeZone{}), "2027-01-01 03:00");
  // Leap day.
  EXPECT_EQ(FormatLocalTime(1709164800000, *ParseTimeZone("UTC")), "2024-02-29 00:00");
  EXPECT_EQ(FormatLocalTime(0, TimeZone{}), "-");
}

TEST(LocalTime, RefusesUnknownZonesNamingTheAcceptedForms) {
  auto zone = ParseTimeZone("Asia/Jakarta");
  ASSERT_FALSE(zone.ok());
  EXPECT_NE(zone.error().message().find("WIB, WITA, WIT"), std::string::npos);
  EXPECT_FALSE(ParseTimeZone("+25:00").ok());
  EXPECT_FALSE(ParseTimeZone("+7").ok());
}

TEST(LocalTime, VersionLineNamesTheProgram) {
  EXPECT_EQ(VersionLine("mpp-field").rfind("mpp-field 0.", 0), 0u);
}

}  // namespace
}  // namespace mpp::sync
