#include "mpp/postgres/postgres.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>

namespace mpp::postgres {
namespace {

static_assert(std::is_same_v<Oid, unsigned int>, "Params stores type OIDs as unsigned int");

using Clock = std::chrono::steady_clock;

// Type OIDs from the catalog (pg_type.dat); they are fixed across server versions.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kNameOid = 19;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kTextOid = 25;
constexpr Oid kOidOid = 26;
constexpr Oid kJsonOid = 114;
constexpr Oid kUnknownOid = 705;
constexpr Oid kBpcharOid = 1042;
constexpr Oid kVarcharOid = 1043;
constexpr Oid kJsonbOid = 3802;

constexpr int kTextFormat = 0;
constexpr int kBinaryFormat = 1;

// Whitespace runs (libpq's newlines and tabs) become one space; no leading or trailing space.
std::string OneLine(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
    } else {
      if (space) out.push_back(' ');
      space = false;
      out.push_back(c);
    }
  }
  return out;
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// The first line of a libpq message without its severity prefix: libpq adds hint lines
// ("\tIs the server running on that host...") that are noise in a one-line error.
std::string FirstLine(std::string_view text) {
  text = text.substr(0, text.find('\n'));
  for (std::string_view prefix : {"FATAL:", "ERROR:"}) {
    if (text.substr(0, prefix.size()) == prefix) text.remove_prefix(prefix.size());
  }
  return OneLine(text);
}

// The start of a statement, to say which one failed.
std::string ShortSql(std::string_view sql) {
  std::string text = OneLine(sql);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

std::string Scrub(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

// The password as written in a URL or key=value string that libpq could not parse, so that
// its message (which may quote the offending token) can be scrubbed of it.
std::string RawPassword(std::string_view url) {
  if (const size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    const size_t at = url.rfind('@');
    if (at == std::string_view::npos || at < scheme) return "";
    const std::string_view userinfo = url.substr(scheme + 3, at - scheme - 3);
    const size_t colon = userinfo.find(':');
    return colon == std::string_view::npos ? "" : std::string(userinfo.substr(colon + 1));
  }
  const size_t key = url.find("password");
  if (key == std::string_view::npos) return "";
  size_t start = url.find('=', key);
  if (start == std::string_view::npos) return "";
  ++start;
  while (start < url.size() && url[start] == ' ') ++start;
  const size_t end = url.find(' ', start);
  return std::string(url.substr(start, end == std::string_view::npos ? end : end - start));
}

uint64_t ReadBigEndian(const char* data, int length) {
  uint64_t value = 0;
  for (int i = 0; i < length; ++i) value = (value << 8) | static_cast<uint8_t>(data[i]);
  return value;
}

bool IsTextType(Oid type) {
  return type == kTextOid || type == kVarcharOid || type == kBpcharOid || type == kNameOid ||
         type == kJsonOid || type == kJsonbOid || type == kUnknownOid;
}

bool IsIntType(Oid type) {
  return type == kInt8Oid || type == kInt4Oid || type == kInt2Oid || type == kOidOid;
}

// Why a connection attempt failed, as one line with the right code. libpq gives no SQLSTATE for
// a failed connection, so this reads its (English) message: the server's FATAL line after
// "connection to server at "H", port P failed: ", or libpq's own reason.
Error ConnectError(std::string_view message, const std::string& server, const std::string& user,
                   const std::string& dbname, std::chrono::milliseconds timeout) {
  std::string first = OneLine(message.substr(0, message.find('\n')));
  if (const size_t failed = first.find(" failed: "); failed != std::string::npos) {
    first = first.substr(failed + 9);
  }
  const std::string why = FirstLine(first);
  std::string lower = why;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });

  if (Contains(lower, "password authentication failed") ||
      Contains(lower, "no password supplied") ||
      (Contains(lower, "role \"") && Contains(lower, "does not exist"))) {
    return Error::Unauthenticated("the database refused the login of user " + user +
                                  ": wrong password or unknown user");
  }
  if (Contains(lower, "pg_hba.conf")) {
    return Error::Unauthenticated("the database at " + server + " does not let user " + user +
                                  " log in from this host: " + why);
  }
  if (Contains(lower, "database \"") && Contains(lower, "does not exist")) {
    return Error::NotFound("the database \"" + dbname + "\" does not exist at " + server +
                           ": create it or fix the database URL");
  }
  if (Contains(lower, "connection refused")) {
    return Error::Unavailable("cannot reach the database at " + server + ": connection refused");
  }
  if (Contains(lower, "timeout expired")) {
    return Error::Unavailable("cannot reach the database at " + server + ": no answer within " +
                              std::to_string(timeout.count()) + " ms");
  }
  if (Contains(lower, "could not translate host name")) {
    return Error::Unavailable("cannot reach the database at " + server + ": unknown host name");
  }
  if (Contains(lower, "the database system is") || Contains(lower, "too many clients") ||
      Contains(lower, "connection slots are reserved")) {
    return Error::Unavailable("the database at " + server +
                              " is not accepting connections: " + why);
  }
  if (lower.rfind("invalid ", 0) == 0) {
    return Error::InvalidInput("the database URL is invalid: " + why);
  }
  return Error::Unavailable("cannot connect to the database at " + server + ": " + why);
}

}  // namespace

Error ErrorFromSqlState(std::string_view sqlstate, std::string_view message) {
  std::string m = OneLine(message);
  if (!sqlstate.empty()) m += " (SQLSTATE " + std::string(sqlstate) + ")";
  const std::string_view cls = sqlstate.substr(0, 2);
  if (sqlstate == "40001" || sqlstate == "40P01") return Error::Aborted(m);
  if (cls == "23") return Error::Conflict(m);
  if (cls == "08" || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03" ||
      sqlstate == "53300") {
    return Error::Unavailable(m);
  }
  if (cls == "53") return Error::StorageFull(m);
  if (sqlstate == "57014" || sqlstate == "25P03" || sqlstate == "55P03") return Error::Timeout(m);
  if (cls == "28") return Error::Unauthenticated(m);
  if (sqlstate == "3D000") return Error::NotFound(m);
  // Data exceptions: a value the database cannot take (bytes that are not UTF-8, a NUL in text,
  // a number out of range) is bad input, not a bug: 400, never 500.
  if (cls == "22") return Error::InvalidInput(m);
  return Error::Internal(m);
}

// ---------------------------------------------------------------------------------------------
// Params

Params& Params::Add(std::string_view text) {
  values_.emplace_back(text);
  null_.push_back(false);
  formats_.push_back(kTextFormat);
  types_.push_back(0);
  return *this;
}

Params& Params::AddInt(int64_t value) {
  std::string be(8, '\0');
  const auto bits = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) be[i] = static_cast<char>(bits >> (56 - 8 * i));
  values_.push_back(std::move(be));
  null_.push_back(false);
  formats_.push_back(kBinaryFormat);
  types_.push_back(kInt8Oid);
  return *this;
}

Params& Params::Add(ByteView bytes) {
  values_.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  null_.push_back(false);
  formats_.push_back(kBinaryFormat);
  types_.push_back(kByteaOid);
  return *this;
}

Params& Params::AddNull() {
  values_.emplace_back();
  null_.push_back(true);
  formats_.push_back(kTextFormat);
  types_.push_back(0);
  return *this;
}

// ---------------------------------------------------------------------------------------------
// Rows

void Rows::Clearer::operator()(pg_result* result) const { PQclear(result); }

int Rows::size() const { return PQntuples(result_.get()); }
int Rows::columns() const { return PQnfields(result_.get()); }

int64_t Rows::affected() const {
  const char* tuples = PQcmdTuples(result_.get());
  return tuples == nullptr || *tuples == '\0' ? 0 : std::strtoll(tuples, nullptr, 10);
}

bool Rows::IsNull(int row, int col) const {
  assert(row >= 0 && row < size() && col >= 0 && col < columns());
  return PQgetisnull(result_.get(), row, col) != 0;
}

mpp::Bytes Rows::Bytes(int row, int col) const {
  assert(row >= 0 && row < size() && col >= 0 && col < columns());
  const auto* data = reinterpret_cast<const uint8_t*>(PQgetvalue(result_.get(), row, col));
  const int length = PQgetlength(result_.get(), row, col);
  return data == nullptr ? mpp::Bytes() : mpp::Bytes(data, data + length);
}

int64_t Rows::Int(int row, int col) const {
  assert(row >= 0 && row < size() && col >= 0 && col < columns());
  const char* data = PQgetvalue(result_.get(), row, col);
  const int length = PQgetlength(result_.get(), row, col);
  if (data == nullptr || PQgetisnull(result_.get(), row, col)) return 0;
  switch (PQftype(result_.get(), col)) {
    case kInt8Oid:
      assert(length == 8);
      return static_cast<int64_t>(ReadBigEndian(data, std::min(length, 8)));
    case kInt4Oid:
      assert(length == 4);
      return static_cast<int32_t>(ReadBigEndian(data, std::min(length, 4)));
    case kInt2Oid:
      assert(length == 2);
      return static_cast<int16_t>(ReadBigEndian(data, std::min(length, 2)));
    case kOidOid:
      assert(length == 4);
      return static_cast<uint32_t>(ReadBigEndian(data, std::min(length, 4)));
    default:
      assert(false && "Rows::Int on a column that is not int2, int4, int8 or oid");
      return 0;
  }
}

bool Rows::Bool(int row, int col) const {
  assert(row >= 0 && row < size() && col >= 0 && col < columns());
  assert(PQftype(result_.get(), col) == kBoolOid && "Rows::Bool on a column that is not bool");
  const char* data = PQgetvalue(result_.get(), row, col);
  return data != nullptr && PQgetlength(result_.get(), row, col) == 1 && data[0] != 0;
}

std::string Rows::Text(int row, int col) const {
  assert(row >= 0 && row < size() && col >= 0 && col < columns());
  const char* data = PQgetvalue(result_.get(), row, col);
  const int length = PQgetlength(result_.get(), row, col);
  if (data == nullptr || PQgetisnull(result_.get(), row, col)) return "";
  const Oid type = PQftype(result_.get(), col);
  if (type == kJsonbOid && length > 0) return std::string(data + 1, length - 1);  // version byte
  if (IsTextType(type)) return std::string(data, length);
  if (IsIntType(type)) return std::to_string(Int(row, col));
  if (type == kBoolOid) return Bool(row, col) ? "true" : "false";
  assert(false && "Rows::Text on a column of a type it does not decode: cast it to text in SQL");
  return std::string(data, length);
}

// ---------------------------------------------------------------------------------------------
// Connection

void Connection::Finisher::operator()(pg_conn* conn) const { PQfinish(conn); }

Connection::Connection(pg_conn* conn, std::string server)
    : conn_(conn), server_(std::move(server)) {}

Result<Connection> Connection::Open(const std::string& url,
                                    std::chrono::milliseconds connect_timeout) {
  // Parsed first: a malformed URL is for the caller to fix, and its parts name the server, the
  // user and the password (to keep out of messages).
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &parse_error);
  if (options == nullptr) {
    const std::string why =
        parse_error == nullptr ? "out of memory" : Scrub(FirstLine(parse_error), RawPassword(url));
    PQfreemem(parse_error);
    return Error::InvalidInput("the database URL is malformed: " + why +
                               " (expected postgresql://user:password@host:port/dbname)");
  }
  std::map<std::string, std::string> parsed;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && o->val[0] != '\0') parsed[o->keyword] = o->val;
  }
  PQconninfoFree(options);
  const std::string password = parsed.count("password") ? parsed["password"] : "";
  if (parsed.count("port")) {
    const std::string& ports = parsed["port"];
    bool valid = !ports.empty();
    size_t start = 0;
    while (valid && start <= ports.size()) {
      size_t end = ports.find(',', start);
      if (end == std::string::npos) end = ports.size();
      const std::string one = ports.substr(start, end - start);
      valid = !one.empty() && one.size() <= 5 &&
              std::all_of(one.begin(), one.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
              std::stoi(one) >= 1 && std::stoi(one) <= 65535;
      start = end + 1;
    }
    if (!valid) {
      return Error::InvalidInput("the database URL has an invalid port \"" +
                                 Scrub(ports, password) + "\" (expected 1-65535)");
    }
  }

  // The URL comes after the defaults, so that it may override them (libpq keeps the last value).
  const char* keywords[] = {"application_name", "client_encoding", "dbname", nullptr};
  const char* values[] = {"mpp-server", "UTF8", url.c_str(), nullptr};
  pg_conn* raw = PQconnectStartParams(keywords, values, /*expand_dbname=*/1);
  if (raw == nullptr) return Error::Internal("cannot start a database connection: out of memory");

  std::string host = parsed.count("host")       ? parsed["host"]
                     : parsed.count("hostaddr") ? parsed["hostaddr"]
                                                : std::string(PQhost(raw) ? PQhost(raw) : "");
  if (host.empty()) host = "localhost";
  std::string port =
      parsed.count("port") ? parsed["port"] : std::string(PQport(raw) ? PQport(raw) : "");
  if (port.empty()) port = "5432";
  Connection conn(raw, host + ":" + port);  // owns the handle on every path from here

  // The connection is driven by hand (not PQconnectdb), so that the bound is in milliseconds:
  // libpq's connect_timeout counts whole seconds, at least 2.
  const auto deadline = Clock::now() + connect_timeout;
  PostgresPollingStatusType state =
      PQstatus(raw) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Error::Unavailable("cannot reach the database at " + conn.server_ +
                                ": no answer within " + std::to_string(connect_timeout.count()) +
                                " ms");
    }
    pollfd p{PQsocket(raw), static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT),
             0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
    if (ready < 0 && errno != EINTR) {
      return Error::Internal(std::string("poll on the database socket: ") + std::strerror(errno));
    }
    if (ready > 0) state = PQconnectPoll(raw);
  }
  if (state == PGRES_POLLING_FAILED) {
    const std::string user = PQuser(raw) != nullptr ? PQuser(raw) : "";
    const std::string dbname = PQdb(raw) != nullptr ? PQdb(raw) : "";
    Error error = ConnectError(PQerrorMessage(raw), conn.server_, user, dbname, connect_timeout);
    return Error(error.code(), Scrub(error.message(), password));
  }
  // Notices (a ROLLBACK outside a transaction warns) would go to stderr; callers get errors.
  PQsetNoticeProcessor(
      raw, [](void*, const char*) {}, nullptr);
  return conn;
}

Error Connection::ResultError(const pg_result* result, std::string_view sql) const {
  const std::string what = ShortSql(sql);
  const char* sqlstate = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const bool gone = PQstatus(conn_.get()) == CONNECTION_BAD;
  if (sqlstate == nullptr) {
    // libpq's own error: the connection broke, or it ran out of memory.
    const char* message = result != nullptr && PQresultErrorMessage(result)[0] != '\0'
                              ? PQresultErrorMessage(result)
                              : PQerrorMessage(conn_.get());
    if (gone) {
      return Error::Unavailable(what + ": the connection to the database at " + server_ +
                                " was lost: " + FirstLine(message));
    }
    if (result != nullptr && PQresultStatus(result) != PGRES_FATAL_ERROR &&
        PQresultStatus(result) != PGRES_NONFATAL_ERROR) {
      return Error::Internal(what + ": unexpected result " + PQresStatus(PQresultStatus(result)));
    }
    return Error::Internal(what + ": " + FirstLine(message));
  }
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  Error error = ErrorFromSqlState(sqlstate, primary != nullptr ? primary : "");
  if (gone && error.code() == ErrorCode::kInternal) {
    return Error::Unavailable(what + ": the connection to the database at " + server_ +
                              " was lost: " + error.message());
  }
  return error.WithContext(what);
}

Result<void> Connection::Exec(std::string_view sql) {
  MPP_RETURN_IF_ERROR(Flush());
  const std::string text(sql);
  Rows result(PQexec(conn_.get(), text.c_str()));
  const ExecStatusType status = PQresultStatus(result.result_.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
    return Ok();
  }
  return ResultError(result.result_.get(), sql);
}

Result<Connection::Statement> Connection::Prepare(const std::string& sql, const Params& params) {
  // libpq sends a text-format value up to its first NUL, so "dev\0x" would be looked up as
  // "dev": refuse it (PostgreSQL text cannot hold a NUL anyway).
  for (int i = 0; i < params.size(); ++i) {
    if (!params.null_[i] && params.formats_[i] == kTextFormat &&
        params.values_[i].find('\0') != std::string::npos) {
      return Error::InvalidInput("text parameter " + std::to_string(i + 1) +
                                 " holds a NUL byte, which text cannot hold");
    }
  }
  // The same text with other parameter types is another statement: a NULL first (no type) must
  // not fix the type of a parameter that later comes as bytea.
  std::string key = sql;
  key.push_back('\0');
  for (Oid type : params.types_) key += std::to_string(type) + ",";
  auto it = statements_.find(key);
  if (it == statements_.end()) {
    // Sent on its own, before any pipeline: a statement that fails to prepare (a bug) is then
    // never cached, and never sent.
    MPP_RETURN_IF_ERROR(Flush());
    std::string name = "mpp_s" + std::to_string(statements_.size() + 1);
    Rows prepared(PQprepare(conn_.get(), name.c_str(), sql.c_str(), params.size(),
                            params.types_.empty() ? nullptr : params.types_.data()));
    if (PQresultStatus(prepared.result_.get()) != PGRES_COMMAND_OK) {
      return ResultError(prepared.result_.get(), sql);
    }
    it = statements_.emplace(std::move(key), std::move(name)).first;
  }
  return Statement{it->second, sql, params};
}

// The pointers libpq takes for one statement's parameters, valid while the Params live.
struct ParamPointers {
  explicit ParamPointers(const Params& params)
      : n(params.size()), values(n), lengths(n), formats(params.formats_.data()) {
    for (int i = 0; i < n; ++i) {
      values[i] = params.null_[i] ? nullptr : params.values_[i].data();
      lengths[i] = static_cast<int>(params.values_[i].size());
    }
  }
  int n;
  std::vector<const char*> values;
  std::vector<int> lengths;
  const int* formats;
};

Result<Rows> Connection::Query(const std::string& sql, const Params& params) {
  MPP_ASSIGN_OR_RETURN(Statement statement, Prepare(sql, params));
  if (!deferred_.empty()) {
    deferred_.push_back(std::move(statement));
    return RunPipeline(std::exchange(deferred_, {}));
  }
  const ParamPointers p(params);
  Rows rows(PQexecPrepared(conn_.get(), statement.name.c_str(), p.n, p.values.data(),
                           p.lengths.data(), p.formats, kBinaryFormat));
  const ExecStatusType status = PQresultStatus(rows.result_.get());
  if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return rows;
  return ResultError(rows.result_.get(), sql);
}

Result<void> Connection::Defer(const std::string& sql, const Params& params) {
  MPP_ASSIGN_OR_RETURN(Statement statement, Prepare(sql, params));
  deferred_.push_back(std::move(statement));
  if (static_cast<int>(deferred_.size()) >= kMaxDeferred) return Flush();
  return Ok();
}

Result<void> Connection::Flush() {
  if (deferred_.empty()) return Ok();
  MPP_ASSIGN_OR_RETURN(Rows last, RunPipeline(std::exchange(deferred_, {})));
  (void)last;
  return Ok();
}

// Pipeline mode: every statement goes out, then one sync; the server answers each in order
// and, after the first that fails, skips the rest (PGRES_PIPELINE_ABORTED) up to the sync. Every
// answer is read, so the connection leaves pipeline mode idle and usable (or is found broken).
Result<Rows> Connection::RunPipeline(std::vector<Statement> statements) {
  pg_conn* conn = conn_.get();
  if (PQenterPipelineMode(conn) != 1) return ResultError(nullptr, statements.front().sql);
  size_t sent = 0;
  while (sent < statements.size()) {
    const Statement& s = statements[sent];
    const ParamPointers p(s.params);
    if (PQsendQueryPrepared(conn, s.name.c_str(), p.n, p.values.data(), p.lengths.data(), p.formats,
                            kBinaryFormat) != 1) {
      break;
    }
    ++sent;
  }
  const bool synced = PQpipelineSync(conn) == 1;
  std::optional<Error> error;
  if (sent < statements.size()) error = ResultError(nullptr, statements[sent].sql);
  std::optional<Rows> last;
  // Each statement's answer ends with a NULL result.
  for (size_t i = 0; i < sent && PQstatus(conn) == CONNECTION_OK; ++i) {
    while (pg_result* raw = PQgetResult(conn)) {
      Rows rows(raw);
      const ExecStatusType status = PQresultStatus(raw);
      if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        if (i + 1 == statements.size()) last.emplace(std::move(rows));
      } else if (status != PGRES_PIPELINE_ABORTED && !error) {
        error = ResultError(raw, statements[i].sql);
      }
      if (PQstatus(conn) != CONNECTION_OK) break;
    }
  }
  if (synced && PQstatus(conn) == CONNECTION_OK) {
    Rows sync(PQgetResult(conn));
    if (PQresultStatus(sync.result_.get()) != PGRES_PIPELINE_SYNC && !error) {
      error = ResultError(sync.result_.get(), "pipeline sync");
    }
  }
  if (PQexitPipelineMode(conn) != 1 && !error) error = ResultError(nullptr, "pipeline end");
  if (error) return *std::move(error);
  if (!last) return ResultError(nullptr, statements.back().sql);
  return *std::move(last);
}

Result<void> Connection::Ping() {
  auto rows = Query("SELECT 1");
  if (!rows.ok()) return rows.error();
  return Ok();
}

bool Connection::healthy() const {
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) return false;
  const PGTransactionStatusType t = PQtransactionStatus(conn_.get());
  return t == PQTRANS_IDLE || t == PQTRANS_INTRANS;
}

bool Connection::in_transaction() const {
  if (!conn_) return false;
  const PGTransactionStatusType t = PQtransactionStatus(conn_.get());
  return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

bool Connection::CheckIdle() {
  // A server that ended the session (shutdown, restart, idle timeout) sent a FATAL message and
  // closed: the socket reads as ready. Each PQconsumeInput reads what is there without
  // blocking; the one that meets the end of the stream marks the connection bad. A few rounds
  // suffice: a live idle connection is not readable at all.
  for (int round = 0; round < 4; ++round) {
    if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) return false;
    pollfd p{PQsocket(conn_.get()), POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) break;
    if (PQconsumeInput(conn_.get()) == 0) return false;
  }
  return healthy();
}

// ---------------------------------------------------------------------------------------------
// Transaction

Result<Transaction> Transaction::Begin(Connection& conn, Isolation isolation, Access access) {
  if (conn.in_transaction()) {
    // BEGIN would only warn, and this guard would then end the outer transaction.
    return Error::Internal("begin: the connection is already inside a transaction");
  }
  std::string sql = "BEGIN ISOLATION LEVEL ";
  switch (isolation) {
    case Isolation::kReadCommitted:
      sql += "READ COMMITTED";
      break;
    case Isolation::kRepeatableRead:
      sql += "REPEATABLE READ";
      break;
    case Isolation::kSerializable:
      sql += "SERIALIZABLE";
      break;
  }
  if (access == Access::kReadOnly) sql += " READ ONLY";
  MPP_RETURN_IF_ERROR(conn.Exec(sql));
  return Transaction(&conn);
}

Transaction::~Transaction() {
  if (conn_ == nullptr) return;
  conn_->DiscardDeferred();
  if (conn_->in_transaction()) (void)conn_->Exec("ROLLBACK");
}

Result<void> Transaction::Commit() {
  assert(conn_ != nullptr && "Commit on a committed or moved-from Transaction");
  Connection* conn = conn_;
  conn_ = nullptr;
  if (conn->in_transaction() && !conn->healthy()) {
    conn->DiscardDeferred();
    (void)conn->Exec("ROLLBACK");
    return Error::Internal(
        "commit: a statement of the transaction had failed, so it was rolled back");
  }
  // The deferred writes go out with the COMMIT, in one round trip. When one of them fails, the
  // server skips the COMMIT and the transaction is left failed: roll it back.
  Result<void> committed = Ok();
  if (conn->deferred() == 0) {
    committed = conn->Exec("COMMIT");
  } else {
    committed = conn->Defer("COMMIT");
    if (committed.ok()) committed = conn->Flush();
  }
  if (!committed.ok()) {
    conn->DiscardDeferred();
    if (conn->in_transaction()) (void)conn->Exec("ROLLBACK");
  }
  return committed;
}

// ---------------------------------------------------------------------------------------------
// ConnectionPool

void PooledConnection::GiveBack() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->GiveBack(std::move(conn_));
  pool_ = nullptr;
}

PooledConnection& PooledConnection::operator=(PooledConnection&& other) noexcept {
  if (this != &other) {
    GiveBack();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
    other.pool_ = nullptr;
  }
  return *this;
}

Result<std::unique_ptr<ConnectionPool>> ConnectionPool::Open(
    const std::string& url, int size, std::chrono::milliseconds connect_timeout) {
  if (size < 1) return Error::InvalidInput("a database pool needs at least one connection");
  std::unique_ptr<ConnectionPool> pool(new ConnectionPool(url, size, connect_timeout));
  auto first = Connection::Open(url, connect_timeout);
  if (first.ok()) {
    pool->idle_.push_back(std::make_unique<Connection>(std::move(first).value()));
    pool->open_ = 1;
  } else if (first.error().code() != ErrorCode::kUnavailable) {
    return first.error();
  }
  return pool;
}

ConnectionPool::~ConnectionPool() {
  assert(open_ == static_cast<int>(idle_.size()) && "a ConnectionPool died with leases out");
}

Result<PooledConnection> ConnectionPool::Acquire(std::chrono::milliseconds wait) {
  const auto deadline = Clock::now() + wait;
  std::unique_lock lock(mu_);
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->CheckIdle()) return PooledConnection(this, std::move(conn));
      --open_;  // the server dropped it while idle (restart, idle timeout): open another
    }
    if (open_ < size_) {
      ++open_;  // the slot is taken while connecting, outside the lock
      lock.unlock();
      auto conn = Connection::Open(url_, connect_timeout_);
      if (!conn.ok()) {
        lock.lock();
        --open_;
        lock.unlock();
        returned_.notify_one();
        return conn.error();
      }
      return PooledConnection(this, std::make_unique<Connection>(std::move(conn).value()));
    }
    if (Clock::now() >= deadline) {
      return Error::Unavailable("all " + std::to_string(size_) +
                                " database connections are busy (waited " +
                                std::to_string(wait.count()) + " ms)");
    }
    returned_.wait_until(lock, deadline);
  }
}

void ConnectionPool::GiveBack(std::unique_ptr<Connection> conn) {
  // A lease left inside a transaction (an early return past a Transaction guard that was
  // moved away, or a plain BEGIN) must not hand its open transaction to the next user.
  // Statements deferred and never sent belong to that lease's work, not the next one's.
  conn->DiscardDeferred();
  if (conn->in_transaction()) (void)conn->Exec("ROLLBACK");
  const bool keep = conn->healthy() && !conn->in_transaction();
  {
    std::lock_guard lock(mu_);
    if (keep) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  returned_.notify_one();
  // A connection not kept is closed here, outside the lock.
}

int ConnectionPool::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

int ConnectionPool::idle() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(idle_.size());
}

}  // namespace mpp::postgres
