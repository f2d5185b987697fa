// Issue 10 item 5, the server's part: a new request whose NIK has an open request for the same
// service at another van is flagged as a possible duplicate on both vans (kept, never merged),
// found through the index on a keyed hash of the NIK, which also serves staff search by NIK.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "mpp/field/use_cases.h"
#include "mpp/server/nik_index.h"
#include "mpp/sync/crypto.h"
#include "support/sync_world.h"

namespace mpp::test {
namespace {

using sync::RequestStatus;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kKtp = "dukcapil.ktp-el";

std::vector<server::StoredConflict> Duplicates(SyncWorld& world) {
  std::vector<server::StoredConflict> out;
  auto all = world.storage().ListConflicts();
  EXPECT_TRUE(all.ok());
  for (const auto& c : *all) {
    if (c.conflict.field == "duplicate") out.push_back(c);
  }
  return out;
}

std::vector<sync::ConflictRecord> VanDuplicates(Van& van) {
  std::vector<sync::ConflictRecord> out;
  auto all = van.store->Conflicts();
  EXPECT_TRUE(all.ok());
  for (const auto& c : *all) {
    if (c.field == "duplicate") out.push_back(c);
  }
  return out;
}

TEST(DuplicateFlag, AnotherVansOpenRequestForTheNikFlagsBothVans) {
  SyncWorld world(101);
  Van& first = world.AddVan("KR01");
  Van& second = world.AddVan("KR02");
  const sync::Request earlier = SyncWorld::RegisterKtp(first, 7);
  ASSERT_OK(world.Sync(first));
  const sync::Request later = SyncWorld::RegisterKtp(second, 7);  // the same NIK, the same service
  auto report = world.Sync(second);
  ASSERT_OK(report);

  // Both kept, neither merged into the other.
  ASSERT_EQ(world.storage().ListRequests({})->size(), 2u);
  auto flags = Duplicates(world);
  ASSERT_EQ(flags.size(), 2u);
  for (const auto& f : flags) {
    const bool is_later = f.conflict.request_id == later.id;
    const sync::Request& own = is_later ? later : earlier;
    const sync::Request& other = is_later ? earlier : later;
    EXPECT_EQ(f.conflict.request_id, own.id) << "each van's record names its own request";
    EXPECT_EQ(f.device_id, own.device_id);
    EXPECT_EQ(f.conflict.kept_value, own.receipt);
    EXPECT_EQ(f.conflict.lost_value, other.receipt);
    EXPECT_THAT(f.conflict.reason, HasSubstr("possible duplicate"));
    EXPECT_THAT(f.conflict.reason, HasSubstr(other.receipt));
    EXPECT_THAT(f.conflict.reason, HasSubstr(is_later ? "(van KR01)" : "(van KR02)"));
    EXPECT_THAT(f.conflict.reason, Not(HasSubstr(SyncWorld::KtpFields(7).at("nik"))));
  }
  auto pairs = world.storage().ListDuplicates();
  ASSERT_OK(pairs);
  ASSERT_EQ(pairs->size(), 1u);
  EXPECT_EQ(pairs->front().request.receipt, later.receipt);
  EXPECT_EQ(pairs->front().request.van_code, "KR02");
  EXPECT_EQ(pairs->front().other.receipt, earlier.receipt);
  EXPECT_EQ(pairs->front().other.van_code, "KR01");

  // The flag reaches both vans with their next pull, each about its own request.
  ASSERT_OK(world.Sync(second));
  ASSERT_OK(world.Sync(first));
  auto at_first = VanDuplicates(first);
  auto at_second = VanDuplicates(second);
  ASSERT_EQ(at_first.size(), 1u);
  ASSERT_EQ(at_second.size(), 1u);
  EXPECT_EQ(at_first.front().request_id, earlier.id);
  EXPECT_EQ(at_first.front().lost_value, later.receipt);
  EXPECT_EQ(at_second.front().request_id, later.id);
  EXPECT_EQ(at_second.front().lost_value, earlier.receipt);
}

TEST(DuplicateFlag, NoFlagForAFinalRequestOrAnotherNikOrTheSameVan) {
  SyncWorld world(102);
  Van& first = world.AddVan("KR01");
  Van& second = world.AddVan("KR02");
  const sync::Request cancelled = SyncWorld::RegisterKtp(first, 8);
  SyncWorld::RegisterKtp(first, 9);
  ASSERT_OK(world.Sync(first));
  ASSERT_OK(world.services().staff.SetStatus(cancelled.id, RequestStatus::kCancelled, "rina",
                                             "pemohon pindah"));
  SyncWorld::RegisterKtp(second, 8);   // its NIK's only other request is cancelled (final)
  SyncWorld::RegisterKtp(second, 10);  // a NIK no one else has
  ASSERT_OK(world.Sync(second));
  // The same van again (its officer confirmed it, --force): the van warned, the server does not.
  field::RegisterOptions force;
  force.force = true;
  ASSERT_OK(field::RegisterRequest(*second.store, kKtp, SyncWorld::KtpFields(10), force));
  ASSERT_OK(world.Sync(second));
  EXPECT_TRUE(Duplicates(world).empty());
  EXPECT_TRUE(world.storage().ListDuplicates()->empty());
}

TEST(DuplicateFlag, StaffFindRequestsByNikThroughTheIndex) {
  SyncWorld world(103);
  Van& first = world.AddVan("KR01");
  Van& second = world.AddVan("KR02");
  const sync::Request a = SyncWorld::RegisterKtp(first, 11);
  SyncWorld::RegisterKtp(first, 12);
  const sync::Request b = SyncWorld::RegisterKtp(second, 11);
  ASSERT_OK(world.Sync(first));
  ASSERT_OK(world.Sync(second));
  auto found = world.services().staff.RequestsWithNik(SyncWorld::KtpFields(11).at("nik"));
  ASSERT_OK(found);
  ASSERT_EQ(found->size(), 2u);
  std::set<std::string> ids = {(*found)[0].request.id, (*found)[1].request.id};
  EXPECT_EQ(ids, (std::set<std::string>{a.id, b.id}));

  // A staff correction of the NIK moves the request in the index.
  ASSERT_OK(world.services().staff.SetFields(b.id, {{"nik", SyncWorld::KtpFields(13).at("nik")}},
                                             "rina"));
  EXPECT_EQ(world.services().staff.RequestsWithNik(SyncWorld::KtpFields(11).at("nik"))->size(), 1u);
  EXPECT_EQ(world.services().staff.RequestsWithNik(SyncWorld::KtpFields(13).at("nik"))->size(), 1u);
}

// The index keeps a keyed hash: the NIK itself is nowhere in it, and without the key (a stolen
// database) a NIK cannot be tested against it by hashing the 10^16 candidates.
TEST(DuplicateFlag, TheIndexHoldsAKeyedHashNotTheNik) {
  const Bytes key_a(32, 1), key_b(32, 2);
  const std::string nik = SyncWorld::KtpFields(1).at("nik");
  EXPECT_EQ(server::NikIndexHash(key_a, nik).size(), 32u);
  EXPECT_NE(server::NikIndexHash(key_a, nik), server::NikIndexHash(key_b, nik));
  const auto plain = crypto::Sha256(ViewOf(nik));
  EXPECT_NE(server::NikIndexHash(key_a, nik), Bytes(plain.begin(), plain.end()));
}

// After a server restore, vans re-send their requests (MutationKind::kRestore): a request the
// backup lacks is indexed and flagged as a new one would be; a pair flagged already is not
// flagged again.
TEST(DuplicateFlag, RequestsResentAfterAServerRestoreAreIndexedAndFlaggedOnce) {
  SyncWorld world(105);
  Van& first = world.AddVan("KR01");
  Van& second = world.AddVan("KR02");
  SyncWorld::RegisterKtp(first, 15);
  ASSERT_OK(world.Sync(first));
  SyncWorld::RegisterKtp(second, 15);
  ASSERT_OK(world.Sync(second));
  ASSERT_EQ(Duplicates(world).size(), 2u);
  world.SnapshotServer();  // holds both requests and the flag
  const sync::Request lost = SyncWorld::RegisterKtp(second, 16);
  ASSERT_OK(world.Sync(first));
  SyncWorld::RegisterKtp(first,
                         16);  // NIK 16 at KR01 too, after KR02's request the backup will lack
  ASSERT_OK(world.Sync(first));
  ASSERT_EQ(Duplicates(world).size(), 2u) << "KR02's request 16 has not reached the server";
  ASSERT_OK(world.Sync(second));
  ASSERT_EQ(Duplicates(world).size(), 4u);

  world.RestoreServerSnapshot();
  ASSERT_EQ(Duplicates(world).size(), 2u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(world.Sync(second));
    ASSERT_OK(world.Sync(first));
  }
  auto found = world.storage().FindRequest(lost.id);
  ASSERT_OK(found);
  ASSERT_TRUE(found->has_value()) << "KR02 re-sent the request the backup lacked";
  EXPECT_EQ(world.services().staff.RequestsWithNik(SyncWorld::KtpFields(16).at("nik"))->size(), 2u);
  EXPECT_EQ(Duplicates(world).size(), 4u) << "the NIK 15 pair once, the NIK 16 pair once";
  EXPECT_EQ(world.storage().ListDuplicates()->size(), 2u);
}

TEST(DuplicateFlag, NikKeyIsMadeForAnOlderDataDirAndItsRequestsIndexed) {
  SyncWorld world(104);
  Van& first = world.AddVan("KR01");
  const sync::Request a = SyncWorld::RegisterKtp(first, 14);
  ASSERT_OK(world.Sync(first));
  const std::filesystem::path key = std::filesystem::path(world.dir()) / "server" / "nik.key";
  ASSERT_TRUE(std::filesystem::exists(key));
  // A data directory from before the NIK index: no key, nothing indexed.
  std::filesystem::remove(key);
  world.RestartServer();
  ASSERT_TRUE(std::filesystem::exists(key));
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto found = world.services().staff.RequestsWithNik(SyncWorld::KtpFields(14).at("nik"));
  ASSERT_OK(found);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(found->front().request.id, a.id);
  // And the flag works against the indexed request.
  Van& second = world.AddVan("KR02");
  SyncWorld::RegisterKtp(second, 14);
  ASSERT_OK(world.Sync(second));
  EXPECT_EQ(Duplicates(world).size(), 2u);
}

}  // namespace
}  // namespace mpp::test
