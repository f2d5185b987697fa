// The storage contract (server_stub/include/mpp/server/storage.h), checked the same way on every
// backend: each test runs on SQLite and on PostgreSQL (a fresh database each), through the
// interface only, never SQL. What the core relies on is here: the device row's compare-and-set,
// revs that only grow and, per scope, become visible in the order taken, feeds in rev order
// after a cursor, one consistent snapshot per pull, rollback unless committed, the keys that
// make a retry apply once. The PostgreSQL-only suite at the end runs transactions in two threads:
// what the row locks and the per-scope rev order must give several server processes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "mpp/postgres/postgres.h"
#include "mpp/server/storage.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/crypto.h"
#include "support/storage_backend.h"
#include "support/test_util.h"

namespace mpp::test {
namespace {

using server::DeviceRecord;
using server::FeedRow;
using server::RequestRow;
using server::ServerStorage;
using server::StorageSnapshot;
using server::StorageTxn;
using server::TokenRecord;
using sync::RequestStatus;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

#define MPP_CONCAT_INNER(a, b) a##b
#define MPP_CONCAT(a, b) MPP_CONCAT_INNER(a, b)
// lhs = the value of a Result, or a fatal failure naming the expression and its error.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(MPP_CONCAT(mpp_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(r, lhs, expr)                       \
  auto r = (expr);                                                    \
  ASSERT_TRUE(r.ok()) << #expr << " failed: " << r.error().message(); \
  lhs = std::move(r).value()

constexpr char kKtp[] = "dukcapil.ktp-el";
constexpr char kKk[] = "dukcapil.kk";

DeviceRecord Device(const std::string& id, const std::string& van_code, int64_t enrolled_ms,
                    uint32_t series = 1) {
  DeviceRecord d;
  d.device_id = id;
  d.van_code = van_code;
  d.public_key = BytesOf("key of " + id);
  d.enrolled_ms = enrolled_ms;
  d.receipt_series = series;
  return d;
}

sync::Request MakeRequest(const std::string& id, const std::string& device_id,
                          const std::string& receipt,
                          RequestStatus status = RequestStatus::kSubmitted,
                          const std::string& service_id = kKtp) {
  sync::Request r;
  r.id = id;
  r.receipt = receipt;
  r.service_id = service_id;
  r.device_id = device_id;
  r.officer = "Petugas Ani";
  r.status = status;
  r.status_version = {{1'764'300'000'100, 2}, device_id};
  r.status_note = "catatan " + id;
  r.created = {1'764'300'000'000, 1};
  r.fields["name"] = {"Siti Aminah", {{1'764'300'000'000, 1}, device_id}};
  r.fields["nik"] = {"6112054101900001", {{1'764'300'000'000, 1}, device_id}};
  r.history.push_back({{1'764'300'000'000, 1}, "Petugas Ani", "created"});
  return r;
}

RequestRow Row(sync::Request request, const std::string& van_code, uint64_t rev, uint64_t owner_rev,
               std::optional<sync::ChangeRevs> revs = std::nullopt,
               const std::string& agency = "dukcapil") {
  RequestRow row;
  row.request = std::move(request);
  row.agency = agency;
  row.van_code = van_code;
  row.rev = rev;
  row.owner_rev = owner_rev;
  row.revs = std::move(revs);
  return row;
}

sync::ConflictRecord Conflict(const std::string& request_id, const std::string& field) {
  sync::ConflictRecord c;
  c.request_id = request_id;
  c.field = field;
  c.kept_value = "kept " + field;
  c.kept_version = {{1'764'300'000'200, 0}, "staff:rina"};
  c.lost_value = "lost " + field;
  c.lost_version = {{1'764'300'000'100, 0}, "dev-a"};
  c.reason = "concurrent write";
  return c;
}

Bytes Hash(const std::string& text) {
  const auto digest = crypto::Sha256(ViewOf(text));
  return Bytes(digest.begin(), digest.end());
}

std::vector<uint64_t> RevsOf(const std::vector<FeedRow>& feed) {
  std::vector<uint64_t> out;
  for (const auto& row : feed) out.push_back(row.rev);
  return out;
}

// The ids of a request feed's rows (their bodies decoded); "<corrupt>" for a body that is not a
// request.
std::vector<std::string> IdsOf(const std::vector<FeedRow>& feed) {
  std::vector<std::string> out;
  for (const auto& row : feed) {
    auto r = sync::DecodeRequest(row.body);
    out.push_back(r.ok() ? r->id : "<corrupt>");
  }
  return out;
}

std::vector<std::string> IdsOf(const std::vector<server::StoredRequest>& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests) out.push_back(r.request.id);
  return out;
}

std::vector<std::string> IdsOf(const std::vector<sync::Request>& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests) out.push_back(r.id);
  return out;
}

std::vector<std::string> IdsOf(const std::vector<server::NikMatch>& matches) {
  std::vector<std::string> out;
  for (const auto& m : matches) out.push_back(m.request_id);
  return out;
}

class StorageTest {
 protected:
  void Open(StorageBackend backend) {
    db_ = std::make_unique<ScratchDatabase>(backend, dir_.Sub("server.db"));
    ASSERT_OK_AND_ASSIGN(storage_, db_->Open());
  }
  void Close() {
    storage_.reset();
    db_.reset();
  }

  // A write transaction; a fatal failure when it cannot begin. (On SQLite one transaction at a
  // time: a test never holds two in one thread, nor a snapshot while it reads outside it.)
  std::unique_ptr<StorageTxn> Begin() {
    auto txn = storage_->Begin();
    EXPECT_TRUE(txn.ok()) << txn.error().message();
    return txn.ok() ? std::move(txn).value() : nullptr;
  }
  std::unique_ptr<StorageSnapshot> Read() {
    auto snapshot = storage_->BeginRead();
    EXPECT_TRUE(snapshot.ok()) << snapshot.error().message();
    return snapshot.ok() ? std::move(snapshot).value() : nullptr;
  }

  // Commits the given devices in one transaction.
  void AddDevices(const std::vector<DeviceRecord>& devices) {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    for (const auto& d : devices) ASSERT_OK(txn->InsertDevice(d));
    ASSERT_OK(txn->Commit());
  }

  // Saves `request` as a new change of `van_code` in its own committed transaction: its rev
  // from NextRev, owner_rev the same. Returns the rev (0 after a test failure).
  uint64_t SaveChange(const sync::Request& request, const std::string& van_code,
                      std::optional<sync::ChangeRevs> revs = std::nullopt) {
    auto txn = Begin();
    if (txn == nullptr) return 0;
    auto rev = txn->NextRev(van_code);
    EXPECT_TRUE(rev.ok()) << rev.error().message();
    if (!rev.ok()) return 0;
    EXPECT_OK(txn->SaveRequest(Row(request, van_code, *rev, *rev, std::move(revs)), 1000));
    EXPECT_OK(txn->Commit());
    return *rev;
  }

  TempDir dir_;
  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<ServerStorage> storage_;  // declared last: closed before its database goes
};

class StorageConformance : public StorageTest, public ::testing::TestWithParam<StorageBackend> {
 protected:
  void SetUp() override { Open(GetParam()); }
  void TearDown() override { Close(); }
};

// --- devices ---------------------------------------------------------------------------------

TEST_P(StorageConformance, DeviceIsInsertedFoundAndRevokedOnce) {
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(auto none, txn->FindDevice("dev-a"));
    EXPECT_FALSE(none.has_value());
    ASSERT_OK(txn->InsertDevice(Device("dev-a", "KR01", 100, 2)));
    ASSERT_OK_AND_ASSIGN(auto found, txn->FindDevice("dev-a"));
    ASSERT_TRUE(found.has_value()) << "a transaction sees its own insert";
    EXPECT_EQ(found->van_code, "KR01");
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto d, storage_->FindDevice("dev-a"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->device_id, "dev-a");
  EXPECT_EQ(d->van_code, "KR01");
  EXPECT_EQ(d->public_key, BytesOf("key of dev-a"));
  EXPECT_EQ(d->enrolled_ms, 100);
  EXPECT_EQ(d->revoked_ms, 0);
  EXPECT_FALSE(d->revoked());
  EXPECT_EQ(d->last_applied_seq, 0u);
  EXPECT_EQ(d->last_sync_ms, 0);
  EXPECT_EQ(d->receipt_series, 2u);
  EXPECT_FALSE(d->recovering);
  ASSERT_OK_AND_ASSIGN(auto unknown, storage_->FindDevice("dev-x"));
  EXPECT_FALSE(unknown.has_value());

  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->RevokeDevice("dev-a", 500));
    ASSERT_OK(txn->Commit());
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->RevokeDevice("dev-a", 900));  // already revoked: keeps when it first was
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(d, storage_->FindDevice("dev-a"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->revoked_ms, 500);
  auto snapshot = Read();
  ASSERT_NE(snapshot, nullptr);
  ASSERT_OK_AND_ASSIGN(auto seen, snapshot->FindDevice("dev-a"));
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->revoked_ms, 500);
}

TEST_P(StorageConformance, InsertingADeviceTwiceFails) {
  AddDevices({Device("dev-a", "KR01", 100)});
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  EXPECT_FALSE(txn->InsertDevice(Device("dev-a", "KR02", 200)).ok() && txn->Commit().ok());
  txn.reset();
  ASSERT_OK_AND_ASSIGN(auto d, storage_->FindDevice("dev-a"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->van_code, "KR01");
}

TEST_P(StorageConformance, AdvanceDeviceSeqIsACompareAndSet) {
  AddDevices({Device("dev-a", "KR01", 100)});
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(bool moved, txn->AdvanceDeviceSeq("dev-a", 0, 3, 10));
    EXPECT_TRUE(moved);
    ASSERT_OK_AND_ASSIGN(bool stale, txn->AdvanceDeviceSeq("dev-a", 0, 5, 11));
    EXPECT_FALSE(stale) << "the row holds 3 now, not the expected 0";
    ASSERT_OK_AND_ASSIGN(bool unknown, txn->AdvanceDeviceSeq("dev-x", 0, 1, 11));
    EXPECT_FALSE(unknown);
    ASSERT_OK_AND_ASSIGN(auto d, txn->FindDevice("dev-a"));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->last_applied_seq, 3u);
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto d, storage_->FindDevice("dev-a"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->last_applied_seq, 3u);
  EXPECT_EQ(d->last_sync_ms, 10);
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(bool stale, txn->AdvanceDeviceSeq("dev-a", 2, 4, 20));
    EXPECT_FALSE(stale);
    ASSERT_OK_AND_ASSIGN(bool moved, txn->AdvanceDeviceSeq("dev-a", 3, 4, 20));
    EXPECT_TRUE(moved);
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(d, storage_->FindDevice("dev-a"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->last_applied_seq, 4u);
  EXPECT_EQ(d->last_sync_ms, 20);
}

TEST_P(StorageConformance, ReceiptSeriesAndRecoveringArePerDevice) {
  AddDevices({Device("dev-a", "KR01", 100, 1), Device("dev-b", "KR01", 200, 2),
              Device("dev-c", "KR02", 300, 1)});
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_OK_AND_ASSIGN(uint32_t kr01, txn->NextReceiptSeries("KR01"));
  EXPECT_EQ(kr01, 3u);
  ASSERT_OK_AND_ASSIGN(uint32_t kr03, txn->NextReceiptSeries("KR03"));
  EXPECT_EQ(kr03, 1u) << "a van code without devices starts at series 1";
  ASSERT_OK(txn->SetReceiptSeries("dev-c", 7));
  ASSERT_OK(txn->SetRecovering("dev-b", true));
  ASSERT_OK_AND_ASSIGN(uint32_t kr02, txn->NextReceiptSeries("KR02"));
  EXPECT_EQ(kr02, 8u);
  ASSERT_OK(txn->Commit());
  ASSERT_OK_AND_ASSIGN(auto b, storage_->FindDevice("dev-b"));
  ASSERT_OK_AND_ASSIGN(auto c, storage_->FindDevice("dev-c"));
  ASSERT_TRUE(b.has_value() && c.has_value());
  EXPECT_TRUE(b->recovering);
  EXPECT_EQ(c->receipt_series, 7u);
  EXPECT_FALSE(c->recovering);
}

TEST_P(StorageConformance, ListDevicesIsByVanCodeThenEnrolment) {
  AddDevices({Device("dev-z", "KR02", 100), Device("dev-y", "KR01", 300),
              Device("dev-x", "KR01", 200), Device("dev-w", "KR03", 50)});
  ASSERT_OK_AND_ASSIGN(auto devices, storage_->ListDevices());
  std::vector<std::string> ids;
  for (const auto& d : devices) ids.push_back(d.device_id);
  EXPECT_THAT(ids, ElementsAre("dev-x", "dev-y", "dev-z", "dev-w"));
}

// --- enrolment tokens ------------------------------------------------------------------------

TEST_P(StorageConformance, TokenIsInsertedFoundAndMarkedUsed) {
  const Bytes hash = Hash("token one");
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(auto none, txn->FindToken(hash));
    EXPECT_FALSE(none.has_value());
    ASSERT_OK(txn->InsertToken(hash, {"KR01", 5000, 0, "", 10, 0}));
    ASSERT_OK(txn->Commit());
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(auto t, txn->FindToken(hash));
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->van_code, "KR01");
    EXPECT_EQ(t->expires_ms, 5000);
    EXPECT_EQ(t->used_ms, 0);
    EXPECT_EQ(t->used_by, "");
    EXPECT_EQ(t->created_ms, 10);
    EXPECT_EQ(t->revoked_ms, 0);
    ASSERT_OK(txn->MarkTokenUsed(hash, "dev-a", 50));
    ASSERT_OK(txn->Commit());
  }
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_OK_AND_ASSIGN(auto t, txn->FindToken(hash));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->used_ms, 50);
  EXPECT_EQ(t->used_by, "dev-a");
  ASSERT_OK_AND_ASSIGN(auto other, txn->FindToken(Hash("token two")));
  EXPECT_FALSE(other.has_value());
}

TEST_P(StorageConformance, ListTokensShowsTheHashPrefixAsIdInCreationOrder) {
  const Bytes first = Hash("first"), second = Hash("second"), third = Hash("third");
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->InsertToken(second, {"KR02", 9000, 0, "", 20, 0}));
    ASSERT_OK(txn->InsertToken(third, {"KR01", 9000, 0, "", 20, 0}));
    ASSERT_OK(txn->InsertToken(first, {"KR03", 9000, 0, "", 10, 0}));
    ASSERT_OK(txn->MarkTokenUsed(first, "dev-a", 30));
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto tokens, storage_->ListTokens());
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[0].id, ToHex(first).substr(0, server::kTokenIdChars));
  EXPECT_EQ(tokens[0].token.van_code, "KR03");
  EXPECT_EQ(tokens[0].token.used_by, "dev-a");
  EXPECT_EQ(tokens[0].token.used_ms, 30);
  EXPECT_EQ(tokens[1].id, ToHex(third).substr(0, server::kTokenIdChars));
  EXPECT_EQ(tokens[2].id, ToHex(second).substr(0, server::kTokenIdChars));
  EXPECT_EQ(tokens[2].token.expires_ms, 9000);
  for (const auto& t : tokens) {
    EXPECT_EQ(t.id.size(), server::kTokenIdChars);
    EXPECT_EQ(t.id.find_first_not_of("0123456789abcdef"), std::string::npos) << t.id;
  }
}

TEST_P(StorageConformance, RevokeTokenByIdRefusesUnknownUsedAndRevokedOnes) {
  const Bytes unused = Hash("unused"), used = Hash("used");
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->InsertToken(unused, {"KR01", 9000, 0, "", 10, 0}));
    ASSERT_OK(txn->InsertToken(used, {"KR02", 9000, 0, "", 10, 0}));
    ASSERT_OK(txn->MarkTokenUsed(used, "dev-a", 20));
    ASSERT_OK(txn->Commit());
  }
  std::string unused_id = ToHex(unused).substr(0, server::kTokenIdChars);
  const std::string used_id = ToHex(used).substr(0, server::kTokenIdChars);
  // Each refusal in a transaction of its own: the contract is the answer, not whether the
  // transaction is still usable after it.
  auto revoke = [&](const std::string& id, int64_t now_ms) -> Result<std::string> {
    auto txn = Begin();
    if (txn == nullptr) return Error::Internal("no transaction");
    auto r = txn->RevokeToken(id, now_ms);
    if (r.ok()) MPP_RETURN_IF_ERROR(txn->Commit());
    return r;
  };
  auto malformed = revoke("xyz", 30);
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().code(), ErrorCode::kInvalidInput) << malformed.error().message();
  auto unknown = revoke(ToHex(Hash("never made")).substr(0, server::kTokenIdChars), 30);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound) << unknown.error().message();
  auto was_used = revoke(used_id, 30);
  ASSERT_FALSE(was_used.ok());
  EXPECT_EQ(was_used.error().code(), ErrorCode::kConflict) << was_used.error().message();

  for (char& c : unused_id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto revoked = revoke(unused_id, 40);  // the id in any case
  ASSERT_OK(revoked);
  EXPECT_EQ(*revoked, "KR01");
  auto again = revoke(unused_id, 50);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict) << again.error().message();

  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_OK_AND_ASSIGN(auto t, txn->FindToken(unused));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->revoked_ms, 40);
  EXPECT_EQ(t->used_ms, 0);
  ASSERT_OK_AND_ASSIGN(auto u, txn->FindToken(used));
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->revoked_ms, 0);
}

// --- requests --------------------------------------------------------------------------------

TEST_P(StorageConformance, RequestRowRoundTripsWithAndWithoutRevs) {
  sync::ChangeRevs revs;
  revs.created = 1;
  revs.status = 3;
  revs.fields = {{"name", 2}, {"nik", 3}};
  revs.history = {3};
  const sync::Request old_row = MakeRequest("req-old", "dev-a", "KR01-20261202-0001");
  const sync::Request new_row =
      MakeRequest("req-new", "dev-b", "KR02-20261202-0001", RequestStatus::kInReview);
  auto check = [&](StorageTxn& txn) {
    ASSERT_OK_AND_ASSIGN(auto a, txn.LoadRequest("req-old"));
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->request, old_row);
    EXPECT_EQ(a->agency, "dukcapil");
    EXPECT_EQ(a->van_code, "KR01");
    EXPECT_EQ(a->rev, 5u);
    EXPECT_EQ(a->owner_rev, 4u);
    EXPECT_FALSE(a->revs.has_value()) << "a row stored without revs is sent whole";
    ASSERT_OK_AND_ASSIGN(auto b, txn.LoadRequest("req-new"));
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->request, new_row);
    EXPECT_EQ(b->agency, "bpjs");
    EXPECT_EQ(b->van_code, "KR02");
    EXPECT_EQ(b->rev, 7u);
    EXPECT_EQ(b->owner_rev, 0u);
    ASSERT_TRUE(b->revs.has_value());
    EXPECT_EQ(*b->revs, revs);
    ASSERT_OK_AND_ASSIGN(auto none, txn.LoadRequest("req-none"));
    EXPECT_FALSE(none.has_value());
  };
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->SaveRequest(Row(old_row, "KR01", 5, 4), 1000));
    ASSERT_OK(txn->SaveRequest(Row(new_row, "KR02", 7, 0, revs, "bpjs"), 1000));
    ASSERT_NO_FATAL_FAILURE(check(*txn));  // its own writes
    ASSERT_OK(txn->Commit());
  }
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_NO_FATAL_FAILURE(check(*txn));
  txn.reset();
  ASSERT_OK_AND_ASSIGN(auto found, storage_->FindRequest("req-new"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->request, new_row);
  EXPECT_EQ(found->agency, "bpjs");
  EXPECT_EQ(found->owner_rev, 0u);
}

TEST_P(StorageConformance, PrefetchingRequestsChangesNoAnswerOfLoadRequest) {
  // Ids with the characters a text[] literal must escape.
  const std::vector<std::string> ids = {"req \"quoted\"", "req\\back", "req,{comma}"};
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    for (size_t i = 0; i < ids.size(); ++i) {
      const std::string receipt = "KR01-20261202-000" + std::to_string(i + 1);
      ASSERT_OK(
          txn->SaveRequest(Row(MakeRequest(ids[i], "dev-a", receipt), "KR01", i + 1, i + 1), 1000));
    }
    ASSERT_OK(txn->Commit());
  }
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  std::vector<std::string> wanted = ids;
  wanted.push_back("req-missing");
  wanted.push_back(ids[0]);  // twice
  ASSERT_OK(txn->PrefetchRequests(wanted));
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(auto row, txn->LoadRequest(ids[i]));
    ASSERT_TRUE(row.has_value()) << ids[i];
    EXPECT_EQ(row->request.id, ids[i]);
    EXPECT_EQ(row->rev, i + 1);
  }
  ASSERT_OK_AND_ASSIGN(auto missing, txn->LoadRequest("req-missing"));
  EXPECT_FALSE(missing.has_value());
  // The transaction's own writes are what it loads next.
  ASSERT_OK(txn->SaveRequest(
      Row(MakeRequest("req-missing", "dev-a", "KR01-20261202-0009"), "KR01", 9, 9), 2000));
  ASSERT_OK_AND_ASSIGN(auto created, txn->LoadRequest("req-missing"));
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(created->rev, 9u);
}

TEST_P(StorageConformance, RevsExpectedButNotTakenAreNeverHandedOut) {
  uint64_t last = 0;
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->ExpectRevs("KR01", 5));
    for (int i = 0; i < 3; ++i) {
      ASSERT_OK_AND_ASSIGN(uint64_t rev, txn->NextRev("KR01"));
      EXPECT_GT(rev, last);
      last = rev;
    }
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto snapshot, storage_->BeginRead());
  ASSERT_OK_AND_ASSIGN(uint64_t head, snapshot->ScopeHead("KR01"));
  EXPECT_GE(head, last) << "a cursor may move past every rev taken";
  snapshot.reset();
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_OK_AND_ASSIGN(uint64_t next, txn->NextRev("KR01"));
  EXPECT_GT(next, head) << "later revs come after the head, past what was reserved";
}

TEST_P(StorageConformance, SaveRequestReplacesTheRowOfTheSameId) {
  sync::Request r = MakeRequest("req-1", "dev-a", "KR01-20261202-0001");
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->SaveRequest(Row(r, "KR01", 1, 1), 1000));
    ASSERT_OK(txn->Commit());
  }
  r.status = RequestStatus::kReceived;
  r.status_note = "berkas diterima";
  r.history.push_back({{1'764'300'000'500, 0}, "staff:rina", "received"});
  sync::ChangeRevs revs;
  revs.created = 1;
  revs.status = 2;
  revs.history = {2};
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->SaveRequest(Row(r, "KR01", 2, 2, revs, "kemenag"), 2000));
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto all, storage_->ListRequests({}));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].request, r);
  EXPECT_EQ(all[0].agency, "kemenag");
  EXPECT_EQ(all[0].owner_rev, 2u);
  auto snapshot = Read();
  ASSERT_NE(snapshot, nullptr);
  ASSERT_OK_AND_ASSIGN(auto feed, snapshot->OwnRequestsAfter("dev-a", 0, true, 10));
  ASSERT_EQ(feed.size(), 1u);
  EXPECT_EQ(feed[0].rev, 2u);
  ASSERT_TRUE(feed[0].revs.has_value());
  ASSERT_OK_AND_ASSIGN(auto stored, sync::DecodeValue<sync::ChangeRevs>(*feed[0].revs));
  EXPECT_EQ(stored, revs);
}

// --- revs ------------------------------------------------------------------------------------

TEST_P(StorageConformance, NextRevOnlyGrowsWithinAndAcrossTransactions) {
  std::vector<uint64_t> taken;
  for (int t = 0; t < 3; ++t) {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    for (const char* scope : {"KR01", "KR02", "KR01", "STAFF"}) {
      ASSERT_OK_AND_ASSIGN(uint64_t rev, txn->NextRev(scope));
      taken.push_back(rev);
    }
    ASSERT_OK(txn->Commit());
  }
  ASSERT_EQ(taken.size(), 12u);
  EXPECT_GT(taken[0], 0u);
  for (size_t i = 1; i < taken.size(); ++i) {
    EXPECT_GT(taken[i], taken[i - 1]) << "rev " << i << " of " << ::testing::PrintToString(taken);
  }
}

// A rolled-back transaction's changes never show in a feed, and its revs neither hold the head
// back nor reappear above later committed ones: what commits next still gets a greater rev
// than everything committed before, and the head passes it.
TEST_P(StorageConformance, ARolledBackTransactionsRevsNeverAppear) {
  AddDevices({Device("dev-a", "KR01", 100), Device("dev-b", "KR01", 200)});
  const uint64_t first = SaveChange(MakeRequest("req-1", "dev-a", "KR01-20261202-0001"), "KR01");
  uint64_t lost = 0;
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(lost, txn->NextRev("KR01"));
    EXPECT_GT(lost, first);
    ASSERT_OK(txn->SaveRequest(
        Row(MakeRequest("req-lost", "dev-a", "KR01-20261202-0002"), "KR01", lost, lost), 1000));
    ASSERT_OK(txn->AddConflict("dev-a", lost, Conflict("req-1", "name"), 1000));
  }  // no Commit
  const uint64_t next = SaveChange(MakeRequest("req-3", "dev-a", "KR01-20261202-0003"), "KR01");
  EXPECT_GT(next, first);
  auto snapshot = Read();
  ASSERT_NE(snapshot, nullptr);
  ASSERT_OK_AND_ASSIGN(uint64_t head, snapshot->ScopeHead("KR01"));
  EXPECT_GE(head, next);
  ASSERT_OK_AND_ASSIGN(auto own, snapshot->OwnRequestsAfter("dev-a", 0, false, 10));
  EXPECT_THAT(IdsOf(own), ElementsAre("req-1", "req-3"));
  EXPECT_THAT(RevsOf(own), ElementsAre(first, next));
  ASSERT_OK_AND_ASSIGN(auto van, snapshot->VanRequestsAfter("KR01", "dev-b", 0, 10));
  EXPECT_THAT(IdsOf(van), ElementsAre("req-1", "req-3"));
  ASSERT_OK_AND_ASSIGN(auto conflicts, snapshot->ConflictsAfter("dev-a", 0, 10));
  EXPECT_THAT(conflicts, IsEmpty());
}

TEST_P(StorageConformance, ScopeHeadCoversEveryCommittedRevOfTheScope) {
  AddDevices({Device("dev-a", "KR01", 100), Device("dev-c", "KR02", 100)});
  uint64_t kr01 = 0, kr02 = 0;
  for (int i = 1; i <= 4; ++i) {
    char receipt[32];
    snprintf(receipt, sizeof receipt, "KR01-20261202-%04d", i);
    kr01 = SaveChange(MakeRequest("req-a" + std::to_string(i), "dev-a", receipt), "KR01");
    if (i % 2 == 0) {
      snprintf(receipt, sizeof receipt, "KR02-20261202-%04d", i);
      kr02 = SaveChange(MakeRequest("req-c" + std::to_string(i), "dev-c", receipt), "KR02");
    }
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(kr01, txn->NextRev("KR01"));
    ASSERT_OK(txn->AddConflict("dev-a", kr01, Conflict("req-a1", "name"), 1000));
    ASSERT_OK(txn->Commit());
  }
  auto snapshot = Read();
  ASSERT_NE(snapshot, nullptr);
  ASSERT_OK_AND_ASSIGN(uint64_t head01, snapshot->ScopeHead("KR01"));
  ASSERT_OK_AND_ASSIGN(uint64_t head02, snapshot->ScopeHead("KR02"));
  EXPECT_GE(head01, kr01);
  EXPECT_GE(head02, kr02);
}

// --- feeds -----------------------------------------------------------------------------------

// Devices a and b at van code KR01, c at KR02, with requests and conflicts at revs taken for
// their scope in one committed transaction. By owner_rev a's requests are a1, a3, a2; by their
// latest change a3, a2, a1.
class FeedConformance : public StorageConformance {
 protected:
  void SetUp() override {
    StorageConformance::SetUp();
    ASSERT_NO_FATAL_FAILURE(
        AddDevices({Device("dev-a", "KR01", 100, 1), Device("dev-b", "KR01", 200, 2),
                    Device("dev-c", "KR02", 300, 1)}));
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    for (auto& rev : r_) {
      ASSERT_OK_AND_ASSIGN(rev, txn->NextRev("KR01"));
    }
    ASSERT_OK_AND_ASSIGN(c1_, txn->NextRev("KR02"));
    ASSERT_OK_AND_ASSIGN(c2_, txn->NextRev("KR02"));
    a1_revs_.created = r_[0];
    a1_revs_.fields = {{"name", r_[5]}};
    auto save = [&](const std::string& id, const std::string& device, const std::string& receipt,
                    const std::string& van, uint64_t rev, uint64_t owner_rev,
                    std::optional<sync::ChangeRevs> revs = std::nullopt) {
      return txn->SaveRequest(Row(MakeRequest(id, device, receipt), van, rev, owner_rev, revs),
                              1000);
    };
    ASSERT_OK(save("a1", "dev-a", "KR01-20261202-0001", "KR01", r_[5], r_[0], a1_revs_));
    ASSERT_OK(save("a2", "dev-a", "KR01-20261202-0002", "KR01", r_[3], r_[3]));
    ASSERT_OK(save("a3", "dev-a", "KR01-20261202-0003", "KR01", r_[1], r_[1]));
    ASSERT_OK(save("b1", "dev-b", "KR01-20261202-2-0001", "KR01", r_[2], r_[2]));
    ASSERT_OK(save("b2", "dev-b", "KR01-20261202-2-0002", "KR01", r_[6], r_[6]));
    ASSERT_OK(save("c1", "dev-c", "KR02-20261202-0001", "KR02", c1_, c1_));
    ASSERT_OK(txn->AddConflict("dev-a", r_[4], Conflict("a1", "name"), 1100));
    ASSERT_OK(txn->AddConflict("dev-a", r_[7], Conflict("a2", "status"), 1200));
    ASSERT_OK(txn->AddConflict("dev-c", c2_, Conflict("gone", "name"), 1300));  // not stored
    ASSERT_OK(txn->Commit());
  }

  uint64_t r_[8] = {};
  uint64_t c1_ = 0, c2_ = 0;
  sync::ChangeRevs a1_revs_;
};

TEST_P(FeedConformance, OwnRequestsByOwnerRevOrByLatestChange) {
  auto s = Read();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(auto by_owner, s->OwnRequestsAfter("dev-a", 0, false, 10));
  EXPECT_THAT(IdsOf(by_owner), ElementsAre("a1", "a3", "a2"));
  EXPECT_THAT(RevsOf(by_owner), ElementsAre(r_[0], r_[1], r_[3]));
  ASSERT_OK_AND_ASSIGN(auto after, s->OwnRequestsAfter("dev-a", r_[0], false, 10));
  EXPECT_THAT(IdsOf(after), ElementsAre("a3", "a2"));
  ASSERT_OK_AND_ASSIGN(auto limited, s->OwnRequestsAfter("dev-a", 0, false, 2));
  EXPECT_THAT(IdsOf(limited), ElementsAre("a1", "a3"));

  ASSERT_OK_AND_ASSIGN(auto by_rev, s->OwnRequestsAfter("dev-a", 0, true, 10));
  EXPECT_THAT(IdsOf(by_rev), ElementsAre("a3", "a2", "a1"));
  EXPECT_THAT(RevsOf(by_rev), ElementsAre(r_[1], r_[3], r_[5]));
  ASSERT_OK_AND_ASSIGN(auto rev_after, s->OwnRequestsAfter("dev-a", r_[3], true, 10));
  EXPECT_THAT(IdsOf(rev_after), ElementsAre("a1"));
  ASSERT_OK_AND_ASSIGN(auto rev_limited, s->OwnRequestsAfter("dev-a", 0, true, 1));
  EXPECT_THAT(IdsOf(rev_limited), ElementsAre("a3"));

  // The body is the request, revs the stored ChangeRevs (absent when none were stored).
  ASSERT_EQ(by_rev.size(), 3u);
  ASSERT_OK_AND_ASSIGN(auto body, sync::DecodeRequest(by_rev[2].body));
  EXPECT_EQ(body, MakeRequest("a1", "dev-a", "KR01-20261202-0001"));
  ASSERT_TRUE(by_rev[2].revs.has_value());
  ASSERT_OK_AND_ASSIGN(auto revs, sync::DecodeValue<sync::ChangeRevs>(*by_rev[2].revs));
  EXPECT_EQ(revs, a1_revs_);
  EXPECT_FALSE(by_rev[0].revs.has_value());

  ASSERT_OK_AND_ASSIGN(auto none, s->OwnRequestsAfter("dev-x", 0, false, 10));
  EXPECT_THAT(none, IsEmpty());
}

TEST_P(FeedConformance, VanRequestsAreTheOtherDevicesOfTheVanCodeByRev) {
  auto s = Read();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(auto for_a, s->VanRequestsAfter("KR01", "dev-a", 0, 10));
  EXPECT_THAT(IdsOf(for_a), ElementsAre("b1", "b2"));
  EXPECT_THAT(RevsOf(for_a), ElementsAre(r_[2], r_[6]));
  ASSERT_OK_AND_ASSIGN(auto after, s->VanRequestsAfter("KR01", "dev-a", r_[2], 10));
  EXPECT_THAT(IdsOf(after), ElementsAre("b2"));
  ASSERT_OK_AND_ASSIGN(auto limited, s->VanRequestsAfter("KR01", "dev-a", 0, 1));
  EXPECT_THAT(IdsOf(limited), ElementsAre("b1"));

  ASSERT_OK_AND_ASSIGN(auto for_b, s->VanRequestsAfter("KR01", "dev-b", 0, 10));
  EXPECT_THAT(IdsOf(for_b), ElementsAre("a3", "a2", "a1"));
  EXPECT_THAT(RevsOf(for_b), ElementsAre(r_[1], r_[3], r_[5]));
  ASSERT_OK_AND_ASSIGN(auto page, s->VanRequestsAfter("KR01", "dev-b", r_[1], 1));
  EXPECT_THAT(IdsOf(page), ElementsAre("a2"));

  ASSERT_OK_AND_ASSIGN(auto for_new_tablet, s->VanRequestsAfter("KR01", "dev-new", 0, 10));
  EXPECT_THAT(IdsOf(for_new_tablet), ElementsAre("a3", "b1", "a2", "a1", "b2"));
  ASSERT_OK_AND_ASSIGN(auto kr02, s->VanRequestsAfter("KR02", "dev-x", 0, 10));
  EXPECT_THAT(IdsOf(kr02), ElementsAre("c1"));
  ASSERT_OK_AND_ASSIGN(auto own_only, s->VanRequestsAfter("KR02", "dev-c", 0, 10));
  EXPECT_THAT(own_only, IsEmpty());
}

TEST_P(FeedConformance, ConflictsAreTheDevicesOwnByRev) {
  auto s = Read();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(auto all, s->ConflictsAfter("dev-a", 0, 10));
  EXPECT_THAT(RevsOf(all), ElementsAre(r_[4], r_[7]));
  ASSERT_EQ(all.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto first, sync::DecodeConflict(all[0].body));
  EXPECT_EQ(first, Conflict("a1", "name"));
  EXPECT_FALSE(all[0].revs.has_value());
  ASSERT_OK_AND_ASSIGN(auto after, s->ConflictsAfter("dev-a", r_[4], 10));
  EXPECT_THAT(RevsOf(after), ElementsAre(r_[7]));
  ASSERT_OK_AND_ASSIGN(auto limited, s->ConflictsAfter("dev-a", 0, 1));
  EXPECT_THAT(RevsOf(limited), ElementsAre(r_[4]));
  ASSERT_OK_AND_ASSIGN(auto none, s->ConflictsAfter("dev-b", 0, 10));
  EXPECT_THAT(none, IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto c, s->ConflictsAfter("dev-c", 0, 10));
  EXPECT_THAT(RevsOf(c), ElementsAre(c2_));
}

// --- conflicts for people --------------------------------------------------------------------

TEST_P(FeedConformance, ConflictsListWithReceiptAndVanCodeAndResolveOnce) {
  ASSERT_OK_AND_ASSIGN(auto all, storage_->ListConflicts());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].rev, r_[4]);
  EXPECT_EQ(all[0].device_id, "dev-a");
  EXPECT_EQ(all[0].conflict, Conflict("a1", "name"));
  EXPECT_EQ(all[0].created_ms, 1100);
  EXPECT_EQ(all[0].receipt, "KR01-20261202-0001");
  EXPECT_EQ(all[0].van_code, "KR01");
  EXPECT_TRUE(all[0].open());
  EXPECT_EQ(all[1].rev, r_[7]);
  EXPECT_EQ(all[1].receipt, "KR01-20261202-0002");
  EXPECT_EQ(all[2].rev, c2_);
  EXPECT_EQ(all[2].receipt, "") << "its request is not stored";
  EXPECT_EQ(all[2].van_code, "KR02");

  ASSERT_OK_AND_ASSIGN(auto of_a2, storage_->ConflictsOf("a2"));
  ASSERT_EQ(of_a2.size(), 1u);
  EXPECT_EQ(of_a2[0].rev, r_[7]);
  EXPECT_EQ(of_a2[0].conflict.field, "status");
  ASSERT_OK_AND_ASSIGN(auto of_b1, storage_->ConflictsOf("b1"));
  EXPECT_THAT(of_b1, IsEmpty());

  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(auto found, txn->FindConflict(r_[4]));
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->receipt, "KR01-20261202-0001");
    EXPECT_EQ(found->van_code, "KR01");
    EXPECT_TRUE(found->open());
    ASSERT_OK_AND_ASSIGN(auto none, txn->FindConflict(r_[0]));  // a request's rev, no conflict
    EXPECT_FALSE(none.has_value());
    ASSERT_OK(txn->ResolveConflict(r_[4], "rina", "kept the van's value", 5000));
    ASSERT_OK(txn->Commit());
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->ResolveConflict(r_[4], "budi", "set to the given value", 6000));
    ASSERT_OK(txn->Commit());
  }
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_OK_AND_ASSIGN(auto resolved, txn->FindConflict(r_[4]));
  ASSERT_TRUE(resolved.has_value());
  EXPECT_FALSE(resolved->open());
  EXPECT_EQ(resolved->resolved_ms, 5000) << "resolved once: the first resolution stays";
  EXPECT_EQ(resolved->resolved_by, "rina");
  EXPECT_EQ(resolved->resolution, "kept the van's value");
  txn.reset();
  ASSERT_OK_AND_ASSIGN(all, storage_->ListConflicts());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_FALSE(all[0].open());
  EXPECT_TRUE(all[1].open());
}

TEST_P(FeedConformance, TwoConflictsWithOneRevAreRefused) {
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  EXPECT_FALSE(txn->AddConflict("dev-b", r_[7], Conflict("b1", "name"), 1000).ok() &&
               txn->Commit().ok())
      << "a rev is one change";
}

// --- snapshots and transactions --------------------------------------------------------------

TEST_P(FeedConformance, ASnapshotDoesNotSeeWhatCommitsAfterItsFirstRead) {
  uint64_t head_before = 0, later = 0;
  {
    auto s = Read();
    ASSERT_NE(s, nullptr);
    ASSERT_OK_AND_ASSIGN(auto device, s->FindDevice("dev-a"));  // the first read
    ASSERT_TRUE(device.has_value());
    EXPECT_EQ(device->last_applied_seq, 0u);
    ASSERT_OK_AND_ASSIGN(head_before, s->ScopeHead("KR01"));
    ASSERT_OK_AND_ASSIGN(uint64_t epoch_before, s->Epoch());

    {
      auto txn = Begin();
      ASSERT_NE(txn, nullptr);
      ASSERT_OK_AND_ASSIGN(bool moved, txn->AdvanceDeviceSeq("dev-a", 0, 7, 2000));
      ASSERT_TRUE(moved);
      ASSERT_OK_AND_ASSIGN(later, txn->NextRev("KR01"));
      ASSERT_OK(txn->SaveRequest(
          Row(MakeRequest("a4", "dev-a", "KR01-20261202-0004"), "KR01", later, later), 2000));
      ASSERT_OK_AND_ASSIGN(uint64_t conflict_rev, txn->NextRev("KR01"));
      ASSERT_OK(txn->AddConflict("dev-a", conflict_rev, Conflict("a4", "name"), 2000));
      ASSERT_OK(txn->MarkUnclean("dev-a", 5));
      ASSERT_OK(txn->StartEpoch(epoch_before + 1000));
      ASSERT_OK(txn->InsertDevice(Device("dev-d", "KR01", 2000, 3)));
      ASSERT_OK(txn->Commit());
    }

    ASSERT_OK_AND_ASSIGN(device, s->FindDevice("dev-a"));
    ASSERT_TRUE(device.has_value());
    EXPECT_EQ(device->last_applied_seq, 0u);
    EXPECT_FALSE(device->recovering);
    ASSERT_OK_AND_ASSIGN(auto new_device, s->FindDevice("dev-d"));
    EXPECT_FALSE(new_device.has_value());
    ASSERT_OK_AND_ASSIGN(uint64_t head, s->ScopeHead("KR01"));
    EXPECT_EQ(head, head_before);
    ASSERT_OK_AND_ASSIGN(uint64_t epoch, s->Epoch());
    EXPECT_EQ(epoch, epoch_before);
    ASSERT_OK_AND_ASSIGN(auto own, s->OwnRequestsAfter("dev-a", 0, true, 10));
    EXPECT_THAT(IdsOf(own), ElementsAre("a3", "a2", "a1"));
    ASSERT_OK_AND_ASSIGN(auto van, s->VanRequestsAfter("KR01", "dev-b", 0, 10));
    EXPECT_THAT(IdsOf(van), ElementsAre("a3", "a2", "a1"));
    ASSERT_OK_AND_ASSIGN(auto conflicts, s->ConflictsAfter("dev-a", 0, 10));
    EXPECT_EQ(conflicts.size(), 2u);
    ASSERT_OK_AND_ASSIGN(auto unclean, s->UncleanSeqs("dev-a", 1, 10));
    EXPECT_THAT(unclean, IsEmpty());
  }
  auto s = Read();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(auto device, s->FindDevice("dev-a"));
  ASSERT_TRUE(device.has_value());
  EXPECT_EQ(device->last_applied_seq, 7u);
  EXPECT_TRUE(device->recovering);
  ASSERT_OK_AND_ASSIGN(uint64_t head, s->ScopeHead("KR01"));
  EXPECT_GT(head, head_before);
  EXPECT_GE(head, later);
  ASSERT_OK_AND_ASSIGN(auto own, s->OwnRequestsAfter("dev-a", head_before, true, 10));
  EXPECT_THAT(IdsOf(own), ElementsAre("a4"));
  ASSERT_OK_AND_ASSIGN(auto conflicts, s->ConflictsAfter("dev-a", head_before, 10));
  EXPECT_EQ(conflicts.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto unclean, s->UncleanSeqs("dev-a", 1, 10));
  EXPECT_THAT(unclean, ElementsAre(5u));
}

TEST_P(StorageConformance, ATransactionDestroyedWithoutCommitRollsBack) {
  AddDevices({Device("dev-a", "KR01", 100)});
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->InsertDevice(Device("dev-b", "KR01", 200)));
    ASSERT_OK_AND_ASSIGN(bool moved, txn->AdvanceDeviceSeq("dev-a", 0, 4, 300));
    ASSERT_TRUE(moved);
    ASSERT_OK(txn->InsertToken(Hash("t"), {"KR01", 9000, 0, "", 10, 0}));
    ASSERT_OK_AND_ASSIGN(uint64_t rev, txn->NextRev("KR01"));
    ASSERT_OK(txn->SaveRequest(
        Row(MakeRequest("req-1", "dev-a", "KR01-20261202-0001"), "KR01", rev, rev), 300));
    ASSERT_OK(txn->RecordApplied("dev-a", 1, BytesOf("digest")));
    ASSERT_OK(txn->MarkUnclean("dev-a", 1));
    ASSERT_OK(txn->SaveCatalog(99, "{}"));
    ASSERT_OK(txn->StartEpoch(12345));
    ASSERT_OK(txn->StoreEnvelope({0, "dev-a", 1, 1, 300, BytesOf("envelope")}));
  }
  ASSERT_OK_AND_ASSIGN(auto a, storage_->FindDevice("dev-a"));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->last_applied_seq, 0u);
  EXPECT_FALSE(a->recovering);
  ASSERT_OK_AND_ASSIGN(auto b, storage_->FindDevice("dev-b"));
  EXPECT_FALSE(b.has_value());
  ASSERT_OK_AND_ASSIGN(auto tokens, storage_->ListTokens());
  EXPECT_THAT(tokens, IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto requests, storage_->ListRequests({}));
  EXPECT_THAT(requests, IsEmpty());
  ASSERT_OK_AND_ASSIGN(int64_t catalog, storage_->CatalogVersion());
  EXPECT_EQ(catalog, 0);
  ASSERT_OK_AND_ASSIGN(uint64_t epoch, storage_->Epoch());
  EXPECT_NE(epoch, 12345u);
  int envelopes = 0;
  ASSERT_OK(storage_->ForEachEnvelope([&](const server::EnvelopeRecord&) -> Result<void> {
    ++envelopes;
    return Ok();
  }));
  EXPECT_EQ(envelopes, 0);
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_OK_AND_ASSIGN(auto digest, txn->AppliedDigest("dev-a", 1));
  EXPECT_FALSE(digest.has_value());
  ASSERT_OK_AND_ASSIGN(auto unclean, txn->UncleanSeqs("dev-a", 1, 1));
  EXPECT_THAT(unclean, IsEmpty());
  ASSERT_OK(txn->Commit());  // the storage takes new transactions after a rollback
}

TEST_P(StorageConformance, WhatWasCommittedIsThereAfterReopening) {
  AddDevices({Device("dev-a", "KR01", 100)});
  const uint64_t rev = SaveChange(MakeRequest("req-1", "dev-a", "KR01-20261202-0001"), "KR01");
  ASSERT_OK(storage_->SaveCatalog(3, "{\"v\":3}"));
  storage_.reset();
  ASSERT_OK_AND_ASSIGN(storage_, db_->Open());
  ASSERT_OK_AND_ASSIGN(auto a, storage_->FindDevice("dev-a"));
  EXPECT_TRUE(a.has_value());
  ASSERT_OK_AND_ASSIGN(int64_t catalog, storage_->CatalogVersion());
  EXPECT_EQ(catalog, 3);
  {
    auto s = Read();
    ASSERT_NE(s, nullptr);
    ASSERT_OK_AND_ASSIGN(uint64_t head, s->ScopeHead("KR01"));
    EXPECT_GE(head, rev);
  }
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_OK_AND_ASSIGN(uint64_t next, txn->NextRev("KR01"));
  EXPECT_GT(next, rev) << "revs go on growing after a restart";
}

// --- exactly once: applied digests, unclean seqs ---------------------------------------------

TEST_P(StorageConformance, AppliedIsRecordedOncePerDeviceAndSeq) {
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->RecordApplied("dev-a", 1, BytesOf("digest 1")));
    ASSERT_OK(txn->RecordApplied("dev-b", 1, BytesOf("digest b1")));
    ASSERT_OK_AND_ASSIGN(auto own, txn->AppliedDigest("dev-a", 1));
    ASSERT_TRUE(own.has_value());
    EXPECT_EQ(*own, BytesOf("digest 1"));
    ASSERT_OK(txn->Commit());
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(auto a1, txn->AppliedDigest("dev-a", 1));
    ASSERT_TRUE(a1.has_value());
    EXPECT_EQ(*a1, BytesOf("digest 1"));
    ASSERT_OK_AND_ASSIGN(auto b1, txn->AppliedDigest("dev-b", 1));
    ASSERT_TRUE(b1.has_value());
    EXPECT_EQ(*b1, BytesOf("digest b1"));
    ASSERT_OK_AND_ASSIGN(auto a2, txn->AppliedDigest("dev-a", 2));
    EXPECT_FALSE(a2.has_value());
    // A write may report its failure at a later call (StorageTxn): Commit at the latest.
    EXPECT_FALSE(txn->RecordApplied("dev-a", 1, BytesOf("another mutation")).ok() &&
                 txn->Commit().ok())
        << "(device, seq) is applied once";
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->RecordApplied("dev-a", 2, BytesOf("digest 2")));
    EXPECT_FALSE(txn->RecordApplied("dev-a", 2, BytesOf("digest 2")).ok() && txn->Commit().ok())
        << "also within one transaction";
  }
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_OK_AND_ASSIGN(auto a1, txn->AppliedDigest("dev-a", 1));
  ASSERT_TRUE(a1.has_value());
  EXPECT_EQ(*a1, BytesOf("digest 1"));
  ASSERT_OK_AND_ASSIGN(auto a2, txn->AppliedDigest("dev-a", 2));
  EXPECT_FALSE(a2.has_value());
}

TEST_P(StorageConformance, MarkUncleanIsIdempotentAndReadByRange) {
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    for (uint64_t seq : {3, 9, 5, 3}) ASSERT_OK(txn->MarkUnclean("dev-a", seq));
    ASSERT_OK(txn->MarkUnclean("dev-b", 4));
    ASSERT_OK_AND_ASSIGN(auto own, txn->UncleanSeqs("dev-a", 1, 100));
    EXPECT_THAT(own, ElementsAre(3u, 5u, 9u));
    ASSERT_OK(txn->Commit());
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->MarkUnclean("dev-a", 5));  // marked again in a later transaction
    ASSERT_OK_AND_ASSIGN(auto first, txn->UncleanSeqs("dev-a", 1, 5));
    EXPECT_THAT(first, ElementsAre(3u, 5u));
    ASSERT_OK_AND_ASSIGN(auto middle, txn->UncleanSeqs("dev-a", 4, 9));
    EXPECT_THAT(middle, ElementsAre(5u, 9u));
    ASSERT_OK_AND_ASSIGN(auto gap, txn->UncleanSeqs("dev-a", 6, 8));
    EXPECT_THAT(gap, IsEmpty());
    ASSERT_OK(txn->Commit());
  }
  auto s = Read();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(auto all, s->UncleanSeqs("dev-a", 0, 1000));
  EXPECT_THAT(all, ElementsAre(3u, 5u, 9u));
  ASSERT_OK_AND_ASSIGN(auto one, s->UncleanSeqs("dev-a", 9, 9));
  EXPECT_THAT(one, ElementsAre(9u));
  ASSERT_OK_AND_ASSIGN(auto other, s->UncleanSeqs("dev-b", 1, 10));
  EXPECT_THAT(other, ElementsAre(4u));
}

// --- envelopes, audit ------------------------------------------------------------------------

TEST_P(StorageConformance, ForEachEnvelopeGoesInIdOrderAndStopsAtAnError) {
  constexpr int kEnvelopes = 300;  // more than one page of a backend that reads in pages
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    for (int i = 0; i < kEnvelopes; ++i) {
      const std::string device = i % 2 == 0 ? "dev-a" : "dev-b";
      ASSERT_OK(
          txn->StoreEnvelope({0, device, static_cast<uint64_t>(i + 1), static_cast<uint64_t>(i + 3),
                              1000 + i, BytesOf("envelope " + std::to_string(i))}));
    }
    ASSERT_OK(txn->AppendAudit("admin", "test.audit", "target", "detail", 1000));
    ASSERT_OK(txn->Commit());
  }
  std::vector<server::EnvelopeRecord> seen;
  ASSERT_OK(storage_->ForEachEnvelope([&](const server::EnvelopeRecord& e) -> Result<void> {
    seen.push_back(e);
    return Ok();
  }));
  ASSERT_EQ(seen.size(), static_cast<size_t>(kEnvelopes));
  for (int i = 0; i < kEnvelopes; ++i) {
    const auto& e = seen[i];
    if (i > 0) {
      EXPECT_GT(e.id, seen[i - 1].id);
    }
    EXPECT_EQ(e.device_id, i % 2 == 0 ? "dev-a" : "dev-b");
    EXPECT_EQ(e.first_seq, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(e.last_seq, static_cast<uint64_t>(i + 3));
    EXPECT_EQ(e.received_ms, 1000 + i);
    EXPECT_EQ(e.bytes, BytesOf("envelope " + std::to_string(i)));
  }
  int calls = 0;
  auto stopped = storage_->ForEachEnvelope([&](const server::EnvelopeRecord&) -> Result<void> {
    if (++calls == 2) return Error::Corrupt("bad signature");
    return Ok();
  });
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(stopped.error().message(), "bad signature");
  EXPECT_EQ(calls, 2) << "no envelope after the error";
}

// --- the hybrid clock and the epoch ----------------------------------------------------------

TEST_P(StorageConformance, SaveHlcNeverLowersWhatLoadHlcReturns) {
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(int64_t fresh, txn->LoadHlc());
    EXPECT_EQ(fresh, 0);
    ASSERT_OK(txn->SaveHlc(1000));
    ASSERT_OK(txn->SaveHlc(500));
    ASSERT_OK_AND_ASSIGN(int64_t now, txn->LoadHlc());
    EXPECT_EQ(now, 1000);
    ASSERT_OK(txn->Commit());
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(int64_t loaded, txn->LoadHlc());
    EXPECT_EQ(loaded, 1000);
    ASSERT_OK(txn->SaveHlc(999));
    ASSERT_OK(txn->Commit());
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(int64_t loaded, txn->LoadHlc());
    EXPECT_EQ(loaded, 1000);
    ASSERT_OK(txn->SaveHlc(2000));
  }                  // rolled back
  storage_.reset();  // and it survives a restart
  ASSERT_OK_AND_ASSIGN(storage_, db_->Open());
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_OK_AND_ASSIGN(int64_t loaded, txn->LoadHlc());
  EXPECT_EQ(loaded, 1000);
  ASSERT_OK(txn->SaveHlc(3000));
  ASSERT_OK_AND_ASSIGN(loaded, txn->LoadHlc());
  EXPECT_EQ(loaded, 3000);
}

TEST_P(StorageConformance, StartEpochMakesItCurrentAndMarksEveryDeviceRecovering) {
  AddDevices({Device("dev-a", "KR01", 100), Device("dev-b", "KR02", 200)});
  ASSERT_OK_AND_ASSIGN(uint64_t first, storage_->Epoch());
  EXPECT_EQ(first, 1u) << "a new database is in epoch 1";
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(uint64_t in_txn, txn->Epoch());
    EXPECT_EQ(in_txn, first);
    ASSERT_OK(txn->StartEpoch(1'764'300'000'000));
    ASSERT_OK_AND_ASSIGN(in_txn, txn->Epoch());
    EXPECT_EQ(in_txn, 1'764'300'000'000u);
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(uint64_t epoch, storage_->Epoch());
  EXPECT_EQ(epoch, 1'764'300'000'000u);
  for (const char* id : {"dev-a", "dev-b"}) {
    ASSERT_OK_AND_ASSIGN(auto d, storage_->FindDevice(id));
    ASSERT_TRUE(d.has_value());
    EXPECT_TRUE(d->recovering) << id;
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->SetRecovering("dev-a", false));
    ASSERT_OK(txn->Commit());
  }
  auto s = Read();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(uint64_t seen, s->Epoch());
  EXPECT_EQ(seen, 1'764'300'000'000u);
  ASSERT_OK_AND_ASSIGN(auto a, s->FindDevice("dev-a"));
  ASSERT_OK_AND_ASSIGN(auto b, s->FindDevice("dev-b"));
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_FALSE(a->recovering);
  EXPECT_TRUE(b->recovering);
}

// --- the catalog -----------------------------------------------------------------------------

TEST_P(StorageConformance, CatalogIsSavedAndLoadedInAndOutsideTransactions) {
  ASSERT_OK_AND_ASSIGN(auto none, storage_->LoadCatalog());
  EXPECT_EQ(none.first, 0);
  EXPECT_EQ(none.second, "");
  ASSERT_OK_AND_ASSIGN(int64_t version, storage_->CatalogVersion());
  EXPECT_EQ(version, 0);

  ASSERT_OK(storage_->SaveCatalog(3, "{\"version\":3}"));
  ASSERT_OK_AND_ASSIGN(auto loaded, storage_->LoadCatalog());
  EXPECT_EQ(loaded, (std::pair<int64_t, std::string>{3, "{\"version\":3}"}));
  ASSERT_OK_AND_ASSIGN(version, storage_->CatalogVersion());
  EXPECT_EQ(version, 3);
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(auto in_txn, txn->LoadCatalog());
    EXPECT_EQ(in_txn.first, 3);
    ASSERT_OK(txn->SaveCatalog(4, "{\"version\":4}"));
    ASSERT_OK_AND_ASSIGN(in_txn, txn->LoadCatalog());
    EXPECT_EQ(in_txn, (std::pair<int64_t, std::string>{4, "{\"version\":4}"}));
    ASSERT_OK(txn->Commit());
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->SaveCatalog(5, "{\"version\":5}"));
  }  // rolled back
  ASSERT_OK_AND_ASSIGN(loaded, storage_->LoadCatalog());
  EXPECT_EQ(loaded, (std::pair<int64_t, std::string>{4, "{\"version\":4}"}));
  ASSERT_OK_AND_ASSIGN(version, storage_->CatalogVersion());
  EXPECT_EQ(version, 4);
}

// --- the NIK index and duplicates ------------------------------------------------------------

TEST_P(StorageConformance, NikIndexFindsRequestsByHashAndServiceAndIsReplaced) {
  AddDevices({Device("dev-a", "KR01", 100), Device("dev-c", "KR02", 100)});
  const Bytes nik = Hash("nik 1"), other_nik = Hash("nik 2");
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->SaveRequest(
        Row(MakeRequest("r2", "dev-c", "KR02-20261202-0001", RequestStatus::kCancelled), "KR02", 2,
            2),
        1000));
    ASSERT_OK(txn->SaveRequest(Row(MakeRequest("r1", "dev-a", "KR01-20261202-0001"), "KR01", 1, 1),
                               1000));
    ASSERT_OK(txn->SaveRequest(
        Row(MakeRequest("r3", "dev-a", "KR01-20261202-0002", RequestStatus::kSubmitted, kKk),
            "KR01", 3, 3),
        1000));
    ASSERT_OK(txn->SaveRequest(Row(MakeRequest("r4", "dev-a", "KR01-20261202-0003"), "KR01", 4, 4),
                               1000));
    ASSERT_OK(txn->IndexNik("r1", nik, kKtp));
    ASSERT_OK(txn->IndexNik("r2", nik, kKtp));
    ASSERT_OK(txn->IndexNik("r3", nik, kKk));
    ASSERT_OK(txn->IndexNik("r4", other_nik, kKtp));
    ASSERT_OK_AND_ASSIGN(auto ktp, txn->FindByNikHash(nik, kKtp));
    ASSERT_EQ(ktp.size(), 2u);
    EXPECT_EQ(ktp[0].request_id, "r1");  // by receipt
    EXPECT_EQ(ktp[0].receipt, "KR01-20261202-0001");
    EXPECT_EQ(ktp[0].device_id, "dev-a");
    EXPECT_EQ(ktp[0].van_code, "KR01");
    EXPECT_EQ(ktp[0].status, RequestStatus::kSubmitted);
    EXPECT_EQ(ktp[1].request_id, "r2");
    EXPECT_EQ(ktp[1].van_code, "KR02");
    EXPECT_EQ(ktp[1].status, RequestStatus::kCancelled);
    ASSERT_OK_AND_ASSIGN(auto kk, txn->FindByNikHash(nik, kKk));
    EXPECT_THAT(IdsOf(kk), ElementsAre("r3"));
    ASSERT_OK_AND_ASSIGN(auto unknown, txn->FindByNikHash(Hash("nik 3"), kKtp));
    EXPECT_THAT(unknown, IsEmpty());
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto any_service, storage_->RequestsWithNikHash(nik));
  EXPECT_THAT(IdsOf(any_service), ElementsAre("r1", "r3", "r2"));  // by receipt

  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->IndexNik("r1", other_nik, kKtp));  // its NIK was corrected
    ASSERT_OK_AND_ASSIGN(auto old_nik, txn->FindByNikHash(nik, kKtp));
    EXPECT_THAT(IdsOf(old_nik), ElementsAre("r2"));
    ASSERT_OK_AND_ASSIGN(auto new_nik, txn->FindByNikHash(other_nik, kKtp));
    EXPECT_THAT(IdsOf(new_nik), ElementsAre("r1", "r4"));
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(any_service, storage_->RequestsWithNikHash(nik));
  EXPECT_THAT(IdsOf(any_service), ElementsAre("r3", "r2"));
}

TEST_P(StorageConformance, ADuplicatePairIsRecordedOnceInEitherOrder) {
  AddDevices({Device("dev-a", "KR01", 100), Device("dev-c", "KR02", 100)});
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK(txn->SaveRequest(Row(MakeRequest("r1", "dev-a", "KR01-20261202-0001"), "KR01", 1, 1),
                               1000));
    ASSERT_OK(txn->SaveRequest(
        Row(MakeRequest("r2", "dev-c", "KR02-20261202-0001", RequestStatus::kReceived), "KR02", 2,
            2),
        1000));
    ASSERT_OK(txn->SaveRequest(Row(MakeRequest("r3", "dev-c", "KR02-20261202-0002"), "KR02", 3, 3),
                               1000));
    ASSERT_OK_AND_ASSIGN(bool first, txn->RecordDuplicate("r2", "r1", 5000));
    EXPECT_TRUE(first);
    ASSERT_OK_AND_ASSIGN(bool again, txn->RecordDuplicate("r2", "r1", 6000));
    EXPECT_FALSE(again);
    ASSERT_OK(txn->Commit());
  }
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    ASSERT_OK_AND_ASSIGN(bool reversed, txn->RecordDuplicate("r1", "r2", 7000));
    EXPECT_FALSE(reversed) << "the pair in the other order is the same pair";
    ASSERT_OK_AND_ASSIGN(bool other, txn->RecordDuplicate("r3", "r1", 8000));
    EXPECT_TRUE(other);
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto pairs, storage_->ListDuplicates());
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].request.request_id, "r2");  // by the later request's receipt
  EXPECT_EQ(pairs[0].request.receipt, "KR02-20261202-0001");
  EXPECT_EQ(pairs[0].request.device_id, "dev-c");
  EXPECT_EQ(pairs[0].request.van_code, "KR02");
  EXPECT_EQ(pairs[0].request.status, RequestStatus::kReceived);
  EXPECT_EQ(pairs[0].other.request_id, "r1");
  EXPECT_EQ(pairs[0].other.van_code, "KR01");
  EXPECT_EQ(pairs[0].flagged_ms, 5000);
  EXPECT_EQ(pairs[1].request.request_id, "r3");
  EXPECT_EQ(pairs[1].other.request_id, "r1");
  EXPECT_EQ(pairs[1].flagged_ms, 8000);
}

// --- finding and listing requests ------------------------------------------------------------

TEST_P(StorageConformance, FindRequestByIdOrReceiptInAnyCase) {
  AddDevices({Device("dev-a", "KR01", 100)});
  SaveChange(MakeRequest("0190a1b2-0000-7000-8000-000000000001", "dev-a", "KR01-20261202-0001"),
             "KR01");
  ASSERT_OK_AND_ASSIGN(auto by_id, storage_->FindRequest("0190a1b2-0000-7000-8000-000000000001"));
  ASSERT_TRUE(by_id.has_value());
  EXPECT_EQ(by_id->request.receipt, "KR01-20261202-0001");
  EXPECT_EQ(by_id->agency, "dukcapil");
  ASSERT_OK_AND_ASSIGN(auto by_receipt, storage_->FindRequest("KR01-20261202-0001"));
  ASSERT_TRUE(by_receipt.has_value());
  EXPECT_EQ(by_receipt->request.id, "0190a1b2-0000-7000-8000-000000000001");
  ASSERT_OK_AND_ASSIGN(auto lower, storage_->FindRequest("kr01-20261202-0001"));
  ASSERT_TRUE(lower.has_value());
  EXPECT_EQ(lower->request.id, "0190a1b2-0000-7000-8000-000000000001");
  ASSERT_OK_AND_ASSIGN(auto none, storage_->FindRequest("KR01-20261202-0009"));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK_AND_ASSIGN(auto id_other_case,
                       storage_->FindRequest("0190A1B2-0000-7000-8000-000000000001"));
  (void)id_other_case;  // ids are matched exactly or not: either answer is allowed
}

// Receipts were not unique per van before receipt series (schema v3): a receipt that names two
// requests is refused with both ids, so a command never acts on a guess.
TEST_P(StorageConformance, AReceiptOfTwoRequestsIsAConflictNamingBoth) {
  AddDevices({Device("dev-a", "KR01", 100), Device("dev-b", "KR01", 200)});
  SaveChange(MakeRequest("req-a", "dev-a", "KR01-20261202-0001"), "KR01");
  SaveChange(MakeRequest("req-b", "dev-b", "KR01-20261202-0001"), "KR01");
  auto found = storage_->FindRequest("kr01-20261202-0001");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code(), ErrorCode::kConflict);
  EXPECT_THAT(found.error().message(), ::testing::HasSubstr("req-a"));
  EXPECT_THAT(found.error().message(), ::testing::HasSubstr("req-b"));
  ASSERT_OK_AND_ASSIGN(auto by_id, storage_->FindRequest("req-b"));
  ASSERT_TRUE(by_id.has_value());
  EXPECT_EQ(by_id->request.device_id, "dev-b");
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  ASSERT_OK_AND_ASSIGN(auto ids, txn->RequestsWithReceipt("KR01-20261202-0001"));
  EXPECT_THAT(ids, UnorderedElementsAre("req-a", "req-b"));
  ASSERT_OK_AND_ASSIGN(auto none, txn->RequestsWithReceipt("KR01-20261202-0002"));
  EXPECT_THAT(none, IsEmpty());
}

TEST_P(StorageConformance, ListRequestsFiltersByStatusAgencyAndDeviceInReceiptOrder) {
  AddDevices({Device("dev-a", "KR01", 100), Device("dev-c", "KR02", 100)});
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    struct Spec {
      const char* id;
      const char* device;
      const char* van;
      const char* receipt;
      RequestStatus status;
      const char* agency;
    };
    const Spec specs[] = {
        {"r4", "dev-c", "KR02", "KR02-20261202-0001", RequestStatus::kReceived, "dukcapil"},
        {"r1", "dev-a", "KR01", "KR01-20261202-0001", RequestStatus::kSubmitted, "dukcapil"},
        {"r3", "dev-a", "KR01", "KR01-20261202-0003", RequestStatus::kReceived, "bpjs"},
        {"r2", "dev-a", "KR01", "KR01-20261202-0002", RequestStatus::kReceived, "dukcapil"},
    };
    uint64_t rev = 0;
    for (const auto& s : specs) {
      ++rev;
      ASSERT_OK(txn->SaveRequest(
          Row(MakeRequest(s.id, s.device, s.receipt, s.status), s.van, rev, rev, {}, s.agency),
          1000));
    }
    ASSERT_OK(txn->Commit());
  }
  server::RequestQuery all;
  ASSERT_OK_AND_ASSIGN(auto everything, storage_->ListRequests(all));
  EXPECT_THAT(IdsOf(everything), ElementsAre("r1", "r2", "r3", "r4"));
  server::RequestQuery received;
  received.status = RequestStatus::kReceived;
  ASSERT_OK_AND_ASSIGN(auto r, storage_->ListRequests(received));
  EXPECT_THAT(IdsOf(r), ElementsAre("r2", "r3", "r4"));
  received.agency = "dukcapil";
  ASSERT_OK_AND_ASSIGN(r, storage_->ListRequests(received));
  EXPECT_THAT(IdsOf(r), ElementsAre("r2", "r4"));
  received.device_id = "dev-c";
  ASSERT_OK_AND_ASSIGN(r, storage_->ListRequests(received));
  EXPECT_THAT(IdsOf(r), ElementsAre("r4"));
  server::RequestQuery by_device;
  by_device.device_id = "dev-a";
  by_device.limit = 2;
  ASSERT_OK_AND_ASSIGN(r, storage_->ListRequests(by_device));
  EXPECT_THAT(IdsOf(r), ElementsAre("r1", "r2"));
  server::RequestQuery bpjs;
  bpjs.agency = "bpjs";
  ASSERT_OK_AND_ASSIGN(r, storage_->ListRequests(bpjs));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].request.id, "r3");
  EXPECT_EQ(r[0].agency, "bpjs");
  server::RequestQuery nothing;
  nothing.status = RequestStatus::kDelivered;
  ASSERT_OK_AND_ASSIGN(r, storage_->ListRequests(nothing));
  EXPECT_THAT(r, IsEmpty());
}

TEST_P(StorageConformance, OpenRequestsAreThoseNotFinal) {
  AddDevices({Device("dev-a", "KR01", 100)});
  {
    auto txn = Begin();
    ASSERT_NE(txn, nullptr);
    const RequestStatus statuses[] = {RequestStatus::kSubmitted, RequestStatus::kReceived,
                                      RequestStatus::kInReview,  RequestStatus::kNeedsInfo,
                                      RequestStatus::kCompleted, RequestStatus::kDelivered,
                                      RequestStatus::kRejected,  RequestStatus::kCancelled};
    uint64_t rev = 0;
    for (RequestStatus status : statuses) {
      const std::string name = sync::StatusName(status);
      char receipt[32];
      snprintf(receipt, sizeof receipt, "KR01-20261202-%04d", static_cast<int>(9 - rev));
      ++rev;
      ASSERT_OK(txn->SaveRequest(
          Row(MakeRequest("req-" + name, "dev-a", receipt, status), "KR01", rev, rev), 1000));
    }
    ASSERT_OK_AND_ASSIGN(auto open, txn->OpenRequests());
    // By receipt: the later statuses got the smaller receipts.
    EXPECT_THAT(IdsOf(open), ElementsAre("req-completed", "req-needs_info", "req-in_review",
                                         "req-received", "req-submitted"));
    ASSERT_OK(txn->Commit());
  }
}

// --- the late commit -------------------------------------------------------------------------

// A change whose transaction took its rev first but commits after a pull read the feed is not
// skipped: while it is open the scope's head stays below its rev and the feed does not show it;
// a feed after that head shows it once it committed.
TEST_P(StorageConformance, ARevStillInFlightIsBelowNoHeadAndNotSkipped) {
  AddDevices({Device("dev-a", "KR01", 100), Device("dev-b", "KR01", 200)});
  const uint64_t before = SaveChange(MakeRequest("req-1", "dev-a", "KR01-20261202-0001"), "KR01");
  auto late = Begin();
  ASSERT_NE(late, nullptr);
  ASSERT_OK_AND_ASSIGN(uint64_t rev, late->NextRev("KR01"));
  ASSERT_OK(late->SaveRequest(
      Row(MakeRequest("req-late", "dev-a", "KR01-20261202-0002"), "KR01", rev, rev), 1000));
  uint64_t head = 0;
  {
    auto s = Read();
    ASSERT_NE(s, nullptr);
    ASSERT_OK_AND_ASSIGN(head, s->ScopeHead("KR01"));
    EXPECT_GE(head, before);
    EXPECT_LT(head, rev) << "a cursor moved to the head would skip the change in flight";
    ASSERT_OK_AND_ASSIGN(auto van, s->VanRequestsAfter("KR01", "dev-b", 0, 10));
    EXPECT_THAT(IdsOf(van), ElementsAre("req-1"));
    ASSERT_OK_AND_ASSIGN(auto own, s->OwnRequestsAfter("dev-a", 0, true, 10));
    EXPECT_THAT(IdsOf(own), ElementsAre("req-1"));
  }
  ASSERT_OK(late->Commit());
  late.reset();
  auto s = Read();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(auto van, s->VanRequestsAfter("KR01", "dev-b", head, 10));
  EXPECT_THAT(IdsOf(van), ElementsAre("req-late"));
  EXPECT_THAT(RevsOf(van), ElementsAre(rev));
  ASSERT_OK_AND_ASSIGN(uint64_t head_after, s->ScopeHead("KR01"));
  EXPECT_GE(head_after, rev);
}

// Ids come from the network: a signed header names its device before the signature is checked,
// and a flipped bit makes any bytes of it. Looking such an id up finds nothing (or is refused as
// input); it is not a failure of the storage (which the server answers with 500 and a retry).
TEST_P(StorageConformance, LookupsOfIdsThatAreNotUtf8OrHoldNulFindNothing) {
  AddDevices({Device("dev", "KR01", 100)});
  SaveChange(MakeRequest("req", "dev", "KR01-20261202-0001"), "KR01");
  const std::string odd_ids[] = {"dev-\x9d\xff", std::string("dev\0x", 5), "\xc3("};
  auto nothing = [](const auto& found, const std::string& what) {
    if (found.ok()) {
      EXPECT_FALSE(found->has_value()) << what;
    } else {
      EXPECT_EQ(found.error().code(), ErrorCode::kInvalidInput)
          << what << ": " << found.error().message();
    }
  };
  for (const std::string& id : odd_ids) {
    const std::string what = "id " + ::testing::PrintToString(id);
    nothing(storage_->FindDevice(id), what + " (storage)");
    nothing(storage_->FindRequest(id), what + " (FindRequest)");
    {
      auto s = Read();
      ASSERT_NE(s, nullptr);
      nothing(s->FindDevice(id), what + " (snapshot)");
    }
    {
      auto txn = Begin();
      ASSERT_NE(txn, nullptr);
      nothing(txn->FindDevice(id), what + " (transaction)");
    }
    {
      auto txn = Begin();
      ASSERT_NE(txn, nullptr);
      nothing(txn->LoadRequest(id), what + " (LoadRequest)");
    }
  }
}

TEST_P(StorageConformance, HealthyWhenFresh) { EXPECT_OK(storage_->CheckHealth()); }

std::string BackendParamName(const ::testing::TestParamInfo<StorageBackend>& info) {
  return BackendName(info.param);
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageConformance,
                         ::testing::Values(StorageBackend::kSqlite, StorageBackend::kPostgres),
                         BackendParamName);
INSTANTIATE_TEST_SUITE_P(Backends, FeedConformance,
                         ::testing::Values(StorageBackend::kSqlite, StorageBackend::kPostgres),
                         BackendParamName);

// --- PostgreSQL: several server processes on one database ------------------------------------

// Transactions in two threads, each on its own pooled connection, as two server processes
// would run them. Waits are bounded and wait on a condition: the other transaction's backend
// waiting for a lock (pg_stat_activity), or its thread finishing.
class PostgresConformance : public StorageTest, public ::testing::Test {
 protected:
  static constexpr std::chrono::seconds kBound{20};

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(Open(StorageBackend::kPostgres));
    auto monitor = postgres::Connection::Open(db_->location(), std::chrono::milliseconds(5000));
    ASSERT_TRUE(monitor.ok()) << monitor.error().message();
    monitor_ = std::make_unique<postgres::Connection>(std::move(monitor).value());
  }
  void TearDown() override {
    monitor_.reset();
    Close();
  }

  // Sessions of this database waiting for a lock another transaction holds.
  int64_t LockWaiters() {
    auto rows = monitor_->Query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
        "wait_event_type = 'Lock'");
    EXPECT_TRUE(rows.ok()) << rows.error().message();
    return rows.ok() ? rows->Int(0, 0) : -1;
  }

  // Until `other` finished or a session waits for a lock; false when neither happened in time.
  template <typename T>
  bool WaitUntilBlockedOrDone(const std::future<T>& other) {
    const auto deadline = std::chrono::steady_clock::now() + kBound;
    while (std::chrono::steady_clock::now() < deadline) {
      if (other.wait_for(std::chrono::milliseconds(2)) == std::future_status::ready) return true;
      const int64_t waiters = LockWaiters();
      if (waiters != 0) return waiters > 0;
    }
    return false;
  }

  std::unique_ptr<postgres::Connection> monitor_;
};

// What the other thread saw, or the error it met ("" when none).
struct Seen {
  std::string error;
  bool found = false;
  uint64_t value = 0;
};

template <typename T>
bool Ready(const std::future<T>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

// Two processes receive the same retry of one device: the second one's FindDevice waits for the
// first transaction and then reads the seq it committed, so the batch is not applied twice.
TEST_F(PostgresConformance, FindDeviceWaitsForTheTransactionHoldingTheDeviceAndSeesItsSeq) {
  AddDevices({Device("dev-a", "KR01", 100)});
  std::promise<void> started;
  std::future<Seen> second;  // declared before `first`: an early return rolls back first
  auto first = Begin();
  ASSERT_NE(first, nullptr);
  ASSERT_OK_AND_ASSIGN(auto held, first->FindDevice("dev-a"));
  ASSERT_TRUE(held.has_value());
  second = std::async(std::launch::async, [&] {
    Seen seen;
    auto txn = storage_->Begin();
    started.set_value();
    if (!txn.ok()) return Seen{txn.error().message()};
    auto d = (*txn)->FindDevice("dev-a");
    if (!d.ok()) return Seen{d.error().message()};
    seen.found = d->has_value();
    if (seen.found) seen.value = (*d)->last_applied_seq;
    return seen;
  });
  started.get_future().wait();
  ASSERT_TRUE(WaitUntilBlockedOrDone(second));
  ASSERT_FALSE(Ready(second)) << "FindDevice returned while another transaction held the device";
  ASSERT_OK_AND_ASSIGN(bool moved, first->AdvanceDeviceSeq("dev-a", 0, 5, 1000));
  ASSERT_TRUE(moved);
  ASSERT_OK(first->Commit());
  ASSERT_EQ(second.wait_for(kBound), std::future_status::ready);
  const Seen seen = second.get();
  ASSERT_EQ(seen.error, "");
  ASSERT_TRUE(seen.found);
  EXPECT_EQ(seen.value, 5u) << "the second transaction read the row as the first committed it";
}

// A staff change and a van's push merging into one request take turns the same way.
TEST_F(PostgresConformance, LoadRequestWaitsForTheTransactionHoldingTheRequest) {
  AddDevices({Device("dev-a", "KR01", 100)});
  SaveChange(MakeRequest("req-1", "dev-a", "KR01-20261202-0001"), "KR01");
  std::promise<void> started;
  std::future<Seen> second;
  auto first = Begin();
  ASSERT_NE(first, nullptr);
  ASSERT_OK_AND_ASSIGN(auto held, first->LoadRequest("req-1"));
  ASSERT_TRUE(held.has_value());
  second = std::async(std::launch::async, [&] {
    Seen seen;
    auto txn = storage_->Begin();
    started.set_value();
    if (!txn.ok()) return Seen{txn.error().message()};
    auto r = (*txn)->LoadRequest("req-1");
    if (!r.ok()) return Seen{r.error().message()};
    seen.found = r->has_value();
    if (seen.found) seen.value = static_cast<uint64_t>((*r)->request.status);
    return seen;
  });
  started.get_future().wait();
  ASSERT_TRUE(WaitUntilBlockedOrDone(second));
  ASSERT_FALSE(Ready(second)) << "LoadRequest returned while another transaction held the request";
  held->request.status = RequestStatus::kReceived;
  ASSERT_OK_AND_ASSIGN(uint64_t rev, first->NextRev("KR01"));
  ASSERT_OK(first->SaveRequest(Row(held->request, "KR01", rev, rev), 2000));
  ASSERT_OK(first->Commit());
  ASSERT_EQ(second.wait_for(kBound), std::future_status::ready);
  const Seen seen = second.get();
  ASSERT_EQ(seen.error, "");
  ASSERT_TRUE(seen.found);
  EXPECT_EQ(seen.value, static_cast<uint64_t>(RequestStatus::kReceived));
}

// Transaction A takes a rev of KR01 and stays open; B, in another thread, takes one of the same
// scope: it waits for A or gets a later rev. A pull meanwhile must not let a cursor pass A's
// rev: the head stays below it and A's row is not in the feed; after A commits, a feed after
// that head has it.
TEST_F(PostgresConformance, ARevTakenFirstButCommittedLastIsNotSkipped) {
  AddDevices({Device("dev-a", "KR01", 100), Device("dev-b", "KR01", 200)});
  const uint64_t before = SaveChange(MakeRequest("req-0", "dev-a", "KR01-20261202-0001"), "KR01");
  std::promise<void> started;
  std::future<Seen> b;
  auto a = Begin();
  ASSERT_NE(a, nullptr);
  ASSERT_OK_AND_ASSIGN(uint64_t rev_a, a->NextRev("KR01"));
  EXPECT_GT(rev_a, before);
  ASSERT_OK(a->SaveRequest(
      Row(MakeRequest("req-a", "dev-a", "KR01-20261202-0002"), "KR01", rev_a, rev_a), 1000));
  b = std::async(std::launch::async, [&] {
    auto txn = storage_->Begin();
    started.set_value();
    if (!txn.ok()) return Seen{txn.error().message()};
    auto rev = (*txn)->NextRev("KR01");
    if (!rev.ok()) return Seen{rev.error().message()};
    auto saved = (*txn)->SaveRequest(
        Row(MakeRequest("req-b", "dev-b", "KR01-20261202-2-0001"), "KR01", *rev, *rev), 1000);
    if (!saved.ok()) return Seen{saved.error().message()};
    auto committed = (*txn)->Commit();
    if (!committed.ok()) return Seen{committed.error().message()};
    return Seen{"", true, *rev};
  });
  started.get_future().wait();
  ASSERT_TRUE(WaitUntilBlockedOrDone(b));
  const bool b_went_first = Ready(b);

  uint64_t head = 0;
  {
    auto s = Read();
    ASSERT_NE(s, nullptr);
    ASSERT_OK_AND_ASSIGN(head, s->ScopeHead("KR01"));
    EXPECT_GE(head, before);
    EXPECT_LT(head, rev_a) << "a cursor moved to this head would skip A's change";
    ASSERT_OK_AND_ASSIGN(auto feed, s->VanRequestsAfter("KR01", "dev-new", 0, 10));
    for (const auto& id : IdsOf(feed)) EXPECT_NE(id, "req-a") << "uncommitted";
    ASSERT_OK_AND_ASSIGN(auto own, s->OwnRequestsAfter("dev-a", 0, true, 10));
    EXPECT_THAT(IdsOf(own), ElementsAre("req-0"));
  }
  ASSERT_OK(a->Commit());
  a.reset();
  ASSERT_EQ(b.wait_for(kBound), std::future_status::ready);
  const Seen seen_b = b.get();
  ASSERT_EQ(seen_b.error, "");
  EXPECT_GT(seen_b.value, rev_a) << (b_went_first ? "B committed while A was open"
                                                  : "B waited for A");

  auto s = Read();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(auto feed, s->VanRequestsAfter("KR01", "dev-new", head, 10));
  EXPECT_THAT(IdsOf(feed), ElementsAre("req-a", "req-b"));
  EXPECT_THAT(RevsOf(feed), ElementsAre(rev_a, seen_b.value));
  ASSERT_OK_AND_ASSIGN(uint64_t head_after, s->ScopeHead("KR01"));
  EXPECT_GE(head_after, seen_b.value);
}

// Different vans never wait for each other: a transaction holding KR01's rev order does not
// hold up one of KR02.
TEST_F(PostgresConformance, RevsOfAnotherScopeDoNotWait) {
  AddDevices({Device("dev-a", "KR01", 100), Device("dev-c", "KR02", 100)});
  std::future<Seen> other;
  auto a = Begin();
  ASSERT_NE(a, nullptr);
  ASSERT_OK_AND_ASSIGN(uint64_t rev_a, a->NextRev("KR01"));
  other = std::async(std::launch::async, [&] {
    auto txn = storage_->Begin();
    if (!txn.ok()) return Seen{txn.error().message()};
    auto rev = (*txn)->NextRev("KR02");
    if (!rev.ok()) return Seen{rev.error().message()};
    auto saved = (*txn)->SaveRequest(
        Row(MakeRequest("req-c", "dev-c", "KR02-20261202-0001"), "KR02", *rev, *rev), 1000);
    if (!saved.ok()) return Seen{saved.error().message()};
    auto committed = (*txn)->Commit();
    if (!committed.ok()) return Seen{committed.error().message()};
    return Seen{"", true, *rev};
  });
  ASSERT_EQ(other.wait_for(kBound), std::future_status::ready)
      << "a KR02 transaction waited for one of KR01";
  const Seen seen = other.get();
  ASSERT_EQ(seen.error, "");
  EXPECT_NE(seen.value, rev_a);
  auto s = Read();
  ASSERT_NE(s, nullptr);
  ASSERT_OK_AND_ASSIGN(uint64_t head, s->ScopeHead("KR02"));
  EXPECT_GE(head, seen.value);
  ASSERT_OK_AND_ASSIGN(auto feed, s->VanRequestsAfter("KR02", "dev-x", 0, 10));
  EXPECT_THAT(IdsOf(feed), ElementsAre("req-c"));
}

}  // namespace
}  // namespace mpp::test
