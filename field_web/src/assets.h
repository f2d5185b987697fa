// The officer's app's files (field_web/assets), embedded at build time (cmake/MppAssets.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace mpp::field_web {

struct Asset {
  std::string_view path;  // "/app.js"
  std::string_view bytes;
};

const std::vector<Asset>& Assets();

}  // namespace mpp::field_web
