// Small RAII wrappers over SQLite: a database handle, a prepared statement, a transaction.
// Every SQLite return code goes through one Check() that turns it into an mpp::Error with the
// extended code's message (SQLITE_FULL becomes kStorageFull, SQLITE_CORRUPT/NOTADB kCorrupt,
// SQLITE_BUSY kUnavailable). <sqlite3.h> stays out of this header.
//
// Thread-safety: a Database and its Statements belong to one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mpp/sync/bytes.h"
#include "mpp/sync/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace mpp::sqlite {

class Statement;

class Database {
 public:
  enum class Mode { kReadWriteCreate, kReadWrite };

  // Opens (or creates) the file with a busy timeout, so an administrator command can run beside
  // a serving process. Writes nothing: a corrupt file fails here, untouched.
  static Result<Database> Open(const std::string& path, Mode mode);
  // The durability settings every store uses, once the caller has checked the file is its own:
  // WAL journal, synchronous=FULL (a commit that returned survives power loss), foreign keys.
  Result<void> UseDurableWal();

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;

  Result<void> Exec(std::string_view sql);
  // Reads an integer PRAGMA (application_id, user_version, ...). The statement is finished
  // before returning, so no read transaction stays open.
  Result<int64_t> PragmaInt(std::string_view name);
  Result<Statement> Prepare(std::string_view sql);
  int64_t LastInsertRowId() const;
  int Changes() const;
  sqlite3* handle() const { return db_.get(); }

  // Turns a SQLite return code into an Error naming `what` ("insert request: disk is full").
  Error MakeError(int rc, std::string_view what) const;

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  explicit Database(sqlite3* db) : db_(db) {}
  std::unique_ptr<sqlite3, Closer> db_;
};

class Statement {
 public:
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;

  // Bind by 1-based index. Text and blobs are copied by SQLite (SQLITE_TRANSIENT).
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, ByteView blob);
  Statement& BindNull(int index);

  // Steps once: true when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, for statements that return no rows.
  Result<void> Run();
  // Makes the statement ready to bind and run again (keeps it prepared).
  void Reset();

  int64_t ColumnInt(int col) const;
  std::string ColumnText(int col) const;
  Bytes ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  friend class Database;
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const;
  };
  Statement(sqlite3_stmt* stmt, const Database* db) : stmt_(stmt), db_(db) {}
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  const Database* db_;  // not owned; outlives the statement
  Result<void> bind_error_ = Ok();
};

// The prepared statements of one connection, kept for reuse: a hot path prepares each SQL text
// once. Get() resets the statement before handing it out (a query may have stopped before its
// last row). The Database must outlive the cache.
class StatementCache {
 public:
  explicit StatementCache(Database& db) : db_(&db) {}
  Result<Statement*> Get(const std::string& sql);

 private:
  Database* db_;
  std::map<std::string, Statement, std::less<>> statements_;
};

// BEGIN IMMEDIATE in Begin(), ROLLBACK in the destructor unless Commit() succeeded. The
// destructor swallows rollback errors: it runs during error handling, and SQLite rolls back an
// open transaction on close anyway.
class Transaction {
 public:
  static Result<Transaction> Begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Result<void> Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;  // null once committed or moved from
};

}  // namespace mpp::sqlite
