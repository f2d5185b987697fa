// Times for people: officers and staff read "2026-12-02 08:15" in their own zone, never epoch
// milliseconds. Indonesia has three zones without daylight saving (WIB, WITA, WIT), so a zone is
// a fixed offset; no tz database is needed on a van.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "mpp/sync/result.h"

namespace mpp::sync {

struct TimeZone {
  std::string name = "WIB";  // printed after the time where the zone matters
  int offset_minutes = 7 * 60;
};

// "WIB" (UTC+7, Kubu Raya's), "WITA" (UTC+8), "WIT" (UTC+9), "UTC", or an offset "+07:00" /
// "-03:30". Case-insensitive. The message lists the accepted forms.
Result<TimeZone> ParseTimeZone(std::string_view text);
// The zone named by the environment variable MPP_TIME_ZONE, else WIB. An unparsable value is
// an error, so a typo is not silently shown in the wrong zone.
Result<TimeZone> TimeZoneFromEnvironment();

// A calendar day, as forms hold them.
struct CivilDate {
  int year = 1970;
  int month = 1;
  int day = 1;

  auto operator<=>(const CivilDate&) const = default;
};
// The day it is in `zone` at unix milliseconds `ms`.
CivilDate LocalDate(int64_t ms, const TimeZone& zone);

// "2026-12-02 08:15" for unix milliseconds `ms` in `zone`; "-" for 0 (never happened).
std::string FormatLocalTime(int64_t ms, const TimeZone& zone);

// The program version for --version: "mpp-field 0.1.0".
std::string VersionLine(std::string_view program);

}  // namespace mpp::sync
