// Scenario tests: a server and vans in one process (LiteCore's loopback tests in spirit).
#include <gtest/gtest.h>

#include "mpp/field/use_cases.h"
#include "support/sync_world.h"

namespace mpp::test {
namespace {

using sync::RequestStatus;

TEST(SyncScenario, RegisteredOfflineArrivesOnceAndStaffChangeFlowsBack) {
  SyncWorld world(1);
  Van& van = world.AddVan("KR01");
  const std::string id = SyncWorld::RegisterKtp(van, 1).id;
  auto report = world.Sync(van);
  ASSERT_OK(report);
  EXPECT_EQ(report->pushed, 1u);
  EXPECT_EQ(report->acknowledged, 1u);
  EXPECT_EQ(report->pulled, 0u) << "the van's own write must not be echoed back";
  EXPECT_EQ(van.store->Device()->pending, 0);

  ASSERT_OK(
      world.services().staff.SetStatus(id, RequestStatus::kReceived, "rina", "berkas diterima"));
  report = world.Sync(van);
  ASSERT_OK(report);
  EXPECT_EQ(report->pulled, 1u);
  auto row = van.store->Find(id);
  ASSERT_OK(row);
  EXPECT_EQ(row->view.status, RequestStatus::kReceived);
  EXPECT_EQ(row->view, world.ServerState(id));
  EXPECT_FALSE(row->pending);
}

// A tablet is lost and the van re-installed: the new device, enrolled with the same van code,
// pulls the van's work back, gives receipt numbers that follow the old ones, and continues the
// old device's requests; the old device (if it comes back) hears of those changes.
TEST(SyncScenario, ReinstalledVanPullsItsWorkBackAndContinuesIt) {
  SyncWorld world(11);
  Van& old_tablet = world.AddVan("KR01");
  Van& other_van = world.AddVan("KR02");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(SyncWorld::RegisterKtp(old_tablet, 20 + i).id);
  ASSERT_OK(world.Sync(old_tablet));
  SyncWorld::RegisterKtp(other_van, 30).id;
  ASSERT_OK(world.Sync(other_van));

  Van& new_tablet = world.AddVan("KR01");
  auto report = world.Sync(new_tablet);
  ASSERT_OK(report);
  EXPECT_EQ(report->pulled, 3u) << "the van's own work, not another van's";
  for (const auto& id : ids) {
    auto row = new_tablet.store->Find(id);
    ASSERT_OK(row);
    EXPECT_EQ(row->view, world.ServerState(id));
  }
  const std::string fresh = SyncWorld::RegisterKtp(new_tablet, 40).id;
  auto fresh_row = new_tablet.store->Find(fresh);
  ASSERT_OK(fresh_row);
  for (const auto& id : ids) {
    EXPECT_NE(fresh_row->view.receipt, old_tablet.store->Find(id)->view.receipt);
  }

  ASSERT_OK(field::UpdateRequest(*new_tablet.store, ids[0], {{"phone", "081211112222"}}));
  ASSERT_OK(world.Sync(new_tablet));
  EXPECT_EQ(world.ServerState(ids[0]).fields.at("phone").value, "081211112222");
  report = world.Sync(old_tablet);
  ASSERT_OK(report);
  EXPECT_EQ(report->pulled, 2u) << "the other tablet's edit and its new request";
  EXPECT_EQ(old_tablet.store->Find(ids[0])->view, world.ServerState(ids[0]));
  report = world.Sync(other_van);
  ASSERT_OK(report);
  EXPECT_EQ(report->pulled, 0u);
}

// An acknowledged new request keeps no second copy as its base (the view stands for it) until
// the officer edits it; edits and staff changes after that still converge exactly.
TEST(SyncScenario, EditsAfterAnAcknowledgedCreateConverge) {
  SyncWorld world(12);
  Van& van = world.AddVan("KR01");
  const std::string id = SyncWorld::RegisterKtp(van, 50).id;
  ASSERT_OK(world.Sync(van));
  ASSERT_OK(field::UpdateRequest(*van.store, id, {{"phone", "081233334444"}}));
  ASSERT_OK(world.services().staff.SetFields(id, {{"address", "Desa Kuala Dua"}}, "rina"));
  ASSERT_OK(world.Sync(van));
  ASSERT_OK(field::UpdateRequest(*van.store, id, {{"pekerjaan", "nelayan/perikanan"}}));
  ASSERT_OK(world.services().staff.SetStatus(id, RequestStatus::kReceived, "rina", ""));
  auto report = world.Sync(van);
  ASSERT_OK(report);
  EXPECT_EQ(report->conflicts, 0u);
  auto row = van.store->Find(id);
  ASSERT_OK(row);
  EXPECT_FALSE(row->pending);
  EXPECT_EQ(row->view, world.ServerState(id));
  EXPECT_EQ(row->view.fields.at("phone").value, "081233334444");
  EXPECT_EQ(row->view.fields.at("address").value, "Desa Kuala Dua");
  EXPECT_EQ(row->view.fields.at("pekerjaan").value, "nelayan/perikanan");
  EXPECT_EQ(row->view.status, RequestStatus::kReceived);
}

TEST(SyncScenario, CancelOfflineAfterStaffCompletedBecomesConflictOnBothSides) {
  SyncWorld world(2);
  Van& van = world.AddVan("KR01");
  const std::string id = SyncWorld::RegisterKtp(van, 2).id;
  ASSERT_OK(world.Sync(van));
  for (auto s : {RequestStatus::kReceived, RequestStatus::kInReview, RequestStatus::kCompleted}) {
    ASSERT_OK(world.services().staff.SetStatus(id, s, "rina", ""));
  }
  ASSERT_OK(field::CancelRequest(*van.store, id, "pemohon pindah"));  // offline, before pulling
  auto report = world.Sync(van);
  ASSERT_OK(report);
  EXPECT_EQ(report->conflicts, 1u);
  EXPECT_EQ(van.store->Find(id)->view.status, RequestStatus::kCompleted);
  auto van_conflicts = van.store->Conflicts();
  ASSERT_OK(van_conflicts);
  ASSERT_EQ(van_conflicts->size(), 1u);
  EXPECT_EQ(van_conflicts->front().lost_value, "cancelled");
  auto server_conflicts = world.storage().ListConflicts();
  ASSERT_OK(server_conflicts);
  ASSERT_EQ(server_conflicts->size(), 1u);
  EXPECT_EQ(server_conflicts->front().conflict, van_conflicts->front());
}

TEST(SyncScenario, ConcurrentFieldEditsConvergeWithAConflictRecord) {
  SyncWorld world(3);
  Van& van = world.AddVan("KR01");
  const std::string id = SyncWorld::RegisterKtp(van, 3).id;
  ASSERT_OK(world.Sync(van));
  ASSERT_OK(field::UpdateRequest(*van.store, id, {{"phone", "081211112222"}}));
  world.clock().Advance(1000);
  ASSERT_OK(world.services().staff.SetFields(id, {{"phone", "081299998888"}}, "rina"));
  auto report = world.Sync(van);
  ASSERT_OK(report);
  EXPECT_EQ(report->conflicts, 1u);
  // The staff write has the higher HLC: it wins on both sides.
  const sync::Request server = world.ServerState(id);
  EXPECT_EQ(server.fields.at("phone").value, "081299998888");
  EXPECT_EQ(van.store->Find(id)->view, server);
}

TEST(SyncScenario, RetriedPushAfterLostAnswerIsAppliedOnce) {
  SyncWorld world(4);
  Van& van = world.AddVan("KR01");
  for (int i = 0; i < 30; ++i) SyncWorld::RegisterKtp(van, 10 + i).id;
  van.link->Queue({Fault::kCutAnswer, Fault::kDuplicate, Fault::kServerBusy});
  field::SyncOptions options;
  options.batch_size = 10;
  auto report = world.Sync(van, options);
  ASSERT_OK(report);
  EXPECT_EQ(van.link->faults_injected(), 3u);
  EXPECT_GE(report->retries, 2u);
  auto rows = world.storage().ListRequests({});
  ASSERT_OK(rows);
  EXPECT_EQ(rows->size(), 30u);
  EXPECT_EQ(van.store->Device()->pending, 0);
  auto device = world.storage().FindDevice(van.device_id());
  EXPECT_EQ((*device)->last_applied_seq, 30u);
}

TEST(SyncScenario, ReplayedOldAnswerIsRefusedAndChangesNothing) {
  SyncWorld world(5);
  Van& van = world.AddVan("KR01");
  const std::string id = SyncWorld::RegisterKtp(van, 5).id;
  ASSERT_OK(world.Sync(van));
  ASSERT_OK(world.services().staff.SetStatus(id, RequestStatus::kReceived, "rina", ""));
  ASSERT_OK(world.Sync(van));  // the link now remembers a pull answer showing "received"
  ASSERT_OK(world.services().staff.SetStatus(id, RequestStatus::kInReview, "rina", ""));
  ASSERT_OK(world.Sync(van));
  const auto before = van.store->Find(id)->view;
  // An attacker replays the old signed answer (status received) to roll the van back.
  van.link->Queue({Fault::kReplayPrevious});
  field::SyncOptions options;
  options.max_attempts = 1;
  auto refused = world.Sync(van, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("nonce"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(van.store->Find(id)->view, before);
}

TEST(SyncScenario, RevokedVanIsRefusedAndKeepsItsWork) {
  SyncWorld world(6);
  Van& van = world.AddVan("KR01");
  SyncWorld::RegisterKtp(van, 6).id;
  ASSERT_OK(world.Sync(van));
  ASSERT_OK(world.services().devices.RevokeDevice(van.device_id(), "admin"));
  SyncWorld::RegisterKtp(van, 7).id;
  auto refused = world.Sync(van);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("no longer allowed"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(van.store->Device()->pending, 1) << "work after revocation stays on the van";
  EXPECT_EQ(world.storage().ListRequests({})->size(), 1u);
}

TEST(SyncScenario, VanSeesOnlyItsOwnRequests) {
  SyncWorld world(7);
  Van& a = world.AddVan("KR01");
  Van& b = world.AddVan("KR02");
  const std::string id_a = SyncWorld::RegisterKtp(a, 1).id;
  SyncWorld::RegisterKtp(b, 2).id;
  ASSERT_OK(world.Sync(a));
  ASSERT_OK(world.Sync(b));
  ASSERT_OK(world.services().staff.SetStatus(id_a, RequestStatus::kReceived, "rina", ""));
  auto report = world.Sync(b);
  ASSERT_OK(report);
  EXPECT_EQ(report->pulled, 0u);
  EXPECT_EQ(b.store->List({})->size(), 1u);
  EXPECT_FALSE(b.store->Find(id_a).ok());
}

TEST(SyncScenario, PendingEditIsRebasedOnPulledState) {
  SyncWorld world(8);
  Van& van = world.AddVan("KR01");
  const std::string id = SyncWorld::RegisterKtp(van, 8).id;
  ASSERT_OK(world.Sync(van));
  ASSERT_OK(world.services().staff.SetStatus(id, RequestStatus::kReceived, "rina", ""));
  ASSERT_OK(field::UpdateRequest(*van.store, id, {{"catatan", "pemohon minta dihubungi"}}));
  // Pull only: the push fails, so the edit stays pending while the staff change arrives.
  van.link->Queue({Fault::kDropRequest});
  field::SyncOptions options;
  options.max_attempts = 1;
  ASSERT_FALSE(world.Sync(van, options).ok());
  ASSERT_OK(world.Sync(van));
  const auto view = van.store->Find(id)->view;
  EXPECT_EQ(view.status, RequestStatus::kReceived);
  EXPECT_EQ(view.fields.at("catatan").value, "pemohon minta dihubungi");
  EXPECT_EQ(view, world.ServerState(id));
}

TEST(SyncScenario, ServerRestartLosesNoAcknowledgedWrite) {
  SyncWorld world(9);
  Van& van = world.AddVan("KR01");
  for (int i = 0; i < 25; ++i) SyncWorld::RegisterKtp(van, 100 + i).id;
  field::SyncOptions options;
  options.batch_size = 7;
  ASSERT_OK(world.Sync(van, options));
  world.RestartServer();
  world.ReopenVan(van);
  ASSERT_OK(world.Sync(van));
  EXPECT_EQ(world.storage().ListRequests({})->size(), 25u);
  auto audit = world.services().staff.VerifyEnvelopes();
  ASSERT_OK(audit);
  EXPECT_EQ(audit->checked, 4u);
  EXPECT_TRUE(audit->failures.empty());
}

// The officer presses "cancel" after the first batch: the sync stops before the next request,
// what the server acknowledged stays acknowledged, the rest stays pending, and the next sync
// sends it.
TEST(SyncScenario, CancelledBetweenBatchesKeepsTheRestPendingForTheNextSync) {
  SyncWorld world(12);
  Van& van = world.AddVan("KR01");
  for (int i = 0; i < 30; ++i) SyncWorld::RegisterKtp(van, 200 + i).id;
  bool cancel = false;
  field::SyncOptions options;
  options.batch_size = 10;
  options.cancelled = [&cancel] { return cancel; };
  auto cancelled = field::RunSync(*van.store, *van.link, *van.clock, world.rng(), options,
                                  [&cancel](const char*, size_t, size_t) { cancel = true; });
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(cancelled.error().message(), field::kCancelledSyncMessage);
  EXPECT_EQ(van.store->Device()->pending, 20);
  EXPECT_EQ(world.storage().ListRequests({})->size(), 10u);
  EXPECT_EQ(van.store->Device()->last_sync_ms, 0) << "a cancelled sync is not a sync";

  ASSERT_OK(world.Sync(van));
  EXPECT_EQ(van.store->Device()->pending, 0);
  EXPECT_EQ(world.storage().ListRequests({})->size(), 30u);
}

TEST(SyncScenario, CancelledBeforeStartSendsNothing) {
  SyncWorld world(13);
  Van& van = world.AddVan("KR01");
  SyncWorld::RegisterKtp(van, 1).id;
  const uint64_t requests_before = world.loopback().stats().requests;
  field::SyncOptions options;
  options.cancelled = [] { return true; };
  auto cancelled = world.Sync(van, options);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().message(), field::kCancelledSyncMessage);
  EXPECT_EQ(world.loopback().stats().requests, requests_before);
  EXPECT_EQ(van.store->Device()->pending, 1);
}

// A cancel while the sync waits out a busy server ends the wait within one poll interval,
// instead of after the backoff (up to a minute here).
TEST(SyncScenario, CancelledDuringBackoffEndsTheWaitPromptly) {
  SyncWorld world(14);
  Van& van = world.AddVan("KR01");
  SyncWorld::RegisterKtp(van, 1).id;
  van.link->Queue({Fault::kServerBusy, Fault::kServerBusy, Fault::kServerBusy, Fault::kServerBusy,
                   Fault::kServerBusy, Fault::kServerBusy, Fault::kServerBusy, Fault::kServerBusy});
  const int64_t start = world.clock().NowMillis();
  constexpr int64_t kCancelAfterMs = 1000;
  field::SyncOptions options;
  options.initial_backoff = std::chrono::milliseconds(60'000);
  options.max_backoff = std::chrono::milliseconds(60'000);
  options.cancelled = [&world, start] {
    return world.clock().NowMillis() - start >= kCancelAfterMs;
  };
  auto cancelled = world.Sync(van, options);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().message(), field::kCancelledSyncMessage);
  EXPECT_LT(world.clock().NowMillis() - start, kCancelAfterMs + field::kCancelPollMs + 1);
  EXPECT_EQ(van.store->Device()->pending, 1);
}

}  // namespace
}  // namespace mpp::test
