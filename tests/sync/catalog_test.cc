#include "mpp/sync/catalog.h"

#include <gtest/gtest.h>

#include "support/test_util.h"

namespace mpp::sync {
namespace {

std::string CatalogWith(const std::string& version, const std::string& max_length) {
  return R"({"version": )" + version + R"(, "agencies": [{"id": "a", "name": "A"}],
    "services": [{"id": "a.s", "agency": "a", "name": "S",
                  "fields": [{"name": "f", "type": "text", "max_length": )" +
         max_length + "}]}]}";
}

void ExpectRefused(const std::string& json, const std::string& fragment) {
  auto c = Catalog::FromJson(json);
  ASSERT_FALSE(c.ok()) << json;
  EXPECT_NE(c.error().message().find(fragment), std::string::npos) << c.error().message();
}

TEST(Catalog, IntegersAreCheckedBeforeNarrowing) {
  ASSERT_OK(Catalog::FromJson(CatalogWith("3", "120")));
  EXPECT_EQ(Catalog::FromJson(CatalogWith("3", "120"))->services()[0].fields[0].max_length, 120u);
  // Found by reading the fuzz target (tests/fuzz/regressions/catalog): these were undefined
  // float conversions, or wrapped to an accepted value.
  ExpectRefused(CatalogWith("1e300", "10"), "\"version\" must be an integer");
  ExpectRefused(CatalogWith("true", "10"), "\"version\" must be an integer");
  ExpectRefused(CatalogWith("1.9", "10"), "\"version\" must be an integer");
  ExpectRefused(CatalogWith("0", "10"), "\"version\" must be 1-");
  ExpectRefused(CatalogWith("1", "1e30"), "\"max_length\" must be an integer");
  ExpectRefused(CatalogWith("1", "4294967496"), "\"max_length\" must be 1-4000");
  ExpectRefused(CatalogWith("1", "-5"), "\"max_length\" must be 1-4000");
}

TEST(Catalog, ValidationNamesTheField) {
  auto c = Catalog::FromJson(CatalogWith("1", "5"));
  ASSERT_OK(c);
  auto long_value = c->ValidateNew("a.s", {{"f", "123456"}});
  ASSERT_FALSE(long_value.ok());
  EXPECT_NE(long_value.error().message().find("field f: longer than 5"), std::string::npos);
  auto unknown = c->ValidateNew("a.s", {{"g", "x"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("unknown field \"g\""), std::string::npos);
  EXPECT_FALSE(c->ValidateNew("a.t", {}).ok());
  EXPECT_FALSE(c->ValidateNew("a.s", {{"f", "\xC3\x28"}}).ok());  // invalid UTF-8
}

TEST(Catalog, ParsesAssignments) {
  auto ok = ParseAssignments({"name=Siti Aminah", "catatan=a=b", "phone="});
  ASSERT_OK(ok);
  EXPECT_EQ(ok->at("catatan"), "a=b");
  EXPECT_EQ(ok->at("phone"), "");
  EXPECT_FALSE(ParseAssignments({"noequals"}).ok());
  EXPECT_FALSE(ParseAssignments({"=value"}).ok());
}

}  // namespace
}  // namespace mpp::sync
