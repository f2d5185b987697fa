// The default catalog (data/catalog.json), built into the library so that an app can create a
// van without shipping the file (embed_file.cmake makes default_catalog.cc from it).
#pragma once

#include <string_view>

namespace mpp::capi {

std::string_view DefaultCatalogJson();

}  // namespace mpp::capi
