#include "support/test_util.h"

#include <stdlib.h>

#include <fstream>
#include <sstream>

namespace mpp::test {

TempDir::TempDir() : TempDir(std::filesystem::temp_directory_path().string()) {}

TempDir::TempDir(const std::string& parent) {
  std::string pattern = (std::filesystem::path(parent) / "mpp-test-XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << pattern;
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;  // a leftover temp dir must not turn a passing test into a crash
  std::filesystem::remove_all(path_, ignored);
}

std::string ReadFileOrDie(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string DefaultCatalogPath() { return std::string(MPP_SOURCE_DIR) + "/data/catalog.json"; }

std::string VectorsDir() { return std::string(MPP_SOURCE_DIR) + "/tests/vectors"; }

}  // namespace mpp::test
