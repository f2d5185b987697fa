// The scale-out backend: PostgreSQL through libpq (postgres/), several server processes on one
// database. Every transaction runs at READ COMMITTED on a pooled connection; what makes it
// correct across processes is stated where it is done:
//   - a push locks its device's row (FindDevice: SELECT ... FOR UPDATE), so two processes that
//     receive the same retry take turns and the second sees the first's last_applied_seq; the
//     seq moves by compare-and-set and applied(device_id, seq) is a primary key besides;
//   - a request is merged under its row lock (LoadRequest, PrefetchRequests: FOR UPDATE);
//   - revs are taken per scope under the scope's row lock (NextRev), which makes them visible in
//     order within the scope: see NextRev;
//   - the HLC is kept per node and thread (SaveHlc), never in one row every push would lock;
//   - a serialization failure or deadlock comes back as kAborted, and the core runs the whole
//     transaction again (ServerCore::RunTransaction);
//   - writes go out with the next read or the COMMIT (Connection::Defer), in one round trip.
// Reads for a pull run in one REPEATABLE READ, READ ONLY transaction (one snapshot).
//
// A long transaction on the scope row of a van delays that van's pushes, and a transaction left
// open by a client holds row locks: the schema sets idle_in_transaction_session_timeout for the
// server's own sessions, and README asks operators to set it for the whole cluster.
#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "mpp/postgres/postgres.h"
#include "mpp/server/storage.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/crypto.h"
#include "staff_stores.h"

namespace mpp::server {
namespace {

using postgres::Connection;
using postgres::ConnectionPool;
using postgres::Params;
using postgres::PooledConnection;
using postgres::Rows;
using postgres::Transaction;

// Each migration takes the schema from version i to i + 1; they run in one transaction under an
// advisory lock, so server processes starting together migrate once.
const char* const kMigrations[] = {
    // v1: the tables of SQLite's schema v4, plus the per-scope heads and per-node clocks.
    R"sql(
CREATE TABLE devices(
  device_id TEXT PRIMARY KEY,
  van_code TEXT NOT NULL,
  public_key BYTEA NOT NULL,
  enrolled_ms BIGINT NOT NULL,
  revoked_ms BIGINT NOT NULL DEFAULT 0,
  last_applied_seq BIGINT NOT NULL DEFAULT 0,
  last_sync_ms BIGINT NOT NULL DEFAULT 0,
  receipt_series BIGINT NOT NULL DEFAULT 0,
  recovering BIGINT NOT NULL DEFAULT 0);
CREATE TABLE tokens(
  token_hash BYTEA PRIMARY KEY,
  van_code TEXT NOT NULL,
  expires_ms BIGINT NOT NULL,
  used_ms BIGINT NOT NULL DEFAULT 0,
  used_by TEXT NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL DEFAULT 0,
  revoked_ms BIGINT NOT NULL DEFAULT 0);
CREATE TABLE requests(
  id TEXT PRIMARY KEY,
  receipt TEXT NOT NULL,
  device_id TEXT NOT NULL,
  agency TEXT NOT NULL,
  service_id TEXT NOT NULL,
  status TEXT NOT NULL,
  owner_rev BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  body BYTEA NOT NULL,
  van_code TEXT NOT NULL DEFAULT '',
  rev BIGINT NOT NULL DEFAULT 0,
  revs BYTEA);
CREATE INDEX requests_pull ON requests(device_id, owner_rev);
CREATE INDEX requests_own_rev ON requests(device_id, rev);
CREATE INDEX requests_van ON requests(van_code, rev);
CREATE INDEX requests_agency ON requests(agency, status);
CREATE INDEX requests_receipt ON requests(lower(receipt));
CREATE TABLE conflicts(
  rev BIGINT PRIMARY KEY,
  device_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  body BYTEA NOT NULL,
  resolved_ms BIGINT NOT NULL DEFAULT 0,
  resolved_by TEXT NOT NULL DEFAULT '',
  resolution TEXT NOT NULL DEFAULT '');
CREATE INDEX conflicts_pull ON conflicts(device_id, rev);
CREATE INDEX conflicts_request ON conflicts(request_id);
CREATE TABLE request_nik(
  request_id TEXT PRIMARY KEY,
  nik_hash BYTEA NOT NULL,
  service_id TEXT NOT NULL);
CREATE INDEX request_nik_hash ON request_nik(nik_hash, service_id);
CREATE TABLE duplicates(
  request_id TEXT NOT NULL,
  other_id TEXT NOT NULL,
  flagged_ms BIGINT NOT NULL,
  PRIMARY KEY(request_id, other_id));
CREATE TABLE unclean(
  device_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY(device_id, seq));
CREATE TABLE applied(
  device_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  digest BYTEA NOT NULL,
  PRIMARY KEY(device_id, seq));
CREATE TABLE envelopes(
  id BIGSERIAL PRIMARY KEY,
  device_id TEXT NOT NULL,
  first_seq BIGINT NOT NULL,
  last_seq BIGINT NOT NULL,
  received_ms BIGINT NOT NULL,
  bytes BYTEA NOT NULL);
CREATE TABLE audit(
  id BIGSERIAL PRIMARY KEY,
  at_ms BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE TABLE counters(
  name TEXT PRIMARY KEY,
  value BIGINT NOT NULL);
INSERT INTO counters(name, value) VALUES ('epoch', 1);
CREATE TABLE hlc(
  node TEXT PRIMARY KEY,
  value BIGINT NOT NULL);
CREATE SEQUENCE revs;
CREATE TABLE scope_heads(
  van_code TEXT PRIMARY KEY,
  rev BIGINT NOT NULL);
CREATE TABLE catalog(
  id INT PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL,
  body TEXT NOT NULL);
)sql",
    // v2: staff accounts, their dashboard sessions and comments (staff_stores.cc).
    R"sql(
CREATE TABLE staff_accounts(
  user_name TEXT PRIMARY KEY,
  agency TEXT NOT NULL,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  disabled_ms BIGINT NOT NULL DEFAULT 0,
  password_changed_ms BIGINT NOT NULL DEFAULT 0);
CREATE TABLE staff_sessions(
  id_hash BYTEA PRIMARY KEY,
  user_name TEXT NOT NULL,
  csrf TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  last_seen_ms BIGINT NOT NULL);
CREATE INDEX staff_sessions_user ON staff_sessions(user_name);
CREATE INDEX staff_sessions_created ON staff_sessions(created_ms);
CREATE TABLE staff_comments(
  id BIGSERIAL PRIMARY KEY,
  request_id TEXT NOT NULL,
  at_ms BIGINT NOT NULL,
  user_name TEXT NOT NULL,
  body TEXT NOT NULL);
CREATE INDEX staff_comments_request ON staff_comments(request_id);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));
// The advisory lock key of schema migrations ('MPPS').
constexpr int64_t kMigrationLock = 0x4D505053;

constexpr const char* kDeviceColumns =
    "device_id, van_code, public_key, enrolled_ms, revoked_ms, last_applied_seq, last_sync_ms, "
    "receipt_series, recovering";

DeviceRecord ReadDevice(const Rows& r, int i) {
  DeviceRecord d;
  d.device_id = r.Text(i, 0);
  d.van_code = r.Text(i, 1);
  d.public_key = r.Bytes(i, 2);
  d.enrolled_ms = r.Int(i, 3);
  d.revoked_ms = r.Int(i, 4);
  d.last_applied_seq = static_cast<uint64_t>(r.Int(i, 5));
  d.last_sync_ms = r.Int(i, 6);
  d.receipt_series = static_cast<uint32_t>(r.Int(i, 7));
  d.recovering = r.Int(i, 8) != 0;
  return d;
}

constexpr const char* kConflictSelect =
    "SELECT c.rev, c.device_id, c.created_ms, c.body, coalesce(r.receipt, ''), "
    "coalesce(d.van_code, ''), c.resolved_ms, c.resolved_by, c.resolution FROM conflicts c "
    "LEFT JOIN requests r ON r.id = c.request_id "
    "LEFT JOIN devices d ON d.device_id = c.device_id ";

Result<std::vector<StoredConflict>> ReadConflicts(const Rows& r) {
  std::vector<StoredConflict> out;
  for (int i = 0; i < r.size(); ++i) {
    MPP_ASSIGN_OR_RETURN(auto conflict, sync::DecodeConflict(r.Bytes(i, 3)));
    StoredConflict c;
    c.rev = static_cast<uint64_t>(r.Int(i, 0));
    c.device_id = r.Text(i, 1);
    c.created_ms = r.Int(i, 2);
    c.conflict = std::move(conflict);
    c.receipt = r.Text(i, 4);
    c.van_code = r.Text(i, 5);
    c.resolved_ms = r.Int(i, 6);
    c.resolved_by = r.Text(i, 7);
    c.resolution = r.Text(i, 8);
    out.push_back(std::move(c));
  }
  return out;
}

// Rows of (body, agency, owner_rev) as stored requests.
Result<std::vector<StoredRequest>> ReadStoredRequests(const Rows& r) {
  std::vector<StoredRequest> out;
  for (int i = 0; i < r.size(); ++i) {
    MPP_ASSIGN_OR_RETURN(auto request, sync::DecodeRequest(r.Bytes(i, 0)));
    out.push_back({std::move(request), r.Text(i, 1), static_cast<uint64_t>(r.Int(i, 2))});
  }
  return out;
}

constexpr const char* kRequestRowColumns = "body, agency, van_code, rev, owner_rev, revs";

// Row i of kRequestRowColumns, starting at column `first`.
Result<RequestRow> ReadRequestRow(const Rows& r, int i, int first = 0) {
  auto request = sync::DecodeRequest(r.Bytes(i, first));
  if (!request) return request.error().WithContext("a stored request");
  RequestRow row{std::move(*request),
                 r.Text(i, first + 1),
                 r.Text(i, first + 2),
                 static_cast<uint64_t>(r.Int(i, first + 3)),
                 static_cast<uint64_t>(r.Int(i, first + 4)),
                 std::nullopt};
  if (!r.IsNull(i, first + 5)) {
    auto revs = sync::DecodeValue<sync::ChangeRevs>(r.Bytes(i, first + 5));
    if (!revs) return revs.error().WithContext("stored request " + row.request.id);
    row.revs = std::move(*revs);
  }
  return row;
}

// A text[] literal, {"a","b"}: every element quoted, with \ and " escaped.
std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const std::string& item : items) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : item) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

constexpr const char* kNikMatchColumns = "r.id, r.receipt, r.device_id, r.van_code, r.status";

NikMatch ReadNikMatch(const Rows& r, int i, int first) {
  NikMatch m;
  m.request_id = r.Text(i, first);
  m.receipt = r.Text(i, first + 1);
  m.device_id = r.Text(i, first + 2);
  m.van_code = r.Text(i, first + 3);
  m.status = sync::ParseStatus(r.Text(i, first + 4)).value_or(sync::RequestStatus::kSubmitted);
  return m;
}

std::vector<FeedRow> ReadFeed(const Rows& r) {
  std::vector<FeedRow> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    FeedRow row;
    row.rev = static_cast<uint64_t>(r.Int(i, 0));
    row.body = r.Bytes(i, 1);
    if (!r.IsNull(i, 2)) row.revs = r.Bytes(i, 2);
    out.push_back(std::move(row));
  }
  return out;
}

std::string FinalStatusList() {
  std::string list;
  for (auto status : {sync::RequestStatus::kSubmitted, sync::RequestStatus::kReceived,
                      sync::RequestStatus::kInReview, sync::RequestStatus::kNeedsInfo,
                      sync::RequestStatus::kCompleted, sync::RequestStatus::kDelivered,
                      sync::RequestStatus::kRejected, sync::RequestStatus::kCancelled}) {
    if (!sync::IsFinal(status)) continue;
    list += std::string(list.empty() ? "'" : ", '") + sync::StatusName(status) + "'";
  }
  return list;
}

class PostgresStorage;

// A write transaction on one pooled connection.
class PostgresTxn final : public StorageTxn {
 public:
  PostgresTxn(PooledConnection conn, Transaction txn, std::string hlc_node)
      : conn_(std::move(conn)), txn_(std::move(txn)), hlc_node_(std::move(hlc_node)) {}

  Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Q(std::string("SELECT ") + kDeviceColumns +
                                       " FROM devices WHERE device_id = $1 FOR UPDATE",
                                   Params().Add(device_id)));
    if (r.size() == 0) return std::optional<DeviceRecord>();
    return std::optional<DeviceRecord>(ReadDevice(r, 0));
  }
  Result<void> InsertDevice(const DeviceRecord& d) override {
    return Run(
        "INSERT INTO devices(device_id, van_code, public_key, enrolled_ms, "
        "receipt_series) VALUES ($1, $2, $3, $4, $5)",
        Params()
            .Add(d.device_id)
            .Add(d.van_code)
            .Add(d.public_key)
            .Add(d.enrolled_ms)
            .Add(int64_t{d.receipt_series}));
  }
  Result<bool> AdvanceDeviceSeq(const std::string& device_id, uint64_t expected,
                                uint64_t last_applied_seq, int64_t now_ms) override {
    MPP_ASSIGN_OR_RETURN(
        Rows r, Q("UPDATE devices SET last_applied_seq = $1, last_sync_ms = $2 "
                  "WHERE device_id = $3 AND last_applied_seq = $4",
                  Params().Add(last_applied_seq).Add(now_ms).Add(device_id).Add(expected)));
    return r.affected() == 1;
  }
  Result<void> RevokeDevice(const std::string& device_id, int64_t now_ms) override {
    return Run("UPDATE devices SET revoked_ms = $1 WHERE device_id = $2 AND revoked_ms = 0",
               Params().Add(now_ms).Add(device_id));
  }
  Result<std::optional<TokenRecord>> FindToken(ByteView token_hash) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Q("SELECT van_code, expires_ms, used_ms, used_by, created_ms, "
                                   "revoked_ms FROM tokens WHERE token_hash = $1 FOR UPDATE",
                                   Params().Add(token_hash)));
    if (r.size() == 0) return std::optional<TokenRecord>();
    return std::optional<TokenRecord>(TokenRecord{r.Text(0, 0), r.Int(0, 1), r.Int(0, 2),
                                                  r.Text(0, 3), r.Int(0, 4), r.Int(0, 5)});
  }
  Result<void> InsertToken(ByteView token_hash, const TokenRecord& t) override {
    return Run(
        "INSERT INTO tokens(token_hash, van_code, expires_ms, created_ms) VALUES ($1, $2, "
        "$3, $4)",
        Params().Add(token_hash).Add(t.van_code).Add(t.expires_ms).Add(t.created_ms));
  }
  Result<void> MarkTokenUsed(ByteView token_hash, const std::string& device_id,
                             int64_t now_ms) override {
    return Run("UPDATE tokens SET used_ms = $1, used_by = $2 WHERE token_hash = $3",
               Params().Add(now_ms).Add(device_id).Add(token_hash));
  }
  Result<std::optional<RequestRow>> LoadRequest(const std::string& id) override {
    if (auto known = loaded_.find(id); known != loaded_.end()) return known->second;
    MPP_ASSIGN_OR_RETURN(Rows r, Q(std::string("SELECT ") + kRequestRowColumns +
                                       " FROM requests WHERE id = $1 FOR UPDATE",
                                   Params().Add(id)));
    if (r.size() == 0) return std::optional<RequestRow>();
    MPP_ASSIGN_OR_RETURN(RequestRow row, ReadRequestRow(r, 0));
    return std::optional<RequestRow>(std::move(row));
  }
  // One SELECT ... FOR UPDATE for the lot. What it read stays valid to the end of the
  // transaction: the rows found are locked, and a request missing now can only be created by
  // its own device (ids are the device's), whose row this push holds locked (FindDevice); this
  // transaction's own SaveRequest keeps the copy current.
  Result<void> PrefetchRequests(const std::vector<std::string>& ids) override {
    std::vector<std::string> wanted;
    for (const std::string& id : ids) {
      if (!loaded_.contains(id)) wanted.push_back(id);
    }
    if (wanted.empty()) return Ok();
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    MPP_ASSIGN_OR_RETURN(Rows r, Q(std::string("SELECT id, ") + kRequestRowColumns +
                                       " FROM requests WHERE id = ANY($1::text[]) ORDER BY id "
                                       "FOR UPDATE",
                                   Params().Add(TextArray(wanted))));
    for (const std::string& id : wanted) loaded_[id] = std::nullopt;
    for (int i = 0; i < r.size(); ++i) {
      MPP_ASSIGN_OR_RETURN(RequestRow row, ReadRequestRow(r, i, 1));
      loaded_[r.Text(i, 0)] = std::move(row);
    }
    return Ok();
  }
  // A rev for a change in `scope`, taken under the scope's row lock, which this transaction then
  // holds until it ends. Why: a sequence value is taken before commit, so without the lock a
  // reader could see rev 11 of a scope committed while rev 10 is still in flight, move its
  // cursor past 10, and never receive it. Under the lock a scope's revs are taken one writer at a
  // time, each after the previous writer committed, so every rev of the scope still in flight is
  // above every committed one, and above the scope's head (scope_heads.rev, which a snapshot
  // reads as ScopeHead). Cost: writers of one van's scope take turns (a van's devices and the
  // staff editing its requests; different vans never wait for each other); a transaction that
  // also flags a duplicate at another van locks that scope too, so two such transactions can
  // deadlock, which PostgreSQL breaks by aborting one (kAborted, run again).
  //
  // Revs reserved by ExpectRevs are taken the same way, all at once: the head moves to the last
  // of them, so what this transaction does not use is skipped by readers, never reused.
  Result<uint64_t> NextRev(const std::string& scope) override {
    auto it = reserved_revs_.find(scope);
    if (it == reserved_revs_.end() || it->second.empty()) {
      MPP_RETURN_IF_ERROR(ReserveRevs(scope, 1));
      it = reserved_revs_.find(scope);
    }
    std::deque<uint64_t>& reserved = it->second;
    const uint64_t rev = reserved.front();
    reserved.pop_front();
    return rev;
  }
  Result<void> ExpectRevs(const std::string& scope, size_t count) override {
    const auto it = reserved_revs_.find(scope);
    const size_t have = it == reserved_revs_.end() ? 0 : it->second.size();
    if (count <= have) return Ok();
    return ReserveRevs(scope, std::min(count - have, kMaxReservedRevs));
  }
  Result<void> SaveRequest(const RequestRow& row, int64_t now_ms) override {
    if (auto known = loaded_.find(row.request.id); known != loaded_.end()) known->second = row;
    const sync::Request& q = row.request;
    Params p;
    p.Add(q.id).Add(q.receipt).Add(q.device_id).Add(row.agency).Add(q.service_id);
    p.Add(sync::StatusName(q.status)).Add(row.owner_rev).Add(now_ms).Add(sync::EncodeRequest(q));
    p.Add(row.rev);
    if (row.revs) {
      p.Add(sync::EncodeValue(*row.revs));
    } else {
      p.AddNull();
    }
    p.Add(row.van_code);
    return Run(
        "INSERT INTO requests(id, receipt, device_id, agency, service_id, status, "
        "owner_rev, updated_ms, body, rev, revs, van_code) VALUES ($1, $2, $3, $4, $5, $6, "
        "$7, $8, $9, $10, $11::bytea, $12) ON CONFLICT (id) DO UPDATE SET agency = "
        "excluded.agency, status = excluded.status, owner_rev = excluded.owner_rev, "
        "updated_ms = excluded.updated_ms, body = excluded.body, rev = excluded.rev, "
        "revs = excluded.revs",
        p);
  }
  Result<void> AddConflict(const std::string& device_id, uint64_t rev,
                           const sync::ConflictRecord& conflict, int64_t now_ms) override {
    return Run(
        "INSERT INTO conflicts(rev, device_id, request_id, created_ms, body) VALUES ($1, "
        "$2, $3, $4, $5)",
        Params()
            .Add(rev)
            .Add(device_id)
            .Add(conflict.request_id)
            .Add(now_ms)
            .Add(sync::EncodeConflict(conflict)));
  }
  Result<std::optional<Bytes>> AppliedDigest(const std::string& device_id, uint64_t seq) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Q("SELECT digest FROM applied WHERE device_id = $1 AND seq = $2",
                                   Params().Add(device_id).Add(seq)));
    if (r.size() == 0) return std::optional<Bytes>();
    return std::optional<Bytes>(r.Bytes(0, 0));
  }
  Result<void> RecordApplied(const std::string& device_id, uint64_t seq, ByteView digest) override {
    return Run("INSERT INTO applied(device_id, seq, digest) VALUES ($1, $2, $3)",
               Params().Add(device_id).Add(seq).Add(digest));
  }
  Result<std::vector<std::string>> RequestsWithReceipt(const std::string& receipt) override {
    MPP_ASSIGN_OR_RETURN(
        Rows r, Q("SELECT id FROM requests WHERE lower(receipt) = lower($1) AND receipt = $1 "
                  "ORDER BY id LIMIT 2",
                  Params().Add(receipt)));
    std::vector<std::string> out;
    for (int i = 0; i < r.size(); ++i) out.push_back(r.Text(i, 0));
    return out;
  }
  Result<uint32_t> NextReceiptSeries(const std::string& van_code) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Q("SELECT coalesce(max(receipt_series), 0) FROM devices WHERE "
                                   "van_code = $1",
                                   Params().Add(van_code)));
    return static_cast<uint32_t>(r.Int(0, 0) + 1);
  }
  Result<void> SetReceiptSeries(const std::string& device_id, uint32_t series) override {
    return Run("UPDATE devices SET receipt_series = $1 WHERE device_id = $2",
               Params().Add(int64_t{series}).Add(device_id));
  }
  Result<void> SetRecovering(const std::string& device_id, bool recovering) override {
    return Run("UPDATE devices SET recovering = $1 WHERE device_id = $2",
               Params().Add(int64_t{recovering ? 1 : 0}).Add(device_id));
  }
  Result<uint64_t> Epoch() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Q("SELECT value FROM counters WHERE name = 'epoch'"));
    return r.size() == 0 ? uint64_t{0} : static_cast<uint64_t>(r.Int(0, 0));
  }
  Result<void> StartEpoch(uint64_t epoch) override {
    MPP_RETURN_IF_ERROR(
        Run("UPDATE counters SET value = $1 WHERE name = 'epoch'", Params().Add(epoch)));
    return Run("UPDATE devices SET recovering = 1");
  }
  Result<void> MarkUnclean(const std::string& device_id, uint64_t seq) override {
    return Run("INSERT INTO unclean(device_id, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING",
               Params().Add(device_id).Add(seq));
  }
  Result<std::vector<uint64_t>> UncleanSeqs(const std::string& device_id, uint64_t first_seq,
                                            uint64_t last_seq) override {
    return UncleanSeqsOn(*conn_, device_id, first_seq, last_seq);
  }
  static Result<std::vector<uint64_t>> UncleanSeqsOn(Connection& conn, const std::string& device_id,
                                                     uint64_t first_seq, uint64_t last_seq) {
    MPP_ASSIGN_OR_RETURN(Rows r, conn.Query("SELECT seq FROM unclean WHERE device_id = $1 AND "
                                            "seq BETWEEN $2 AND $3 ORDER BY seq",
                                            Params().Add(device_id).Add(first_seq).Add(last_seq)));
    std::vector<uint64_t> out;
    for (int i = 0; i < r.size(); ++i) out.push_back(static_cast<uint64_t>(r.Int(i, 0)));
    return out;
  }
  Result<void> StoreEnvelope(const EnvelopeRecord& e) override {
    return Run(
        "INSERT INTO envelopes(device_id, first_seq, last_seq, received_ms, bytes) VALUES "
        "($1, $2, $3, $4, $5)",
        Params().Add(e.device_id).Add(e.first_seq).Add(e.last_seq).Add(e.received_ms).Add(e.bytes));
  }
  Result<void> AppendAudit(const std::string& actor, const std::string& action,
                           const std::string& target, const std::string& detail,
                           int64_t now_ms) override {
    return Run(
        "INSERT INTO audit(at_ms, actor, action, target, detail) VALUES ($1, $2, $3, $4, "
        "$5)",
        Params().Add(now_ms).Add(actor).Add(action).Add(target).Add(detail));
  }
  Result<int64_t> LoadHlc() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Q("SELECT coalesce(max(value), 0) FROM hlc"));
    return r.Int(0, 0);
  }
  // One row per server process and thread: a thread runs one transaction at a time, so no two
  // transactions wait for each other's clock row, while LoadHlc sees every node's latest.
  Result<void> SaveHlc(int64_t packed) override {
    return Run(
        "INSERT INTO hlc(node, value) VALUES ($1, $2) ON CONFLICT (node) DO UPDATE SET "
        "value = greatest(hlc.value, excluded.value)",
        Params().Add(hlc_node_).Add(packed));
  }
  Result<std::string> RevokeToken(const std::string& id, int64_t now_ms) override {
    if (id.size() != kTokenIdChars ||
        id.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return Error::InvalidInput("a token id is " + std::to_string(kTokenIdChars) +
                                 " hex digits, as `mpp-server token list` shows it");
    }
    std::string lower = id;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    MPP_ASSIGN_OR_RETURN(Rows r, Q("SELECT token_hash, van_code, used_ms, revoked_ms FROM tokens "
                                   "WHERE substr(encode(token_hash, 'hex'), 1, " +
                                       std::to_string(kTokenIdChars) + ") = $1 LIMIT 2 FOR UPDATE",
                                   Params().Add(lower)));
    if (r.size() == 0) return Error::NotFound("no token with id " + id);
    if (r.size() > 1) return Error::Conflict("token id " + id + " names two tokens");
    if (r.Int(0, 3) != 0) return Error::Conflict("token " + id + " is already revoked");
    if (r.Int(0, 2) != 0) {
      return Error::Conflict("token " + id + " was already used to enrol a device: revoke the " +
                             "device instead (`mpp-server device revoke DEVICE_ID`)");
    }
    MPP_RETURN_IF_ERROR(Run("UPDATE tokens SET revoked_ms = $1 WHERE token_hash = $2",
                            Params().Add(now_ms).Add(r.Bytes(0, 0))));
    return r.Text(0, 1);
  }
  Result<void> IndexNik(const std::string& request_id, ByteView nik_hash,
                        const std::string& service_id) override {
    return Run(
        "INSERT INTO request_nik(request_id, nik_hash, service_id) VALUES ($1, $2, $3) ON "
        "CONFLICT (request_id) DO UPDATE SET nik_hash = excluded.nik_hash, service_id = "
        "excluded.service_id",
        Params().Add(request_id).Add(nik_hash).Add(service_id));
  }
  Result<std::vector<NikMatch>> FindByNikHash(ByteView nik_hash,
                                              const std::string& service_id) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Q(std::string("SELECT ") + kNikMatchColumns +
                                       " FROM request_nik n JOIN requests r ON r.id = "
                                       "n.request_id WHERE n.nik_hash = $1 AND n.service_id = $2 "
                                       "ORDER BY r.receipt",
                                   Params().Add(nik_hash).Add(service_id)));
    std::vector<NikMatch> out;
    for (int i = 0; i < r.size(); ++i) out.push_back(ReadNikMatch(r, i, 0));
    return out;
  }
  Result<bool> RecordDuplicate(const std::string& request_id, const std::string& other_id,
                               int64_t now_ms) override {
    MPP_ASSIGN_OR_RETURN(Rows seen, Q("SELECT 1 FROM duplicates WHERE (request_id = $1 AND "
                                      "other_id = $2) OR (request_id = $2 AND other_id = $1)",
                                      Params().Add(request_id).Add(other_id)));
    if (seen.size() > 0) return false;
    MPP_ASSIGN_OR_RETURN(Rows r, Q("INSERT INTO duplicates(request_id, other_id, flagged_ms) "
                                   "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                                   Params().Add(request_id).Add(other_id).Add(now_ms)));
    return r.affected() == 1;
  }
  Result<std::optional<StoredConflict>> FindConflict(uint64_t rev) override {
    MPP_ASSIGN_OR_RETURN(Rows r,
                         Q(std::string(kConflictSelect) + "WHERE c.rev = $1", Params().Add(rev)));
    MPP_ASSIGN_OR_RETURN(auto all, ReadConflicts(r));
    if (all.empty()) return std::optional<StoredConflict>();
    return std::optional<StoredConflict>(std::move(all.front()));
  }
  Result<void> ResolveConflict(uint64_t rev, const std::string& by, const std::string& resolution,
                               int64_t now_ms) override {
    return Run(
        "UPDATE conflicts SET resolved_ms = $1, resolved_by = $2, resolution = $3 WHERE "
        "rev = $4 AND resolved_ms = 0",
        Params().Add(now_ms).Add(by).Add(resolution).Add(rev));
  }
  Result<std::pair<int64_t, std::string>> LoadCatalog() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Q("SELECT version, body FROM catalog FOR UPDATE"));
    if (r.size() == 0) return std::pair<int64_t, std::string>{0, ""};
    return std::pair<int64_t, std::string>{r.Int(0, 0), r.Text(0, 1)};
  }
  Result<void> SaveCatalog(int64_t version, const std::string& json) override {
    return Run(
        "INSERT INTO catalog(id, version, body) VALUES (1, $1, $2) ON CONFLICT (id) DO "
        "UPDATE SET version = excluded.version, body = excluded.body",
        Params().Add(version).Add(json));
  }
  Result<std::vector<sync::Request>> OpenRequests() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Q("SELECT body FROM requests WHERE status NOT IN (" +
                                   FinalStatusList() + ") ORDER BY receipt"));
    std::vector<sync::Request> out;
    for (int i = 0; i < r.size(); ++i) {
      MPP_ASSIGN_OR_RETURN(auto request, sync::DecodeRequest(r.Bytes(i, 0)));
      out.push_back(std::move(request));
    }
    return out;
  }
  Result<void> Commit() override { return txn_.Commit(); }

 private:
  Result<Rows> Q(const std::string& sql, const Params& params = Params()) {
    return conn_->Query(sql, params);
  }
  // A write whose rows nobody reads goes out with the transaction's next read or its COMMIT
  // (Connection::Defer): a push of many requests costs a round trip per read, not per
  // statement. Its errors show at that later call, which fails the transaction as usual.
  Result<void> Run(const std::string& sql, const Params& params = Params()) {
    return conn_->Defer(sql, params);
  }

  // Locks the scope's head row (for a scope not seen before, inserts it locked), then takes
  // `count` values of the revs sequence and moves the head to the last: one round trip, as the
  // lock and the head's update are deferred writes sent with the read.
  Result<void> ReserveRevs(const std::string& scope, size_t count) {
    auto [it, first] = reserved_revs_.try_emplace(scope);
    if (first) {
      MPP_RETURN_IF_ERROR(
          Run("INSERT INTO scope_heads(van_code, rev) VALUES ($1, 0) ON "
              "CONFLICT (van_code) DO UPDATE SET rev = scope_heads.rev",
              Params().Add(scope)));
    }
    MPP_ASSIGN_OR_RETURN(
        Rows r, Q("SELECT nextval('revs') FROM generate_series(1, $1)", Params().Add(count)));
    // nextval only grows within a session: the values come, and stay, ascending.
    std::deque<uint64_t>& reserved = it->second;
    for (int i = 0; i < r.size(); ++i) reserved.push_back(static_cast<uint64_t>(r.Int(i, 0)));
    return Run("UPDATE scope_heads SET rev = $2 WHERE van_code = $1",
               Params().Add(scope).Add(reserved.back()));
  }

  // A push of a few hundred mutations reserves its revs in one go; more are taken as needed.
  static constexpr size_t kMaxReservedRevs = 1000;

  // Declared in this order so the transaction ends (rolled back unless committed) before the
  // connection goes back to the pool.
  PooledConnection conn_;
  Transaction txn_;
  std::string hlc_node_;
  // Requests read (and locked) by this transaction, by id; nullopt for one that does not exist.
  std::map<std::string, std::optional<RequestRow>> loaded_;
  // Revs reserved and not yet taken, ascending, by scope; a scope is here once this transaction
  // holds its head row.
  std::map<std::string, std::deque<uint64_t>> reserved_revs_;
};

// One snapshot: REPEATABLE READ, READ ONLY.
class PostgresSnapshot final : public StorageSnapshot {
 public:
  PostgresSnapshot(PooledConnection conn, Transaction txn)
      : conn_(std::move(conn)), txn_(std::move(txn)) {}
  ~PostgresSnapshot() override { (void)txn_.Commit(); }

  Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) override {
    MPP_ASSIGN_OR_RETURN(Rows r, conn_->Query(std::string("SELECT ") + kDeviceColumns +
                                                  " FROM devices WHERE device_id = $1",
                                              Params().Add(device_id)));
    if (r.size() == 0) return std::optional<DeviceRecord>();
    return std::optional<DeviceRecord>(ReadDevice(r, 0));
  }
  Result<uint64_t> Epoch() override {
    MPP_ASSIGN_OR_RETURN(Rows r, conn_->Query("SELECT value FROM counters WHERE name = 'epoch'"));
    return r.size() == 0 ? uint64_t{0} : static_cast<uint64_t>(r.Int(0, 0));
  }
  Result<uint64_t> ScopeHead(const std::string& scope) override {
    MPP_ASSIGN_OR_RETURN(Rows r, conn_->Query("SELECT rev FROM scope_heads WHERE van_code = $1",
                                              Params().Add(scope)));
    return r.size() == 0 ? uint64_t{0} : static_cast<uint64_t>(r.Int(0, 0));
  }
  Result<std::vector<uint64_t>> UncleanSeqs(const std::string& device_id, uint64_t first_seq,
                                            uint64_t last_seq) override {
    return PostgresTxn::UncleanSeqsOn(*conn_, device_id, first_seq, last_seq);
  }
  Result<std::vector<FeedRow>> OwnRequestsAfter(const std::string& device_id, uint64_t after,
                                                bool by_latest_change, size_t limit) override {
    MPP_ASSIGN_OR_RETURN(
        Rows r, conn_->Query(by_latest_change
                                 ? "SELECT rev, body, revs FROM requests WHERE device_id = $1 AND "
                                   "rev > $2 ORDER BY rev LIMIT $3"
                                 : "SELECT owner_rev, body, revs FROM requests WHERE device_id = "
                                   "$1 AND owner_rev > $2 ORDER BY owner_rev LIMIT $3",
                             Params().Add(device_id).Add(after).Add(limit)));
    return ReadFeed(r);
  }
  Result<std::vector<FeedRow>> VanRequestsAfter(const std::string& van_code,
                                                const std::string& except_device_id, uint64_t after,
                                                size_t limit) override {
    MPP_ASSIGN_OR_RETURN(
        Rows r, conn_->Query("SELECT rev, body, revs FROM requests WHERE "
                             "van_code = $1 AND device_id <> $2 AND rev > $3 "
                             "ORDER BY rev LIMIT $4",
                             Params().Add(van_code).Add(except_device_id).Add(after).Add(limit)));
    return ReadFeed(r);
  }
  Result<std::vector<FeedRow>> ConflictsAfter(const std::string& device_id, uint64_t after,
                                              size_t limit) override {
    MPP_ASSIGN_OR_RETURN(Rows r, conn_->Query("SELECT rev, body, NULL::bytea FROM conflicts WHERE "
                                              "device_id = $1 AND rev > $2 ORDER BY rev LIMIT $3",
                                              Params().Add(device_id).Add(after).Add(limit)));
    return ReadFeed(r);
  }

 private:
  PooledConnection conn_;
  Transaction txn_;
};

class PostgresStorage final : public ServerStorage {
 public:
  PostgresStorage(std::unique_ptr<ConnectionPool> pool, PostgresOptions options)
      : pool_(std::move(pool)),
        options_(options),
        staff_(MakePostgresStaffStore([this] { return Connect(); })) {
    // Names this process's clock rows (SaveHlc): random, so processes on one host differ.
    node_ = ToHex(crypto::RandomBytes(6));
  }

  // A pooled connection on a schema of this version (migrated at the first connection).
  Result<PooledConnection> Connect() {
    auto conn = pool_->Acquire(options_.acquire_wait);
    if (!conn) {
      return Error(conn.error().code(), "the database is unavailable: " + conn.error().message());
    }
    if (!schema_ready_.load()) MPP_RETURN_IF_ERROR(EnsureSchema(**conn));
    return std::move(*conn);
  }

  Result<void> EnsureSchema(Connection& conn) {
    std::lock_guard<std::mutex> lock(schema_mu_);
    if (schema_ready_.load()) return Ok();
    // A session of ours idle inside a transaction holds row locks (a van's scope, a device):
    // end it instead of letting it stall every push of that van.
    MPP_RETURN_IF_ERROR(conn.Exec("SET idle_in_transaction_session_timeout = '60s'"));
    {
      MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(conn));
      MPP_ASSIGN_OR_RETURN(Rows locked, conn.Query("SELECT pg_advisory_xact_lock($1)",
                                                   Params().Add(kMigrationLock)));
      (void)locked;
      MPP_RETURN_IF_ERROR(
          conn.Exec("CREATE TABLE IF NOT EXISTS mpp_schema(id INT PRIMARY KEY "
                    "CHECK (id = 1), version INT NOT NULL)"));
      MPP_ASSIGN_OR_RETURN(Rows v, conn.Query("SELECT version FROM mpp_schema"));
      int version = v.size() == 0 ? 0 : static_cast<int>(v.Int(0, 0));
      if (version > kSchemaVersion) {
        return Error::InvalidInput("the database has schema v" + std::to_string(version) +
                                   ", made by a newer mpp-server: upgrade mpp-server");
      }
      for (; version < kSchemaVersion; ++version) {
        MPP_RETURN_IF_ERROR(conn.Exec(kMigrations[version]));
      }
      MPP_RETURN_IF_ERROR(conn.Exec("INSERT INTO mpp_schema(id, version) VALUES (1, " +
                                    std::to_string(kSchemaVersion) +
                                    ") ON CONFLICT (id) DO UPDATE SET version = "
                                    "excluded.version"));
      MPP_RETURN_IF_ERROR(txn.Commit());
    }
    // Clock rows another process's latest dominates say nothing more (SaveHlc).
    MPP_RETURN_IF_ERROR(conn.Exec("DELETE FROM hlc WHERE value < (SELECT max(value) FROM hlc)"));
    schema_ready_.store(true);
    return Ok();
  }

  StaffStore& staff_store() override { return *staff_; }

  Result<std::unique_ptr<StorageTxn>> Begin() override {
    MPP_ASSIGN_OR_RETURN(PooledConnection conn, Connect());
    MPP_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*conn));
    std::ostringstream node;
    node << node_ << ":" << std::this_thread::get_id();
    return std::unique_ptr<StorageTxn>(
        new PostgresTxn(std::move(conn), std::move(txn), node.str()));
  }

  Result<std::unique_ptr<StorageSnapshot>> BeginRead() override {
    MPP_ASSIGN_OR_RETURN(PooledConnection conn, Connect());
    MPP_ASSIGN_OR_RETURN(Transaction txn,
                         Transaction::Begin(*conn, postgres::Isolation::kRepeatableRead,
                                            postgres::Access::kReadOnly));
    return std::unique_ptr<StorageSnapshot>(new PostgresSnapshot(std::move(conn), std::move(txn)));
  }

  Result<void> CheckHealth() override {
    MPP_ASSIGN_OR_RETURN(PooledConnection conn, Connect());
    return conn->Ping();
  }

  Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kDeviceColumns +
                                           " FROM devices WHERE device_id = $1",
                                       Params().Add(device_id)));
    if (r.size() == 0) return std::optional<DeviceRecord>();
    return std::optional<DeviceRecord>(ReadDevice(r, 0));
  }
  Result<std::vector<DeviceRecord>> ListDevices() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kDeviceColumns +
                                       " FROM devices ORDER BY van_code, enrolled_ms"));
    std::vector<DeviceRecord> out;
    for (int i = 0; i < r.size(); ++i) out.push_back(ReadDevice(r, i));
    return out;
  }
  Result<std::vector<StoredRequest>> ListRequests(const RequestQuery& q) override {
    // Only the filters given go into the SQL, so the planner uses the indexes.
    std::string sql = "SELECT body, agency, owner_rev FROM requests WHERE true";
    Params p;
    int n = 0;
    if (q.status) {
      sql += " AND status = $" + std::to_string(++n);
      p.Add(sync::StatusName(*q.status));
    }
    if (q.agency) {
      sql += " AND agency = $" + std::to_string(++n);
      p.Add(*q.agency);
    }
    if (q.device_id) {
      sql += " AND device_id = $" + std::to_string(++n);
      p.Add(*q.device_id);
    }
    sql += " ORDER BY receipt LIMIT $" + std::to_string(++n);
    p.Add(q.limit);
    MPP_ASSIGN_OR_RETURN(Rows r, Query(sql, p));
    return ReadStoredRequests(r);
  }
  Result<void> NoteDeviceSync(const std::string& device_id, int64_t now_ms) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query("UPDATE devices SET last_sync_ms = greatest(last_sync_ms, "
                                       "$2) WHERE device_id = $1",
                                       Params().Add(device_id).Add(now_ms)));
    (void)r;
    return Ok();
  }

  Result<RequestPageRows> PageRequests(const RequestPageQuery& q) override {
    std::string where = " WHERE true";
    Params p;
    int n = 0;
    if (q.agency) {
      where += " AND agency = $" + std::to_string(++n);
      p.Add(*q.agency);
    }
    if (!q.service_id.empty()) {
      where += " AND service_id = $" + std::to_string(++n);
      p.Add(q.service_id);
    }
    if (!q.van_code.empty()) {
      where += " AND van_code = $" + std::to_string(++n);
      p.Add(q.van_code);
    }
    MPP_ASSIGN_OR_RETURN(PooledConnection conn, Connect());
    // One snapshot for both statements.
    MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(*conn, postgres::Isolation::kRepeatableRead,
                                                      postgres::Access::kReadOnly));
    RequestPageRows out;
    if (q.after_id) {
      std::string sql = "SELECT body, agency, owner_rev, van_code FROM requests" + where;
      if (q.status) {
        sql += " AND status = $" + std::to_string(++n);
        p.Add(sync::StatusName(*q.status));
      }
      sql += " AND id > $" + std::to_string(++n);
      p.Add(*q.after_id);
      sql += " ORDER BY id LIMIT $" + std::to_string(++n);
      p.Add(q.limit);
      MPP_ASSIGN_OR_RETURN(Rows r, conn->Query(sql, p));
      MPP_ASSIGN_OR_RETURN(out.rows, ReadStoredRequests(r));
      for (int i = 0; i < r.size(); ++i) out.van_codes.push_back(r.Text(i, 3));
      MPP_RETURN_IF_ERROR(txn.Commit());
      return out;
    }
    MPP_ASSIGN_OR_RETURN(
        Rows counts,
        conn->Query("SELECT status, count(*)::int8 FROM requests" + where + " GROUP BY status", p));
    for (int i = 0; i < counts.size(); ++i) {
      if (auto status = sync::ParseStatus(counts.Text(i, 0))) {
        out.counts[*status] = static_cast<size_t>(counts.Int(i, 1));
      }
    }
    std::string sql = "SELECT body, agency, owner_rev, van_code FROM requests" + where;
    if (q.status) {
      sql += " AND status = $" + std::to_string(++n);
      p.Add(sync::StatusName(*q.status));
    }
    const bool newest_first = q.by_receipt == q.reversed;
    sql += std::string(" ORDER BY ") + (q.by_receipt ? "receipt" : "updated_ms") +
           (newest_first ? " DESC, id DESC" : ", id");
    sql += " LIMIT $" + std::to_string(++n);
    p.Add(q.limit);
    sql += " OFFSET $" + std::to_string(++n);
    p.Add(q.offset);
    MPP_ASSIGN_OR_RETURN(Rows r, conn->Query(sql, p));
    MPP_ASSIGN_OR_RETURN(out.rows, ReadStoredRequests(r));
    for (int i = 0; i < r.size(); ++i) out.van_codes.push_back(r.Text(i, 3));
    MPP_RETURN_IF_ERROR(txn.Commit());
    return out;
  }

  Result<std::optional<StoredRequest>> FindRequest(const std::string& id_or_receipt) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query("SELECT body, agency, owner_rev, id FROM requests WHERE "
                                       "id = $1 OR lower(receipt) = lower($1) ORDER BY id = $1 "
                                       "DESC, id LIMIT 2",
                                       Params().Add(id_or_receipt)));
    if (r.size() == 0) return std::optional<StoredRequest>();
    MPP_ASSIGN_OR_RETURN(auto request, sync::DecodeRequest(r.Bytes(0, 0)));
    const std::string first_id = r.Text(0, 3);
    if (first_id != id_or_receipt && r.size() > 1) {
      return Error::Conflict("receipt " + id_or_receipt + " names two requests (" + first_id +
                             " and " + r.Text(1, 3) + "): give the request id");
    }
    return std::optional<StoredRequest>(
        StoredRequest{std::move(request), r.Text(0, 1), static_cast<uint64_t>(r.Int(0, 2))});
  }
  Result<uint64_t> Epoch() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query("SELECT value FROM counters WHERE name = 'epoch'"));
    return r.size() == 0 ? uint64_t{0} : static_cast<uint64_t>(r.Int(0, 0));
  }
  Result<std::vector<StoredConflict>> ListConflicts() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query(std::string(kConflictSelect) + "ORDER BY c.rev"));
    return ReadConflicts(r);
  }
  Result<std::vector<StoredConflict>> ConflictsOf(const std::string& request_id) override {
    MPP_ASSIGN_OR_RETURN(
        Rows r, Query(std::string(kConflictSelect) + "WHERE c.request_id = $1 ORDER BY c.rev",
                      Params().Add(request_id)));
    return ReadConflicts(r);
  }
  Result<std::vector<StoredToken>> ListTokens() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query("SELECT substr(encode(token_hash, 'hex'), 1, " +
                                       std::to_string(kTokenIdChars) +
                                       "), van_code, expires_ms, used_ms, used_by, created_ms, "
                                       "revoked_ms FROM tokens ORDER BY created_ms, van_code"));
    std::vector<StoredToken> out;
    for (int i = 0; i < r.size(); ++i) {
      out.push_back(
          {r.Text(i, 0),
           {r.Text(i, 1), r.Int(i, 2), r.Int(i, 3), r.Text(i, 4), r.Int(i, 5), r.Int(i, 6)}});
    }
    return out;
  }
  Result<std::vector<StoredRequest>> RequestsWithNikHash(ByteView nik_hash) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query("SELECT r.body, r.agency, r.owner_rev FROM request_nik n "
                                       "JOIN requests r ON r.id = n.request_id WHERE n.nik_hash "
                                       "= $1 ORDER BY r.receipt",
                                       Params().Add(nik_hash)));
    return ReadStoredRequests(r);
  }
  Result<std::vector<DuplicatePair>> ListDuplicates() override {
    MPP_ASSIGN_OR_RETURN(
        Rows r, Query(std::string("SELECT x.flagged_ms, ") + kNikMatchColumns +
                      ", o.id, o.receipt, o.device_id, o.van_code, o.status FROM duplicates x "
                      "JOIN requests r ON r.id = x.request_id JOIN requests o ON o.id = "
                      "x.other_id ORDER BY r.receipt, o.receipt"));
    std::vector<DuplicatePair> out;
    for (int i = 0; i < r.size(); ++i) {
      out.push_back({ReadNikMatch(r, i, 1), ReadNikMatch(r, i, 6), r.Int(i, 0)});
    }
    return out;
  }
  Result<void> ForEachEnvelope(
      const std::function<Result<void>(const EnvelopeRecord&)>& fn) override {
    int64_t after = 0;
    for (;;) {
      std::vector<EnvelopeRecord> page;
      {
        MPP_ASSIGN_OR_RETURN(Rows r, Query("SELECT id, device_id, first_seq, last_seq, "
                                           "received_ms, bytes FROM envelopes WHERE id > $1 "
                                           "ORDER BY id LIMIT 256",
                                           Params().Add(after)));
        for (int i = 0; i < r.size(); ++i) {
          page.push_back({r.Int(i, 0), r.Text(i, 1), static_cast<uint64_t>(r.Int(i, 2)),
                          static_cast<uint64_t>(r.Int(i, 3)), r.Int(i, 4), r.Bytes(i, 5)});
        }
      }
      if (page.empty()) return Ok();
      for (const auto& e : page) MPP_RETURN_IF_ERROR(fn(e));
      after = page.back().id;
    }
  }
  Result<void> BackupTo(const std::string& /*file*/) override {
    return Error::InvalidInput(
        "a PostgreSQL database is backed up with pg_dump or a base backup (see README), not "
        "`mpp-server backup`");
  }
  Result<std::pair<int64_t, std::string>> LoadCatalog() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query("SELECT version, body FROM catalog"));
    if (r.size() == 0) return std::pair<int64_t, std::string>{0, ""};
    return std::pair<int64_t, std::string>{r.Int(0, 0), r.Text(0, 1)};
  }
  Result<void> SaveCatalog(int64_t version, const std::string& json) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query("INSERT INTO catalog(id, version, body) VALUES (1, $1, $2) "
                                       "ON CONFLICT (id) DO UPDATE SET version = "
                                       "excluded.version, body = excluded.body",
                                       Params().Add(version).Add(json)));
    (void)r;
    return Ok();
  }
  Result<int64_t> CatalogVersion() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query("SELECT version FROM catalog"));
    return r.size() == 0 ? int64_t{0} : r.Int(0, 0);
  }

 private:
  // One statement outside any transaction (autocommit: one snapshot of its own).
  Result<Rows> Query(const std::string& sql, const Params& params = Params()) {
    MPP_ASSIGN_OR_RETURN(PooledConnection conn, Connect());
    return conn->Query(sql, params);
  }

  std::unique_ptr<ConnectionPool> pool_;
  PostgresOptions options_;
  std::unique_ptr<StaffStore> staff_;
  std::string node_;
  std::mutex schema_mu_;  // serialises EnsureSchema
  std::atomic<bool> schema_ready_{false};
};

}  // namespace

bool IsPostgresUrl(std::string_view location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<ServerStorage>> OpenPostgresStorage(const std::string& url,
                                                           const PostgresOptions& options) {
  MPP_ASSIGN_OR_RETURN(auto pool, ConnectionPool::Open(url, static_cast<int>(options.pool_size),
                                                       options.connect_timeout));
  auto storage = std::make_unique<PostgresStorage>(std::move(pool), options);
  auto first = storage->Connect();  // creates or upgrades the schema
  if (!first && (options.require_connection || first.error().code() != ErrorCode::kUnavailable)) {
    return first.error();
  }
  return std::unique_ptr<ServerStorage>(std::move(storage));
}

}  // namespace mpp::server
