// libFuzzer entry for the import_line target; the body is FuzzImportLine in fuzz_targets.cc.
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mpp::fuzz::FuzzImportLine(data, size);
}
