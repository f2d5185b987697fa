#include "mpp/sync/enrollment_qr.h"

#include <vector>

#include "mpp/sync/bytes.h"
#include "mpp/sync/crypto.h"

namespace mpp::sync {
namespace {

constexpr std::string_view kVersion = "MPPQR1";
constexpr size_t kCheckDigits = 8;
constexpr size_t kMaxPayloadBytes = 1024;  // a QR code holds little more anyway

std::string CheckOf(std::string_view signed_part) {
  const auto digest = crypto::Sha256(
      ByteView(reinterpret_cast<const uint8_t*>(signed_part.data()), signed_part.size()));
  return ToHex(ByteView(digest.data(), digest.size())).substr(0, kCheckDigits);
}

bool PrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c <= ' ' || c > '~' || c == '|') return false;
  }
  return !s.empty();
}

}  // namespace

Result<std::string> EncodeEnrollmentQr(const EnrollmentQr& qr) {
  if (qr.server_url.rfind("http://", 0) != 0 && qr.server_url.rfind("https://", 0) != 0) {
    return Error::InvalidInput("the server address must start with http:// or https://");
  }
  for (const std::string* part : {&qr.server_url, &qr.token, &qr.fingerprint}) {
    if (!PrintableAscii(*part)) {
      return Error::InvalidInput(
          "server address, token and fingerprint must be printable "
          "ASCII without spaces or '|'");
    }
  }
  std::string text =
      std::string(kVersion) + "|" + qr.server_url + "|" + qr.token + "|" + qr.fingerprint + "|";
  text += CheckOf(text);
  if (text.size() > kMaxPayloadBytes) return Error::TooLarge("the QR code text is too long");
  return text;
}

Result<EnrollmentQr> DecodeEnrollmentQr(std::string_view text) {
  if (text.size() > kMaxPayloadBytes) return Error::TooLarge("the QR code text is too long");
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t bar = text.find('|', start);
    parts.push_back(text.substr(start, bar == std::string_view::npos ? bar : bar - start));
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  if (parts.empty() || parts[0] != kVersion) {
    return Error::InvalidInput("not an MPP enrolment QR code (or one of a newer version)");
  }
  if (parts.size() != 5) return Error::InvalidInput("the enrolment QR code is incomplete");
  const std::string_view signed_part = text.substr(0, text.size() - parts[4].size());
  if (parts[4] != CheckOf(signed_part)) {
    return Error::Corrupt(
        "the enrolment QR code was misread (its check digits differ): scan "
        "it again");
  }
  EnrollmentQr qr{std::string(parts[1]), std::string(parts[2]), std::string(parts[3])};
  if (!PrintableAscii(qr.server_url) || !PrintableAscii(qr.token) ||
      !PrintableAscii(qr.fingerprint)) {
    return Error::InvalidInput("the enrolment QR code has an empty or unprintable part");
  }
  return qr;
}

}  // namespace mpp::sync
