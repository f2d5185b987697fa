// The text of an enrolment QR code (PROTOCOL.md §5, "Enrolment QR code"): what a van needs to
// enrol, scanned instead of typed. Versioned and checksummed, so a misread or truncated scan is
// refused before anything is sent.
#pragma once

#include <string>
#include <string_view>

#include "mpp/sync/result.h"

namespace mpp::sync {

struct EnrollmentQr {
  std::string server_url;   // where the van syncs, http(s)://...
  std::string token;        // the one-time enrolment token
  std::string fingerprint;  // the server key's, "SHA256:...", which the van pins
};

// "MPPQR1|<server_url>|<token>|<fingerprint>|<check>", check being the first 8 hex digits of
// the SHA-256 of everything before it (the last '|' included). The parts never contain '|'.
Result<std::string> EncodeEnrollmentQr(const EnrollmentQr& qr);
Result<EnrollmentQr> DecodeEnrollmentQr(std::string_view text);

}  // namespace mpp::sync
