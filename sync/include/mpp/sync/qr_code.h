// QR codes as SVG (libqrencode), for what people scan instead of typing: enrolment tokens (the
// dashboard shows one, `mpp-server token create --qr FILE` writes one) and the receipt number on
// the slip a van prints for the citizen.
#pragma once

#include <string>
#include <string_view>

#include "mpp/sync/result.h"

namespace mpp::sync {

// A standalone SVG document of `text` as a QR code (error correction M, 4-module quiet zone).
Result<std::string> QrCodeSvg(std::string_view text);

}  // namespace mpp::sync
