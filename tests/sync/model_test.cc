#include "mpp/sync/model.h"

#include <gtest/gtest.h>

#include "mpp/sync/nik.h"
#include "support/test_util.h"

namespace mpp::sync {
namespace {

using S = RequestStatus;

TEST(RequestStatus, NamesRoundTrip) {
  for (S s : {S::kSubmitted, S::kReceived, S::kInReview, S::kNeedsInfo, S::kCompleted,
              S::kDelivered, S::kRejected, S::kCancelled}) {
    auto parsed = ParseStatus(StatusName(s));
    ASSERT_TRUE(parsed.has_value()) << StatusName(s);
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_FALSE(ParseStatus("done").has_value());
}

TEST(RequestStatus, StaffWalkTheHappyPath) {
  EXPECT_OK(CheckTransition(S::kSubmitted, S::kReceived, Role::kStaff));
  EXPECT_OK(CheckTransition(S::kReceived, S::kInReview, Role::kStaff));
  EXPECT_OK(CheckTransition(S::kInReview, S::kNeedsInfo, Role::kStaff));
  EXPECT_OK(CheckTransition(S::kNeedsInfo, S::kInReview, Role::kStaff));
  EXPECT_OK(CheckTransition(S::kInReview, S::kCompleted, Role::kStaff));
  EXPECT_OK(CheckTransition(S::kInReview, S::kRejected, Role::kStaff));
}

TEST(RequestStatus, VanDeliversOnlyCompleted) {
  EXPECT_OK(CheckTransition(S::kCompleted, S::kDelivered, Role::kVan));
  auto refused = CheckTransition(S::kInReview, S::kDelivered, Role::kVan);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("only a completed request can be delivered"),
            std::string::npos)
      << refused.error().message();
}

TEST(RequestStatus, VanCannotDoStaffWork) {
  for (S to : {S::kReceived, S::kNeedsInfo, S::kCompleted, S::kRejected}) {
    EXPECT_FALSE(CheckTransition(S::kSubmitted, to, Role::kVan).ok()) << StatusName(to);
    EXPECT_FALSE(CheckTransition(S::kInReview, to, Role::kVan).ok()) << StatusName(to);
  }
  EXPECT_OK(CheckTransition(S::kNeedsInfo, S::kInReview, Role::kVan));
}

TEST(RequestStatus, StaffCannotDeliverOrSubmit) {
  EXPECT_FALSE(CheckTransition(S::kCompleted, S::kDelivered, Role::kStaff).ok());
  EXPECT_FALSE(CheckTransition(S::kReceived, S::kSubmitted, Role::kStaff).ok());
}

TEST(RequestStatus, EitherSideCancelsOnlyBeforeCompletion) {
  for (Role role : {Role::kVan, Role::kStaff}) {
    for (S from : {S::kSubmitted, S::kReceived, S::kInReview, S::kNeedsInfo}) {
      EXPECT_OK(CheckTransition(from, S::kCancelled, role));
    }
    auto late = CheckTransition(S::kCompleted, S::kCancelled, role);
    ASSERT_FALSE(late.ok());
    EXPECT_NE(late.error().message().find("already completed"), std::string::npos)
        << late.error().message();
  }
}

TEST(RequestStatus, FinalStatesAreFinal) {
  for (S from : {S::kRejected, S::kCancelled, S::kDelivered}) {
    EXPECT_TRUE(IsFinal(from));
    for (S to : {S::kSubmitted, S::kReceived, S::kInReview, S::kNeedsInfo, S::kCompleted,
                 S::kDelivered, S::kRejected, S::kCancelled}) {
      for (Role role : {Role::kVan, Role::kStaff}) {
        auto r = CheckTransition(from, to, role);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message().find("is final"), std::string::npos);
      }
    }
  }
}

TEST(Nik, AcceptsValidNumbers) {
  EXPECT_OK(ValidateNik("6112050101900001"));  // man born 1990-01-01 in Kubu Raya
  EXPECT_OK(ValidateNik("6112054101900001"));  // woman: day + 40
  EXPECT_OK(ValidateNik("3201012902000001"));  // 29 Feb 2000
}

void ExpectNikError(const char* nik, const char* fragment) {
  auto r = ValidateNik(nik);
  ASSERT_FALSE(r.ok()) << nik;
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(r.error().message().find(fragment), std::string::npos)
      << nik << " -> " << r.error().message();
}

TEST(Nik, SaysWhichPartIsWrong) {
  ExpectNikError("611205010190001", "16 digits");
  ExpectNikError("61120501019000a1", "digit 15");
  ExpectNikError("0012050101900001", "digits 1-2");
  ExpectNikError("6100050101900001", "digits 3-4");
  ExpectNikError("6112000101900001", "digits 5-6");
  ExpectNikError("6112054513900001", "digits 9-10");
  ExpectNikError("6112053202900001", "digits 7-8");
  ExpectNikError("6112057201900001", "digits 7-8");
  ExpectNikError("6112050001900001", "digits 7-8");
  ExpectNikError("6112053002900001", "digits 7-8");  // 30 February
  ExpectNikError("6112050101900000", "digits 13-16");
}

}  // namespace
}  // namespace mpp::sync
