// Shared test helpers: Result assertions that print the error, and temporary directories.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "mpp/sync/result.h"

#define ASSERT_OK(expr)                                                           \
  do {                                                                            \
    const auto& mpp_r_ = (expr);                                                  \
    ASSERT_TRUE(mpp_r_.ok()) << #expr << " failed: " << mpp_r_.error().message(); \
  } while (0)
#define EXPECT_OK(expr)                                                           \
  do {                                                                            \
    const auto& mpp_r_ = (expr);                                                  \
    EXPECT_TRUE(mpp_r_.ok()) << #expr << " failed: " << mpp_r_.error().message(); \
  } while (0)

namespace mpp::test {

// A fresh directory under the system temp dir, removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir();
  // Under `parent` (e.g. /dev/shm for simulations, where fsync costs nothing).
  explicit TempDir(const std::string& parent);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Reads a whole file; fails the test when it cannot.
std::string ReadFileOrDie(const std::filesystem::path& path);

// The project's default catalog file in the source tree.
std::string DefaultCatalogPath();
// tests/vectors in the source tree: public test vectors (Wycheproof), copied in unmodified.
std::string VectorsDir();

}  // namespace mpp::test
