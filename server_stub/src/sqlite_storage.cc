// The embedded default backend: one SQLite file in WAL mode with synchronous=FULL, so an
// acknowledged push survives a crash or power loss. One connection per process, guarded by a
// mutex: SQLite has a single writer anyway, and administrator commands in other processes
// wait on the busy timeout. Reads (pulls, lists, lookups) go through a second connection and
// never wait for a writer's fsync.
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "mpp/server/storage.h"
#include "mpp/sqlite/sqlite.h"
#include "mpp/sync/codec.h"
#include "staff_stores.h"

namespace mpp::server {
namespace {

using sqlite::Database;
using sqlite::Statement;

constexpr int kApplicationId = 0x4D505053;  // 'MPPS'
constexpr int kSchemaVersion = 6;
// Below this much free disk the server stops acknowledging (THREATS.md row 13): SQLite needs
// room for the WAL and a checkpoint, and a van can always retry later.
constexpr uint64_t kMinFreeDiskBytes = 16ull << 20;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS devices(
  device_id TEXT PRIMARY KEY,
  van_code TEXT NOT NULL,
  public_key BLOB NOT NULL,
  enrolled_ms INTEGER NOT NULL,
  revoked_ms INTEGER NOT NULL DEFAULT 0,
  last_applied_seq INTEGER NOT NULL DEFAULT 0,
  last_sync_ms INTEGER NOT NULL DEFAULT 0,
  receipt_series INTEGER NOT NULL DEFAULT 0,
  recovering INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens(
  token_hash BLOB PRIMARY KEY,
  van_code TEXT NOT NULL,
  expires_ms INTEGER NOT NULL,
  used_ms INTEGER NOT NULL DEFAULT 0,
  used_by TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL DEFAULT 0,
  revoked_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS requests(
  id TEXT PRIMARY KEY,
  receipt TEXT NOT NULL,
  device_id TEXT NOT NULL,
  agency TEXT NOT NULL,
  service_id TEXT NOT NULL,
  status TEXT NOT NULL,
  owner_rev INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  body BLOB NOT NULL,
  van_code TEXT NOT NULL DEFAULT '',
  rev INTEGER NOT NULL DEFAULT 0,
  revs BLOB);
CREATE INDEX IF NOT EXISTS requests_pull ON requests(device_id, owner_rev);
CREATE INDEX IF NOT EXISTS requests_van ON requests(van_code, rev);
CREATE INDEX IF NOT EXISTS requests_agency ON requests(agency, status);
CREATE INDEX IF NOT EXISTS requests_receipt_nocase ON requests(receipt COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS conflicts(
  rev INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  body BLOB NOT NULL,
  resolved_ms INTEGER NOT NULL DEFAULT 0,
  resolved_by TEXT NOT NULL DEFAULT '',
  resolution TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS conflicts_pull ON conflicts(device_id, rev);
CREATE INDEX IF NOT EXISTS conflicts_request ON conflicts(request_id);
CREATE TABLE IF NOT EXISTS request_nik(
  request_id TEXT PRIMARY KEY,
  nik_hash BLOB NOT NULL,
  service_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS request_nik_hash ON request_nik(nik_hash, service_id);
CREATE TABLE IF NOT EXISTS duplicates(
  request_id TEXT NOT NULL,
  other_id TEXT NOT NULL,
  flagged_ms INTEGER NOT NULL,
  PRIMARY KEY(request_id, other_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS unclean(
  device_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(device_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS applied(
  device_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  digest BLOB NOT NULL,
  PRIMARY KEY(device_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS envelopes(
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  received_ms INTEGER NOT NULL,
  bytes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit(
  id INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters(
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO counters(name, value) VALUES ('rev', 0), ('hlc', 0);
CREATE TABLE IF NOT EXISTS catalog(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL,
  body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staff_accounts(
  user_name TEXT PRIMARY KEY,
  agency TEXT NOT NULL,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  disabled_ms BIGINT NOT NULL DEFAULT 0,
  password_changed_ms BIGINT NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS staff_sessions(
  id_hash BLOB PRIMARY KEY,
  user_name TEXT NOT NULL,
  csrf TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  last_seen_ms BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS staff_sessions_user ON staff_sessions(user_name);
CREATE INDEX IF NOT EXISTS staff_sessions_created ON staff_sessions(created_ms);
CREATE TABLE IF NOT EXISTS staff_comments(
  id INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  user_name TEXT NOT NULL,
  body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS staff_comments_request ON staff_comments(request_id);
)sql";

DeviceRecord ReadDevice(const Statement& s) {
  DeviceRecord d;
  d.device_id = s.ColumnText(0);
  d.van_code = s.ColumnText(1);
  d.public_key = s.ColumnBlob(2);
  d.enrolled_ms = s.ColumnInt(3);
  d.revoked_ms = s.ColumnInt(4);
  d.last_applied_seq = static_cast<uint64_t>(s.ColumnInt(5));
  d.last_sync_ms = s.ColumnInt(6);
  d.receipt_series = static_cast<uint32_t>(s.ColumnInt(7));
  d.recovering = s.ColumnInt(8) != 0;
  return d;
}

constexpr const char* kDeviceColumns =
    "device_id, van_code, public_key, enrolled_ms, revoked_ms, last_applied_seq, last_sync_ms, "
    "receipt_series, recovering";

Result<uint64_t> ReadEpoch(Statement* s) {
  MPP_ASSIGN_OR_RETURN(bool row, s->Step());
  const uint64_t epoch = row ? static_cast<uint64_t>(s->ColumnInt(0)) : 0;
  s->Reset();
  return epoch;
}

constexpr const char* kEpochSql = "SELECT value FROM counters WHERE name = 'epoch'";
constexpr const char* kUncleanSql =
    "SELECT seq FROM unclean WHERE device_id = ? AND seq BETWEEN ? AND ? ORDER BY seq";

// A conflict with the receipt of its request and the van code of its device, for people.
constexpr const char* kConflictSelect =
    "SELECT c.rev, c.device_id, c.created_ms, c.body, coalesce(r.receipt, ''), "
    "coalesce(d.van_code, ''), c.resolved_ms, c.resolved_by, c.resolution FROM conflicts c "
    "LEFT JOIN requests r ON r.id = c.request_id "
    "LEFT JOIN devices d ON d.device_id = c.device_id ";

Result<StoredConflict> ReadConflict(const Statement& s) {
  MPP_ASSIGN_OR_RETURN(auto conflict, sync::DecodeConflict(s.ColumnBlob(3)));
  StoredConflict c;
  c.rev = static_cast<uint64_t>(s.ColumnInt(0));
  c.device_id = s.ColumnText(1);
  c.created_ms = s.ColumnInt(2);
  c.conflict = std::move(conflict);
  c.receipt = s.ColumnText(4);
  c.van_code = s.ColumnText(5);
  c.resolved_ms = s.ColumnInt(6);
  c.resolved_by = s.ColumnText(7);
  c.resolution = s.ColumnText(8);
  return c;
}

// Steps `s` to its end, decoding every row as a conflict.
Result<std::vector<StoredConflict>> ReadConflicts(Statement& s) {
  std::vector<StoredConflict> out;
  for (;;) {
    MPP_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    MPP_ASSIGN_OR_RETURN(auto c, ReadConflict(s));
    out.push_back(std::move(c));
  }
  return out;
}

// Steps `s` (columns body, agency, owner_rev) to its end, decoding every row as a request.
// Rows of "body, agency, owner_rev, van_code".
Result<void> ReadPageRows(Statement& s, RequestPageRows& out) {
  for (;;) {
    MPP_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Ok();
    MPP_ASSIGN_OR_RETURN(auto request, sync::DecodeRequest(s.ColumnBlob(0)));
    out.rows.push_back(
        {std::move(request), s.ColumnText(1), static_cast<uint64_t>(s.ColumnInt(2))});
    out.van_codes.push_back(s.ColumnText(3));
  }
}

Result<std::vector<StoredRequest>> ReadStoredRequests(Statement& s) {
  std::vector<StoredRequest> out;
  for (;;) {
    MPP_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    MPP_ASSIGN_OR_RETURN(auto request, sync::DecodeRequest(s.ColumnBlob(0)));
    out.push_back({std::move(request), s.ColumnText(1), static_cast<uint64_t>(s.ColumnInt(2))});
  }
  return out;
}

// A request found through the NIK index: id, receipt, device, van code, status.
constexpr const char* kNikMatchColumns = "r.id, r.receipt, r.device_id, r.van_code, r.status";

NikMatch ReadNikMatch(const Statement& s, int first) {
  NikMatch m;
  m.request_id = s.ColumnText(first);
  m.receipt = s.ColumnText(first + 1);
  m.device_id = s.ColumnText(first + 2);
  m.van_code = s.ColumnText(first + 3);
  m.status = sync::ParseStatus(s.ColumnText(first + 4)).value_or(sync::RequestStatus::kSubmitted);
  return m;
}

// Steps a cached statement to its end, reading each row with `read`; the statement is reset
// either way, so it can be bound again.
template <typename T, typename Read>
Result<std::vector<T>> ReadAll(Statement* s, const Read& read) {
  std::vector<T> out;
  for (;;) {
    auto row = s->Step();
    if (!row) {
      s->Reset();
      return row.error();
    }
    if (!*row) break;
    out.push_back(read(*s));
  }
  s->Reset();
  return out;
}

class SqliteStorage;

class SqliteTxn final : public StorageTxn {
 public:
  SqliteTxn(SqliteStorage& storage, std::unique_lock<std::mutex> lock, sqlite::Transaction txn)
      : storage_(storage), lock_(std::move(lock)), txn_(std::move(txn)) {}

  Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) override;
  Result<void> InsertDevice(const DeviceRecord& device) override;
  Result<bool> AdvanceDeviceSeq(const std::string& device_id, uint64_t expected,
                                uint64_t last_applied_seq, int64_t now_ms) override;
  Result<void> RevokeDevice(const std::string& device_id, int64_t now_ms) override;
  Result<std::optional<TokenRecord>> FindToken(ByteView token_hash) override;
  Result<void> InsertToken(ByteView token_hash, const TokenRecord& token) override;
  Result<void> MarkTokenUsed(ByteView token_hash, const std::string& device_id,
                             int64_t now_ms) override;
  Result<std::optional<RequestRow>> LoadRequest(const std::string& id) override;
  Result<uint64_t> NextRev(const std::string& scope) override;
  Result<void> SaveRequest(const RequestRow& row, int64_t now_ms) override;
  Result<void> AddConflict(const std::string& device_id, uint64_t rev,
                           const sync::ConflictRecord& conflict, int64_t now_ms) override;
  Result<std::optional<Bytes>> AppliedDigest(const std::string& device_id, uint64_t seq) override;
  Result<void> RecordApplied(const std::string& device_id, uint64_t seq, ByteView digest) override;
  Result<std::vector<std::string>> RequestsWithReceipt(const std::string& receipt) override;
  Result<uint32_t> NextReceiptSeries(const std::string& van_code) override;
  Result<void> SetReceiptSeries(const std::string& device_id, uint32_t series) override;
  Result<void> SetRecovering(const std::string& device_id, bool recovering) override;
  Result<uint64_t> Epoch() override;
  Result<void> StartEpoch(uint64_t epoch) override;
  Result<void> MarkUnclean(const std::string& device_id, uint64_t seq) override;
  Result<std::vector<uint64_t>> UncleanSeqs(const std::string& device_id, uint64_t first_seq,
                                            uint64_t last_seq) override;
  Result<void> StoreEnvelope(const EnvelopeRecord& envelope) override;
  Result<void> AppendAudit(const std::string& actor, const std::string& action,
                           const std::string& target, const std::string& detail,
                           int64_t now_ms) override;
  Result<int64_t> LoadHlc() override;
  Result<void> SaveHlc(int64_t packed) override;
  Result<std::string> RevokeToken(const std::string& id, int64_t now_ms) override;
  Result<void> IndexNik(const std::string& request_id, ByteView nik_hash,
                        const std::string& service_id) override;
  Result<std::vector<NikMatch>> FindByNikHash(ByteView nik_hash,
                                              const std::string& service_id) override;
  Result<bool> RecordDuplicate(const std::string& request_id, const std::string& other_id,
                               int64_t now_ms) override;
  Result<std::optional<StoredConflict>> FindConflict(uint64_t rev) override;
  Result<void> ResolveConflict(uint64_t rev, const std::string& by, const std::string& resolution,
                               int64_t now_ms) override;
  Result<std::pair<int64_t, std::string>> LoadCatalog() override;
  Result<void> SaveCatalog(int64_t version, const std::string& json) override;
  Result<std::vector<sync::Request>> OpenRequests() override;
  Result<void> Commit() override;

 private:
  Result<Statement*> Prepared(const std::string& sql);

  SqliteStorage& storage_;
  std::unique_lock<std::mutex> lock_;
  sqlite::Transaction txn_;
  // The counter's value, read at first use and written back at commit. SQLite has one writer
  // at a time, so one counter orders every scope: revs become visible in the order taken.
  std::optional<uint64_t> rev_;
};

// A second connection for the reads of every sync (device keys, pull pages). In WAL mode they
// see the last committed state without waiting for the writer, whose commits wait for the disk:
// in the evening rush, pulls and signature checks no longer queue behind other vans' pushes.
class ReadConnection {
 public:
  explicit ReadConnection(Database db) : db_(std::move(db)) {}
  std::mutex& mu() { return mu_; }
  Database& db() { return db_; }
  Result<Statement*> Prepared(const std::string& sql) { return statements_.Get(sql); }

 private:
  std::mutex mu_;  // guards db_ and statements_
  Database db_;
  sqlite::StatementCache statements_{db_};
};

class SqliteStorage final : public ServerStorage {
 public:
  SqliteStorage(Database db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}

  // Remembers which file the connections opened, so CheckHealth notices when the data
  // directory is deleted or replaced under the running server: SQLite would go on writing into
  // the unlinked file, acknowledging pushes that vanish at the next start.
  Result<void> RememberFileIdentity() {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      return Error::Unavailable(std::string("cannot read the database file: ") +
                                std::strerror(errno));
    }
    device_ = st.st_dev;
    inode_ = st.st_ino;
    return Ok();
  }

  Result<void> CheckHealth() override {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      return Error::Unavailable(
          "the database file is gone from the data directory; nothing is accepted until the "
          "server is restarted on its data");
    }
    if (st.st_dev != device_ || st.st_ino != inode_) {
      return Error::Unavailable(
          "the database file in the data directory was replaced while the server ran; nothing is "
          "accepted until the server is restarted (use `mpp-server restore` for a backup)");
    }
    if (::access(path_.c_str(), W_OK) != 0) {
      return Error::Unavailable("the database file is not writable by the server");
    }
    struct statvfs fs {};
    if (::statvfs(path_.c_str(), &fs) == 0 &&
        static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize < kMinFreeDiskBytes) {
      return Error::StorageFull("the server's disk is almost full (under 16 MiB free)");
    }
    return Ok();
  }

  Result<void> BackupTo(const std::string& file) override {
    // VACUUM INTO reads one snapshot on the read connection: pushes go on meanwhile.
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(auto s, reader_->db().Prepare("VACUUM INTO ?"));
    s.Bind(1, file);
    return s.Run();
  }

  Result<uint64_t> Epoch() override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(Statement * s, reader_->Prepared(kEpochSql));
    return ReadEpoch(s);
  }

  // Opens the read connection; after Init, which made the file WAL.
  Result<void> OpenReader(const std::string& path) {
    MPP_ASSIGN_OR_RETURN(Database db, Database::Open(path, Database::Mode::kReadWrite));
    reader_ = std::make_unique<ReadConnection>(std::move(db));
    return Ok();
  }

  Result<void> Init() {
    MPP_ASSIGN_OR_RETURN(const int64_t app_id, db_.PragmaInt("application_id"));
    MPP_ASSIGN_OR_RETURN(const int64_t version, db_.PragmaInt("user_version"));
    if (app_id != 0 && app_id != kApplicationId) {
      return Error::InvalidInput("the database is not an mpp-server database");
    }
    if (version > kSchemaVersion) {
      return Error::InvalidInput("the database has schema v" + std::to_string(version) +
                                 ", made by a newer mpp-server: upgrade mpp-server");
    }
    MPP_RETURN_IF_ERROR(db_.UseDurableWal());
    MPP_ASSIGN_OR_RETURN(auto txn, sqlite::Transaction::Begin(db_));
    if (version == 1 || version == 2) {
      // v3: receipt series per device (existing devices numbered per van code in enrolment
      // order), recovery after a restore, a digest per applied seq (AppliedDigest), the epoch.
      MPP_RETURN_IF_ERROR(db_.Exec(
          "ALTER TABLE devices ADD COLUMN receipt_series INTEGER NOT NULL DEFAULT 0;"
          "ALTER TABLE devices ADD COLUMN recovering INTEGER NOT NULL DEFAULT 0;"
          "UPDATE devices SET receipt_series = (SELECT count(*) FROM devices d2 WHERE "
          "d2.van_code = devices.van_code AND (d2.enrolled_ms < devices.enrolled_ms OR "
          "(d2.enrolled_ms = devices.enrolled_ms AND d2.device_id <= devices.device_id)));"));
    }
    if (version == 1) {
      // v2: a van's scope is its van code, so a re-installed van (a new device) pulls its work
      // back. `rev` orders every change; owner_rev stays the creating device's own feed. `revs`
      // (sync::ChangeRevs) says which parts changed when, for pulls of only what changed; a row
      // without it is sent whole.
      MPP_RETURN_IF_ERROR(
          db_.Exec("ALTER TABLE requests ADD COLUMN van_code TEXT NOT NULL DEFAULT '';"
                   "ALTER TABLE requests ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;"
                   "ALTER TABLE requests ADD COLUMN revs BLOB;"
                   "UPDATE requests SET rev = owner_rev, van_code = coalesce((SELECT van_code FROM "
                   "devices WHERE devices.device_id = requests.device_id), '');"));
    }
    if (version >= 1 && version <= 3) {
      // v4: tokens keep when they were made and whether they were revoked (`token list`,
      // `token revoke`); conflicts can be resolved by staff. The NIK index (request_nik) and
      // the duplicate pairs are new tables (kSchema); server_home.cc fills the index for the
      // requests stored before it.
      MPP_RETURN_IF_ERROR(
          db_.Exec("ALTER TABLE tokens ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;"
                   "ALTER TABLE tokens ADD COLUMN revoked_ms INTEGER NOT NULL DEFAULT 0;"
                   "ALTER TABLE conflicts ADD COLUMN resolved_ms INTEGER NOT NULL DEFAULT 0;"
                   "ALTER TABLE conflicts ADD COLUMN resolved_by TEXT NOT NULL DEFAULT '';"
                   "ALTER TABLE conflicts ADD COLUMN resolution TEXT NOT NULL DEFAULT '';"));
    }
    if (version >= 1 && version <= 4) {
      // v5: one receipt index, not two: every push writes each index of every request, and the
      // case-insensitive one serves exact look-ups too (RequestsWithReceipt).
      MPP_RETURN_IF_ERROR(db_.Exec("DROP INDEX IF EXISTS requests_receipt"));
    }
    MPP_RETURN_IF_ERROR(db_.Exec(kSchema));
    // The first epoch of a database is 1; later ones are the time they began (server_home.cc).
    MPP_RETURN_IF_ERROR(
        db_.Exec("INSERT OR IGNORE INTO counters(name, value) VALUES ('epoch', 1)"));
    MPP_RETURN_IF_ERROR(db_.Exec("PRAGMA application_id=" + std::to_string(kApplicationId) +
                                 "; PRAGMA user_version=" + std::to_string(kSchemaVersion)));
    return txn.Commit();
  }

  StaffStore& staff_store() override { return *staff_; }

  Result<std::unique_ptr<StorageTxn>> Begin() override {
    std::unique_lock<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(auto txn, sqlite::Transaction::Begin(db_));
    return std::unique_ptr<StorageTxn>(new SqliteTxn(*this, std::move(lock), std::move(txn)));
  }

  Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(Statement * s, reader_->Prepared(FindDeviceSql()));
    return ReadDeviceRow(s, device_id);
  }

  Result<std::optional<DeviceRecord>> FindDeviceLocked(const std::string& device_id) {
    MPP_ASSIGN_OR_RETURN(Statement * s, Prepared(FindDeviceSql()));
    return ReadDeviceRow(s, device_id);
  }

  static const std::string& FindDeviceSql() {
    static const std::string sql =
        std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE device_id = ?";
    return sql;
  }

  static Result<std::optional<DeviceRecord>> ReadDeviceRow(Statement* s,
                                                           const std::string& device_id) {
    s->Bind(1, device_id);
    MPP_ASSIGN_OR_RETURN(bool row, s->Step());
    std::optional<DeviceRecord> out;
    if (row) out = ReadDevice(*s);
    s->Reset();
    return out;
  }

  Result<std::vector<DeviceRecord>> ListDevices() override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(auto s,
                         reader_->db().Prepare(std::string("SELECT ") + kDeviceColumns +
                                               " FROM devices ORDER BY van_code, enrolled_ms"));
    std::vector<DeviceRecord> out;
    for (;;) {
      MPP_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back(ReadDevice(s));
    }
    return out;
  }

  Result<std::unique_ptr<StorageSnapshot>> BeginRead() override;

  Result<std::vector<StoredRequest>> ListRequests(const RequestQuery& q) override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    // Only the filters given go into the SQL: "?3 IS NULL OR device_id = ?3" would keep SQLite
    // from using the indexes on agency and device, and scan every request.
    std::string sql = "SELECT body, agency, owner_rev FROM requests WHERE 1";
    if (q.status) sql += " AND status = ?1";
    if (q.agency) sql += " AND agency = ?2";
    if (q.device_id) sql += " AND device_id = ?3";
    sql += " ORDER BY receipt LIMIT ?4";
    MPP_ASSIGN_OR_RETURN(auto s, reader_->db().Prepare(sql));
    if (q.status) s.Bind(1, sync::StatusName(*q.status));
    if (q.agency) s.Bind(2, *q.agency);
    if (q.device_id) s.Bind(3, *q.device_id);
    s.Bind(4, static_cast<int64_t>(q.limit));
    return ReadStoredRequests(s);
  }

  Result<void> NoteDeviceSync(const std::string& device_id, int64_t now_ms) override {
    std::unique_lock<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement * s,
                         Prepared("UPDATE devices SET last_sync_ms = max(last_sync_ms, "
                                  "?2) WHERE device_id = ?1"));
    s->Bind(1, device_id).Bind(2, now_ms);
    return s->Run();
  }

  Result<RequestPageRows> PageRequests(const RequestPageQuery& q) override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    // Only the filters given go into the SQL (see ListRequests).
    std::string where = " WHERE 1";
    if (q.agency) where += " AND agency = ?1";
    if (!q.service_id.empty()) where += " AND service_id = ?2";
    if (!q.van_code.empty()) where += " AND van_code = ?3";
    auto bind = [&](Statement& s) {
      if (q.agency) s.Bind(1, *q.agency);
      if (!q.service_id.empty()) s.Bind(2, q.service_id);
      if (!q.van_code.empty()) s.Bind(3, q.van_code);
    };
    MPP_RETURN_IF_ERROR(reader_->db().Exec("BEGIN"));  // one snapshot for both statements
    auto page = [&]() -> Result<RequestPageRows> {
      RequestPageRows out;
      if (q.after_id) {
        MPP_ASSIGN_OR_RETURN(
            auto s, reader_->db().Prepare("SELECT body, agency, owner_rev, van_code FROM requests" +
                                          where + (q.status ? " AND status = ?4" : "") +
                                          " AND id > ?7 ORDER BY id LIMIT ?5"));
        bind(s);
        if (q.status) s.Bind(4, sync::StatusName(*q.status));
        s.Bind(5, static_cast<int64_t>(q.limit)).Bind(7, *q.after_id);
        MPP_RETURN_IF_ERROR(ReadPageRows(s, out));
        return out;
      }
      MPP_ASSIGN_OR_RETURN(auto counts,
                           reader_->db().Prepare("SELECT status, count(*) FROM requests" + where +
                                                 " GROUP BY status"));
      bind(counts);
      for (;;) {
        MPP_ASSIGN_OR_RETURN(bool row, counts.Step());
        if (!row) break;
        if (auto status = sync::ParseStatus(counts.ColumnText(0))) {
          out.counts[*status] = static_cast<size_t>(counts.ColumnInt(1));
        }
      }
      const bool newest_first = q.by_receipt == q.reversed;
      std::string sql = "SELECT body, agency, owner_rev, van_code FROM requests" + where +
                        (q.status ? " AND status = ?4" : "") + " ORDER BY " +
                        (q.by_receipt ? "receipt" : "updated_ms") +
                        (newest_first ? " DESC, id DESC" : ", id") + " LIMIT ?5 OFFSET ?6";
      MPP_ASSIGN_OR_RETURN(auto s, reader_->db().Prepare(sql));
      bind(s);
      if (q.status) s.Bind(4, sync::StatusName(*q.status));
      s.Bind(5, static_cast<int64_t>(q.limit)).Bind(6, static_cast<int64_t>(q.offset));
      MPP_RETURN_IF_ERROR(ReadPageRows(s, out));
      return out;
    }();
    (void)reader_->db().Exec("COMMIT");
    return page;
  }

  Result<std::optional<StoredRequest>> FindRequest(const std::string& id_or_receipt) override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(auto s,
                         reader_->db().Prepare("SELECT body, agency, owner_rev, id FROM requests "
                                               "WHERE id = ?1 OR receipt = ?1 COLLATE NOCASE "
                                               "ORDER BY id = ?1 DESC, id LIMIT 2"));
    s.Bind(1, id_or_receipt);
    MPP_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<StoredRequest>();
    const std::string first_id = s.ColumnText(3);
    MPP_ASSIGN_OR_RETURN(auto request, sync::DecodeRequest(s.ColumnBlob(0)));
    StoredRequest found{std::move(request), s.ColumnText(1), static_cast<uint64_t>(s.ColumnInt(2))};
    if (first_id != id_or_receipt) {
      MPP_ASSIGN_OR_RETURN(bool second, s.Step());
      if (second) {
        return Error::Conflict("receipt " + id_or_receipt + " names two requests (" + first_id +
                               " and " + s.ColumnText(3) + "): give the request id");
      }
    }
    return std::optional<StoredRequest>(std::move(found));
  }

  Result<std::vector<StoredConflict>> ListConflicts() override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(auto s,
                         reader_->db().Prepare(std::string(kConflictSelect) + "ORDER BY c.rev"));
    return ReadConflicts(s);
  }

  Result<std::vector<StoredConflict>> ConflictsOf(const std::string& request_id) override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(auto s, reader_->db().Prepare(std::string(kConflictSelect) +
                                                       "WHERE c.request_id = ? ORDER BY c.rev"));
    s.Bind(1, request_id);
    return ReadConflicts(s);
  }

  Result<std::vector<StoredToken>> ListTokens() override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(auto s,
                         reader_->db().Prepare("SELECT lower(substr(hex(token_hash), 1, " +
                                               std::to_string(kTokenIdChars) +
                                               ")), van_code, expires_ms, used_ms, used_by, "
                                               "created_ms, revoked_ms FROM tokens "
                                               "ORDER BY created_ms, van_code"));
    std::vector<StoredToken> out;
    for (;;) {
      MPP_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back({s.ColumnText(0),
                     {s.ColumnText(1), s.ColumnInt(2), s.ColumnInt(3), s.ColumnText(4),
                      s.ColumnInt(5), s.ColumnInt(6)}});
    }
    return out;
  }

  Result<std::vector<StoredRequest>> RequestsWithNikHash(ByteView nik_hash) override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(auto s, reader_->db().Prepare("SELECT r.body, r.agency, r.owner_rev FROM "
                                                       "request_nik n JOIN requests r ON r.id = "
                                                       "n.request_id WHERE n.nik_hash = ? ORDER BY "
                                                       "r.receipt"));
    s.Bind(1, nik_hash);
    return ReadStoredRequests(s);
  }

  Result<std::vector<DuplicatePair>> ListDuplicates() override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(auto s,
                         reader_->db().Prepare(
                             std::string("SELECT x.flagged_ms, ") + kNikMatchColumns + ", " +
                             "o.id, o.receipt, o.device_id, o.van_code, o.status FROM duplicates x "
                             "JOIN requests r ON r.id = x.request_id "
                             "JOIN requests o ON o.id = x.other_id ORDER BY r.receipt, o.receipt"));
    std::vector<DuplicatePair> out;
    for (;;) {
      MPP_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back({ReadNikMatch(s, 1), ReadNikMatch(s, 6), s.ColumnInt(0)});
    }
    return out;
  }

  Result<void> ForEachEnvelope(
      const std::function<Result<void>(const EnvelopeRecord&)>& fn) override {
    // Page by id so a long verification never holds the lock (or a huge result) for long.
    int64_t after = 0;
    for (;;) {
      std::vector<EnvelopeRecord> page;
      {
        std::lock_guard<std::mutex> lock(reader_->mu());
        MPP_ASSIGN_OR_RETURN(auto s,
                             reader_->db().Prepare("SELECT id, device_id, first_seq, last_seq, "
                                                   "received_ms, bytes FROM envelopes WHERE id > ? "
                                                   "ORDER BY id LIMIT 256"));
        s.Bind(1, after);
        for (;;) {
          MPP_ASSIGN_OR_RETURN(bool row, s.Step());
          if (!row) break;
          page.push_back({s.ColumnInt(0), s.ColumnText(1), static_cast<uint64_t>(s.ColumnInt(2)),
                          static_cast<uint64_t>(s.ColumnInt(3)), s.ColumnInt(4), s.ColumnBlob(5)});
        }
      }
      if (page.empty()) return Ok();
      for (const auto& e : page) MPP_RETURN_IF_ERROR(fn(e));
      after = page.back().id;
    }
  }

  Result<std::pair<int64_t, std::string>> LoadCatalog() override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(auto s, reader_->db().Prepare("SELECT version, body FROM catalog"));
    MPP_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::pair<int64_t, std::string>{0, ""};
    return std::pair<int64_t, std::string>{s.ColumnInt(0), s.ColumnText(1)};
  }

  Result<void> SaveCatalog(int64_t version, const std::string& json) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(auto s, db_.Prepare("INSERT INTO catalog(id, version, body) VALUES "
                                             "(1, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                                             "version = excluded.version, body = excluded.body"));
    s.Bind(1, version).Bind(2, json);
    return s.Run();
  }

  Result<int64_t> CatalogVersion() override {
    std::lock_guard<std::mutex> lock(reader_->mu());
    MPP_ASSIGN_OR_RETURN(Statement * s, reader_->Prepared("SELECT version FROM catalog"));
    MPP_ASSIGN_OR_RETURN(bool row, s->Step());
    const int64_t version = row ? s->ColumnInt(0) : 0;
    s->Reset();
    return version;
  }

  // Statements are prepared once per connection and reused (the hot path of a push).
  Result<Statement*> Prepared(const std::string& sql) { return statements_.Get(sql); }

  Database& db() { return db_; }

 private:
  std::mutex mu_;  // the write connection: db_ and statements_
  Database db_;
  const std::string path_;
  dev_t device_ = 0;  // identity of the file at path_ when opened; constant after open
  ino_t inode_ = 0;
  sqlite::StatementCache statements_{db_};
  std::unique_ptr<ReadConnection> reader_;

 public:
  // Its own connection (staff calls are few and never wait on a push's fsync for long).
  std::unique_ptr<StaffStore> staff_;
};

// A read transaction on the read connection, which it holds until destroyed.
class SqliteSnapshot final : public StorageSnapshot {
 public:
  explicit SqliteSnapshot(ReadConnection& reader) : reader_(reader), lock_(reader.mu()) {}
  ~SqliteSnapshot() override {
    if (begun_) (void)reader_.db().Exec("COMMIT");
  }
  Result<void> Begin() {
    MPP_RETURN_IF_ERROR(reader_.db().Exec("BEGIN"));
    begun_ = true;
    return Ok();
  }

  Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) override {
    MPP_ASSIGN_OR_RETURN(Statement * s, reader_.Prepared(SqliteStorage::FindDeviceSql()));
    return SqliteStorage::ReadDeviceRow(s, device_id);
  }
  Result<uint64_t> Epoch() override {
    MPP_ASSIGN_OR_RETURN(Statement * s, reader_.Prepared(kEpochSql));
    return ReadEpoch(s);
  }
  // One writer at a time: every rev up to the counter has committed.
  Result<uint64_t> ScopeHead(const std::string& /*scope*/) override {
    MPP_ASSIGN_OR_RETURN(Statement * s,
                         reader_.Prepared("SELECT value FROM counters WHERE name = 'rev'"));
    MPP_ASSIGN_OR_RETURN(bool row, s->Step());
    const uint64_t head = row ? static_cast<uint64_t>(s->ColumnInt(0)) : 0;
    s->Reset();
    return head;
  }
  Result<std::vector<uint64_t>> UncleanSeqs(const std::string& device_id, uint64_t first_seq,
                                            uint64_t last_seq) override {
    MPP_ASSIGN_OR_RETURN(Statement * s, reader_.Prepared(kUncleanSql));
    s->Bind(1, device_id).Bind(2, static_cast<int64_t>(first_seq));
    s->Bind(3, static_cast<int64_t>(last_seq));
    return ReadAll<uint64_t>(
        s, [](const Statement& row) { return static_cast<uint64_t>(row.ColumnInt(0)); });
  }
  Result<std::vector<FeedRow>> OwnRequestsAfter(const std::string& device_id, uint64_t after,
                                                bool by_latest_change, size_t limit) override {
    MPP_ASSIGN_OR_RETURN(
        Statement * s,
        reader_.Prepared(by_latest_change
                             ? "SELECT rev, body, revs FROM requests WHERE device_id = ? AND "
                               "rev > ? ORDER BY rev LIMIT ?"
                             : "SELECT owner_rev, body, revs FROM requests WHERE device_id = ? "
                               "AND owner_rev > ? ORDER BY owner_rev LIMIT ?"));
    s->Bind(1, device_id).Bind(2, static_cast<int64_t>(after)).Bind(3, static_cast<int64_t>(limit));
    return ReadAll<FeedRow>(s, ReadFeedRow);
  }
  Result<std::vector<FeedRow>> VanRequestsAfter(const std::string& van_code,
                                                const std::string& except_device_id, uint64_t after,
                                                size_t limit) override {
    MPP_ASSIGN_OR_RETURN(Statement * s,
                         reader_.Prepared("SELECT rev, body, revs FROM requests WHERE van_code = "
                                          "? AND device_id != ? AND rev > ? ORDER BY rev "
                                          "LIMIT ?"));
    s->Bind(1, van_code).Bind(2, except_device_id).Bind(3, static_cast<int64_t>(after));
    s->Bind(4, static_cast<int64_t>(limit));
    return ReadAll<FeedRow>(s, ReadFeedRow);
  }
  Result<std::vector<FeedRow>> ConflictsAfter(const std::string& device_id, uint64_t after,
                                              size_t limit) override {
    MPP_ASSIGN_OR_RETURN(Statement * s,
                         reader_.Prepared("SELECT rev, body, NULL FROM conflicts WHERE device_id "
                                          "= ? AND rev > ? ORDER BY rev LIMIT ?"));
    s->Bind(1, device_id).Bind(2, static_cast<int64_t>(after)).Bind(3, static_cast<int64_t>(limit));
    return ReadAll<FeedRow>(s, ReadFeedRow);
  }

 private:
  static FeedRow ReadFeedRow(const Statement& s) {
    FeedRow row;
    row.rev = static_cast<uint64_t>(s.ColumnInt(0));
    row.body = s.ColumnBlob(1);
    if (!s.ColumnIsNull(2)) row.revs = s.ColumnBlob(2);
    return row;
  }

  ReadConnection& reader_;
  std::lock_guard<std::mutex> lock_;
  bool begun_ = false;
};

Result<std::unique_ptr<StorageSnapshot>> SqliteStorage::BeginRead() {
  MPP_RETURN_IF_ERROR(CheckHealth());  // a vanished database must not feed a van's cursor
  auto snapshot = std::make_unique<SqliteSnapshot>(*reader_);
  MPP_RETURN_IF_ERROR(snapshot->Begin());
  return std::unique_ptr<StorageSnapshot>(std::move(snapshot));
}

Result<Statement*> SqliteTxn::Prepared(const std::string& sql) { return storage_.Prepared(sql); }

Result<std::optional<DeviceRecord>> SqliteTxn::FindDevice(const std::string& device_id) {
  return storage_.FindDeviceLocked(device_id);
}

Result<void> SqliteTxn::InsertDevice(const DeviceRecord& d) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("INSERT INTO devices(device_id, van_code, public_key, enrolled_ms, "
                                "receipt_series) VALUES (?, ?, ?, ?, ?)"));
  s->Bind(1, d.device_id).Bind(2, d.van_code).Bind(3, d.public_key).Bind(4, d.enrolled_ms);
  s->Bind(5, int64_t{d.receipt_series});
  return s->Run();
}

Result<bool> SqliteTxn::AdvanceDeviceSeq(const std::string& device_id, uint64_t expected,
                                         uint64_t last_applied_seq, int64_t now_ms) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("UPDATE devices SET last_applied_seq = ?, last_sync_ms = ? "
                                "WHERE device_id = ? AND last_applied_seq = ?"));
  s->Bind(1, static_cast<int64_t>(last_applied_seq)).Bind(2, now_ms).Bind(3, device_id);
  s->Bind(4, static_cast<int64_t>(expected));
  MPP_RETURN_IF_ERROR(s->Run());
  return storage_.db().Changes() == 1;
}

Result<void> SqliteTxn::RevokeDevice(const std::string& device_id, int64_t now_ms) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("UPDATE devices SET revoked_ms = ? WHERE device_id = ? AND "
                                "revoked_ms = 0"));
  s->Bind(1, now_ms).Bind(2, device_id);
  return s->Run();
}

Result<std::optional<TokenRecord>> SqliteTxn::FindToken(ByteView token_hash) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("SELECT van_code, expires_ms, used_ms, used_by, created_ms, "
                                "revoked_ms FROM tokens WHERE token_hash = ?"));
  s->Bind(1, token_hash);
  MPP_ASSIGN_OR_RETURN(bool row, s->Step());
  std::optional<TokenRecord> out;
  if (row) {
    out = TokenRecord{s->ColumnText(0), s->ColumnInt(1), s->ColumnInt(2),
                      s->ColumnText(3), s->ColumnInt(4), s->ColumnInt(5)};
  }
  s->Reset();
  return out;
}

Result<void> SqliteTxn::InsertToken(ByteView token_hash, const TokenRecord& t) {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("INSERT INTO tokens(token_hash, van_code, "
                                               "expires_ms, created_ms) VALUES (?, ?, ?, ?)"));
  s->Bind(1, token_hash).Bind(2, t.van_code).Bind(3, t.expires_ms).Bind(4, t.created_ms);
  return s->Run();
}

Result<void> SqliteTxn::MarkTokenUsed(ByteView token_hash, const std::string& device_id,
                                      int64_t now_ms) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("UPDATE tokens SET used_ms = ?, used_by = ? WHERE token_hash = ?"));
  s->Bind(1, now_ms).Bind(2, device_id).Bind(3, token_hash);
  return s->Run();
}

Result<std::optional<RequestRow>> SqliteTxn::LoadRequest(const std::string& id) {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("SELECT body, agency, van_code, rev, owner_rev, "
                                               "revs FROM requests WHERE id = ?"));
  s->Bind(1, id);
  MPP_ASSIGN_OR_RETURN(bool row, s->Step());
  if (!row) {
    s->Reset();
    return std::optional<RequestRow>();
  }
  auto request = sync::DecodeRequest(s->ColumnBlob(0));
  if (!request) {
    s->Reset();
    return request.error().WithContext("stored request " + id);
  }
  RequestRow out{std::move(*request),
                 s->ColumnText(1),
                 s->ColumnText(2),
                 static_cast<uint64_t>(s->ColumnInt(3)),
                 static_cast<uint64_t>(s->ColumnInt(4)),
                 std::nullopt};
  if (!s->ColumnIsNull(5)) {
    auto revs = sync::DecodeValue<sync::ChangeRevs>(s->ColumnBlob(5));
    if (!revs) {
      s->Reset();
      return revs.error().WithContext("stored request " + id);
    }
    out.revs = std::move(*revs);
  }
  s->Reset();
  return std::optional<RequestRow>(std::move(out));
}

Result<uint64_t> SqliteTxn::NextRev(const std::string& /*scope*/) {
  if (!rev_) {
    MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("SELECT value FROM counters WHERE name = 'rev'"));
    MPP_ASSIGN_OR_RETURN(bool row, s->Step());
    rev_ = row ? static_cast<uint64_t>(s->ColumnInt(0)) : 0;
    s->Reset();
  }
  return ++*rev_;
}

Result<void> SqliteTxn::SaveRequest(const RequestRow& row, int64_t now_ms) {
  const sync::Request& r = row.request;
  MPP_ASSIGN_OR_RETURN(
      Statement * s,
      Prepared("INSERT INTO requests(id, receipt, device_id, agency, service_id, status, "
               "owner_rev, updated_ms, body, rev, revs, van_code) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
               "?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT(id) DO UPDATE SET "
               "agency = excluded.agency, status = excluded.status, "
               "owner_rev = excluded.owner_rev, updated_ms = excluded.updated_ms, "
               "body = excluded.body, rev = excluded.rev, revs = excluded.revs"));
  s->Bind(1, r.id).Bind(2, r.receipt).Bind(3, r.device_id).Bind(4, row.agency);
  s->Bind(5, r.service_id).Bind(6, sync::StatusName(r.status));
  s->Bind(7, static_cast<int64_t>(row.owner_rev)).Bind(8, now_ms).Bind(9, sync::EncodeRequest(r));
  s->Bind(10, static_cast<int64_t>(row.rev));
  if (row.revs) {
    s->Bind(11, sync::EncodeValue(*row.revs));
  } else {
    s->BindNull(11);
  }
  s->Bind(12, row.van_code);
  return s->Run();
}

Result<void> SqliteTxn::AddConflict(const std::string& device_id, uint64_t rev,
                                    const sync::ConflictRecord& conflict, int64_t now_ms) {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("INSERT INTO conflicts(rev, device_id, "
                                               "request_id, created_ms, body) VALUES "
                                               "(?, ?, ?, ?, ?)"));
  s->Bind(1, static_cast<int64_t>(rev)).Bind(2, device_id).Bind(3, conflict.request_id);
  s->Bind(4, now_ms).Bind(5, sync::EncodeConflict(conflict));
  return s->Run();
}

Result<std::optional<Bytes>> SqliteTxn::AppliedDigest(const std::string& device_id, uint64_t seq) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("SELECT digest FROM applied WHERE device_id = ? AND seq = ?"));
  s->Bind(1, device_id).Bind(2, static_cast<int64_t>(seq));
  MPP_ASSIGN_OR_RETURN(bool row, s->Step());
  std::optional<Bytes> out;
  if (row) out = s->ColumnBlob(0);
  s->Reset();
  return out;
}

Result<void> SqliteTxn::RecordApplied(const std::string& device_id, uint64_t seq, ByteView digest) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("INSERT INTO applied(device_id, seq, digest) VALUES (?, ?, ?)"));
  s->Bind(1, device_id).Bind(2, static_cast<int64_t>(seq)).Bind(3, digest);
  return s->Run();
}

Result<std::vector<std::string>> SqliteTxn::RequestsWithReceipt(const std::string& receipt) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("SELECT id FROM requests WHERE receipt = ?1 COLLATE NOCASE AND "
                                "receipt = ?1 ORDER BY id LIMIT 2"));
  s->Bind(1, receipt);
  return ReadAll<std::string>(s, [](const Statement& row) { return row.ColumnText(0); });
}

Result<uint32_t> SqliteTxn::NextReceiptSeries(const std::string& van_code) {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("SELECT coalesce(max(receipt_series), 0) FROM "
                                               "devices WHERE van_code = ?"));
  s->Bind(1, van_code);
  MPP_ASSIGN_OR_RETURN(bool row, s->Step());
  const int64_t highest = row ? s->ColumnInt(0) : 0;
  s->Reset();
  return static_cast<uint32_t>(highest + 1);
}

Result<void> SqliteTxn::SetReceiptSeries(const std::string& device_id, uint32_t series) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("UPDATE devices SET receipt_series = ? WHERE device_id = ?"));
  s->Bind(1, int64_t{series}).Bind(2, device_id);
  return s->Run();
}

Result<void> SqliteTxn::SetRecovering(const std::string& device_id, bool recovering) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("UPDATE devices SET recovering = ? WHERE device_id = ?"));
  s->Bind(1, int64_t{recovering ? 1 : 0}).Bind(2, device_id);
  return s->Run();
}

Result<uint64_t> SqliteTxn::Epoch() {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared(kEpochSql));
  return ReadEpoch(s);
}

Result<void> SqliteTxn::StartEpoch(uint64_t epoch) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("UPDATE counters SET value = ? WHERE name = 'epoch'"));
  s->Bind(1, static_cast<int64_t>(epoch));
  MPP_RETURN_IF_ERROR(s->Run());
  MPP_ASSIGN_OR_RETURN(Statement * devices, Prepared("UPDATE devices SET recovering = 1"));
  return devices->Run();
}

Result<void> SqliteTxn::MarkUnclean(const std::string& device_id, uint64_t seq) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("INSERT OR IGNORE INTO unclean(device_id, seq) VALUES (?, ?)"));
  s->Bind(1, device_id).Bind(2, static_cast<int64_t>(seq));
  return s->Run();
}

Result<std::vector<uint64_t>> SqliteTxn::UncleanSeqs(const std::string& device_id,
                                                     uint64_t first_seq, uint64_t last_seq) {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared(kUncleanSql));
  s->Bind(1, device_id).Bind(2, static_cast<int64_t>(first_seq));
  s->Bind(3, static_cast<int64_t>(last_seq));
  return ReadAll<uint64_t>(
      s, [](const Statement& row) { return static_cast<uint64_t>(row.ColumnInt(0)); });
}

Result<void> SqliteTxn::StoreEnvelope(const EnvelopeRecord& e) {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("INSERT INTO envelopes(device_id, first_seq, "
                                               "last_seq, received_ms, bytes) VALUES "
                                               "(?, ?, ?, ?, ?)"));
  s->Bind(1, e.device_id).Bind(2, static_cast<int64_t>(e.first_seq));
  s->Bind(3, static_cast<int64_t>(e.last_seq)).Bind(4, e.received_ms).Bind(5, e.bytes);
  return s->Run();
}

Result<void> SqliteTxn::AppendAudit(const std::string& actor, const std::string& action,
                                    const std::string& target, const std::string& detail,
                                    int64_t now_ms) {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("INSERT INTO audit(at_ms, actor, action, target, "
                                               "detail) VALUES (?, ?, ?, ?, ?)"));
  s->Bind(1, now_ms).Bind(2, actor).Bind(3, action).Bind(4, target).Bind(5, detail);
  return s->Run();
}

Result<int64_t> SqliteTxn::LoadHlc() {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("SELECT value FROM counters WHERE name = 'hlc'"));
  MPP_ASSIGN_OR_RETURN(bool row, s->Step());
  const int64_t value = row ? s->ColumnInt(0) : 0;
  s->Reset();
  return value;
}

Result<void> SqliteTxn::SaveHlc(int64_t packed) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("UPDATE counters SET value = max(value, ?) WHERE name = 'hlc'"));
  s->Bind(1, packed);
  return s->Run();
}

Result<std::string> SqliteTxn::RevokeToken(const std::string& id, int64_t now_ms) {
  if (id.size() != kTokenIdChars ||
      id.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    return Error::InvalidInput("a token id is " + std::to_string(kTokenIdChars) +
                               " hex digits, as `mpp-server token list` shows it");
  }
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("SELECT token_hash, van_code, used_ms, revoked_ms FROM tokens "
                                "WHERE substr(hex(token_hash), 1, ?1) = upper(?2) LIMIT 2"));
  s->Bind(1, static_cast<int64_t>(kTokenIdChars)).Bind(2, id);
  struct Row {
    Bytes hash;
    std::string van_code;
    int64_t used_ms, revoked_ms;
  };
  MPP_ASSIGN_OR_RETURN(
      auto rows, ReadAll<Row>(s, [](const Statement& r) {
        return Row{r.ColumnBlob(0), r.ColumnText(1), r.ColumnInt(2), r.ColumnInt(3)};
      }));
  if (rows.empty()) return Error::NotFound("no token with id " + id);
  if (rows.size() > 1) return Error::Conflict("token id " + id + " names two tokens");
  if (rows[0].revoked_ms != 0) return Error::Conflict("token " + id + " is already revoked");
  if (rows[0].used_ms != 0) {
    return Error::Conflict("token " + id + " was already used to enrol a device: revoke the " +
                           "device instead (`mpp-server device revoke DEVICE_ID`)");
  }
  MPP_ASSIGN_OR_RETURN(Statement * u,
                       Prepared("UPDATE tokens SET revoked_ms = ? WHERE token_hash = ?"));
  u->Bind(1, now_ms).Bind(2, rows[0].hash);
  MPP_RETURN_IF_ERROR(u->Run());
  return rows[0].van_code;
}

Result<void> SqliteTxn::IndexNik(const std::string& request_id, ByteView nik_hash,
                                 const std::string& service_id) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("INSERT INTO request_nik(request_id, nik_hash, service_id) "
                                "VALUES (?1, ?2, ?3) ON CONFLICT(request_id) DO UPDATE SET "
                                "nik_hash = excluded.nik_hash, service_id = excluded.service_id"));
  s->Bind(1, request_id).Bind(2, nik_hash).Bind(3, service_id);
  return s->Run();
}

Result<std::vector<NikMatch>> SqliteTxn::FindByNikHash(ByteView nik_hash,
                                                       const std::string& service_id) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared(std::string("SELECT ") + kNikMatchColumns +
                                " FROM request_nik n JOIN requests r ON r.id = n.request_id "
                                "WHERE n.nik_hash = ? AND n.service_id = ? ORDER BY r.receipt"));
  s->Bind(1, nik_hash).Bind(2, service_id);
  return ReadAll<NikMatch>(s, [](const Statement& row) { return ReadNikMatch(row, 0); });
}

Result<bool> SqliteTxn::RecordDuplicate(const std::string& request_id, const std::string& other_id,
                                        int64_t now_ms) {
  MPP_ASSIGN_OR_RETURN(Statement * seen, Prepared("SELECT 1 FROM duplicates WHERE (request_id = "
                                                  "?1 AND other_id = ?2) OR (request_id = ?2 "
                                                  "AND other_id = ?1)"));
  seen->Bind(1, request_id).Bind(2, other_id);
  MPP_ASSIGN_OR_RETURN(bool found, seen->Step());
  seen->Reset();
  if (found) return false;
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("INSERT INTO duplicates(request_id, other_id, "
                                               "flagged_ms) VALUES (?, ?, ?)"));
  s->Bind(1, request_id).Bind(2, other_id).Bind(3, now_ms);
  MPP_RETURN_IF_ERROR(s->Run());
  return true;
}

Result<std::optional<StoredConflict>> SqliteTxn::FindConflict(uint64_t rev) {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared(std::string(kConflictSelect) + "WHERE c.rev = ?"));
  s->Bind(1, static_cast<int64_t>(rev));
  auto row = s->Step();
  if (!row) {
    s->Reset();
    return row.error();
  }
  std::optional<StoredConflict> out;
  if (*row) {
    auto c = ReadConflict(*s);
    if (!c) {
      s->Reset();
      return c.error();
    }
    out = std::move(*c);
  }
  s->Reset();
  return out;
}

Result<void> SqliteTxn::ResolveConflict(uint64_t rev, const std::string& by,
                                        const std::string& resolution, int64_t now_ms) {
  MPP_ASSIGN_OR_RETURN(Statement * s,
                       Prepared("UPDATE conflicts SET resolved_ms = ?, resolved_by = ?, "
                                "resolution = ? WHERE rev = ? AND resolved_ms = 0"));
  s->Bind(1, now_ms).Bind(2, by).Bind(3, resolution).Bind(4, static_cast<int64_t>(rev));
  return s->Run();
}

Result<std::pair<int64_t, std::string>> SqliteTxn::LoadCatalog() {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("SELECT version, body FROM catalog"));
  MPP_ASSIGN_OR_RETURN(bool row, s->Step());
  std::pair<int64_t, std::string> out{0, ""};
  if (row) out = {s->ColumnInt(0), s->ColumnText(1)};
  s->Reset();
  return out;
}

Result<void> SqliteTxn::SaveCatalog(int64_t version, const std::string& json) {
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared("INSERT INTO catalog(id, version, body) VALUES "
                                               "(1, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                                               "version = excluded.version, body = excluded.body"));
  s->Bind(1, version).Bind(2, json);
  return s->Run();
}

Result<std::vector<sync::Request>> SqliteTxn::OpenRequests() {
  std::string sql = "SELECT body FROM requests WHERE status NOT IN (";
  bool first = true;
  for (auto status : {sync::RequestStatus::kSubmitted, sync::RequestStatus::kReceived,
                      sync::RequestStatus::kInReview, sync::RequestStatus::kNeedsInfo,
                      sync::RequestStatus::kCompleted, sync::RequestStatus::kDelivered,
                      sync::RequestStatus::kRejected, sync::RequestStatus::kCancelled}) {
    if (!sync::IsFinal(status)) continue;
    sql += std::string(first ? "'" : ", '") + sync::StatusName(status) + "'";
    first = false;
  }
  sql += ") ORDER BY receipt";
  MPP_ASSIGN_OR_RETURN(Statement * s, Prepared(sql));
  std::vector<sync::Request> out;
  for (;;) {
    auto row = s->Step();
    if (!row || !*row) {
      s->Reset();
      if (!row) return row.error();
      break;
    }
    auto request = sync::DecodeRequest(s->ColumnBlob(0));
    if (!request) {
      s->Reset();
      return request.error();
    }
    out.push_back(std::move(*request));
  }
  return out;
}

Result<void> SqliteTxn::Commit() {
  // Nothing is acknowledged that would not survive: the file must still be the one opened.
  MPP_RETURN_IF_ERROR(storage_.CheckHealth());
  if (rev_) {
    MPP_ASSIGN_OR_RETURN(Statement * s,
                         Prepared("UPDATE counters SET value = ? WHERE name = 'rev'"));
    s->Bind(1, static_cast<int64_t>(*rev_));
    MPP_RETURN_IF_ERROR(s->Run());
  }
  return txn_.Commit();
}

}  // namespace

Result<std::unique_ptr<ServerStorage>> OpenSqliteStorage(const std::string& path) {
  MPP_ASSIGN_OR_RETURN(Database db, Database::Open(path, Database::Mode::kReadWriteCreate));
  auto storage = std::make_unique<SqliteStorage>(std::move(db), path);
  MPP_RETURN_IF_ERROR(storage->Init());
  MPP_RETURN_IF_ERROR(storage->RememberFileIdentity());
  MPP_RETURN_IF_ERROR(storage->OpenReader(path));
  MPP_ASSIGN_OR_RETURN(storage->staff_, OpenSqliteStaffStore(path));
  return std::unique_ptr<ServerStorage>(std::move(storage));
}

}  // namespace mpp::server
