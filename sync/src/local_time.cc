#include "mpp/sync/local_time.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#ifndef MPP_VERSION
#define MPP_VERSION "unknown"
#endif

namespace mpp::sync {
namespace {

struct NamedZone {
  const char* name;
  int offset_minutes;
};
constexpr std::array<NamedZone, 4> kNamedZones = {{
    {"WIB", 7 * 60},
    {"WITA", 8 * 60},
    {"WIT", 9 * 60},
    {"UTC", 0},
}};

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm; proleptic Gregorian).
void CivilFromDays(int64_t days, int64_t& year, unsigned& month, unsigned& day) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
}

}  // namespace

Result<TimeZone> ParseTimeZone(std::string_view text) {
  const std::string upper = Upper(text);
  for (const auto& zone : kNamedZones) {
    if (upper == zone.name) return TimeZone{zone.name, zone.offset_minutes};
  }
  // "+07:00" or "-03:30"
  const auto digit = [&](size_t i) { return std::isdigit(static_cast<unsigned char>(text[i])); };
  if (text.size() == 6 && (text[0] == '+' || text[0] == '-') && digit(1) && digit(2) &&
      text[3] == ':' && digit(4) && digit(5)) {
    const int hours = (text[1] - '0') * 10 + (text[2] - '0');
    const int minutes = (text[4] - '0') * 10 + (text[5] - '0');
    if (hours <= 14 && minutes < 60) {
      const int offset = hours * 60 + minutes;
      return TimeZone{"UTC" + std::string(text), text[0] == '-' ? -offset : offset};
    }
  }
  return Error::InvalidInput("time zone \"" + std::string(text) +
                             "\" is not one of WIB, WITA, WIT, UTC or an offset like +07:00");
}

Result<TimeZone> TimeZoneFromEnvironment() {
  const char* value = std::getenv("MPP_TIME_ZONE");
  if (value == nullptr || *value == '\0') return TimeZone{};
  auto zone = ParseTimeZone(value);
  if (!zone) return zone.error().WithContext("MPP_TIME_ZONE");
  return zone;
}

namespace {

// Minutes since 1970-01-01 00:00 local time, split into days and the minute of the day.
void LocalDayAndMinute(int64_t ms, const TimeZone& zone, int64_t& days, int64_t& minute_of_day) {
  const int64_t local_minutes = (ms >= 0 ? ms / 60000 : (ms - 59999) / 60000) + zone.offset_minutes;
  days = local_minutes >= 0 ? local_minutes / 1440 : (local_minutes - 1439) / 1440;
  minute_of_day = local_minutes - days * 1440;
}

}  // namespace

CivilDate LocalDate(int64_t ms, const TimeZone& zone) {
  int64_t days = 0;
  int64_t minute_of_day = 0;
  LocalDayAndMinute(ms, zone, days, minute_of_day);
  int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  CivilFromDays(days, year, month, day);
  return {static_cast<int>(year), static_cast<int>(month), static_cast<int>(day)};
}

std::string FormatLocalTime(int64_t ms, const TimeZone& zone) {
  if (ms == 0) return "-";
  int64_t days = 0;
  int64_t minute_of_day = 0;
  LocalDayAndMinute(ms, zone, days, minute_of_day);
  const CivilDate date = LocalDate(ms, zone);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02d %02u:%02u", date.year, date.month, date.day,
                static_cast<unsigned>(minute_of_day / 60),
                static_cast<unsigned>(minute_of_day % 60));
  return out;
}

std::string VersionLine(std::string_view program) {
  return std::string(program) + " " + MPP_VERSION;
}

}  // namespace mpp::sync
