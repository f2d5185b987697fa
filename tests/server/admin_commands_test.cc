// Issue 10 items 7, 10, 11 at the service and storage level: a new catalog on a running server
// (refused when it would invalidate open requests), conflicts settled through the merge path,
// enrolment tokens revoked by id, receipts in any case, an older database opened, and the data
// directory private.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "mpp/field/use_cases.h"
#include "mpp/sqlite/sqlite.h"
#include "support/sync_world.h"

namespace mpp::test {
namespace {

using nlohmann::json;
using sync::RequestStatus;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kKtp = "dukcapil.ktp-el";

json DefaultCatalog() { return json::parse(ReadFileOrDie(DefaultCatalogPath())); }

json& KtpService(json& catalog) {
  for (auto& s : catalog["services"]) {
    if (s["id"] == kKtp) return s;
  }
  ADD_FAILURE() << "no KTP service";
  return catalog;
}

json& KtpField(json& catalog, const std::string& name) {
  for (auto& f : KtpService(catalog)["fields"]) {
    if (f["name"] == name) return f;
  }
  ADD_FAILURE() << "no field " << name;
  return catalog;
}

int64_t StoredCatalogVersion(SyncWorld& world) { return world.storage().LoadCatalog()->first; }

TEST(CatalogLoad, SameVersionBecomesCurrentPlusOneAndVansReceiveIt) {
  SyncWorld world(201);
  Van& van = world.AddVan("KR01");
  ASSERT_OK(world.Sync(van));
  const int64_t before = world.services().core.catalog().version();
  json catalog = DefaultCatalog();
  KtpField(catalog, "catatan")["label"] = "Catatan dari petugas";
  auto version = world.services().staff.LoadCatalog(catalog.dump(), "admin");
  ASSERT_OK(version);
  EXPECT_EQ(*version, before + 1);
  EXPECT_EQ(StoredCatalogVersion(world), before + 1);
  EXPECT_EQ(world.services().core.catalog().version(), before + 1);
  ASSERT_OK(world.Sync(van));
  auto at_van = van.store->Catalog();
  ASSERT_OK(at_van);
  EXPECT_EQ(at_van->version(), before + 1);
  EXPECT_EQ(at_van->FindService(kKtp)->FindField("catatan")->label, "Catatan dari petugas");
}

// `mpp-server catalog load` runs in another process than `serve`: the running service takes
// the stored catalog at its next sync.
TEST(CatalogLoad, RunningServiceTakesACatalogStoredByAnotherProcess) {
  SyncWorld world(202);
  Van& van = world.AddVan("KR01");
  const int64_t before = world.services().core.catalog().version();
  json catalog = DefaultCatalog();
  catalog["version"] = before + 5;
  KtpField(catalog, "catatan")["label"] = "Catatan lain";
  ASSERT_OK(world.storage().SaveCatalog(before + 5, catalog.dump()));
  EXPECT_EQ(world.services().core.catalog().version(), before);
  ASSERT_OK(world.Sync(van));
  EXPECT_EQ(world.services().core.catalog().version(), before + 5);
  EXPECT_EQ(van.store->Catalog()->version(), before + 5);
}

struct RefusalCase {
  const char* name;
  void (*change)(json& catalog);
  const char* names;  // what the message must name besides the receipt
};

TEST(CatalogLoad, RefusedNamingReceiptsAndFieldsWhenOpenRequestsWouldBreak) {
  const RefusalCase cases[] = {
      {"required field added",
       [](json& c) {
         KtpService(c)["fields"].push_back({{"name", "golongan_darah"},
                                            {"type", "text"},
                                            {"required", true},
                                            {"label", "Golongan darah"}});
       },
       "golongan_darah"},
      {"field removed",
       [](json& c) {
         auto& fields = KtpService(c)["fields"];
         for (size_t i = 0; i < fields.size(); ++i) {
           if (fields[i]["name"] == "phone") fields.erase(i);
         }
       },
       "phone"},
      {"enum option removed",
       [](json& c) {
         auto& options = KtpField(c, "alasan")["options"];
         options = json::array({"hilang", "rusak", "perubahan data"});
       },
       "alasan"},
      {"service removed",
       [](json& c) {
         auto& services = c["services"];
         for (size_t i = 0; i < services.size(); ++i) {
           if (services[i]["id"] == kKtp) services.erase(i);
         }
       },
       kKtp},
  };
  for (const auto& rc : cases) {
    SCOPED_TRACE(rc.name);
    SyncWorld world(203);
    Van& van = world.AddVan("KR01");
    const sync::Request open = SyncWorld::RegisterKtp(van, 21);
    const sync::Request closed = SyncWorld::RegisterKtp(van, 22);
    ASSERT_OK(world.Sync(van));
    ASSERT_OK(world.services().staff.SetStatus(closed.id, RequestStatus::kCancelled, "rina", "x"));
    const int64_t before = StoredCatalogVersion(world);
    json catalog = DefaultCatalog();
    rc.change(catalog);
    auto loaded = world.services().staff.LoadCatalog(catalog.dump(), "admin");
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.error().code(), ErrorCode::kConflict);
    EXPECT_THAT(loaded.error().message(), HasSubstr(open.receipt));
    EXPECT_THAT(loaded.error().message(), HasSubstr(rc.names));
    EXPECT_THAT(loaded.error().message(), Not(HasSubstr(closed.receipt)))
        << "a final request does not hold a catalog back";
    EXPECT_EQ(StoredCatalogVersion(world), before) << "nothing changed";
    EXPECT_EQ(world.services().core.catalog().version(), before);
  }
}

TEST(CatalogLoad, AnInvalidCatalogIsRefusedByItsCheck) {
  SyncWorld world(204);
  auto loaded = world.services().staff.LoadCatalog("{\"version\": 2}", "admin");
  EXPECT_FALSE(loaded.ok());
}

// A van's edit and a staff edit of the same field, concurrently: one conflict record.
struct ConflictWorld {
  SyncWorld world{205};
  Van* van = nullptr;
  sync::Request request;
  uint64_t rev = 0;

  ConflictWorld() {
    van = &world.AddVan("KR01");
    request = SyncWorld::RegisterKtp(*van, 31);
    EXPECT_OK(world.Sync(*van));
    EXPECT_OK(field::UpdateRequest(*van->store, request.id, {{"phone", "081211112222"}}));
    world.clock().Advance(1000);
    EXPECT_OK(world.services().staff.SetFields(request.id, {{"phone", "081299998888"}}, "rina"));
    EXPECT_OK(world.Sync(*van));
    auto conflicts = world.storage().ListConflicts();
    EXPECT_TRUE(conflicts.ok() && conflicts->size() == 1u);
    if (conflicts.ok() && !conflicts->empty()) rev = conflicts->front().rev;
  }
  std::string ServerPhone() {
    return (*world.storage().FindRequest(request.id))->request.fields.at("phone").value;
  }
};

TEST(ConflictResolve, KeepVanAppliesTheVansValueAsAStaffChangeThatReachesTheVan) {
  ConflictWorld w;
  auto listed = w.world.storage().ListConflicts();
  ASSERT_OK(listed);
  EXPECT_EQ(listed->front().receipt, w.request.receipt);
  EXPECT_EQ(listed->front().van_code, "KR01");
  EXPECT_TRUE(listed->front().open());
  ASSERT_EQ(w.ServerPhone(), "081299998888");

  auto resolved =
      w.world.services().staff.ResolveConflict(w.rev, server::Resolution::kKeepVan, "", "budi");
  ASSERT_OK(resolved);
  EXPECT_EQ(w.ServerPhone(), "081211112222");
  auto after = w.world.storage().ListConflicts();
  ASSERT_OK(after);
  EXPECT_FALSE(after->front().open());
  EXPECT_EQ(after->front().resolved_by, "budi");
  auto changed = w.world.storage().FindRequest(w.request.id);
  ASSERT_OK(changed);
  EXPECT_EQ((*changed)->request.history.back().actor, "staff:budi");

  ASSERT_OK(w.world.Sync(*w.van));
  EXPECT_EQ(w.van->store->Find(w.request.id)->view.fields.at("phone").value, "081211112222");

  auto again =
      w.world.services().staff.ResolveConflict(w.rev, server::Resolution::kKeepVan, "", "budi");
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.error().message(), HasSubstr("already resolved"));
}

TEST(ConflictResolve, GivenValueIsValidatedAndKeepServerChangesNothingButTheRecord) {
  {
    ConflictWorld w;
    auto bad =
        w.world.services().staff.ResolveConflict(w.rev, server::Resolution::kValue, "12", "budi");
    EXPECT_FALSE(bad.ok()) << "a phone number too short must be refused like any staff edit";
    EXPECT_TRUE(w.world.storage().ListConflicts()->front().open()) << "still open after refusal";
    ASSERT_OK(w.world.services().staff.ResolveConflict(w.rev, server::Resolution::kValue,
                                                       "081277776666", "budi"));
    EXPECT_EQ(w.ServerPhone(), "081277776666");
  }
  {
    ConflictWorld w;
    const auto before = (*w.world.storage().FindRequest(w.request.id))->request;
    ASSERT_OK(w.world.services().staff.ResolveConflict(w.rev, server::Resolution::kKeepServer, "",
                                                       "budi"));
    EXPECT_EQ((*w.world.storage().FindRequest(w.request.id))->request, before);
    EXPECT_FALSE(w.world.storage().ListConflicts()->front().open());
  }
  SyncWorld world(206);
  EXPECT_EQ(world.services()
                .staff.ResolveConflict(99, server::Resolution::kKeepServer, "", "budi")
                .error()
                .code(),
            ErrorCode::kNotFound);
}

TEST(Tokens, ListedByIdWithoutTheTokenAndARevokedOneIsRefused) {
  SyncWorld world(207);
  auto token = world.services().devices.CreateEnrollmentToken("KR05", 3'600'000);
  ASSERT_OK(token);
  auto tokens = world.storage().ListTokens();
  ASSERT_OK(tokens);
  ASSERT_EQ(tokens->size(), 1u);
  const auto& listed = tokens->front();
  EXPECT_EQ(listed.id.size(), server::kTokenIdChars);
  EXPECT_EQ(token->find(listed.id), std::string::npos) << "the id is not part of the token";
  EXPECT_EQ(listed.token.van_code, "KR05");
  EXPECT_EQ(listed.token.created_ms, world.clock().NowMillis());
  EXPECT_EQ(listed.token.revoked_ms, 0);

  ASSERT_OK(world.services().devices.RevokeToken(listed.id, "admin"));
  EXPECT_NE(world.storage().ListTokens()->front().token.revoked_ms, 0);
  EXPECT_EQ(world.services().devices.RevokeToken(listed.id, "admin").error().code(),
            ErrorCode::kConflict);
  EXPECT_EQ(world.services().devices.RevokeToken("000000000000", "admin").error().code(),
            ErrorCode::kNotFound);
  // A used token cannot be revoked (revoke the device); a van enrolled through AddVan used one.
  world.AddVan("KR06");
  auto all = world.storage().ListTokens();
  ASSERT_OK(all);
  for (const auto& t : *all) {
    if (t.token.van_code == "KR06") {
      EXPECT_THAT(world.services().devices.RevokeToken(t.id, "admin").error().message(),
                  HasSubstr("device revoke"));
    }
  }
}

TEST(FindRequest, ReceiptsMatchInAnyCase) {
  SyncWorld world(208);
  Van& van = world.AddVan("KR01");
  const sync::Request r = SyncWorld::RegisterKtp(van, 41);
  ASSERT_OK(world.Sync(van));
  std::string lower = r.receipt;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  ASSERT_NE(lower, r.receipt);
  auto found = world.storage().FindRequest(lower);
  ASSERT_OK(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->request.id, r.id);
  ASSERT_OK(world.services().staff.SetStatus(lower, RequestStatus::kReceived, "rina", ""));
}

// A database of schema v3 (before tokens kept their creation, conflicts their resolution, and
// the NIK index existed) opens, and the new commands work on it.
TEST(ServerSchema, AVersion3DatabaseIsMigrated) {
  MPP_SKIP_UNLESS_SQLITE(
      "migrates a SQLite file of schema v3 (the PostgreSQL schema has migrations of its own)");
  TempDir dir;
  const std::string db_path = dir.Sub("server.db");
  {
    auto storage = server::OpenSqliteStorage(db_path);
    ASSERT_OK(storage);
  }
  {
    auto db = sqlite::Database::Open(db_path, sqlite::Database::Mode::kReadWrite);
    ASSERT_OK(db);
    ASSERT_OK(db->Exec(
        "DROP TABLE request_nik; DROP TABLE duplicates; DROP INDEX requests_receipt_nocase;"
        "DROP INDEX conflicts_request;"
        "ALTER TABLE tokens DROP COLUMN created_ms; ALTER TABLE tokens DROP COLUMN revoked_ms;"
        "ALTER TABLE conflicts DROP COLUMN resolved_ms;"
        "ALTER TABLE conflicts DROP COLUMN resolved_by;"
        "ALTER TABLE conflicts DROP COLUMN resolution;"
        "INSERT INTO tokens(token_hash, van_code, expires_ms) VALUES (x'0102', 'KR01', 5);"
        "PRAGMA user_version=3;"));
  }
  auto storage = server::OpenSqliteStorage(db_path);
  ASSERT_OK(storage);
  auto tokens = (*storage)->ListTokens();
  ASSERT_OK(tokens);
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ(tokens->front().token.created_ms, 0);
  ASSERT_OK((*storage)->ListConflicts());
  ASSERT_OK((*storage)->ListDuplicates());
}

TEST(DataDirectory, CreatedPrivateAndAnOpenOneIsRefusedNamingTheFix) {
  TempDir parent;
  const std::string dir = parent.Sub("srv");
  ScratchDatabase db(BackendFromEnv(), "");  // "" on SQLite: server.db in the data dir
  const mode_t old_mask = umask(022);  // a library caller's usual umask: init must not rely on it
  auto fingerprint =
      server::InitServerHome(dir, ReadFileOrDie(DefaultCatalogPath()), db.location());
  umask(old_mask);
  ASSERT_OK(fingerprint);
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << entry.path();
  }
  EXPECT_OK(server::CheckDataDirPrivate(dir));
  ::chmod(dir.c_str(), 0750);
  auto refused = server::CheckDataDirPrivate(dir);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message(), HasSubstr("chmod 700 " + dir));
  EXPECT_EQ(refused.error().message().find('\n'), std::string::npos);
}

}  // namespace
}  // namespace mpp::test
