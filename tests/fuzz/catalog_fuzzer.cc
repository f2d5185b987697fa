// libFuzzer entry for the catalog target; the body is FuzzCatalog in fuzz_targets.cc.
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mpp::fuzz::FuzzCatalog(data, size);
}
