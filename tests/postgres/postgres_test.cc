// mpp_postgres against a real, throwaway PostgreSQL cluster (tests/support/pg_cluster.h): one
// cluster per test binary, a fresh database per test.
#include "mpp/postgres/postgres.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <limits>
#include <thread>
#include <vector>

#include "support/pg_cluster.h"
#include "support/process_util.h"
#include "support/test_util.h"

namespace mpp::postgres {
namespace {

using std::chrono::milliseconds;
using test::PgCluster;

constexpr milliseconds kConnect{5000};

void ExpectOneLine(const Error& e) {
  EXPECT_EQ(e.message().find('\n'), std::string::npos) << e.message();
  EXPECT_EQ(e.message().find('\t'), std::string::npos) << e.message();
}

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = test::SharedPgCluster();
    ASSERT_NE(pg_, nullptr);
    url_ = pg_->CreateDatabase();
  }

  Connection Connect() {
    auto conn = Connection::Open(url_, kConnect);
    EXPECT_TRUE(conn.ok()) << conn.error().message();
    return std::move(conn).value();
  }

  PgCluster* pg_ = nullptr;
  std::string url_;
};

// --- connecting ------------------------------------------------------------------------------

TEST_F(PostgresTest, ConnectsPingsAndNamesItself) {
  Connection conn = Connect();
  EXPECT_TRUE(conn.healthy());
  EXPECT_FALSE(conn.in_transaction());
  ASSERT_OK(conn.Ping());
  auto rows = conn.Query("SELECT current_setting('application_name'), current_user");
  ASSERT_OK(rows);
  EXPECT_EQ(rows->Text(0, 0), "mpp-server");
  EXPECT_EQ(rows->Text(0, 1), "mpp");
  EXPECT_EQ(conn.server(), "127.0.0.1:" + std::to_string(pg_->port()));
}

TEST_F(PostgresTest, TheUrlMayOverrideTheApplicationName) {
  auto conn = Connection::Open(url_ + "?application_name=mpp-admin", kConnect);
  ASSERT_OK(conn);
  auto rows = conn->Query("SELECT current_setting('application_name')");
  ASSERT_OK(rows);
  EXPECT_EQ(rows->Text(0, 0), "mpp-admin");
}

TEST_F(PostgresTest, WrongPasswordIsOneLineWithoutThePassword) {
  const std::string wrong = "not-the-password-7f3a";
  auto conn = Connection::Open(pg_->url_with_password("postgres", wrong), kConnect);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().code(), ErrorCode::kUnauthenticated) << conn.error().message();
  EXPECT_EQ(conn.error().message(),
            "the database refused the login of user mpp: wrong password or unknown user");
  EXPECT_EQ(conn.error().message().find(wrong), std::string::npos);
  EXPECT_EQ(conn.error().message().find(pg_->password()), std::string::npos);
}

TEST_F(PostgresTest, UnknownUserIsUnauthenticated) {
  auto conn = Connection::Open(
      "postgresql://nosuchuser:whatever@127.0.0.1:" + std::to_string(pg_->port()) + "/postgres",
      kConnect);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().code(), ErrorCode::kUnauthenticated) << conn.error().message();
  EXPECT_NE(conn.error().message().find("user nosuchuser"), std::string::npos);
  EXPECT_EQ(conn.error().message().find("whatever"), std::string::npos);
}

TEST_F(PostgresTest, UnknownDatabaseIsNotFoundAndNamed) {
  auto conn = Connection::Open(pg_->url("no_such_db"), kConnect);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().code(), ErrorCode::kNotFound) << conn.error().message();
  EXPECT_NE(conn.error().message().find("\"no_such_db\" does not exist"), std::string::npos)
      << conn.error().message();
  ExpectOneLine(conn.error());
  EXPECT_EQ(conn.error().message().find(pg_->password()), std::string::npos);
}

TEST(PostgresConnect, NothingListeningIsUnavailableInOneLine) {
  const int port = test::FreeLoopbackPort();
  auto conn = Connection::Open(
      "postgresql://mpp:s3cret-pw@127.0.0.1:" + std::to_string(port) + "/x", kConnect);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(conn.error().message(), "cannot reach the database at 127.0.0.1:" +
                                        std::to_string(port) + ": connection refused");
}

TEST(PostgresConnect, AServerThatNeverAnswersTimesOutWithinTheBound) {
  // A listening socket nobody accepts on: the kernel completes the handshake, no one answers.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  const auto start = std::chrono::steady_clock::now();
  auto conn = Connection::Open("postgresql://mpp:pw@127.0.0.1:" + std::to_string(port) + "/x",
                               milliseconds(200));
  const auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(conn.error().message(), "cannot reach the database at 127.0.0.1:" +
                                        std::to_string(port) + ": no answer within 200 ms");
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST(PostgresConnect, MalformedUrlsAreInvalidInputWithoutThePassword) {
  for (const std::string url : {"postgresql://mpp:pw%zzSecret9@127.0.0.1:5432/db",
                                "postgresql://mpp:pw-Secret9@127.0.0.1:5432/db?nosuchoption=1",
                                "postgresql://mpp:pw-Secret9@127.0.0.1:port/db",
                                "postgresql://mpp:pw-Secret9@127.0.0.1:99999/db"}) {
    auto conn = Connection::Open(url, kConnect);
    ASSERT_FALSE(conn.ok()) << url;
    EXPECT_EQ(conn.error().code(), ErrorCode::kInvalidInput) << conn.error().message();
    EXPECT_EQ(conn.error().message().find("Secret9"), std::string::npos) << conn.error().message();
    ExpectOneLine(conn.error());
  }
}

// --- parameters and rows ---------------------------------------------------------------------

TEST_F(PostgresTest, ParamsRoundTripTextIntegersBytesAndNull) {
  Connection conn = Connect();
  ASSERT_OK(
      conn.Exec("CREATE TABLE t (id bigint PRIMARY KEY, name text, data bytea, note varchar(20))"));
  const std::string utf8 = "Desa Sukamaju \xE2\x80\x94 K\xC3\xA9lurahan \xF0\x9F\x9A\x90";
  const Bytes with_zeros = {0, 1, 0, 255, 0, 0};
  struct Row {
    int64_t id;
    std::string name;
    Bytes data;
  };
  const std::vector<Row> rows = {{std::numeric_limits<int64_t>::min(), utf8, with_zeros},
                                 {std::numeric_limits<int64_t>::max(), "", {}},
                                 {0, "'; DROP TABLE t; --", {0}},
                                 {-1, "x", {0xde, 0xad}}};
  for (const Row& r : rows) {
    auto inserted = conn.Query("INSERT INTO t (id, name, data, note) VALUES ($1, $2, $3, $4)",
                               Params().Add(r.id).Add(r.name).Add(r.data).Add("n"));
    ASSERT_OK(inserted);
    EXPECT_EQ(inserted->affected(), 1);
  }
  ASSERT_OK(conn.Query("INSERT INTO t (id, name, data, note) VALUES ($1, $2, $3, $4)",
                       Params().Add(42).AddNull().AddNull().AddNull()));

  for (const Row& r : rows) {
    auto got = conn.Query("SELECT id, name, data, note FROM t WHERE id = $1", Params().Add(r.id));
    ASSERT_OK(got);
    ASSERT_EQ(got->size(), 1);
    ASSERT_EQ(got->columns(), 4);
    EXPECT_EQ(got->Int(0, 0), r.id);
    EXPECT_EQ(got->Text(0, 1), r.name);
    EXPECT_EQ(got->Bytes(0, 2), r.data);
    EXPECT_EQ(got->Text(0, 3), "n");
    EXPECT_FALSE(got->IsNull(0, 1));  // "" and empty bytes are not NULL
    EXPECT_FALSE(got->IsNull(0, 2));
  }
  auto nulls = conn.Query("SELECT name, data, note FROM t WHERE id = 42");
  ASSERT_OK(nulls);
  ASSERT_EQ(nulls->size(), 1);
  for (int col = 0; col < 3; ++col) EXPECT_TRUE(nulls->IsNull(0, col)) << col;
  EXPECT_EQ(nulls->Text(0, 0), "");
  EXPECT_TRUE(nulls->Bytes(0, 1).empty());

  // Text parameters take the type the statement needs (here a timestamptz and an int4).
  auto typed = conn.Query("SELECT extract(year FROM $1::timestamptz)::int4, $2::int4 + 1",
                          Params().Add("2024-05-01T10:00:00Z").Add("41"));
  ASSERT_OK(typed);
  EXPECT_EQ(typed->Int(0, 0), 2024);
  EXPECT_EQ(typed->Int(0, 1), 42);
}

TEST_F(PostgresTest, RowsDecodeEachColumnTypeFromBinary) {
  Connection conn = Connect();
  auto rows = conn.Query(
      "SELECT 7::int2, (-70000)::int4, (-5000000000)::int8, true, false, 'v'::varchar, "
      "'c'::char(3), '{\"a\": 1}'::jsonb, 'pg_class'::regclass::oid, count(*) "
      "FROM (VALUES (1), (2)) AS v(x)");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1);
  EXPECT_EQ(rows->Int(0, 0), 7);
  EXPECT_EQ(rows->Int(0, 1), -70000);
  EXPECT_EQ(rows->Int(0, 2), -5000000000);
  EXPECT_TRUE(rows->Bool(0, 3));
  EXPECT_FALSE(rows->Bool(0, 4));
  EXPECT_EQ(rows->Text(0, 5), "v");
  EXPECT_EQ(rows->Text(0, 6), "c  ");
  EXPECT_EQ(rows->Text(0, 7), "{\"a\": 1}");
  EXPECT_EQ(rows->Int(0, 8), 1259);  // pg_class's fixed OID
  EXPECT_EQ(rows->Int(0, 9), 2);     // count(*) is int8
  EXPECT_EQ(rows->Text(0, 1), "-70000");
  EXPECT_EQ(rows->Text(0, 3), "true");
}

TEST_F(PostgresTest, EachSqlTextIsPreparedOnceAndReused) {
  Connection conn = Connect();
  ASSERT_OK(conn.Exec("CREATE TABLE t (id bigint PRIMARY KEY, v text)"));
  const std::string insert = "INSERT INTO t (id, v) VALUES ($1, $2)";
  for (int i = 0; i < 5; ++i) ASSERT_OK(conn.Query(insert, Params().Add(i).Add("v")));
  EXPECT_EQ(conn.prepared_statements(), 1);
  auto listed = conn.Query("SELECT name, statement FROM pg_prepared_statements ORDER BY name");
  ASSERT_OK(listed);
  EXPECT_EQ(conn.prepared_statements(), 2);
  ASSERT_EQ(listed->size(), 2);
  EXPECT_EQ(listed->Text(0, 0), "mpp_s1");
  EXPECT_EQ(listed->Text(0, 1), insert);
  EXPECT_EQ(listed->Text(1, 0), "mpp_s2");
  // Text and NULL both leave the type to the server: the same statement.
  ASSERT_OK(conn.Query(insert, Params().Add(10).AddNull()));
  EXPECT_EQ(conn.prepared_statements(), 2);
  auto count = conn.Query("SELECT count(*) FROM t");
  ASSERT_OK(count);
  EXPECT_EQ(count->Int(0, 0), 6);

  // A bytea after a NULL is another statement: the NULL's statement has no fixed bytea type.
  ASSERT_OK(conn.Exec("CREATE TABLE b (id bigint PRIMARY KEY, data bytea)"));
  const std::string insert_b = "INSERT INTO b (id, data) VALUES ($1, $2)";
  ASSERT_OK(conn.Query(insert_b, Params().Add(1).AddNull()));
  ASSERT_OK(conn.Query(insert_b, Params().Add(2).Add(Bytes{0, 9})));
  ASSERT_OK(conn.Query(insert_b, Params().Add(3).Add(Bytes{7})));
  EXPECT_EQ(conn.prepared_statements(), 5);
  auto data = conn.Query("SELECT data FROM b ORDER BY id");
  ASSERT_OK(data);
  ASSERT_EQ(data->size(), 3);
  EXPECT_TRUE(data->IsNull(0, 0));
  EXPECT_EQ(data->Bytes(1, 0), (Bytes{0, 9}));
  EXPECT_EQ(data->Bytes(2, 0), (Bytes{7}));
}

TEST_F(PostgresTest, AffectedCountsUpdatedRows) {
  Connection conn = Connect();
  ASSERT_OK(
      conn.Exec("CREATE TABLE t (id int PRIMARY KEY, v int);"
                "INSERT INTO t SELECT g, 0 FROM generate_series(1, 10) g"));
  auto updated = conn.Query("UPDATE t SET v = 1 WHERE id <= $1", Params().Add(4));
  ASSERT_OK(updated);
  EXPECT_EQ(updated->affected(), 4);
  EXPECT_EQ(updated->size(), 0);
}

// --- errors ----------------------------------------------------------------------------------

TEST_F(PostgresTest, UniqueViolationIsConflict) {
  Connection conn = Connect();
  ASSERT_OK(conn.Exec("CREATE TABLE t (id text CONSTRAINT t_pkey PRIMARY KEY)"));
  ASSERT_OK(conn.Query("INSERT INTO t VALUES ($1)", Params().Add("3201010101900001")));
  auto again = conn.Query("INSERT INTO t VALUES ($1)", Params().Add("3201010101900001"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(again.error().message(),
            "INSERT INTO t VALUES ($1): duplicate key value violates unique constraint "
            "\"t_pkey\" (SQLSTATE 23505)");
  // The key (a NIK here) is in the server's DETAIL, which stays out of the message.
  EXPECT_EQ(again.error().message().find("3201010101900001"), std::string::npos);
  EXPECT_TRUE(conn.healthy());
}

TEST_F(PostgresTest, BadSqlIsInternal) {
  Connection conn = Connect();
  auto bad = conn.Query("SELEKT 1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInternal);
  EXPECT_NE(bad.error().message().find("SQLSTATE 42601"), std::string::npos);
  EXPECT_EQ(conn.prepared_statements(), 0);  // a failed prepare is not cached
  auto missing = conn.Exec("SELECT * FROM no_such_table");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kInternal);
  ExpectOneLine(missing.error());
}

TEST_F(PostgresTest, ConcurrentUpdateInRepeatableReadIsAborted) {
  Connection a = Connect();
  Connection b = Connect();
  ASSERT_OK(a.Exec("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0)"));
  auto txn = Transaction::Begin(a, Isolation::kRepeatableRead);
  ASSERT_OK(txn);
  ASSERT_OK(a.Query("SELECT v FROM t WHERE id = 1"));  // takes the snapshot
  ASSERT_OK(b.Exec("UPDATE t SET v = 1 WHERE id = 1"));
  auto update = a.Query("UPDATE t SET v = 2 WHERE id = 1");
  ASSERT_FALSE(update.ok());
  EXPECT_EQ(update.error().code(), ErrorCode::kAborted) << update.error().message();
  EXPECT_TRUE(update.error().transient());
  EXPECT_NE(update.error().message().find("SQLSTATE 40001"), std::string::npos);
  EXPECT_FALSE(a.healthy());  // inside a failed transaction until it rolls back
  auto commit = txn->Commit();
  ASSERT_FALSE(commit.ok());
  EXPECT_EQ(commit.error().code(), ErrorCode::kInternal);
  EXPECT_TRUE(a.healthy());
  EXPECT_FALSE(a.in_transaction());
}

TEST_F(PostgresTest, SerializableWriteSkewIsAborted) {
  Connection a = Connect();
  Connection b = Connect();
  ASSERT_OK(
      a.Exec("CREATE TABLE on_call (doctor int PRIMARY KEY, on_call bool);"
             "INSERT INTO on_call VALUES (1, true), (2, true)"));
  const std::string count = "SELECT count(*) FROM on_call WHERE on_call";
  const std::string leave = "UPDATE on_call SET on_call = false WHERE doctor = $1";
  auto ta = Transaction::Begin(a, Isolation::kSerializable);
  auto tb = Transaction::Begin(b, Isolation::kSerializable);
  ASSERT_OK(ta);
  ASSERT_OK(tb);
  ASSERT_OK(a.Query(count));
  ASSERT_OK(b.Query(count));
  ASSERT_OK(a.Query(leave, Params().Add(1)));
  auto b_leaves = b.Query(leave, Params().Add(2));
  ASSERT_OK(ta->Commit());
  // SSI reports the skew at b's UPDATE or, usually, at its COMMIT.
  Result<void> b_result = b_leaves.ok() ? tb->Commit() : Result<void>(b_leaves.error());
  ASSERT_FALSE(b_result.ok());
  EXPECT_EQ(b_result.error().code(), ErrorCode::kAborted) << b_result.error().message();
  auto left = a.Query(count);
  ASSERT_OK(left);
  EXPECT_EQ(left->Int(0, 0), 1);
}

TEST_F(PostgresTest, DeadlockIsAborted) {
  Connection a = Connect();
  Connection b = Connect();
  ASSERT_OK(
      a.Exec("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), "
             "(2, 0)"));
  for (Connection* c : {&a, &b}) ASSERT_OK(c->Exec("SET deadlock_timeout = '20ms'"));
  auto ta = Transaction::Begin(a);
  auto tb = Transaction::Begin(b);
  ASSERT_OK(ta);
  ASSERT_OK(tb);
  ASSERT_OK(a.Exec("UPDATE t SET v = 1 WHERE id = 1"));
  ASSERT_OK(b.Exec("UPDATE t SET v = 2 WHERE id = 2"));
  // Each now wants the other's row: whichever waits second closes the cycle, and the server
  // aborts one of them; the other then gets its row.
  Result<void> a_result = Ok();
  std::thread a_thread([&] { a_result = a.Exec("UPDATE t SET v = 1 WHERE id = 2"); });
  Result<void> b_result = b.Exec("UPDATE t SET v = 2 WHERE id = 1");
  a_thread.join();
  ASSERT_NE(a_result.ok(), b_result.ok());
  const Error& e = a_result.ok() ? b_result.error() : a_result.error();
  EXPECT_EQ(e.code(), ErrorCode::kAborted) << e.message();
  EXPECT_NE(e.message().find("SQLSTATE 40P01"), std::string::npos) << e.message();
}

TEST(PostgresErrors, SqlStatesMapToCodes) {
  const std::vector<std::pair<std::string, ErrorCode>> cases = {
      {"40001", ErrorCode::kAborted},         {"40P01", ErrorCode::kAborted},
      {"23505", ErrorCode::kConflict},        {"23503", ErrorCode::kConflict},
      {"08006", ErrorCode::kUnavailable},     {"57P01", ErrorCode::kUnavailable},
      {"57P02", ErrorCode::kUnavailable},     {"57P03", ErrorCode::kUnavailable},
      {"53300", ErrorCode::kUnavailable},     {"53100", ErrorCode::kStorageFull},
      {"53200", ErrorCode::kStorageFull},     {"57014", ErrorCode::kTimeout},
      {"25P03", ErrorCode::kTimeout},         {"55P03", ErrorCode::kTimeout},
      {"28P01", ErrorCode::kUnauthenticated}, {"28000", ErrorCode::kUnauthenticated},
      {"3D000", ErrorCode::kNotFound},        {"42601", ErrorCode::kInternal},
      {"42P01", ErrorCode::kInternal},        {"22001", ErrorCode::kInvalidInput},
      {"XX000", ErrorCode::kInternal},        {"", ErrorCode::kInternal}};
  for (const auto& [state, code] : cases) {
    const Error e = ErrorFromSqlState(state, "could not\n\tdo it ");
    EXPECT_EQ(e.code(), code) << state;
    EXPECT_EQ(e.message(),
              state.empty() ? "could not do it" : "could not do it (SQLSTATE " + state + ")");
  }
}

// --- transactions ----------------------------------------------------------------------------

TEST_F(PostgresTest, TransactionRollsBackUnlessCommitted) {
  Connection conn = Connect();
  ASSERT_OK(conn.Exec("CREATE TABLE t (id int PRIMARY KEY)"));
  {
    auto txn = Transaction::Begin(conn);
    ASSERT_OK(txn);
    EXPECT_TRUE(conn.in_transaction());
    ASSERT_OK(conn.Query("INSERT INTO t VALUES (1)"));
  }  // no Commit
  EXPECT_FALSE(conn.in_transaction());
  {
    auto txn = Transaction::Begin(conn, Isolation::kSerializable);
    ASSERT_OK(txn);
    ASSERT_OK(conn.Query("INSERT INTO t VALUES (2)"));
    ASSERT_OK(txn->Commit());
  }
  auto ids = conn.Query("SELECT id FROM t ORDER BY id");
  ASSERT_OK(ids);
  ASSERT_EQ(ids->size(), 1);
  EXPECT_EQ(ids->Int(0, 0), 2);
}

TEST_F(PostgresTest, TransactionGuardsAgainstNestingAndWritesInReadOnly) {
  Connection conn = Connect();
  ASSERT_OK(conn.Exec("CREATE TABLE t (id int PRIMARY KEY)"));
  auto outer = Transaction::Begin(conn);
  ASSERT_OK(outer);
  auto inner = Transaction::Begin(conn);
  ASSERT_FALSE(inner.ok());
  EXPECT_EQ(inner.error().code(), ErrorCode::kInternal);
  ASSERT_OK(outer->Commit());

  auto read_only = Transaction::Begin(conn, Isolation::kRepeatableRead, Access::kReadOnly);
  ASSERT_OK(read_only);
  auto write = conn.Query("INSERT INTO t VALUES (1)");
  ASSERT_FALSE(write.ok());
  EXPECT_NE(write.error().message().find("read-only transaction"), std::string::npos)
      << write.error().message();
}

// --- deferred writes (pipeline mode) -------------------------------------------------------

TEST_F(PostgresTest, DeferredWritesGoOutWithTheNextQueryInOrder) {
  Connection conn = Connect();
  ASSERT_OK(conn.Exec("CREATE TABLE t (id int PRIMARY KEY, v text)"));
  auto txn = Transaction::Begin(conn);
  ASSERT_OK(txn);
  ASSERT_OK(conn.Defer("INSERT INTO t VALUES ($1, $2)", Params().Add(1).Add("one")));
  ASSERT_OK(conn.Defer("INSERT INTO t VALUES ($1, $2)", Params().Add(2).Add("two")));
  EXPECT_EQ(conn.deferred(), 2);
  // A statement new to the connection is prepared on its own, after what waits is sent.
  ASSERT_OK(conn.Defer("UPDATE t SET v = $1 WHERE id = $2", Params().Add("uno").Add(1)));
  EXPECT_EQ(conn.deferred(), 1);
  ASSERT_OK(conn.Defer("UPDATE t SET v = $1 WHERE id = $2", Params().Add("dos").Add(2)));
  EXPECT_EQ(conn.deferred(), 2);
  auto rows = conn.Query("SELECT id, v FROM t ORDER BY id");
  ASSERT_OK(rows);
  EXPECT_EQ(conn.deferred(), 0);
  ASSERT_EQ(rows->size(), 2);
  EXPECT_EQ(rows->Text(0, 1), "uno") << "the UPDATE ran after the INSERT it follows";
  EXPECT_EQ(rows->Text(1, 1), "dos");
  EXPECT_TRUE(conn.healthy());
  ASSERT_OK(txn->Commit());
  EXPECT_FALSE(conn.in_transaction());
}

TEST_F(PostgresTest, ADeferredWriteThatFailsFailsTheCallThatSendsItAndTheTransaction) {
  Connection conn = Connect();
  ASSERT_OK(conn.Exec("CREATE TABLE t (id int PRIMARY KEY)"));
  ASSERT_OK(conn.Query("INSERT INTO t VALUES (1)"));
  {
    auto txn = Transaction::Begin(conn);
    ASSERT_OK(txn);
    ASSERT_OK(conn.Defer("INSERT INTO t VALUES ($1)", Params().Add(2)));
    ASSERT_OK(conn.Defer("INSERT INTO t VALUES ($1)", Params().Add(1)));  // taken
    ASSERT_OK(conn.Defer("INSERT INTO t VALUES ($1)", Params().Add(3)));
    auto read = conn.Query("SELECT count(*) FROM t");
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.error().code(), ErrorCode::kConflict) << read.error().message();
    EXPECT_NE(read.error().message().find("INSERT INTO t"), std::string::npos)
        << "names the statement that failed: " << read.error().message();
    ExpectOneLine(read.error());
    EXPECT_FALSE(conn.healthy()) << "inside a failed transaction";
    EXPECT_FALSE(txn->Commit().ok());
  }
  EXPECT_TRUE(conn.healthy()) << "usable again once rolled back";
  auto ids = conn.Query("SELECT id FROM t ORDER BY id");
  ASSERT_OK(ids);
  ASSERT_EQ(ids->size(), 1) << "none of the transaction's writes stayed";
  EXPECT_EQ(ids->Int(0, 0), 1);
}

TEST_F(PostgresTest, CommitSendsTheDeferredWritesAndReportsTheirFailure) {
  Connection conn = Connect();
  Connection other = Connect();
  ASSERT_OK(conn.Exec("CREATE TABLE t (id int PRIMARY KEY)"));
  {
    auto txn = Transaction::Begin(conn);
    ASSERT_OK(txn);
    ASSERT_OK(conn.Defer("INSERT INTO t VALUES ($1)", Params().Add(1)));
    ASSERT_OK(txn->Commit());
  }
  EXPECT_EQ(conn.deferred(), 0);
  auto seen = other.Query("SELECT count(*)::int8 FROM t");
  ASSERT_OK(seen);
  EXPECT_EQ(seen->Int(0, 0), 1);
  {
    auto txn = Transaction::Begin(conn);
    ASSERT_OK(txn);
    ASSERT_OK(conn.Defer("INSERT INTO t VALUES ($1)", Params().Add(2)));
    ASSERT_OK(conn.Defer("INSERT INTO t VALUES ($1)", Params().Add(1)));
    auto committed = txn->Commit();
    ASSERT_FALSE(committed.ok());
    EXPECT_EQ(committed.error().code(), ErrorCode::kConflict) << committed.error().message();
  }
  EXPECT_FALSE(conn.in_transaction());
  EXPECT_TRUE(conn.healthy());
  seen = other.Query("SELECT count(*)::int8 FROM t");
  ASSERT_OK(seen);
  EXPECT_EQ(seen->Int(0, 0), 1) << "the failed commit kept nothing";
}

TEST_F(PostgresTest, DeferredWritesOfATransactionNotCommittedAreNeverSent) {
  Connection conn = Connect();
  ASSERT_OK(conn.Exec("CREATE TABLE t (id int PRIMARY KEY)"));
  {
    auto txn = Transaction::Begin(conn);
    ASSERT_OK(txn);
    ASSERT_OK(conn.Defer("INSERT INTO t VALUES ($1)", Params().Add(1)));
  }
  EXPECT_EQ(conn.deferred(), 0);
  auto rows = conn.Query("SELECT count(*)::int8 FROM t");
  ASSERT_OK(rows);
  EXPECT_EQ(rows->Int(0, 0), 0);
}

TEST_F(PostgresTest, DeferredWritesAreSentByThemselvesOnceManyWait) {
  Connection conn = Connect();
  Connection other = Connect();
  ASSERT_OK(conn.Exec("CREATE TABLE t (id int PRIMARY KEY)"));
  for (int i = 0; i < Connection::kMaxDeferred; ++i) {
    ASSERT_OK(conn.Defer("INSERT INTO t VALUES ($1)", Params().Add(i)));
  }
  EXPECT_EQ(conn.deferred(), 0) << "the last one sent them all";
  // Outside a transaction they commit together at the pipeline's end: another session sees them.
  auto rows = other.Query("SELECT count(*)::int8 FROM t");
  ASSERT_OK(rows);
  EXPECT_EQ(rows->Int(0, 0), Connection::kMaxDeferred);
  ASSERT_OK(conn.Flush());  // nothing left: a no-op
}

// --- the pool --------------------------------------------------------------------------------

TEST_F(PostgresTest, PoolLendsReusesAndTimesOutWhenAllAreBusy) {
  auto pool = ConnectionPool::Open(url_, 2, kConnect);
  ASSERT_OK(pool);
  ConnectionPool& p = **pool;
  EXPECT_EQ(p.open(), 1);  // Open checked the database with one connection
  {
    auto first = p.Acquire(milliseconds(1000));
    ASSERT_OK(first);
    auto second = p.Acquire(milliseconds(1000));
    ASSERT_OK(second);
    EXPECT_EQ(p.open(), 2);
    EXPECT_EQ(p.idle(), 0);
    ASSERT_OK((*first)->Ping());
    ASSERT_OK((*second)->Ping());

    const auto start = std::chrono::steady_clock::now();
    auto third = p.Acquire(milliseconds(50));
    ASSERT_FALSE(third.ok());
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(50));
    EXPECT_EQ(third.error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(third.error().message(), "all 2 database connections are busy (waited 50 ms)");

    // A waiter gets the first connection given back.
    Result<PooledConnection> waited = Error::Internal("not run");
    std::thread waiter([&] { waited = p.Acquire(milliseconds(10000)); });
    { auto give_back = std::move(*first); }
    waiter.join();
    ASSERT_OK(waited);
    ASSERT_OK((*waited)->Ping());
  }
  EXPECT_EQ(p.open(), 2);
  EXPECT_EQ(p.idle(), 2);
}

TEST_F(PostgresTest, PoolRollsBackALeaseLeftInATransaction) {
  auto pool = ConnectionPool::Open(url_, 1, kConnect);
  ASSERT_OK(pool);
  {
    auto lease = (*pool)->Acquire(milliseconds(1000));
    ASSERT_OK(lease);
    ASSERT_OK((*lease)->Exec("CREATE TABLE t (id int)"));
    ASSERT_OK((*lease)->Exec("BEGIN; INSERT INTO t VALUES (1)"));
    EXPECT_TRUE((*lease)->in_transaction());
  }
  auto lease = (*pool)->Acquire(milliseconds(1000));
  ASSERT_OK(lease);
  EXPECT_FALSE((*lease)->in_transaction());
  auto count = (*lease)->Query("SELECT count(*) FROM t");
  ASSERT_OK(count);
  EXPECT_EQ(count->Int(0, 0), 0);
}

TEST_F(PostgresTest, PoolServesManyThreads) {
  auto pool = ConnectionPool::Open(url_, 3, kConnect);
  ASSERT_OK(pool);
  ASSERT_OK(Connect().Exec("CREATE TABLE hits (thread int, n int)"));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 20; ++n) {
        auto lease = (*pool)->Acquire(milliseconds(10000));
        if (!lease.ok() ||
            !(*lease)->Query("INSERT INTO hits VALUES ($1, $2)", Params().Add(t).Add(n)).ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE((*pool)->open(), 3);
  auto count = Connect().Query("SELECT count(*) FROM hits");
  ASSERT_OK(count);
  EXPECT_EQ(count->Int(0, 0), 160);
}

TEST(PostgresPool, OpenRefusesWhatRetryingCannotFix) {
  PgCluster* pg = test::SharedPgCluster();
  ASSERT_NE(pg, nullptr);
  auto login = ConnectionPool::Open(pg->url_with_password("postgres", "wrong"), 2, kConnect);
  ASSERT_FALSE(login.ok());
  EXPECT_EQ(login.error().code(), ErrorCode::kUnauthenticated);
  auto malformed = ConnectionPool::Open("postgresql://x:y@127.0.0.1:port/db", 2, kConnect);
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().code(), ErrorCode::kInvalidInput);
}

// --- the database going away -----------------------------------------------------------------

TEST_F(PostgresTest, PoolOpenedWhileTheDatabaseIsDownConnectsOnceItIsUp) {
  ASSERT_TRUE(pg_->Stop());
  auto pool = ConnectionPool::Open(url_, 2, kConnect);
  ASSERT_OK(pool);  // down is no reason to refuse to start
  EXPECT_EQ((*pool)->open(), 0);
  auto down = (*pool)->Acquire(milliseconds(100));
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(down.error().message(), "cannot reach the database at 127.0.0.1:" +
                                        std::to_string(pg_->port()) + ": connection refused");
  EXPECT_EQ((*pool)->open(), 0);

  ASSERT_TRUE(pg_->StartAgain());
  auto up = (*pool)->Acquire(milliseconds(100));
  ASSERT_OK(up);
  ASSERT_OK((*up)->Ping());
}

TEST_F(PostgresTest, ConnectionsBrokenByARestartAreReplaced) {
  auto pool = ConnectionPool::Open(url_, 2, kConnect);
  ASSERT_OK(pool);
  auto held = (*pool)->Acquire(milliseconds(1000));
  ASSERT_OK(held);
  {
    auto idle = (*pool)->Acquire(milliseconds(1000));  // opens the second, then idles
    ASSERT_OK(idle);
    ASSERT_OK((*idle)->Ping());
  }
  ASSERT_EQ((*pool)->idle(), 1);
  ASSERT_TRUE(pg_->Restart());

  // The leased one finds out on its next query.
  auto lost = (*held)->Ping();
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code(), ErrorCode::kUnavailable) << lost.error().message();
  ExpectOneLine(lost.error());
  EXPECT_FALSE((*held)->healthy());
  { auto drop = std::move(*held); }  // closed, not given back
  EXPECT_EQ((*pool)->open(), 1);

  // The idle one is found dead when lent, and replaced without the caller seeing an error.
  auto fresh = (*pool)->Acquire(milliseconds(1000));
  ASSERT_OK(fresh);
  ASSERT_OK((*fresh)->Ping());
  EXPECT_EQ((*pool)->open(), 1);
}

TEST_F(PostgresTest, CrashKeepsCommittedDataAndLosesTheRest) {
  {
    Connection conn = Connect();
    ASSERT_OK(conn.Exec("CREATE TABLE t (id int PRIMARY KEY, v text)"));
    ASSERT_OK(conn.Query("INSERT INTO t VALUES (1, $1)", Params().Add("committed")));
    Connection other = Connect();
    auto open_txn = Transaction::Begin(other);
    ASSERT_OK(open_txn);
    ASSERT_OK(other.Query("INSERT INTO t VALUES (2, 'uncommitted')"));
    const pid_t before = pg_->postmaster_pid();
    ASSERT_TRUE(pg_->Crash());
    EXPECT_FALSE(pg_->running());
    ASSERT_TRUE(pg_->StartAgain());
    EXPECT_NE(pg_->postmaster_pid(), before);
  }  // the guard's ROLLBACK meets a dead connection and is swallowed
  Connection conn = Connect();
  auto rows = conn.Query("SELECT id, v FROM t ORDER BY id");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1);
  EXPECT_EQ(rows->Text(0, 1), "committed");
}

}  // namespace
}  // namespace mpp::postgres
