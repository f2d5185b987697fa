// libFuzzer entry for the pull_answer target; the body is FuzzPullAnswer in fuzz_targets.cc.
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mpp::fuzz::FuzzPullAnswer(data, size);
}
