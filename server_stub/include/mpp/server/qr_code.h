// QR codes as SVG (libqrencode), for enrolment tokens: the dashboard shows one, `mpp-server token
// create --qr FILE` writes one.
#pragma once

#include <string>
#include <string_view>

#include "mpp/sync/result.h"

namespace mpp::server {

// A standalone SVG document of `text` as a QR code (error correction M, 4-module quiet zone).
Result<std::string> QrCodeSvg(std::string_view text);

}  // namespace mpp::server
