#include "mpp/sync/qr_code.h"

#include <qrencode.h>

#include <memory>

namespace mpp::sync {
namespace {

struct QrFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

constexpr int kQuietModules = 4;
constexpr int kPixelsPerModule = 8;

}  // namespace

Result<std::string> QrCodeSvg(std::string_view text) {
  const std::string data(text);
  std::unique_ptr<QRcode, QrFree> code(
      QRcode_encodeString8bit(data.c_str(), /*version=*/0, QR_ECLEVEL_M));
  if (!code) return Error::InvalidInput("the text does not fit in a QR code");
  const int width = code->width;
  const int size = width + 2 * kQuietModules;
  std::string path;
  for (int y = 0; y < width; ++y) {
    for (int x = 0; x < width; ++x) {
      if ((code->data[y * width + x] & 1) != 0) {  // bit 0: a dark module
        path += "M" + std::to_string(x + kQuietModules) + " " + std::to_string(y + kQuietModules) +
                "h1v1h-1z";
      }
    }
  }
  const std::string pixels = std::to_string(size * kPixelsPerModule);
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + pixels + "\" height=\"" + pixels +
         "\" viewBox=\"0 0 " + std::to_string(size) + " " + std::to_string(size) +
         "\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" "
         "fill=\"#fff\"/><path fill=\"#000\" d=\"" +
         path + "\"/></svg>\n";
}

}  // namespace mpp::sync
