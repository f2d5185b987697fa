// The staff stores of both backends (staff_store.h). Small tables, read a few times per
// dashboard call: plain statements, no caching beyond the connection's own.
#include "staff_stores.h"

#include <mutex>

#include "mpp/sqlite/sqlite.h"

namespace mpp::server {

const char* StaffRoleName(StaffRole role) {
  switch (role) {
    case StaffRole::kViewer:
      return "viewer";
    case StaffRole::kOfficer:
      return "officer";
    case StaffRole::kAdmin:
      return "admin";
  }
  return "viewer";
}

std::optional<StaffRole> ParseStaffRole(std::string_view name) {
  for (StaffRole r : {StaffRole::kViewer, StaffRole::kOfficer, StaffRole::kAdmin}) {
    if (name == StaffRoleName(r)) return r;
  }
  return std::nullopt;
}

namespace {

constexpr const char* kAccountColumns =
    "user_name, agency, role, password_hash, created_ms, disabled_ms, password_changed_ms";
constexpr const char* kSessionColumns = "id_hash, user_name, csrf, created_ms, last_seen_ms";

StaffAccount MakeAccount(std::string user, std::string agency, std::string_view role,
                         std::string hash, int64_t created, int64_t disabled, int64_t changed) {
  StaffAccount a;
  a.user = std::move(user);
  a.agency = std::move(agency);
  a.role = ParseStaffRole(role).value_or(StaffRole::kViewer);
  a.password_hash = std::move(hash);
  a.created_ms = created;
  a.disabled_ms = disabled;
  a.password_changed_ms = changed;
  return a;
}

// --- SQLite ----------------------------------------------------------------------------------

using sqlite::Database;
using sqlite::Statement;

class SqliteStaffStore final : public StaffStore {
 public:
  explicit SqliteStaffStore(Database db) : db_(std::move(db)) {}

  Result<void> InsertAccount(const StaffAccount& a) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s,
                         db_.Prepare(std::string("INSERT INTO staff_accounts(") + kAccountColumns +
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                                     "(user_name) DO NOTHING"));
    BindAccount(s, a);
    MPP_RETURN_IF_ERROR(s.Run());
    if (db_.Changes() == 0) return Error::Conflict("staff account " + a.user + " exists already");
    return Ok();
  }

  Result<std::optional<StaffAccount>> FindAccount(const std::string& user) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("SELECT ") + kAccountColumns +
                                                  " FROM staff_accounts WHERE user_name = ?"));
    s.Bind(1, user);
    MPP_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<StaffAccount>();
    return std::optional<StaffAccount>(ReadAccount(s));
  }

  Result<std::vector<StaffAccount>> ListAccounts() override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("SELECT ") + kAccountColumns +
                                                  " FROM staff_accounts ORDER BY user_name"));
    std::vector<StaffAccount> out;
    for (;;) {
      MPP_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back(ReadAccount(s));
    }
    return out;
  }

  Result<void> UpdateAccount(const StaffAccount& a) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(
        Statement s,
        db_.Prepare("UPDATE staff_accounts SET agency = ?2, role = ?3, password_hash = ?4, "
                    "created_ms = ?5, disabled_ms = ?6, password_changed_ms = ?7 "
                    "WHERE user_name = ?1"));
    BindAccount(s, a);
    MPP_RETURN_IF_ERROR(s.Run());
    if (db_.Changes() == 0) return Error::NotFound("no staff account " + a.user);
    return Ok();
  }

  Result<void> InsertSession(const StaffSession& x) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("INSERT INTO staff_sessions(") +
                                                  kSessionColumns + ") VALUES (?, ?, ?, ?, ?)"));
    s.Bind(1, ByteView(x.id_hash))
        .Bind(2, x.user)
        .Bind(3, x.csrf)
        .Bind(4, x.created_ms)
        .Bind(5, x.last_seen_ms);
    return s.Run();
  }

  Result<std::optional<StaffSession>> FindSession(ByteView id_hash) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s, db_.Prepare(std::string("SELECT ") + kSessionColumns +
                                                  " FROM staff_sessions WHERE id_hash = ?"));
    s.Bind(1, id_hash);
    MPP_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<StaffSession>();
    return std::optional<StaffSession>(StaffSession{
        s.ColumnBlob(0), s.ColumnText(1), s.ColumnText(2), s.ColumnInt(3), s.ColumnInt(4)});
  }

  Result<void> TouchSession(ByteView id_hash, int64_t now_ms) override {
    return Run("UPDATE staff_sessions SET last_seen_ms = ?2 WHERE id_hash = ?1", id_hash, now_ms);
  }
  Result<void> DeleteSession(ByteView id_hash) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s, db_.Prepare("DELETE FROM staff_sessions WHERE id_hash = ?"));
    s.Bind(1, id_hash);
    return s.Run();
  }
  Result<void> DeleteSessionsOf(const std::string& user) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s,
                         db_.Prepare("DELETE FROM staff_sessions WHERE user_name = ?"));
    s.Bind(1, user);
    return s.Run();
  }
  Result<void> DeleteSessionsBefore(int64_t before_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s,
                         db_.Prepare("DELETE FROM staff_sessions WHERE created_ms < ?"));
    s.Bind(1, before_ms);
    return s.Run();
  }

  Result<void> AddComment(const StaffComment& c) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s, db_.Prepare("INSERT INTO staff_comments(request_id, at_ms, "
                                                  "user_name, body) VALUES (?, ?, ?, ?)"));
    s.Bind(1, c.request_id).Bind(2, c.at_ms).Bind(3, c.by).Bind(4, c.text);
    return s.Run();
  }
  Result<std::vector<StaffComment>> CommentsOf(const std::string& request_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s, db_.Prepare("SELECT request_id, at_ms, user_name, body FROM "
                                                  "staff_comments WHERE request_id = ? ORDER BY "
                                                  "id"));
    s.Bind(1, request_id);
    std::vector<StaffComment> out;
    for (;;) {
      MPP_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back({s.ColumnText(0), s.ColumnInt(1), s.ColumnText(2), s.ColumnText(3)});
    }
    return out;
  }

 private:
  static void BindAccount(Statement& s, const StaffAccount& a) {
    s.Bind(1, a.user)
        .Bind(2, a.agency)
        .Bind(3, std::string_view(StaffRoleName(a.role)))
        .Bind(4, a.password_hash)
        .Bind(5, a.created_ms)
        .Bind(6, a.disabled_ms)
        .Bind(7, a.password_changed_ms);
  }
  static StaffAccount ReadAccount(const Statement& s) {
    return MakeAccount(s.ColumnText(0), s.ColumnText(1), s.ColumnText(2), s.ColumnText(3),
                       s.ColumnInt(4), s.ColumnInt(5), s.ColumnInt(6));
  }
  Result<void> Run(const char* sql, ByteView id_hash, int64_t value) {
    std::lock_guard<std::mutex> lock(mu_);
    MPP_ASSIGN_OR_RETURN(Statement s, db_.Prepare(sql));
    s.Bind(1, id_hash).Bind(2, value);
    return s.Run();
  }

  std::mutex mu_;  // the connection belongs to one thread at a time
  Database db_;
};

// --- PostgreSQL ------------------------------------------------------------------------------

using postgres::Params;
using postgres::PooledConnection;
using postgres::Rows;

class PostgresStaffStore final : public StaffStore {
 public:
  explicit PostgresStaffStore(std::function<Result<PooledConnection>()> connect)
      : connect_(std::move(connect)) {}

  Result<void> InsertAccount(const StaffAccount& a) override {
    MPP_ASSIGN_OR_RETURN(
        Rows r, Query(std::string("INSERT INTO staff_accounts(") + kAccountColumns +
                          ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_name) DO "
                          "NOTHING",
                      AccountParams(a)));
    if (r.affected() == 0) return Error::Conflict("staff account " + a.user + " exists already");
    return Ok();
  }
  Result<std::optional<StaffAccount>> FindAccount(const std::string& user) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kAccountColumns +
                                           " FROM staff_accounts WHERE user_name = $1",
                                       Params().Add(user)));
    if (r.size() == 0) return std::optional<StaffAccount>();
    return std::optional<StaffAccount>(ReadAccount(r, 0));
  }
  Result<std::vector<StaffAccount>> ListAccounts() override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kAccountColumns +
                                       " FROM staff_accounts ORDER BY user_name"));
    std::vector<StaffAccount> out;
    for (int i = 0; i < r.size(); ++i) out.push_back(ReadAccount(r, i));
    return out;
  }
  Result<void> UpdateAccount(const StaffAccount& a) override {
    MPP_ASSIGN_OR_RETURN(
        Rows r, Query("UPDATE staff_accounts SET agency = $2, role = $3, password_hash = $4, "
                      "created_ms = $5, disabled_ms = $6, password_changed_ms = $7 "
                      "WHERE user_name = $1",
                      AccountParams(a)));
    if (r.affected() == 0) return Error::NotFound("no staff account " + a.user);
    return Ok();
  }
  Result<void> InsertSession(const StaffSession& x) override {
    return Exec(
        std::string("INSERT INTO staff_sessions(") + kSessionColumns +
            ") VALUES ($1, $2, $3, $4, $5)",
        Params().Add(x.id_hash).Add(x.user).Add(x.csrf).Add(x.created_ms).Add(x.last_seen_ms));
  }
  Result<std::optional<StaffSession>> FindSession(ByteView id_hash) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kSessionColumns +
                                           " FROM staff_sessions WHERE id_hash = $1",
                                       Params().Add(id_hash)));
    if (r.size() == 0) return std::optional<StaffSession>();
    return std::optional<StaffSession>(
        StaffSession{r.Bytes(0, 0), r.Text(0, 1), r.Text(0, 2), r.Int(0, 3), r.Int(0, 4)});
  }
  Result<void> TouchSession(ByteView id_hash, int64_t now_ms) override {
    return Exec("UPDATE staff_sessions SET last_seen_ms = $2 WHERE id_hash = $1",
                Params().Add(id_hash).Add(now_ms));
  }
  Result<void> DeleteSession(ByteView id_hash) override {
    return Exec("DELETE FROM staff_sessions WHERE id_hash = $1", Params().Add(id_hash));
  }
  Result<void> DeleteSessionsOf(const std::string& user) override {
    return Exec("DELETE FROM staff_sessions WHERE user_name = $1", Params().Add(user));
  }
  Result<void> DeleteSessionsBefore(int64_t before_ms) override {
    return Exec("DELETE FROM staff_sessions WHERE created_ms < $1", Params().Add(before_ms));
  }
  Result<void> AddComment(const StaffComment& c) override {
    return Exec(
        "INSERT INTO staff_comments(request_id, at_ms, user_name, body) VALUES ($1, $2, "
        "$3, $4)",
        Params().Add(c.request_id).Add(c.at_ms).Add(c.by).Add(c.text));
  }
  Result<std::vector<StaffComment>> CommentsOf(const std::string& request_id) override {
    MPP_ASSIGN_OR_RETURN(Rows r, Query("SELECT request_id, at_ms, user_name, body FROM "
                                       "staff_comments WHERE request_id = $1 ORDER BY id",
                                       Params().Add(request_id)));
    std::vector<StaffComment> out;
    for (int i = 0; i < r.size(); ++i) {
      out.push_back({r.Text(i, 0), r.Int(i, 1), r.Text(i, 2), r.Text(i, 3)});
    }
    return out;
  }

 private:
  static Params AccountParams(const StaffAccount& a) {
    Params p;
    p.Add(a.user)
        .Add(a.agency)
        .Add(StaffRoleName(a.role))
        .Add(a.password_hash)
        .Add(a.created_ms)
        .Add(a.disabled_ms)
        .Add(a.password_changed_ms);
    return p;
  }
  static StaffAccount ReadAccount(const Rows& r, int i) {
    return MakeAccount(r.Text(i, 0), r.Text(i, 1), r.Text(i, 2), r.Text(i, 3), r.Int(i, 4),
                       r.Int(i, 5), r.Int(i, 6));
  }
  Result<Rows> Query(const std::string& sql, const Params& params = Params()) {
    MPP_ASSIGN_OR_RETURN(PooledConnection conn, connect_());
    return conn->Query(sql, params);
  }
  Result<void> Exec(const std::string& sql, const Params& params) {
    MPP_ASSIGN_OR_RETURN(Rows r, Query(sql, params));
    (void)r;
    return Ok();
  }

  std::function<Result<PooledConnection>()> connect_;
};

}  // namespace

Result<std::unique_ptr<StaffStore>> OpenSqliteStaffStore(const std::string& path) {
  MPP_ASSIGN_OR_RETURN(Database db, Database::Open(path, Database::Mode::kReadWrite));
  MPP_RETURN_IF_ERROR(db.UseDurableWal());
  return std::unique_ptr<StaffStore>(new SqliteStaffStore(std::move(db)));
}

std::unique_ptr<StaffStore> MakePostgresStaffStore(
    std::function<Result<PooledConnection>()> connect) {
  return std::make_unique<PostgresStaffStore>(std::move(connect));
}

}  // namespace mpp::server
