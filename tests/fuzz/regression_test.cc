// Replays every committed fuzz input through the fuzz targets' bodies with the ordinary compiler:
// the seed corpora (tests/fuzz/corpus/<target>/) and the reproducers of bugs the fuzzers found
// (tests/fuzz/regressions/<target>/). A target that aborts on one of them fails this test (the
// property it violated is printed first), so a fixed bug stays fixed without clang.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_targets.h"

#ifndef MPP_FUZZ_DIR
#error "MPP_FUZZ_DIR must name tests/fuzz (a compile definition)"
#endif

namespace mpp::fuzz {
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

class FuzzRegressionTest : public ::testing::TestWithParam<FuzzTarget> {};

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
      EXPECT_EQ(target.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
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
      ASSERT_EQ(target.run(cut.data(), cut.size()), 0) << "length " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzRegressionTest, ::testing::ValuesIn(FuzzTargets()),
                         [](const ::testing::TestParamInfo<FuzzTarget>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace mpp::fuzz
