// The rules of a request across the sync (issue 10): what the van refuses by itself, what the
// server keeps as a record both sides see, and the reasons that travel back to the van.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mpp/field/use_cases.h"
#include "support/sync_world.h"

namespace mpp::test {
namespace {

using sync::RequestStatus;
using ::testing::HasSubstr;

// An officer edits offline while staff reject the request: the server does not store the edit
// on the rejected request, keeps it as a conflict record, and the van hears both.
TEST(RequestRulesScenario, AnOfflineEditOfARequestStaffMadeFinalBecomesARecord) {
  SyncWorld world(101);
  Van& van = world.AddVan("KR01");
  const std::string id = SyncWorld::RegisterKtp(van, 1).id;
  ASSERT_OK(world.Sync(van));
  ASSERT_OK(world.services().staff.SetStatus(id, RequestStatus::kRejected, "rina",
                                             "NIK tidak terdaftar di Dukcapil"));
  // The van has not pulled yet: for it the request is still open, so it takes the edit.
  ASSERT_OK(field::UpdateRequest(*van.store, id, {{"catatan", "nomor HP baru"}}));
  auto report = world.Sync(van);
  ASSERT_OK(report);
  EXPECT_EQ(report->acknowledged, 1u);

  const sync::Request server = world.ServerState(id);
  EXPECT_EQ(server.status, RequestStatus::kRejected);
  EXPECT_EQ(server.fields.count("catatan"), 0u) << "the edit was stored on a final request";
  auto conflicts = world.storage().ListConflicts();
  ASSERT_OK(conflicts);
  ASSERT_EQ(conflicts->size(), 1u);
  EXPECT_EQ(conflicts->front().conflict.field, "catatan");
  EXPECT_EQ(conflicts->front().conflict.lost_value, "nomor HP baru");
  EXPECT_THAT(conflicts->front().conflict.reason, HasSubstr("rejected, which is final"));

  // The van converges on the server's state, with the record and the staff's reason.
  auto row = van.store->Find(id);
  ASSERT_OK(row);
  EXPECT_EQ(row->view, server);
  EXPECT_EQ(row->view.status_note, "NIK tidak terdaftar di Dukcapil");
  auto van_conflicts = van.store->Conflicts();
  ASSERT_OK(van_conflicts);
  ASSERT_EQ(van_conflicts->size(), 1u);
  EXPECT_EQ(van_conflicts->front().lost_value, "nomor HP baru");
  // And now that it knows, the van refuses the next edit itself, queueing nothing.
  auto again = field::UpdateRequest(*van.store, id, {{"catatan", "lagi"}});
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.error().message(), HasSubstr("rejected, which is final"));
  EXPECT_EQ(van.store->Device()->pending, 0);
}

TEST(RequestRulesScenario, AnAnswerNeedsInformationAndStaysWaitingWithout) {
  SyncWorld world(102);
  Van& van = world.AddVan("KR01");
  const std::string id = SyncWorld::RegisterKtp(van, 1).id;
  ASSERT_OK(world.Sync(van));
  ASSERT_OK(world.services().staff.SetStatus(id, RequestStatus::kInReview, "rina", ""));
  ASSERT_OK(world.services().staff.SetStatus(id, RequestStatus::kNeedsInfo, "rina",
                                             "Mohon lampirkan pas foto"));
  ASSERT_OK(world.Sync(van));
  ASSERT_EQ(van.store->Find(id)->view.status, RequestStatus::kNeedsInfo);
  EXPECT_EQ(van.store->Find(id)->view.status_note, "Mohon lampirkan pas foto");

  auto empty = field::AnswerRequest(*van.store, id, {});
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.error().message(), HasSubstr("at least one field"));
  EXPECT_EQ(van.store->Find(id)->view.status, RequestStatus::kNeedsInfo);
  EXPECT_EQ(van.store->Device()->pending, 0);

  ASSERT_OK(field::AnswerRequest(*van.store, id, {{"catatan", "pas foto dilampirkan"}}));
  ASSERT_OK(world.Sync(van));
  const sync::Request server = world.ServerState(id);
  EXPECT_EQ(server.status, RequestStatus::kInReview);
  EXPECT_EQ(server.fields.at("catatan").value, "pas foto dilampirkan");
}

TEST(RequestRulesScenario, StaffRefusalsNameTheAllowedStatusesAndARejectionNeedsANote) {
  SyncWorld world(103);
  Van& van = world.AddVan("KR01");
  const std::string id = SyncWorld::RegisterKtp(van, 1).id;
  ASSERT_OK(world.Sync(van));
  auto skip = world.services().staff.SetStatus(id, RequestStatus::kCompleted, "rina", "");
  ASSERT_FALSE(skip.ok());
  EXPECT_THAT(skip.error().message(),
              HasSubstr("from submitted staff may set: received, in_review, rejected, cancelled"));
  auto silent = world.services().staff.SetStatus(id, RequestStatus::kRejected, "rina", "");
  ASSERT_FALSE(silent.ok());
  EXPECT_THAT(silent.error().message(), HasSubstr("a rejection needs a note"));
  EXPECT_EQ(world.ServerState(id).status, RequestStatus::kSubmitted);
  // The note is what the citizen hears, through the van.
  ASSERT_OK(world.services().staff.SetStatus(id, RequestStatus::kRejected, "rina",
                                             "pemohon sudah memiliki KTP-el aktif"));
  ASSERT_OK(world.Sync(van));
  EXPECT_EQ(van.store->Find(id)->view.status_note, "pemohon sudah memiliki KTP-el aktif");
}

TEST(RequestRulesScenario, StaffEditsFollowTheRulesBetweenFields) {
  SyncWorld world(104);
  Van& van = world.AddVan("KR01");
  const std::string id = SyncWorld::RegisterKtp(van, 1).id;
  ASSERT_OK(world.Sync(van));
  const sync::Request before = world.ServerState(id);
  auto r = world.services().staff.SetFields(id, {{"birth_date", "1991-01-01"}}, "rina");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("does not agree with nik"));
  EXPECT_EQ(world.ServerState(id), before);
  // What staff type is stored in the form's spelling, as on the van.
  auto phone = world.services().staff.SetFields(id, {{"phone", "+62 812 9876 5432"}}, "rina");
  ASSERT_OK(phone);
  EXPECT_EQ(phone->fields.at("phone").value, "081298765432");
}

}  // namespace
}  // namespace mpp::test
