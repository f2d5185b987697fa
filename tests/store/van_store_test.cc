#include "mpp/store/van_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "mpp/sqlite/sqlite.h"
#include "support/fixtures.h"
#include "support/test_util.h"

namespace mpp::store {
namespace {

using test::TempDir;

constexpr char kPassphrase[] = "kubu-raya-2026";

InitOptions TestInit() {
  InitOptions o;
  o.van_code = "KR01";
  o.officer = "Rahmat";
  o.catalog_json = test::TinyCatalogJson();
  o.kdf.memory_kib = 64;  // tests: cheap derivation; production default is 64 MiB
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

class VanStoreTest : public ::testing::Test {
 protected:
  sync::FakeClock clock_{1'764'300'000'000};  // 2025-11-28
  sync::SeededRng rng_{42};
  TempDir dir_;

  std::unique_ptr<VanStore> CreateStore() {
    auto store = VanStore::Create(dir_.path().string(), kPassphrase, TestInit(), clock_, rng_);
    EXPECT_TRUE(store.ok()) << store.error().message();
    return std::move(store).value();
  }
  std::unique_ptr<VanStore> Reopen() {
    auto store = VanStore::Open(dir_.path().string(), clock_, rng_);
    EXPECT_TRUE(store.ok()) << store.error().message();
    EXPECT_OK((*store)->Unlock(kPassphrase));
    return std::move(store).value();
  }
  int64_t Pending(VanStore& store) { return store.Device().value().pending; }
};

TEST_F(VanStoreTest, CommittedRequestSurvivesReopen) {
  std::string id;
  {
    auto store = CreateStore();
    auto views = store->Commit({NewKtp(test::ValidNik(7), "Siti Aminah")});
    ASSERT_OK(views);
    id = views->front().id;
    EXPECT_EQ(views->front().receipt, "KR01-20251128-0001");
  }
  auto store = Reopen();
  auto row = store->Find(id);
  ASSERT_OK(row);
  EXPECT_EQ(row->view.fields.at("name").value, "Siti Aminah");
  EXPECT_TRUE(row->pending);
  EXPECT_EQ(Pending(*store), 1);
}

TEST_F(VanStoreTest, ReceiptsCountPerDayAndFindWorksByReceipt) {
  auto store = CreateStore();
  ASSERT_OK(store->Commit({NewKtp(test::ValidNik(1), "A"), NewKtp(test::ValidNik(2), "B")}));
  clock_.Advance(86'400'000);
  auto next = store->Commit({NewKtp(test::ValidNik(3), "C")});
  ASSERT_OK(next);
  EXPECT_EQ(next->front().receipt, "KR01-20251129-0001");
  auto found = store->Find("KR01-20251128-0002");
  ASSERT_OK(found);
  EXPECT_EQ(found->view.fields.at("name").value, "B");
}

// Found by the simulation (seed 90): a clock set back to an earlier day restarted that day's
// counter and collided with a receipt already given.
TEST_F(VanStoreTest, ReceiptIsNeverReusedWhenTheClockGoesBackADay) {
  auto store = CreateStore();
  ASSERT_OK(store->Commit({NewKtp(test::ValidNik(1), "A"), NewKtp(test::ValidNik(2), "B")}));
  clock_.Advance(86'400'000);
  ASSERT_OK(store->Commit({NewKtp(test::ValidNik(3), "C")}));
  clock_.Advance(-86'400'000);
  auto again = store->Commit({NewKtp(test::ValidNik(4), "D")});
  ASSERT_OK(again);
  EXPECT_EQ(again->front().receipt, "KR01-20251128-0003");
}

TEST_F(VanStoreTest, CommitValidLeavesOutRefusedDraftsAndCommitsTheRest) {
  auto store = CreateStore();
  auto bad_nik = NewKtp("6112050101900000", "Bad serial");
  auto unknown_service = NewKtp(test::ValidNik(3), "C");
  unknown_service.service_id = "dukcapil.tidak-ada";
  std::vector<std::pair<size_t, std::string>> refused;
  auto committed = store->CommitValid(
      {NewKtp(test::ValidNik(1), "A"), bad_nik, NewKtp(test::ValidNik(2), "B"), unknown_service},
      [&](size_t i, const Error& e) { refused.emplace_back(i, e.message()); });
  ASSERT_OK(committed);
  EXPECT_EQ(*committed, 2u);
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_EQ(refused[0].first, 1u);
  EXPECT_EQ(refused[1].first, 3u);
  // The catalog's own messages, exactly as Catalog::ValidateNew words them.
  const auto catalog = store->Catalog();
  ASSERT_OK(catalog);
  EXPECT_EQ(refused[0].second, catalog
                                   ->ValidateNew("dukcapil.ktp-el", {{"nik", "6112050101900000"},
                                                                     {"name", "Bad serial"},
                                                                     {"birth_date", "1990-01-01"}})
                                   .error()
                                   .message());
  EXPECT_EQ(refused[1].second, "unknown service \"dukcapil.tidak-ada\"");

  // Refused drafts took no seq and no receipt number: the committed ones are gap-free.
  const auto pending = store->PendingMutations(10);
  ASSERT_OK(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].seq, 1u);
  EXPECT_EQ((*pending)[1].seq, 2u);
  auto rows = store->List({});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].view.receipt, "KR01-20251128-0001");
  EXPECT_EQ((*rows)[1].view.receipt, "KR01-20251128-0002");
  auto next = store->Commit({NewKtp(test::ValidNik(4), "D")});
  ASSERT_OK(next);
  EXPECT_EQ((*next)[0].receipt, "KR01-20251128-0003");

  // A batch refused entirely commits nothing and is not an error.
  refused.clear();
  auto none = store->CommitValid(
      {bad_nik}, [&](size_t i, const Error& e) { refused.emplace_back(i, e.message()); });
  ASSERT_OK(none);
  EXPECT_EQ(*none, 0u);
  EXPECT_EQ(refused.size(), 1u);
  EXPECT_EQ(Pending(*store), 3);
}

TEST_F(VanStoreTest, ABatchWithOneBadDraftCommitsNothing) {
  auto store = CreateStore();
  auto bad = NewKtp("6112050101900000", "Bad serial");
  auto result = store->Commit({NewKtp(test::ValidNik(1), "Good"), bad});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message().find("change 2"), std::string::npos)
      << result.error().message();
  EXPECT_EQ(Pending(*store), 0);
  EXPECT_TRUE(store->List({}).value().empty());
}

TEST_F(VanStoreTest, DeliverBeforeCompletionIsRefusedAndChangesNothing) {
  auto store = CreateStore();
  auto created = store->Commit({NewKtp(test::ValidNik(1), "A")});
  ASSERT_OK(created);
  sync::Mutation deliver;
  deliver.kind = sync::MutationKind::kSetStatus;
  deliver.request_id = created->front().id;
  deliver.status_to = sync::RequestStatus::kDelivered;
  auto result = store->Commit({deliver});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message().find("only a completed request can be delivered"),
            std::string::npos)
      << result.error().message();
  EXPECT_EQ(Pending(*store), 1);
  EXPECT_EQ(store->Find(created->front().id)->view.status, sync::RequestStatus::kSubmitted);
}

TEST_F(VanStoreTest, UpdateUsesTheViewVersionAsBase) {
  auto store = CreateStore();
  auto created = store->Commit({NewKtp(test::ValidNik(1), "A")});
  ASSERT_OK(created);
  sync::Mutation update;
  update.kind = sync::MutationKind::kSetFields;
  update.request_id = created->front().id;
  update.writes = {{"name", "A. Corrected", {}}};
  auto updated = store->Commit({update});
  ASSERT_OK(updated);
  EXPECT_EQ(updated->front().fields.at("name").value, "A. Corrected");
  EXPECT_GT(updated->front().fields.at("name").version, created->front().fields.at("name").version);
  EXPECT_EQ(Pending(*store), 2);
}

TEST_F(VanStoreTest, LookupByNikUsesTheKeyedIndex) {
  auto store = CreateStore();
  ASSERT_OK(store->Commit({NewKtp(test::ValidNik(1), "A"), NewKtp(test::ValidNik(2), "B")}));
  RequestFilter filter;
  filter.nik = test::ValidNik(2);
  auto rows = store->List(filter);
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().view.fields.at("name").value, "B");
}

TEST_F(VanStoreTest, NikNeverAppearsInTheDatabaseFiles) {
  const std::string nik = test::ValidNik(4321);
  const std::string name = "Yohanes Sitompul";
  {
    auto store = CreateStore();
    ASSERT_OK(store->Commit({NewKtp(nik, name)}));
    // Check while the WAL still holds the pages, and after a checkpoint.
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      const std::string bytes = test::ReadFileOrDie(entry.path());
      EXPECT_EQ(bytes.find(nik), std::string::npos) << entry.path();
      EXPECT_EQ(bytes.find(name), std::string::npos) << entry.path();
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    const std::string bytes = test::ReadFileOrDie(entry.path());
    EXPECT_EQ(bytes.find(nik), std::string::npos) << entry.path();
  }
}

TEST_F(VanStoreTest, WrongPassphraseIsRefusedAndLocksPersonalData) {
  CreateStore();
  auto store = VanStore::Open(dir_.path().string(), clock_, rng_);
  ASSERT_OK(store);
  auto unlocked = (*store)->Unlock("not-the-passphrase");
  ASSERT_FALSE(unlocked.ok());
  EXPECT_EQ(unlocked.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(unlocked.error().message(), "wrong passphrase");
  EXPECT_FALSE((*store)->List({}).ok());
  EXPECT_FALSE((*store)->Commit({NewKtp(test::ValidNik(1), "A")}).ok());
  EXPECT_OK((*store)->Device());  // non-personal data stays readable
}

TEST_F(VanStoreTest, CreateRefusesToOverwriteAStore) {
  CreateStore();
  auto again = VanStore::Create(dir_.path().string(), kPassphrase, TestInit(), clock_, rng_);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message().find("already exists"), std::string::npos);
}

TEST_F(VanStoreTest, NewerSchemaIsRefusedWithAClearMessage) {
  const std::string path = CreateStore()->DatabasePathForTesting();
  {
    auto db = sqlite::Database::Open(path, sqlite::Database::Mode::kReadWrite);
    ASSERT_OK(db);
    ASSERT_OK(db->Exec("PRAGMA user_version=99"));
  }
  auto store = VanStore::Open(dir_.path().string(), clock_, rng_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message().find("newer version of the van's software"), std::string::npos)
      << store.error().message();
}

TEST_F(VanStoreTest, ForeignDatabaseIsRefused) {
  {
    auto db =
        sqlite::Database::Open(dir_.Sub(kStoreFileName), sqlite::Database::Mode::kReadWriteCreate);
    ASSERT_OK(db);
    ASSERT_OK(db->Exec("CREATE TABLE customers(id INTEGER)"));
  }
  auto store = VanStore::Open(dir_.path().string(), clock_, rng_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message().find("not an MPP van store"), std::string::npos)
      << store.error().message();
}

TEST_F(VanStoreTest, CorruptFileIsRefused) {
  std::ofstream(dir_.Sub(kStoreFileName)) << std::string(8192, 'x');
  auto store = VanStore::Open(dir_.path().string(), clock_, rng_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kCorrupt) << store.error().message();
}

TEST_F(VanStoreTest, DiskFullIsReportedAndLosesNothingCommitted) {
  auto store = CreateStore();
  ASSERT_OK(store->Commit({NewKtp(test::ValidNik(1), "Kept")}));
  ASSERT_OK(store->SetMaxPagesForTesting(1));  // below the current size: no page can be added
  std::vector<sync::Mutation> many;
  for (int i = 2; i < 400; ++i) many.push_back(NewKtp(test::ValidNik(i), std::string(90, 'n')));
  auto result = store->Commit(many);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kStorageFull) << result.error().message();
  store.reset();
  auto reopened = Reopen();
  EXPECT_EQ(reopened->List({}).value().size(), 1u);
  EXPECT_EQ(Pending(*reopened), 1);
}

// The committed fixture was made by the v1 schema; every later version must open it and keep
// its data (the migration test every schema change runs against).
TEST_F(VanStoreTest, OpensAStoreMadeAtSchemaV1) {
  const std::filesystem::path fixture =
      std::filesystem::path(MPP_SOURCE_DIR) / "tests/store/fixtures/v1";
  for (const auto& entry : std::filesystem::directory_iterator(fixture)) {
    std::filesystem::copy_file(entry.path(), dir_.path() / entry.path().filename());
  }
  auto store = VanStore::Open(dir_.path().string(), clock_, rng_);
  ASSERT_OK(store);
  ASSERT_OK((*store)->Unlock("fixture-passphrase"));
  auto device = (*store)->Device();
  ASSERT_OK(device);
  EXPECT_EQ(device->schema_version, kSchemaVersion);
  EXPECT_EQ(device->van_code, "KR09");
  auto rows = (*store)->List({});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(rows->front().view.fields.at("name").value, "Fixture Satu");
  ASSERT_OK((*store)->Commit({NewKtp(test::ValidNik(9), "After migration")}));
}

// A child process importing batch after batch is killed with SIGKILL at a random point; the
// store must open, pass integrity_check, and hold exactly the batches whose commit returned
// (the last batch may or may not be in, but never half of it).
TEST_F(VanStoreTest, SigkillDuringLongImportLeavesExactlyCommittedBatches) {
  CreateStore();
  constexpr int kBatch = 50;
  sync::SeededRng pick(static_cast<uint64_t>(::testing::UnitTest::GetInstance()->random_seed()));
  int64_t reported_total = 0;  // batches children said were committed, over all rounds
  for (int round = 0; round < 20; ++round) {
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(pipe_fds[0]);
      sync::SystemClock clock;
      sync::SeededRng rng(round + 1000);
      auto store = VanStore::Open(dir_.path().string(), clock, rng);
      if (!store.ok() || !(*store)->Unlock(kPassphrase).ok()) _exit(3);
      for (int b = 0;; ++b) {
        std::vector<sync::Mutation> batch;
        for (int i = 0; i < kBatch; ++i) {
          batch.push_back(NewKtp(test::ValidNik(1 + (b * kBatch + i) % 9999), "Kill test"));
        }
        if (!(*store)->Commit(batch).ok()) _exit(4);
        const char done = 'b';
        if (write(pipe_fds[1], &done, 1) != 1) _exit(5);
      }
    }
    close(pipe_fds[1]);
    const int wait_for = 1 + static_cast<int>(pick.Uniform(4));
    int acknowledged = 0;
    char c;
    while (acknowledged < wait_for && read(pipe_fds[0], &c, 1) == 1) ++acknowledged;
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    while (read(pipe_fds[0], &c, 1) == 1) ++acknowledged;  // batches reported before the kill
    close(pipe_fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);

    auto db = sqlite::Database::Open(dir_.Sub(kStoreFileName), sqlite::Database::Mode::kReadWrite);
    ASSERT_OK(db);
    auto check = db->Prepare("PRAGMA integrity_check");
    ASSERT_OK(check);
    ASSERT_TRUE(check->Step().value());
    EXPECT_EQ(check->ColumnText(0), "ok");
    auto store = Reopen();
    const auto rows = static_cast<int64_t>(store->List({}).value().size());
    EXPECT_EQ(rows % kBatch, 0) << "a batch was half committed";
    EXPECT_EQ(Pending(*store), rows) << "outbox and views disagree";
    reported_total += acknowledged;
    // Each kill may leave one committed batch whose report was not yet written.
    EXPECT_GE(rows, reported_total * kBatch);
    EXPECT_LE(rows, (reported_total + round + 1) * kBatch);
  }
}

}  // namespace
}  // namespace mpp::store
