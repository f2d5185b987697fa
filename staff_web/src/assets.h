// The dashboard's files (staff_web/assets), embedded at build time (cmake/MppAssets.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace mpp::staff_web {

struct Asset {
  std::string_view path;  // "/app.js"
  std::string_view bytes;
};

const std::vector<Asset>& Assets();

}  // namespace mpp::staff_web
