// libFuzzer entry for the envelope target; the body is FuzzEnvelope in fuzz_targets.cc.
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mpp::fuzz::FuzzEnvelope(data, size);
}
