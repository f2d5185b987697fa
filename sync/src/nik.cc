#include "mpp/sync/nik.h"

#include <algorithm>
#include <array>
#include <string>

namespace mpp::sync {
namespace {

// Province codes (kode wilayah Kemendagri), including the Papua provinces formed in 2022.
constexpr std::array<int, 38> kProvinceCodes = {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33,
                                                34, 35, 36, 51, 52, 53, 61, 62, 63, 64, 65, 71, 72,
                                                73, 74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96};

int TwoDigits(std::string_view s, size_t pos) { return (s[pos] - '0') * 10 + (s[pos + 1] - '0'); }

bool IsLeap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int month, int year) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeap(year) ? 29 : kDays[month - 1];
}

}  // namespace

Result<void> ValidateNik(std::string_view nik) {
  if (nik.size() != 16) {
    return Error::InvalidInput("NIK must be 16 digits, got " + std::to_string(nik.size()) +
                               " characters");
  }
  for (size_t i = 0; i < nik.size(); ++i) {
    if (nik[i] < '0' || nik[i] > '9') {
      return Error::InvalidInput("NIK digit " + std::to_string(i + 1) + ": '" +
                                 std::string(1, nik[i]) + "' is not a digit");
    }
  }
  const int province = TwoDigits(nik, 0);
  if (std::find(kProvinceCodes.begin(), kProvinceCodes.end(), province) == kProvinceCodes.end()) {
    return Error::InvalidInput("NIK digits 1-2: " + std::string(nik.substr(0, 2)) +
                               " is not a province code");
  }
  if (TwoDigits(nik, 2) == 0) {
    return Error::InvalidInput("NIK digits 3-4: regency/city code 00 does not exist");
  }
  if (TwoDigits(nik, 4) == 0) {
    return Error::InvalidInput("NIK digits 5-6: district code 00 does not exist");
  }
  const int month = TwoDigits(nik, 8);
  if (month < 1 || month > 12) {
    return Error::InvalidInput("NIK digits 9-10: month " + std::string(nik.substr(8, 2)) +
                               " is not a valid month of birth (01-12)");
  }
  int day = TwoDigits(nik, 6);
  if (day > 40) day -= 40;  // women: day of birth + 40
  // Two-digit year: the century is ambiguous; pick the one that does not lie in the future of
  // the data set. A Feb 29 is accepted when either century makes it valid.
  const int yy = TwoDigits(nik, 10);
  const int max_day = std::max(DaysInMonth(month, 1900 + yy), DaysInMonth(month, 2000 + yy));
  if (day < 1 || day > max_day) {
    return Error::InvalidInput("NIK digits 7-8: day " + std::string(nik.substr(6, 2)) +
                               " is not a valid day of birth for month " +
                               std::string(nik.substr(8, 2)) + " (01-" + std::to_string(max_day) +
                               ", or 41-" + std::to_string(max_day + 40) + " for women)");
  }
  if (nik.substr(12, 4) == "0000") {
    return Error::InvalidInput(
        "NIK digits 13-16: serial number 0000 is not valid (starts at 0001)");
  }
  return Ok();
}

}  // namespace mpp::sync
