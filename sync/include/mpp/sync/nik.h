// NIK (Nomor Induk Kependudukan), the 16-digit Indonesian national identity number:
//   digits 1-2  province code (11..94)
//   digits 3-4  regency/city code (01..99, 71+ are cities)
//   digits 5-6  district (kecamatan) code (01..99)
//   digits 7-8  day of birth, +40 for women (01..31 or 41..71)
//   digits 9-10 month of birth (01..12)
//   digits 11-12 year of birth, two digits
//   digits 13-16 serial number, at least 0001
#pragma once

#include <string_view>

#include "mpp/sync/result.h"

namespace mpp::sync {

// Structural check. On failure the message names the part that is wrong, for example
// "NIK digits 7-8: day 45 is not a valid day of birth (01-31, or 41-71 for women)".
Result<void> ValidateNik(std::string_view nik);

}  // namespace mpp::sync
