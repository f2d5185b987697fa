// Small RAII wrappers over libpq: a connection with a prepared-statement cache, parameters,
// result rows, a transaction guard and a connection pool. <libpq-fe.h> stays out of this header.
//
// Every failure is an mpp::Error whose message is one line a person can act on and never holds
// the password. Server errors are mapped from their SQLSTATE by ErrorFromSqlState: callers branch
// on the code, chiefly kAborted (serialization failure or deadlock: run the whole transaction
// again), kConflict (a constraint), kUnavailable (the database is down or the connection is lost).
//
// Thread-safety: a Connection (and its Rows and Transaction) belongs to one thread at a time.
// ConnectionPool is thread-safe; each PooledConnection it hands out belongs to one thread.
#pragma once

#include <cassert>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mpp/sync/bytes.h"
#include "mpp/sync/result.h"

struct pg_conn;
struct pg_result;

namespace mpp::postgres {

// The Error for a server error with this SQLSTATE: 40001/40P01 kAborted; class 23 kConflict;
// class 08, 57P01-57P03 and 53300 (too many connections) kUnavailable; other class 53
// kStorageFull; 57014, 25P03 and 55P03 kTimeout; class 28 kUnauthenticated; 3D000 kNotFound; class
// 22 (data the database cannot take: not UTF-8, out of range) kInvalidInput; everything else, class
// 42 (bad SQL: a bug) included, kInternal. The message is
// "<message> (SQLSTATE xxxxx)".
Error ErrorFromSqlState(std::string_view sqlstate, std::string_view message);

// The parameters $1, $2, ... of one query, in order. Text goes as text with its type left for
// the server to infer (it may fill a text, varchar or timestamptz column); integers go as int8
// and bytes as bytea, both in binary format; NULL has no type.
class Params {
 public:
  Params& Add(std::string_view text);
  Params& Add(const char* text) { return Add(std::string_view(text)); }
  // Any integer type but bool; an unsigned value must fit in int64 (asserted).
  template <std::integral T>
  requires(!std::same_as<T, bool>) Params& Add(T value) {
    if constexpr (std::is_unsigned_v<T>) {
      assert(static_cast<uint64_t>(value) <=
             static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
    }
    return AddInt(static_cast<int64_t>(value));
  }
  Params& Add(ByteView bytes);
  Params& Add(const Bytes& bytes) { return Add(ByteView(bytes)); }
  Params& AddNull();

  int size() const { return static_cast<int>(values_.size()); }

 private:
  friend class Connection;
  friend struct ParamPointers;
  Params& AddInt(int64_t value);
  std::vector<std::string> values_;  // the bytes each parameter is sent as
  std::vector<bool> null_;
  std::vector<int> formats_;         // 0 text, 1 binary
  std::vector<unsigned int> types_;  // type OIDs, 0 for "let the server infer"
};

// The rows of one query's result, received in binary format. Accessors take 0-based row and
// column numbers; an out-of-range one is a bug (asserted). Values are decoded by the column's
// type: Int() reads int2/int4/int8/oid columns, Bool() bool, Bytes() any column's raw bytes
// (a bytea's content), Text() text-like columns (text, varchar, char, name, json, jsonb) and,
// formatted, integer and bool ones. Cast other types in the SQL (`created_at::text`,
// `sum(n)::int8`: sum of int8 is numeric). A NULL reads as "", 0, false or no bytes.
class Rows {
 public:
  Rows(Rows&&) noexcept = default;
  Rows& operator=(Rows&&) noexcept = default;

  int size() const;
  int columns() const;
  // Rows an INSERT, UPDATE or DELETE touched (0 for other statements).
  int64_t affected() const;

  bool IsNull(int row, int col) const;
  std::string Text(int row, int col) const;
  int64_t Int(int row, int col) const;
  mpp::Bytes Bytes(int row, int col) const;
  bool Bool(int row, int col) const;

 private:
  friend class Connection;
  struct Clearer {
    void operator()(pg_result* result) const;
  };
  explicit Rows(pg_result* result) : result_(result) {}
  std::unique_ptr<pg_result, Clearer> result_;
};

class Connection {
 public:
  // Connects to `url` (postgresql://user:password@host:port/dbname?option=value, or a libpq
  // key=value string), giving up after `connect_timeout`. application_name defaults to
  // mpp-server and client_encoding is UTF8. Errors: a malformed URL kInvalidInput; nothing
  // listening, no answer in time or a server not accepting connections (starting up, shutting
  // down, full) kUnavailable; a wrong password or unknown user kUnauthenticated; an unknown
  // database kNotFound.
  static Result<Connection> Open(const std::string& url, std::chrono::milliseconds connect_timeout);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;

  // Runs one or more statements without parameters (DDL, BEGIN, COMMIT); results are discarded.
  Result<void> Exec(std::string_view sql);
  // Runs one statement with parameters. Each distinct SQL text (with its parameter types) is
  // prepared once per connection, as mpp_s1, mpp_s2, ..., and reused: do not DEALLOCATE or
  // DISCARD them behind the connection's back. Statements deferred before it go first, in the
  // same round trip; the error of any of them is this call's error.
  Result<Rows> Query(const std::string& sql, const Params& params = Params());
  // Queues a statement whose rows nobody reads (an INSERT, an UPDATE) to be sent with the next
  // Query, Exec or Flush, in one round trip with it (libpq's pipeline mode): a transaction of many
  // small writes then costs one round trip per read instead of one per statement. Statements
  // run in the order given, so a later read sees every earlier write. The cost is where errors
  // show: a deferred statement's failure (a constraint, the connection lost) is reported by the
  // call that sends it, and the transaction is then failed as usual. Only the parameters' NULs
  // and the statement's preparation are checked here. At most kMaxDeferred wait at a time (the
  // next one sends them), so the server's answers never fill the socket while this side writes.
  Result<void> Defer(const std::string& sql, const Params& params = Params());
  // Sends whatever Defer queued; Ok when nothing is queued.
  Result<void> Flush();
  // Forgets the queued statements unsent (before a ROLLBACK: they would only fail or be undone).
  void DiscardDeferred() { deferred_.clear(); }
  int deferred() const { return static_cast<int>(deferred_.size()); }
  static constexpr int kMaxDeferred = 64;
  // SELECT 1: kUnavailable when the server is gone.
  Result<void> Ping();

  // Connected, and not inside a failed transaction block. Knows only what the last call saw.
  bool healthy() const;
  // Inside a transaction block (BEGIN without COMMIT or ROLLBACK yet), failed or not.
  bool in_transaction() const;
  // Reads, without blocking, whatever the server sent while the connection was idle (the
  // notice of a shutdown, the end of the connection), then returns healthy(): a cheap check
  // that a connection which sat unused is still there.
  bool CheckIdle();
  // Prepared statements cached so far (for tests and metrics).
  int prepared_statements() const { return static_cast<int>(statements_.size()); }
  // "host:port" of the server, for messages.
  const std::string& server() const { return server_; }

 private:
  struct Finisher {
    void operator()(pg_conn* conn) const;
  };
  struct Statement {
    std::string name;  // of the prepared statement
    std::string sql;   // for messages
    Params params;
  };
  Connection(pg_conn* conn, std::string server);
  Error ResultError(const pg_result* result, std::string_view sql) const;
  // Checks the parameters and prepares the statement once per connection.
  Result<Statement> Prepare(const std::string& sql, const Params& params);
  // Sends the statements in one pipeline and reads every answer; the last one's rows.
  Result<Rows> RunPipeline(std::vector<Statement> statements);

  std::unique_ptr<pg_conn, Finisher> conn_;
  std::string server_;
  std::map<std::string, std::string, std::less<>> statements_;  // SQL and types -> name
  std::vector<Statement> deferred_;                             // queued by Defer, not yet sent
};

enum class Isolation { kReadCommitted, kRepeatableRead, kSerializable };
enum class Access { kReadWrite, kReadOnly };

// BEGIN in Begin(), ROLLBACK in the destructor unless Commit() succeeded. The destructor
// swallows rollback errors: it runs during error handling, and a connection that is gone has
// lost the transaction anyway. The Connection must outlive the guard.
//
// A Commit() that fails with kUnavailable may have been applied or not (the connection broke
// after COMMIT was sent): a transaction that is retried must be safe to apply twice.
class Transaction {
 public:
  static Result<Transaction> Begin(Connection& conn,
                                   Isolation isolation = Isolation::kReadCommitted,
                                   Access access = Access::kReadWrite);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  // Fails with kInternal, and rolls back, when a statement of the transaction had failed (the
  // server would turn the COMMIT into a ROLLBACK).
  Result<void> Commit();

 private:
  explicit Transaction(Connection* conn) : conn_(conn) {}
  Connection* conn_;  // null once committed or moved from
};

class ConnectionPool;

// A connection leased from a ConnectionPool, given back when the lease is destroyed. A lease
// still inside a transaction is rolled back first; a connection that is no longer healthy is
// closed instead of given back. The pool must outlive its leases.
class PooledConnection {
 public:
  PooledConnection(PooledConnection&& other) noexcept
      : pool_(other.pool_), conn_(std::move(other.conn_)) {
    other.pool_ = nullptr;
  }
  PooledConnection& operator=(PooledConnection&& other) noexcept;
  ~PooledConnection() { GiveBack(); }

  Connection& operator*() const { return *conn_; }
  Connection* operator->() const { return conn_.get(); }
  Connection& get() const { return *conn_; }

 private:
  friend class ConnectionPool;
  PooledConnection(ConnectionPool* pool, std::unique_ptr<Connection> conn)
      : pool_(pool), conn_(std::move(conn)) {}
  void GiveBack();
  ConnectionPool* pool_;
  std::unique_ptr<Connection> conn_;
};

// Up to `size` connections to one database, opened when needed and reused (the most recently
// used first). Thread-safe: any thread may Acquire; each lease belongs to one thread.
class ConnectionPool {
 public:
  // Checks the URL and tries one connection. A database that is down is no error here (the
  // pool starts empty and connects on Acquire); a malformed URL, a refused login or an unknown
  // database is, since retrying cannot help.
  static Result<std::unique_ptr<ConnectionPool>> Open(const std::string& url, int size,
                                                      std::chrono::milliseconds connect_timeout);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // An idle connection (checked with CheckIdle, so one the server dropped is replaced), or a
  // new one while fewer than size() are open, or the first one given back within `wait`.
  // Errors: kUnavailable "all N database connections are busy" after `wait`, or the error of
  // opening a new connection (kUnavailable while the database is down).
  Result<PooledConnection> Acquire(std::chrono::milliseconds wait);

  int size() const { return size_; }
  // Connections open now, leased or idle.
  int open() const;
  int idle() const;

 private:
  friend class PooledConnection;
  ConnectionPool(std::string url, int size, std::chrono::milliseconds connect_timeout)
      : url_(std::move(url)), size_(size), connect_timeout_(connect_timeout) {}
  void GiveBack(std::unique_ptr<Connection> conn);

  const std::string url_;
  const int size_;
  const std::chrono::milliseconds connect_timeout_;
  mutable std::mutex mu_;
  std::condition_variable returned_;               // signalled when a connection or slot frees
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_; the back is the newest
  int open_ = 0;                                   // guarded by mu_; leased + idle + being opened
};

}  // namespace mpp::postgres
