#include "mpp/field/json_format.h"

#include <gtest/gtest.h>

namespace mpp::field {
namespace {

TEST(RequestChangeToJson, NamesTheKindAndCarriesEveryFieldAndTheText) {
  RequestChange change;
  change.kind = RequestChange::Kind::kConflict;
  change.request_id = "0190-id";
  change.receipt = "KR-1";
  change.field = "status";
  change.old_value = "cancelled";
  change.new_value = "completed";
  change.note = "staff completed it first";
  change.by = "staff:budi";
  const nlohmann::json j = RequestChangeToJson(change);
  EXPECT_EQ(j["kind"], "conflict");
  EXPECT_EQ(j["request_id"], "0190-id");
  EXPECT_EQ(j["receipt"], "KR-1");
  EXPECT_EQ(j["field"], "status");
  EXPECT_EQ(j["old_value"], "cancelled");
  EXPECT_EQ(j["new_value"], "completed");
  EXPECT_EQ(j["note"], "staff completed it first");
  EXPECT_EQ(j["by"], "staff:budi");
  EXPECT_EQ(j["text"], DescribeChange(change));
  change.kind = RequestChange::Kind::kStatus;
  EXPECT_EQ(RequestChangeToJson(change)["kind"], "status");
  change.kind = RequestChange::Kind::kField;
  EXPECT_EQ(RequestChangeToJson(change)["kind"], "field");
}

}  // namespace
}  // namespace mpp::field
