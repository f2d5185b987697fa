#include "mpp/sqlite/sqlite.h"

#include <sqlite3.h>

namespace mpp::sqlite {

void Database::Closer::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void Statement::Finalizer::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

Error Database::MakeError(int rc, std::string_view what) const {
  std::string message(what);
  message += ": ";
  message += db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return Error::StorageFull(message + " (free some disk space and retry)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Error::Corrupt(message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error::Unavailable(message + " (another process holds the database)");
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return Error::NotFound(message);
    case SQLITE_CONSTRAINT:
      return Error::Conflict(message);
    default:
      return Error::Internal(message);
  }
}

Result<Database> Database::Open(const std::string& path, Mode mode) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                    (mode == Mode::kReadWriteCreate ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Database db(raw);  // owns the handle even when open failed
  if (rc != SQLITE_OK) return db.MakeError(rc, "open " + path);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 10000);
  // Reading the header makes a corrupt file fail here, without writing to it.
  auto readable = db.Exec("PRAGMA application_id");
  if (!readable.ok()) {
    return readable.error().WithContext(path + " is not a usable SQLite database");
  }
  return db;
}

Result<void> Database::Exec(std::string_view sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_.get(), std::string(sql).c_str(), nullptr, nullptr, &message);
  if (message != nullptr) sqlite3_free(message);
  if (rc != SQLITE_OK) return MakeError(rc, sql.substr(0, 60));
  return Ok();
}

Result<int64_t> Database::PragmaInt(std::string_view name) {
  MPP_ASSIGN_OR_RETURN(Statement stmt, Prepare("PRAGMA " + std::string(name)));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.ColumnInt(0) : 0;
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return MakeError(rc, "prepare " + std::string(sql.substr(0, 60)));
  }
  return Statement(stmt, this);
}

Result<void> Database::UseDurableWal() {
  auto wal = Exec("PRAGMA journal_mode=WAL");
  if (!wal.ok()) return wal.error().WithContext("switch to WAL");
  return Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON");
}

int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_.get()); }
int Database::Changes() const { return sqlite3_changes(db_.get()); }

Statement& Statement::Bind(int index, int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_.get(), index, value);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = db_->MakeError(rc, "bind");
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  const int rc = sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT,
                                     SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = db_->MakeError(rc, "bind");
  return *this;
}

Statement& Statement::Bind(int index, ByteView blob) {
  const int rc =
      sqlite3_bind_blob64(stmt_.get(), index, blob.data(), blob.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = db_->MakeError(rc, "bind");
  return *this;
}

Statement& Statement::BindNull(int index) {
  const int rc = sqlite3_bind_null(stmt_.get(), index);
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = db_->MakeError(rc, "bind");
  return *this;
}

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_.error();
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->MakeError(rc, std::string("run ") + sqlite3_sql(stmt_.get()));
}

Result<void> Statement::Run() {
  for (;;) {
    auto row = Step();
    if (!row.ok() || !*row) {
      Reset();  // a cached statement must be reusable after a failure too
      if (!row.ok()) return row.error();
      return Ok();
    }
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  bind_error_ = Ok();
}

Result<Statement*> StatementCache::Get(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    MPP_ASSIGN_OR_RETURN(auto stmt, db_->Prepare(sql));
    it = statements_.emplace(sql, std::move(stmt)).first;
  }
  it->second.Reset();
  return &it->second;
}

int64_t Statement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_.get(), col); }

std::string Statement::ColumnText(int col) const {
  const auto* text = sqlite3_column_text(stmt_.get(), col);
  const int n = sqlite3_column_bytes(stmt_.get(), col);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), n);
}

Bytes Statement::ColumnBlob(int col) const {
  const auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_.get(), col));
  const int n = sqlite3_column_bytes(stmt_.get(), col);
  return data == nullptr ? Bytes() : Bytes(data, data + n);
}

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL;
}

Result<Transaction> Transaction::Begin(Database& db) {
  MPP_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) (void)db_->Exec("ROLLBACK");
}

Result<void> Transaction::Commit() {
  MPP_RETURN_IF_ERROR(db_->Exec("COMMIT"));
  db_ = nullptr;
  return Ok();
}

}  // namespace mpp::sqlite
