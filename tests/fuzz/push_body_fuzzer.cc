// libFuzzer entry for the push_body target; the body is FuzzPushBody in fuzz_targets.cc.
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mpp::fuzz::FuzzPushBody(data, size);
}
