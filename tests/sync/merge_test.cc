#include "mpp/sync/merge.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <numeric>

#include "support/fixtures.h"
#include "support/test_util.h"

namespace mpp::sync {
namespace {

using test::CreateMutation;
using test::SetFieldMutation;
using test::SetStatusMutation;
using test::TinyCatalog;

constexpr char kId[] = "0190c5a2-7b1e-7c3d-8e4f-0123456789ab";

std::optional<Request> Created(const std::string& origin = "van-a") {
  std::optional<Request> state;
  EXPECT_OK(
      ApplyMutation(TinyCatalog(), state, CreateMutation(origin, 1, {100, 0}, kId), Role::kVan));
  return state;
}

TEST(Merge, CreateSetsEveryFieldVersionToTheMutation) {
  auto state = Created();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->status, RequestStatus::kSubmitted);
  EXPECT_EQ(state->device_id, "van-a");
  EXPECT_EQ(state->fields.at("name").version, (Version{{100, 0}, "van-a"}));
}

TEST(Merge, CreateOfExistingIdIsRefused) {
  auto state = Created();
  auto again =
      ApplyMutation(TinyCatalog(), state, CreateMutation("van-a", 2, {200, 0}, kId), Role::kVan);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
}

// After a server restore, a tablet's copy of the request (kRestore) can reach the server before
// the maker's own create comes again (its ack was lost): the create is already in the copy.
TEST(Merge, TheMakersCreateOfARequestTheServerHoldsChangesNothing) {
  auto state = Created();
  state->fields["catatan"] = {"diubah staf", {{300, 0}, "staff:rina"}};
  const Request before = *state;
  auto again =
      ApplyMutation(TinyCatalog(), state, CreateMutation("van-a", 1, {100, 0}, kId), Role::kVan);
  ASSERT_OK(again);
  EXPECT_FALSE(again->clean);
  EXPECT_EQ(*state, before);
  // Another device cannot: its create names a request it did not make.
  EXPECT_FALSE(
      ApplyMutation(TinyCatalog(), state, CreateMutation("van-b", 1, {100, 0}, kId), Role::kVan)
          .ok());
}

TEST(Merge, WriteWithCurrentBaseFastForwards) {
  auto state = Created();
  const Version base = state->fields.at("name").version;
  auto out = ApplyMutation(TinyCatalog(), state,
                           SetFieldMutation("staff:rina", {50, 0}, kId, "name", "Siti R.", base),
                           Role::kStaff);
  ASSERT_OK(out);
  EXPECT_TRUE(out->clean);
  // Fast-forward even with a lower HLC: the writer saw the current value.
  EXPECT_EQ(state->fields.at("name").value, "Siti R.");
}

TEST(Merge, ConcurrentWritesKeepHigherHlcAndRecordConflict) {
  auto state = Created();
  const Version base = state->fields.at("name").version;
  ASSERT_OK(ApplyMutation(TinyCatalog(), state,
                          SetFieldMutation("staff:rina", {300, 0}, kId, "name", "Staff", base),
                          Role::kStaff));
  auto out =
      ApplyMutation(TinyCatalog(), state,
                    SetFieldMutation("van-a", {200, 0}, kId, "name", "Van", base), Role::kVan);
  ASSERT_OK(out);
  EXPECT_FALSE(out->clean);
  ASSERT_EQ(out->conflicts.size(), 1u);
  EXPECT_EQ(state->fields.at("name").value, "Staff");
  EXPECT_EQ(out->conflicts[0].kept_value, "Staff");
  EXPECT_EQ(out->conflicts[0].lost_value, "Van");
  EXPECT_EQ(out->conflicts[0].lost_version.origin, "van-a");
}

TEST(Merge, EqualTimestampsAreOrderedByOrigin) {
  auto state = Created();
  const Version base = state->fields.at("name").version;
  ASSERT_OK(ApplyMutation(TinyCatalog(), state,
                          SetFieldMutation("van-b", {300, 0}, kId, "name", "B", base), Role::kVan));
  auto out = ApplyMutation(TinyCatalog(), state,
                           SetFieldMutation("van-a", {300, 0}, kId, "name", "A", base), Role::kVan);
  ASSERT_OK(out);
  EXPECT_EQ(state->fields.at("name").value, "B");  // "van-b" > "van-a"
  EXPECT_EQ(out->conflicts.size(), 1u);
}

TEST(Merge, DifferentFieldsDoNotConflict) {
  auto state = Created();
  ASSERT_OK(ApplyMutation(
      TinyCatalog(), state,
      SetFieldMutation("staff:rina", {300, 0}, kId, "name", "N", state->fields.at("name").version),
      Role::kStaff));
  auto out = ApplyMutation(TinyCatalog(), state,
                           SetFieldMutation("van-a", {200, 0}, kId, "phone", "081234567890", {}),
                           Role::kVan);
  ASSERT_OK(out);
  EXPECT_TRUE(out->clean);
  EXPECT_EQ(state->fields.at("phone").value, "081234567890");
}

TEST(Merge, InvalidValueChangesNothing) {
  auto state = Created();
  const Request before = *state;
  auto out =
      ApplyMutation(TinyCatalog(), state,
                    SetFieldMutation("van-a", {200, 0}, kId, "alasan", "lupa", {}), Role::kVan);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(*state, before);
}

TEST(Merge, CancelAfterCompletionBecomesConflictAndIsNotApplied) {
  auto state = Created();
  for (auto to : {RequestStatus::kReceived, RequestStatus::kInReview, RequestStatus::kCompleted}) {
    ASSERT_OK(ApplyMutation(TinyCatalog(), state,
                            SetStatusMutation("staff:rina", {200, 0}, kId, to), Role::kStaff));
  }
  auto out = ApplyMutation(TinyCatalog(), state,
                           SetStatusMutation("van-a", {150, 0}, kId, RequestStatus::kCancelled),
                           Role::kVan);
  ASSERT_OK(out);
  EXPECT_FALSE(out->clean);
  ASSERT_EQ(out->conflicts.size(), 1u);
  EXPECT_EQ(out->conflicts[0].field, "status");
  EXPECT_EQ(out->conflicts[0].kept_value, "completed");
  EXPECT_EQ(out->conflicts[0].lost_value, "cancelled");
  EXPECT_EQ(state->status, RequestStatus::kCompleted);
}

TEST(Merge, UnknownRequestIsNotFound) {
  std::optional<Request> none;
  auto out =
      ApplyMutation(TinyCatalog(), none,
                    SetStatusMutation("van-a", {1, 0}, kId, RequestStatus::kCancelled), Role::kVan);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::kNotFound);
}

// Property: the per-field outcome does not depend on the order in which concurrent writers'
// mutations reach the server.
TEST(Merge, FieldOutcomeIsIndependentOfArrivalOrder) {
  const bool ok = rc::check("merge order independence", [] {
    auto initial = Created();
    const Version base = initial->fields.at("name").version;
    const int writers = *rc::gen::inRange(2, 6);
    std::vector<Mutation> mutations;
    for (int w = 0; w < writers; ++w) {
      const auto hlc = *rc::gen::inRange<int64_t>(101, 110);  // collisions on purpose
      const std::string field = *rc::gen::element<std::string>("name", "phone", "catatan");
      const std::string value =
          field == "phone" ? "08123456789" + std::to_string(w) : "value-" + std::to_string(w);
      const Version field_base = field == "name" ? base : Version{};
      mutations.push_back(
          SetFieldMutation("van-" + std::to_string(w), {hlc, 0}, kId, field, value, field_base));
    }
    std::vector<int> order(mutations.size());
    std::iota(order.begin(), order.end(), 0);
    std::optional<std::map<std::string, FieldValue>> expected;
    do {
      auto state = initial;
      for (int i : order)
        RC_ASSERT(ApplyMutation(TinyCatalog(), state, mutations[i], Role::kVan).ok());
      if (!expected) expected = state->fields;
      RC_ASSERT(*expected == state->fields);
    } while (std::next_permutation(order.begin(), order.end()));
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace mpp::sync
