// The van store's everyday operations of issue 10: changing the passphrase (the data key is
// re-wrapped, nothing else is re-encrypted), the officer who signs the next changes, and
// receipts looked up whatever their case.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mpp/sqlite/sqlite.h"
#include "mpp/store/van_store.h"
#include "support/fixtures.h"
#include "support/test_util.h"

namespace mpp::store {
namespace {

using test::TempDir;

constexpr char kOld[] = "kubu-raya-2026";
constexpr char kNew[] = "perahu kopi hujan lima";

InitOptions TestInit() {
  InitOptions o;
  o.van_code = "KR01";
  o.officer = "Rahmat";
  o.catalog_json = test::TinyCatalogJson();
  o.kdf.memory_kib = 64;
  o.kdf.time_cost = 1;
  return o;
}

sync::Mutation NewKtp(const std::string& nik, const std::string& name) {
  sync::Mutation m;
  m.kind = sync::MutationKind::kCreate;
  m.service_id = "dukcapil.ktp-el";
  m.writes = {{"nik", nik, {}}, {"name", name, {}}, {"birth_date", "1990-01-01", {}}};
  return m;
}

sync::Mutation Rename(const std::string& id, const std::string& name) {
  sync::Mutation m;
  m.kind = sync::MutationKind::kSetFields;
  m.request_id = id;
  m.writes = {{"name", name, {}}};
  return m;
}

class VanStoreEveryday : public ::testing::Test {
 protected:
  std::unique_ptr<VanStore> Create() {
    auto store = VanStore::Create(dir_.path().string(), kOld, TestInit(), clock_, rng_);
    EXPECT_TRUE(store.ok()) << store.error().message();
    return std::move(store).value();
  }
  std::unique_ptr<VanStore> OpenLocked() {
    auto store = VanStore::Open(dir_.path().string(), clock_, rng_);
    EXPECT_TRUE(store.ok()) << store.error().message();
    return std::move(store).value();
  }
  // Every sealed blob of the file, and the key material, as bytes.
  struct Sealed {
    std::vector<Bytes> rows;
    Bytes salt, wrapped_key, private_key;
  };
  Sealed ReadSealed(VanStore& store) {
    Sealed out;
    auto db =
        sqlite::Database::Open(store.DatabasePathForTesting(), sqlite::Database::Mode::kReadWrite);
    EXPECT_TRUE(db.ok());
    auto rows = db->Prepare("SELECT view FROM requests UNION ALL SELECT body FROM outbox");
    EXPECT_TRUE(rows.ok());
    while (rows->Step().value()) out.rows.push_back(rows->ColumnBlob(0));
    auto device = db->Prepare("SELECT kdf_salt, wrapped_data_key, sealed_private_key FROM device");
    EXPECT_TRUE(device.ok());
    EXPECT_TRUE(device->Step().value());
    out.salt = device->ColumnBlob(0);
    out.wrapped_key = device->ColumnBlob(1);
    out.private_key = device->ColumnBlob(2);
    return out;
  }

  sync::FakeClock clock_{1'764'300'000'000};  // 2025-11-28
  sync::SeededRng rng_{7};
  TempDir dir_;
};

TEST_F(VanStoreEveryday, ChangePassphraseRewrapsOnlyTheDataKey) {
  std::string id;
  {
    auto store = Create();
    auto views = store->Commit({NewKtp(test::ValidNik(1), "Siti Aminah")});
    ASSERT_OK(views);
    id = views->front().id;
  }
  auto store = OpenLocked();
  const Sealed before = ReadSealed(*store);
  ASSERT_OK(store->ChangePassphrase(kOld, kNew));
  const Sealed after = ReadSealed(*store);
  EXPECT_EQ(after.rows, before.rows);  // no row re-encrypted
  EXPECT_EQ(after.private_key, before.private_key);
  EXPECT_NE(after.salt, before.salt);
  EXPECT_NE(after.wrapped_key, before.wrapped_key);

  auto old_one = OpenLocked();
  auto refused = old_one->Unlock(kOld);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnauthenticated);
  auto new_one = OpenLocked();
  ASSERT_OK(new_one->Unlock(kNew));
  auto row = new_one->Find(id);
  ASSERT_OK(row);
  EXPECT_EQ(row->view.fields.at("name").value, "Siti Aminah");
  EXPECT_OK(new_one->SignWithDeviceKey(BytesOf("still the device's key")));
}

TEST_F(VanStoreEveryday, ChangePassphraseWithAWrongOldOneChangesNothing) {
  Create();
  auto store = OpenLocked();
  const Sealed before = ReadSealed(*store);
  auto changed = store->ChangePassphrase("not-the-passphrase", kNew);
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(changed.error().message(), "wrong passphrase");
  const Sealed after = ReadSealed(*store);
  EXPECT_EQ(after.salt, before.salt);
  EXPECT_EQ(after.wrapped_key, before.wrapped_key);
  EXPECT_OK(OpenLocked()->Unlock(kOld));
}

TEST_F(VanStoreEveryday, SetOfficerSignsTheNextChangesOnly) {
  auto store = Create();
  auto views = store->Commit({NewKtp(test::ValidNik(1), "Siti Aminah")});
  ASSERT_OK(views);
  const std::string id = views->front().id;
  ASSERT_OK(store->SetOfficer("Budi Santoso"));
  ASSERT_OK(store->Commit({Rename(id, "Siti Aminah Putri")}));
  auto pending = store->PendingMutations(10);
  ASSERT_OK(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].actor, "Rahmat");
  EXPECT_EQ((*pending)[1].actor, "Budi Santoso");
  // Kept across a reopen, and checked like the name at init.
  auto reopened = OpenLocked();
  EXPECT_EQ(reopened->Device().value().officer, "Budi Santoso");
  auto locked = reopened->SetOfficer("Dewi Lestari");
  ASSERT_FALSE(locked.ok());
  EXPECT_EQ(locked.error().code(), ErrorCode::kUnauthenticated);
  ASSERT_OK(reopened->Unlock(kOld));
  EXPECT_FALSE(reopened->SetOfficer("Dewi\u202eLestari").ok());
  EXPECT_FALSE(reopened->SetOfficer(std::string(101, 'a')).ok());
  EXPECT_EQ(reopened->Device().value().officer, "Budi Santoso");
}

TEST_F(VanStoreEveryday, FindMatchesAReceiptWhateverItsCase) {
  auto store = Create();
  auto views = store->Commit({NewKtp(test::ValidNik(1), "Siti Aminah")});
  ASSERT_OK(views);
  EXPECT_EQ(views->front().receipt, "KR01-20251128-0001");
  auto found = store->Find("kr01-20251128-0001");
  ASSERT_OK(found);
  EXPECT_EQ(found->view.id, views->front().id);
  EXPECT_OK(store->Find("Kr01-20251128-0001"));
  EXPECT_FALSE(store->Find("kr01-20251128-0002").ok());
}

}  // namespace
}  // namespace mpp::store
