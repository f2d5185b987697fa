// Replays every committed fuzz input through the fuzz targets' bodies with the ordinary compiler:
// the seed corpora (tests/fuzz/corpus/<target>/) and the reproducers of bugs the fuzzers found
// (tests/fuzz/regressions/<target>/). A violated property fails the test with the file named, and
// a crash fails it outright, so a fixed bug stays fixed without clang. (Some undefined behaviour,
// such as gcc's unchecked float-cast-overflow, shows only in the clang build: tools/fuzz.sh.)
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_targets.h"

#ifndef MPP_FUZZ_DIR
#error "MPP_FUZZ_DIR must name tests/fuzz (a compile definition)"
#endif

namespace mpp::fuzz {

// Test names and failure messages show the target's name.
void PrintTo(const FuzzTarget& target, std::ostream* os) { *os << target.name; }

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> FilesUnder(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs one input; a violated property is a test failure naming it (not an abort).
void RunInput(const FuzzTarget& target, const uint8_t* data, size_t size) {
  try {
    EXPECT_EQ(target.run(data, size), 0);
  } catch (const PropertyViolation& violation) {
    ADD_FAILURE() << violation.what();
  }
}

class FuzzRegressionTest : public ::testing::TestWithParam<FuzzTarget> {
 protected:
  void SetUp() override { ThrowOnPropertyViolation(true); }
  void TearDown() override { ThrowOnPropertyViolation(false); }
};

TEST_P(FuzzRegressionTest, ReplaysCorpusAndRegressions) {
  const FuzzTarget& target = GetParam();
  const fs::path root = MPP_FUZZ_DIR;
  const std::vector<fs::path> corpus = FilesUnder(root / "corpus" / target.name);
  const std::vector<fs::path> regressions = FilesUnder(root / "regressions" / target.name);
  EXPECT_FALSE(corpus.empty()) << "no seed corpus in " << (root / "corpus" / target.name);
  for (const auto& files : {corpus, regressions}) {
    for (const auto& path : files) {
      SCOPED_TRACE(path.string());
      const std::string bytes = ReadFile(path);
      RunInput(target, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    }
  }
}

// Truncations of the seeds at every offset (THREATS.md row 33), for the small ones.
TEST_P(FuzzRegressionTest, SurvivesEveryTruncationOfSmallSeeds) {
  const FuzzTarget& target = GetParam();
  const fs::path root = MPP_FUZZ_DIR;
  for (const auto& path : FilesUnder(root / "corpus" / target.name)) {
    const std::string bytes = ReadFile(path);
    if (bytes.size() > 4096) continue;
    SCOPED_TRACE(path.string());
    for (size_t n = 0; n < bytes.size(); ++n) {
      // An exact-size copy, so that AddressSanitizer sees a read past the end.
      const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
      SCOPED_TRACE("cut to " + std::to_string(n) + " bytes");
      RunInput(target, cut.data(), cut.size());
      if (HasFailure()) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzRegressionTest, ::testing::ValuesIn(FuzzTargets()),
                         [](const ::testing::TestParamInfo<FuzzTarget>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace mpp::fuzz
