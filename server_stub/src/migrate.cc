#include "mpp/server/migrate.h"

#include <filesystem>
#include <vector>

#include "mpp/postgres/postgres.h"
#include "mpp/server/storage.h"
#include "mpp/sqlite/sqlite.h"

namespace mpp::server {
namespace {

enum class Type { kInt, kText, kBlob, kNullableBlob };
struct Column {
  const char* name;
  Type type;
};
struct Table {
  const char* name;
  std::vector<Column> columns;
  const char* order;  // a stable order, for the copy in pages
};

// Every table of the server's SQLite schema v4 (sqlite_storage.cc), as in the PostgreSQL
// schema v1 (postgres_storage.cc).
const std::vector<Table>& Tables() {
  static const std::vector<Table> tables = {
      {"devices",
       {{"device_id", Type::kText},
        {"van_code", Type::kText},
        {"public_key", Type::kBlob},
        {"enrolled_ms", Type::kInt},
        {"revoked_ms", Type::kInt},
        {"last_applied_seq", Type::kInt},
        {"last_sync_ms", Type::kInt},
        {"receipt_series", Type::kInt},
        {"recovering", Type::kInt}},
       "device_id"},
      {"tokens",
       {{"token_hash", Type::kBlob},
        {"van_code", Type::kText},
        {"expires_ms", Type::kInt},
        {"used_ms", Type::kInt},
        {"used_by", Type::kText},
        {"created_ms", Type::kInt},
        {"revoked_ms", Type::kInt}},
       "token_hash"},
      {"requests",
       {{"id", Type::kText},
        {"receipt", Type::kText},
        {"device_id", Type::kText},
        {"agency", Type::kText},
        {"service_id", Type::kText},
        {"status", Type::kText},
        {"owner_rev", Type::kInt},
        {"updated_ms", Type::kInt},
        {"body", Type::kBlob},
        {"van_code", Type::kText},
        {"rev", Type::kInt},
        {"revs", Type::kNullableBlob}},
       "id"},
      {"conflicts",
       {{"rev", Type::kInt},
        {"device_id", Type::kText},
        {"request_id", Type::kText},
        {"created_ms", Type::kInt},
        {"body", Type::kBlob},
        {"resolved_ms", Type::kInt},
        {"resolved_by", Type::kText},
        {"resolution", Type::kText}},
       "rev"},
      {"request_nik",
       {{"request_id", Type::kText}, {"nik_hash", Type::kBlob}, {"service_id", Type::kText}},
       "request_id"},
      {"duplicates",
       {{"request_id", Type::kText}, {"other_id", Type::kText}, {"flagged_ms", Type::kInt}},
       "request_id, other_id"},
      {"unclean", {{"device_id", Type::kText}, {"seq", Type::kInt}}, "device_id, seq"},
      {"applied",
       {{"device_id", Type::kText}, {"seq", Type::kInt}, {"digest", Type::kBlob}},
       "device_id, seq"},
      {"envelopes",
       {{"id", Type::kInt},
        {"device_id", Type::kText},
        {"first_seq", Type::kInt},
        {"last_seq", Type::kInt},
        {"received_ms", Type::kInt},
        {"bytes", Type::kBlob}},
       "id"},
      {"audit",
       {{"id", Type::kInt},
        {"at_ms", Type::kInt},
        {"actor", Type::kText},
        {"action", Type::kText},
        {"target", Type::kText},
        {"detail", Type::kText}},
       "id"},
      {"catalog", {{"id", Type::kInt}, {"version", Type::kInt}, {"body", Type::kText}}, "id"},
      // SQLite v6 / PostgreSQL v2: staff accounts and their sessions carry over, so staff stay
      // logged in across the move.
      {"staff_accounts",
       {{"user_name", Type::kText},
        {"agency", Type::kText},
        {"role", Type::kText},
        {"password_hash", Type::kText},
        {"created_ms", Type::kInt},
        {"disabled_ms", Type::kInt},
        {"password_changed_ms", Type::kInt}},
       "user_name"},
      {"staff_sessions",
       {{"id_hash", Type::kBlob},
        {"user_name", Type::kText},
        {"csrf", Type::kText},
        {"created_ms", Type::kInt},
        {"last_seen_ms", Type::kInt}},
       "id_hash"},
      {"staff_comments",
       {{"id", Type::kInt},
        {"request_id", Type::kText},
        {"at_ms", Type::kInt},
        {"user_name", Type::kText},
        {"body", Type::kText}},
       "id"},
  };
  return tables;
}

// Rows per INSERT: one statement with many rows is far fewer round trips than one per row.
constexpr int kRowsPerInsert = 200;

Result<int64_t> CopyTable(sqlite::Database& from, postgres::Connection& to, const Table& t) {
  std::string columns;
  for (const auto& c : t.columns) columns += std::string(columns.empty() ? "" : ", ") + c.name;
  MPP_ASSIGN_OR_RETURN(auto s, from.Prepare(std::string("SELECT ") + columns + " FROM " + t.name +
                                            " ORDER BY " + t.order));
  int64_t copied = 0;
  bool done = false;
  while (!done) {
    postgres::Params params;
    std::string values;
    int rows = 0;
    while (rows < kRowsPerInsert) {
      MPP_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) {
        done = true;
        break;
      }
      values += rows == 0 ? "(" : ", (";
      for (size_t i = 0; i < t.columns.size(); ++i) {
        const int col = static_cast<int>(i);
        values += (i == 0 ? "$" : ", $") + std::to_string(params.size() + 1);
        switch (t.columns[i].type) {
          case Type::kInt:
            params.Add(s.ColumnInt(col));
            break;
          case Type::kText:
            params.Add(s.ColumnText(col));
            break;
          case Type::kBlob:
            params.Add(s.ColumnBlob(col));
            break;
          case Type::kNullableBlob:
            if (s.ColumnIsNull(col)) {
              params.AddNull();
              values += "::bytea";
            } else {
              params.Add(s.ColumnBlob(col));
            }
            break;
        }
      }
      values += ")";
      ++rows;
    }
    if (rows == 0) break;
    MPP_ASSIGN_OR_RETURN(auto r, to.Query(std::string("INSERT INTO ") + t.name + "(" + columns +
                                              ") VALUES " + values,
                                          params));
    copied += r.affected();
  }
  return copied;
}

Result<int64_t> CountPostgres(postgres::Connection& conn, const std::string& table) {
  MPP_ASSIGN_OR_RETURN(auto r, conn.Query("SELECT count(*) FROM " + table));
  return r.Int(0, 0);
}

}  // namespace

Result<MigrationReport> MigrateSqliteToPostgres(const std::string& dir, const std::string& url) {
  const std::string path = (std::filesystem::path(dir) / "server.db").string();
  if (!std::filesystem::is_regular_file(path)) {
    return Error::NotFound("no server database in " + dir + " (expected " + path + ")");
  }
  // Opening the SQLite store brings it to the current schema first; opening PostgreSQL creates
  // its schema.
  { MPP_ASSIGN_OR_RETURN(auto sqlite_storage, OpenSqliteStorage(path)); }
  { MPP_ASSIGN_OR_RETURN(auto pg_storage, OpenPostgresStorage(url)); }
  MPP_ASSIGN_OR_RETURN(auto from, sqlite::Database::Open(path, sqlite::Database::Mode::kReadWrite));
  MPP_ASSIGN_OR_RETURN(auto to, postgres::Connection::Open(url, std::chrono::seconds(10)));
  MPP_ASSIGN_OR_RETURN(auto txn, postgres::Transaction::Begin(to));
  for (const char* table : {"devices", "requests", "envelopes", "catalog", "staff_accounts"}) {
    MPP_ASSIGN_OR_RETURN(int64_t existing, CountPostgres(to, table));
    if (existing != 0) {
      return Error::Conflict("the PostgreSQL database already holds data (table " +
                             std::string(table) + "): migrate into an empty database");
    }
  }
  // One read transaction on SQLite: the copy is of one moment.
  MPP_RETURN_IF_ERROR(from.Exec("BEGIN"));
  MigrationReport report;
  for (const Table& t : Tables()) {
    auto copied = CopyTable(from, to, t);
    if (!copied) {
      (void)from.Exec("ROLLBACK");
      return copied.error().WithContext(std::string("copying ") + t.name);
    }
    report.rows[t.name] = *copied;
  }
  // The counters: the epoch as it was; the rev sequence above every rev copied, and each van's
  // scope head at the SQLite counter (a cursor of any van may be at it).
  auto counter = [&](const char* name) -> Result<int64_t> {
    MPP_ASSIGN_OR_RETURN(auto s, from.Prepare("SELECT value FROM counters WHERE name = ?"));
    s.Bind(1, name);
    MPP_ASSIGN_OR_RETURN(bool row, s.Step());
    return row ? s.ColumnInt(0) : int64_t{0};
  };
  MPP_ASSIGN_OR_RETURN(const int64_t rev, counter("rev"));
  MPP_ASSIGN_OR_RETURN(const int64_t epoch, counter("epoch"));
  MPP_ASSIGN_OR_RETURN(const int64_t hlc, counter("hlc"));
  (void)from.Exec("COMMIT");
  MPP_ASSIGN_OR_RETURN(auto set_epoch, to.Query("UPDATE counters SET value = $1 WHERE name = "
                                                "'epoch'",
                                                postgres::Params().Add(epoch)));
  (void)set_epoch;
  MPP_ASSIGN_OR_RETURN(auto set_hlc, to.Query("INSERT INTO hlc(node, value) VALUES ('migrated', "
                                              "$1)",
                                              postgres::Params().Add(hlc)));
  (void)set_hlc;
  MPP_ASSIGN_OR_RETURN(auto set_rev,
                       to.Query("SELECT setval('revs', greatest($1, (SELECT coalesce(max(rev), 0) "
                                "FROM requests), (SELECT coalesce(max(rev), 0) FROM conflicts), "
                                "1))",
                                postgres::Params().Add(rev)));
  (void)set_rev;
  MPP_ASSIGN_OR_RETURN(auto heads,
                       to.Query("INSERT INTO scope_heads(van_code, rev) SELECT van_code, $1 FROM "
                                "(SELECT van_code FROM devices UNION SELECT van_code FROM "
                                "requests) v",
                                postgres::Params().Add(rev)));
  (void)heads;
  // The envelopes and audit ids go on from the copied ones.
  for (const char* table : {"envelopes", "audit", "staff_comments"}) {
    MPP_ASSIGN_OR_RETURN(
        auto r,
        to.Query(std::string("SELECT setval(pg_get_serial_sequence('") + table +
                 "', 'id'), greatest(1, (SELECT coalesce(max(id), 0) FROM " + table + ")))"));
    (void)r;
  }
  for (auto& [table, copied] : report.rows) {
    MPP_ASSIGN_OR_RETURN(int64_t counted, CountPostgres(to, table));
    if (counted != copied) {
      return Error::Internal("table " + table + ": copied " + std::to_string(copied) +
                             " rows but PostgreSQL holds " + std::to_string(counted));
    }
  }
  MPP_RETURN_IF_ERROR(txn.Commit());
  return report;
}

}  // namespace mpp::server
