// The rules of a request (issue 10, items 1-4 and 6): final is final, answers and refusals in the
// words of who tried, consistent citizen data, every problem of a form at once, reasons for a
// rejection. Each test fails without its rule.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mpp/sync/catalog.h"
#include "mpp/sync/merge.h"
#include "mpp/sync/model.h"
#include "support/fixtures.h"
#include "support/test_util.h"

namespace mpp::sync {
namespace {

using test::CreateMutation;
using test::SetFieldMutation;
using test::SetStatusMutation;
using test::TinyCatalog;
using ::testing::HasSubstr;

constexpr char kId[] = "0190c5a2-7b1e-7c3d-8e4f-0123456789ab";
// 2026-12-02 08:15 WIB: a trusted clock, so birth dates are checked against this day.
constexpr int64_t kDec2 = 1796174100000;

const Catalog& FormCatalog() {
  static const Catalog catalog =
      Catalog::FromJson(R"({"version": 1, "agencies": [{"id": "a", "name": "A"}],
        "services": [{"id": "a.s", "agency": "a", "name": "S", "fields": [
          {"name": "nik", "type": "nik", "required": true},
          {"name": "birth_date", "type": "date", "required": true},
          {"name": "jenis_kelamin", "type": "enum", "options": ["laki-laki", "perempuan"]},
          {"name": "nik_anak", "type": "nik"},
          {"name": "tanggal_lahir_anak", "type": "date"},
          {"name": "phone", "type": "phone"},
          {"name": "golongan_sim", "type": "enum", "options": ["A", "C I", "D"]},
          {"name": "tanggal_nikah", "type": "date"}]}]})")
          .value();
  return catalog;
}

std::optional<Request> Created(RequestStatus status_after = RequestStatus::kSubmitted) {
  std::optional<Request> state;
  EXPECT_OK(
      ApplyMutation(TinyCatalog(), state, CreateMutation("van-a", 1, {100, 0}, kId), Role::kVan));
  const std::vector<RequestStatus> path =
      status_after == RequestStatus::kDelivered
          ? std::vector<RequestStatus>{RequestStatus::kInReview, RequestStatus::kCompleted}
          : std::vector<RequestStatus>{};
  int64_t t = 200;
  for (const RequestStatus to : path) {
    EXPECT_TRUE(ApplyMutation(TinyCatalog(), state,
                              SetStatusMutation("staff:rina", {t++, 0}, kId, to), Role::kStaff)
                    ->clean);
  }
  if (status_after != RequestStatus::kSubmitted) {
    Mutation last =
        SetStatusMutation(status_after == RequestStatus::kDelivered ? "van-a" : "staff:rina",
                          {t++, 0}, kId, status_after);
    last.note = "alasan";
    const Role role = status_after == RequestStatus::kDelivered ? Role::kVan : Role::kStaff;
    EXPECT_TRUE(ApplyMutation(TinyCatalog(), state, last, role)->clean);
  }
  return state;
}

// ---- 1. A final request is final ----

TEST(FinalIsFinal, FieldWritesToAFinalRequestAreRecordsNotChanges) {
  for (const RequestStatus final_status :
       {RequestStatus::kRejected, RequestStatus::kCancelled, RequestStatus::kDelivered}) {
    auto state = Created(final_status);
    ASSERT_EQ(state->status, final_status);
    const Request before = *state;
    auto out = ApplyMutation(TinyCatalog(), state,
                             SetFieldMutation("van-a", {900, 0}, kId, "name", "Siti Baru",
                                              before.fields.at("name").version),
                             Role::kVan);
    ASSERT_OK(out);
    EXPECT_FALSE(out->clean);
    ASSERT_EQ(out->conflicts.size(), 1u);
    EXPECT_EQ(out->conflicts[0].field, "name");
    EXPECT_EQ(out->conflicts[0].kept_value, "Siti Rahmawati");
    EXPECT_EQ(out->conflicts[0].lost_value, "Siti Baru");
    EXPECT_THAT(out->conflicts[0].reason, HasSubstr("which is final"));
    EXPECT_EQ(*state, before) << StatusName(final_status) << ": the request changed";
  }
}

TEST(FinalIsFinal, StaffCannotEditAFinalRequestEither) {
  auto state = Created(RequestStatus::kRejected);
  auto out = ApplyMutation(TinyCatalog(), state,
                           SetFieldMutation("staff:rina", {900, 0}, kId, "catatan", "x", Version{}),
                           Role::kStaff);
  ASSERT_OK(out);
  EXPECT_FALSE(out->clean);
  EXPECT_EQ(state->fields.count("catatan"), 0u);
}

// ---- 2. Refusals in the words of who tried ----

TEST(TransitionWords, OfficersHearWhatTheRequestIsNow) {
  auto answer = CheckTransition(RequestStatus::kInReview, RequestStatus::kInReview, Role::kVan);
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.error().message(),
            "only a request that needs information can be answered; this one is in review");
  auto deliver = CheckTransition(RequestStatus::kNeedsInfo, RequestStatus::kDelivered, Role::kVan);
  EXPECT_EQ(deliver.error().message(),
            "only a completed request can be delivered; this one is waiting for information");
  EXPECT_THAT(CheckTransition(RequestStatus::kCancelled, RequestStatus::kDelivered, Role::kVan)
                  .error()
                  .message(),
              HasSubstr("the request is cancelled, which is final"));
}

TEST(TransitionWords, StaffHearTheStatusesAllowedFromHere) {
  auto r = CheckTransition(RequestStatus::kSubmitted, RequestStatus::kCompleted, Role::kStaff);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(),
            "status submitted -> completed is not allowed; from submitted staff may set: "
            "received, in_review, rejected, cancelled");
  auto from_review =
      CheckTransition(RequestStatus::kInReview, RequestStatus::kReceived, Role::kStaff);
  EXPECT_THAT(from_review.error().message(),
              HasSubstr("staff may set: needs_info, completed, rejected, cancelled"));
  EXPECT_EQ(AllowedTransitions(RequestStatus::kDelivered, Role::kStaff).size(), 0u);
}

// ---- 3. Consistent citizen data ----

TEST(CitizenData, NikDatePartMustAgreeWithBirthDate) {
  // NIK 611207 150390 0001: born on the 15th, March, '90.
  EXPECT_OK(FormCatalog().ValidateNew(
      "a.s", {{"nik", "6112071503900001"}, {"birth_date", "1990-03-15"}}, kDec2));
  auto wrong = FormCatalog().ValidateNew(
      "a.s", {{"nik", "6112071503900001"}, {"birth_date", "1991-03-16"}}, kDec2);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.error().message(), HasSubstr("field birth_date: 1991-03-16 does not agree"));
  EXPECT_THAT(wrong.error().message(), HasSubstr("NIK digits 7-12 are 150390"));
  EXPECT_THAT(wrong.error().message(), HasSubstr("day 16, month 03, year ..91"));
  // A woman's day is 40 more: 55 is the 15th.
  EXPECT_OK(FormCatalog().ValidateNew(
      "a.s",
      {{"nik", "6112075503900001"}, {"birth_date", "1990-03-15"}, {"jenis_kelamin", "perempuan"}},
      kDec2));
  // A child's NIK against the child's birth date.
  auto child = FormCatalog().ValidateNew("a.s",
                                         {{"nik", "6112071503900001"},
                                          {"birth_date", "1990-03-15"},
                                          {"nik_anak", "6112070101150001"},
                                          {"tanggal_lahir_anak", "2015-02-01"}},
                                         kDec2);
  ASSERT_FALSE(child.ok());
  EXPECT_THAT(child.error().message(), HasSubstr("field tanggal_lahir_anak"));
}

TEST(CitizenData, SexMustAgreeWithTheNik) {
  auto r = FormCatalog().ValidateNew(
      "a.s",
      {{"nik", "6112071503900001"}, {"birth_date", "1990-03-15"}, {"jenis_kelamin", "perempuan"}},
      kDec2);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("jenis_kelamin: \"perempuan\" does not agree"));
  EXPECT_THAT(r.error().message(), HasSubstr("NIK digits 7-8 are 15, a man's"));
}

TEST(CitizenData, BirthDateNotInTheFutureNorOver130YearsAgo) {
  auto future = FormCatalog().ValidateNew(
      "a.s", {{"nik", "6112070312260001"}, {"birth_date", "2026-12-03"}}, kDec2);
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.error().message(), "field birth_date: 2026-12-03 is in the future");
  EXPECT_OK(FormCatalog().ValidateNew(
      "a.s", {{"nik", "6112070212260001"}, {"birth_date", "2026-12-02"}}, kDec2));
  auto old = FormCatalog().ValidateNew(
      "a.s", {{"nik", "6112070112960001"}, {"birth_date", "1896-12-01"}}, kDec2);
  ASSERT_FALSE(old.ok());
  EXPECT_THAT(old.error().message(), HasSubstr("more than 130 years ago"));
  // Other dates of the form may be in the future (a wedding being planned).
  EXPECT_OK(FormCatalog().ValidateNew(
      "a.s",
      {{"nik", "6112071503900001"}, {"birth_date", "1990-03-15"}, {"tanggal_nikah", "2027-01-10"}},
      kDec2));
  // A clock reset to 1970 does not make every birth date "future".
  EXPECT_OK(FormCatalog().ValidateNew(
      "a.s", {{"nik", "6112071503900001"}, {"birth_date", "1990-03-15"}}, 1000));
}

TEST(CitizenData, PeopleSpellingsAreStoredInTheFormsSpelling) {
  const Service& s = *FormCatalog().FindService("a.s");
  FieldMap typed = {{"birth_date", "15-03-1990"},
                    {"tanggal_nikah", "01/02/2015"},
                    {"phone", "+62 812-3456-7890"},
                    {"golongan_sim", "c i"},
                    {"jenis_kelamin", "Perempuan"}};
  FormCatalog().NormaliseForm(s.id, typed);
  EXPECT_EQ(typed.at("birth_date"), "1990-03-15");
  EXPECT_EQ(typed.at("tanggal_nikah"), "2015-02-01");
  EXPECT_EQ(typed.at("phone"), "081234567890");
  EXPECT_EQ(typed.at("golongan_sim"), "C I");
  EXPECT_EQ(typed.at("jenis_kelamin"), "perempuan");
  // What fits no pattern is left for validation to refuse with its reason.
  EXPECT_EQ(NormaliseFieldValue(*s.FindField("phone"), "+1 555 0100"), "+1 555 0100");
  EXPECT_EQ(NormaliseFieldValue(*s.FindField("birth_date"), "15.03.1990"), "15.03.1990");
  EXPECT_EQ(NormaliseFieldValue(*s.FindField("golongan_sim"), "B"), "B");
}

TEST(CitizenData, AnEditThatBreaksTheRulesIsARecordNotAChange) {
  std::optional<Request> state;
  ASSERT_OK(
      ApplyMutation(TinyCatalog(), state, CreateMutation("van-a", 1, {kDec2, 0}, kId), Role::kVan));
  const Request before = *state;
  auto out = ApplyMutation(TinyCatalog(), state,
                           SetFieldMutation("van-a", {kDec2 + 1, 0}, kId, "birth_date",
                                            "1991-01-01", before.fields.at("birth_date").version),
                           Role::kVan);
  ASSERT_OK(out);
  EXPECT_FALSE(out->clean);
  EXPECT_THAT(out->conflicts.at(0).reason, HasSubstr("does not agree with nik"));
  EXPECT_EQ(*state, before);
  // An edit of another field leaves the NIK and birth date alone, and applies.
  auto phone = ApplyMutation(
      TinyCatalog(), state,
      SetFieldMutation("van-a", {kDec2 + 2, 0}, kId, "phone", "081234567890", Version{}),
      Role::kVan);
  ASSERT_OK(phone);
  EXPECT_TRUE(phone->clean);
}

// ---- 4. Every problem of a form at once ----

TEST(FormProblems, EveryInvalidOrMissingFieldIsReported) {
  auto r = TinyCatalog().ValidateNew("dukcapil.ktp-el",
                                     {{"nik", "123"}, {"phone", "12"}, {"alasan", "lain"}});
  ASSERT_FALSE(r.ok());
  const auto& details = r.error().details();
  ASSERT_EQ(details.size(), 5u) << r.error().message();
  EXPECT_THAT(details[0], HasSubstr("field alasan"));
  EXPECT_THAT(details[1], HasSubstr("NIK"));
  EXPECT_THAT(details[2], HasSubstr("field phone"));
  EXPECT_THAT(details[3], HasSubstr("field name (name) is required"));
  EXPECT_THAT(details[4], HasSubstr("field birth_date (birth_date) is required"));
  EXPECT_THAT(r.error().message(), HasSubstr("5 problems: "));
  // One problem reads as before, without a count.
  auto one = TinyCatalog().ValidateUpdate("dukcapil.ktp-el", {{"phone", "12"}});
  EXPECT_TRUE(one.error().details().empty());
  EXPECT_EQ(one.error().message().rfind("field phone", 0), 0u);
  // Context keeps the list.
  EXPECT_EQ(r.error().WithContext("refused").details().size(), 5u);
}

// ---- 6. Reasons ----

TEST(Reasons, ARejectionNeedsANote) {
  auto state = Created();
  Mutation reject = SetStatusMutation("staff:rina", {300, 0}, kId, RequestStatus::kRejected);
  auto silent = ApplyMutation(TinyCatalog(), state, reject, Role::kStaff);
  ASSERT_OK(silent);
  EXPECT_FALSE(silent->clean);
  EXPECT_THAT(silent->conflicts.at(0).reason, HasSubstr("a rejection needs a note"));
  EXPECT_EQ(state->status, RequestStatus::kSubmitted);
  reject.note = "berkas tidak lengkap";
  auto with_note = ApplyMutation(TinyCatalog(), state, reject, Role::kStaff);
  ASSERT_OK(with_note);
  EXPECT_TRUE(with_note->clean);
  EXPECT_EQ(state->status, RequestStatus::kRejected);
  EXPECT_EQ(state->status_note, "berkas tidak lengkap");
}

}  // namespace
}  // namespace mpp::sync
