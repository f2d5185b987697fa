// HTTP/1.1 on Boost.Beast over Boost.Asio. One Session per connection, driven by completion
// handlers on the connection's strand: read some bytes, feed them to a bounded
// beast::http::request_parser, and once a request is complete run its route. Routes that reach
// storage run on the worker pool; the answer is written back on the strand. See http_server.h
// for the thread rules and HttpLimits for every limit.
#include "mpp/server/http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <ctime>
#include <exception>
#include <iomanip>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

namespace mpp::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// Reads while a header is incomplete are small, so a slow client's buffer stays small; body
// reads are larger, for throughput.
constexpr size_t kHeaderReadBytes = 4 << 10;
constexpr size_t kBodyReadBytes = 64 << 10;
// Connections being answered "too many connections" at once; past it they are closed unanswered
// (a flood of them must not cost more sockets than it is refused for).
constexpr size_t kMaxRefusingConnections = 256;
// How much of a client's text a log line keeps, and a reason sent back to it.
constexpr size_t kMaxLoggedChars = 200;
constexpr size_t kMaxReasonChars = 1000;
// After a failed accept (out of file descriptors), the next try comes after this.
constexpr Millis kAcceptRetry{50};
// While stopping, how often the server checks whether every connection has finished.
constexpr Millis kStopPoll{20};

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return out.str();
}

// Client bytes made safe for one log line: printable ASCII stays, `"` and `\` are escaped, every
// other byte (control characters, non-ASCII) becomes \xNN; a `token` also escapes spaces so it
// stays one word. At most kMaxLoggedChars input bytes are kept, then "...".
std::string EscapeForLog(std::string_view text, bool token = false) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t n = std::min(text.size(), kMaxLoggedChars);
  out.reserve(n + 8);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c > 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else if (c == ' ' && !token) {
      out += ' ';
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (text.size() > n) out += "...";
  return out;
}

// A reason for the client: one line (control characters escaped), capped; UTF-8 text stays.
std::string OneLine(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t n = std::min(text.size(), kMaxReasonChars);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > n) out += "...";
  return out;
}

// What a 5xx answer tells the client: a fixed text per code. The Error's own message may hold
// SQL or a path; it goes to the log only.
const char* GenericReason(ErrorCode code) {
  switch (code) {
    case ErrorCode::kStorageFull:
      return "the server cannot store data right now; retry later";
    case ErrorCode::kUnavailable:
      return "the server cannot serve this request right now; retry later";
    case ErrorCode::kTimeout:
      return "the server ran out of time for this request; retry later";
    default:
      return "internal server error; the operator can read the reason in the server log";
  }
}

std::string_view Std(beast::string_view text) { return {text.data(), text.size()}; }

// An answer before it is written.
struct Answer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  int retry_after_s = 0;                                     // > 0: a Retry-After header
  const char* allow = nullptr;                               // a 405's Allow header
  bool close = false;                                        // close the connection after it
  std::vector<std::pair<std::string, std::string>> headers;  // a WebApp's own
  // A WebApp's streamed answer (WebAnswer::next_piece): sent chunked after `body`.
  std::function<Result<std::string>()> next_piece;
};

Answer TextAnswer(int status, const std::string& reason, int retry_after_s = 0) {
  Answer a;
  a.status = status;
  a.body = reason + "\n";
  a.retry_after_s = retry_after_s;
  return a;
}

}  // namespace

class HttpServer::Impl {
 public:
  class Session;
  using RequestParser = http::request_parser<http::string_body>;

  // One entry per route. `name` is the route's word in log lines and metric names; handlers
  // that reach storage run on the worker pool; `rate_limited` routes are refused (429) for an
  // address that keeps failing authentication.
  struct Route {
    const char* path;
    http::verb method;
    const char* allow;
    const char* name;
    bool on_pool;
    bool rate_limited;
    Answer (*handle)(Impl& self, std::string& body);
  };

  Impl(Services& services, std::ostream& log, HttpLimits limits, WebApp* web)
      : services_(services),
        web_(web),
        log_(log),
        limits_(limits),
        ioc_(static_cast<int>(std::max<size_t>(1, limits.io_threads))),
        acceptor_(net::make_strand(ioc_)),
        accept_retry_(acceptor_.get_executor()),
        stop_timer_(acceptor_.get_executor()),
        workers_(std::max<size_t>(1, limits.worker_threads)) {}

  ~Impl() {
    // Handlers still queued hold sessions whose sockets belong to ioc_: let them end first.
    workers_.stop();
    workers_.join();
  }

  Result<int> Bind(const std::string& host, int port);
  void Run();
  void Stop();

  static const std::array<Route, 6>& Routes();
  static const Route* FindRoute(std::string_view path);
  // The route of every path the WebApp serves: its handler is the WebApp (Dispatch).
  static const Route kWebRoute;
  // A WebApp's answer to a complete request (runs on a worker).
  static WebRequest MakeWebRequest(http::request<http::string_body>& request,
                                   const std::string& address);
  Answer HandleWeb(const WebRequest& request);

  // --- counters and the log (any thread) ---
  void Count(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_[name];
  }
  void Log(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    log_ << line << std::endl;
  }
  std::string MetricsText() {
    std::ostringstream out;
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, value] : counters_) out << name << " " << value << "\n";
    // Transactions the database aborted (a deadlock or serialization failure between server
    // processes) and that were run again: a rising count says processes fight over one van.
    out << "transaction_retries " << services_.core.transaction_retries() << "\n";
    return out.str();
  }

  // --- refusal rate limit per address (any thread) ---
  // Seconds the address must still wait, or 0 when it may be served.
  int SecondsBlocked(const std::string& address);
  void NoteRefusal(const std::string& address, int status);

  // --- body memory in flight (any thread) ---
  bool ReserveBodyBytes(size_t n) {
    size_t now = body_bytes_in_flight_.load();
    do {
      if (now + n > limits_.max_body_bytes_in_flight) return false;
    } while (!body_bytes_in_flight_.compare_exchange_weak(now, now + n));
    return true;
  }
  void ReleaseBodyBytes(size_t n) { body_bytes_in_flight_ -= n; }

  // The log line and answer of one service call (runs on a worker).
  template <typename Bytes_>
  Answer Finish(const char* what, const SyncLog& log, SteadyClock::time_point start,
                size_t bytes_in, const Result<Bytes_>& answer, const char* content_type);
  // The log line of a refusal made by the HTTP layer itself.
  void LogRefusal(const Route* route, std::string_view method, std::string_view target,
                  size_t bytes_in, int status, const std::string& reason);

  void Unregister(Session* session, const std::string& address, bool admitted);

  Services& services_;
  WebApp* const web_;  // may be null: no dashboard
  std::ostream& log_;
  const HttpLimits limits_;

  std::mutex mu_;  // guards counters_ and log_
  std::map<std::string, uint64_t> counters_;

  struct RefusalRecord {
    SteadyClock::time_point window_start;
    size_t count = 0;
    SteadyClock::time_point blocked_until;
  };
  std::mutex rate_mu_;  // guards refusals_
  std::unordered_map<std::string, RefusalRecord> refusals_;

  std::atomic<size_t> body_bytes_in_flight_{0};
  std::atomic<size_t> queued_handlers_{0};

  std::mutex sessions_mu_;       // guards sessions_, per_address_, refusing_
  std::set<Session*> sessions_;  // admitted connections, alive
  std::unordered_map<std::string, size_t> per_address_;
  size_t refusing_ = 0;  // connections being answered "too many connections"

  std::atomic<bool> stop_requested_{false};

  // Declared after everything sessions touch: destroying ioc_ destroys pending handlers and
  // with them the last sessions, whose destructors unregister above.
  net::io_context ioc_;
  tcp::acceptor acceptor_;          // on its own strand, with the two timers below
  net::steady_timer accept_retry_;  // after a failed accept
  net::steady_timer stop_timer_;    // polls for the end of in-flight requests while stopping
  SteadyClock::time_point stop_deadline_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  net::thread_pool workers_;

 private:
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void BeginStop();
  void PollStop();
};

// One connection. Every member is touched only on the stream's strand, except `body_` while a
// handler owns it on a worker (the strand then does nothing with it) and the fields set once at
// construction.
class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl& server, tcp::socket socket, std::string address, bool admitted)
      : server_(server),
        limits_(server.limits_),
        stream_(std::move(socket)),
        address_(std::move(address)),
        admitted_(admitted),
        buffer_(limits_.max_header_bytes + kBodyReadBytes) {}

  ~Session() {
    if (reserved_ > 0) server_.ReleaseBodyBytes(reserved_);
    server_.Unregister(this, address_, admitted_);
  }

  net::any_io_executor executor() { return stream_.get_executor(); }

  // Serves requests until the connection ends.
  void Start() {
    request_start_ = SteadyClock::now();
    header_deadline_ = request_start_ + limits_.header_timeout;
    NewParser();
    ReadSome();
  }

  // Answers "too many connections" and closes, reading nothing but what lingers.
  void StartRefused(Answer answer) {
    refused_at_accept_ = true;
    Respond(std::move(answer));
  }

  // Stop(): a connection waiting for a request is closed; one in a request finishes it.
  void OnStop() {
    stopping_ = true;
    if (state_ == State::kIdle || state_ == State::kHeader) Close();
  }

 private:
  enum class State { kIdle, kHeader, kBody, kHandling, kWriting, kLinger, kClosed };

  void NewParser() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser_->body_limit(limits_.max_body_bytes);
    route_ = nullptr;
    body_bytes_read_ = 0;
  }

  // The end of the current wait for bytes.
  SteadyClock::time_point ReadDeadline() const {
    switch (state_) {
      case State::kIdle:
      case State::kHeader:
        return header_deadline_;
      case State::kBody:
        return std::min(request_deadline_, SteadyClock::now() + limits_.body_idle_timeout);
      default:
        return SteadyClock::now() + limits_.linger_timeout;
    }
  }

  void ReadSome() {
    const bool in_header = state_ == State::kIdle || state_ == State::kHeader;
    const size_t room = buffer_.max_size() - buffer_.size();
    const size_t want = std::min(in_header ? kHeaderReadBytes : kBodyReadBytes, room);
    if (want == 0) {
      // Only a header can fill the buffer (body bytes move into the body as they are parsed),
      // and the parser refuses one over its limit before that; this is the backstop.
      RefuseHeaderTooLarge();
      return;
    }
    stream_.expires_at(ReadDeadline());
    stream_.async_read_some(buffer_.prepare(want),
                            beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t n) {
    if (state_ == State::kClosed) return;
    if (ec == beast::error::timeout) {
      OnReadTimeout();
      return;
    }
    if (ec) {  // the client closed or reset, or Stop() closed an idle connection
      Close();
      return;
    }
    buffer_.commit(n);
    const auto now = SteadyClock::now();
    if (state_ == State::kIdle) {
      // A keep-alive connection's next request: its header must now arrive in time.
      state_ = State::kHeader;
      if (served_ > 0) {
        request_start_ = now;
        header_deadline_ = now + limits_.header_timeout;
      }
    }
    if (state_ == State::kBody) {
      body_bytes_read_ += n;
      const auto elapsed = std::chrono::duration_cast<Millis>(now - body_start_);
      if (elapsed > limits_.body_rate_grace &&
          body_bytes_read_ * 1000 <
              limits_.min_body_bytes_per_second * static_cast<size_t>(elapsed.count())) {
        DropSlowBody("request body arrives slower than " +
                     std::to_string(limits_.min_body_bytes_per_second) + " bytes/s");
        return;
      }
    }
    Parse();
  }

  void OnReadTimeout() {
    // tcp_stream closed the socket: nothing more can be sent.
    if (state_ == State::kHeader || (state_ == State::kIdle && served_ == 0)) {
      server_.Count("http_refused_header_timeout");
    } else if (state_ == State::kBody) {
      DropSlowBody("request body did not arrive in time");
      return;
    }
    Close();
  }

  // A body that stopped arriving, or arrives too slowly: the connection is closed without an
  // answer (the client is not reading one); the log says why, with the status it would be.
  void DropSlowBody(const std::string& reason) {
    server_.Count("http_refused_body_timeout");
    server_.LogRefusal(route_, MethodText(), Target(), body_bytes_read_, 408, reason);
    Close();
  }

  std::string_view MethodText() const { return Std(parser_->get().method_string()); }
  std::string_view Target() const { return Std(parser_->get().target()); }

  // Feeds buffered bytes to the parser until it needs more, completes a request, or fails.
  void Parse() {
    for (;;) {
      if (parser_->is_done()) {
        Dispatch();
        return;
      }
      if (buffer_.size() == 0) break;
      beast::error_code ec;
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) {
        OnParseError(ec);
        return;
      }
      if (state_ != State::kBody && parser_->is_header_done()) {
        if (!OnHeader()) return;
      }
      if (state_ == State::kBody && !parser_->is_done() && !parser_->content_length()) {
        // Chunked: the body grows as chunks arrive; account for it as it does.
        if (!ReserveUpTo(parser_->get().body().size())) return;
      }
    }
    ReadSome();
  }

  // Keeps the bytes reserved against max_body_bytes_in_flight at least `n`; refuses with 503
  // when the server holds too many bodies already.
  bool ReserveUpTo(size_t n) {
    if (n <= reserved_) return true;
    const size_t more = std::max(n - reserved_, kBodyReadBytes);
    if (!server_.ReserveBodyBytes(more)) {
      Refuse(503, "the server is reading too many request bodies at once; retry later",
             "http_refused_overloaded");
      return false;
    }
    reserved_ += more;
    return true;
  }

  // The header is complete. False when it was refused (the answer is under way).
  bool OnHeader() {
    state_ = State::kBody;
    body_start_ = SteadyClock::now();
    request_deadline_ = request_start_ + limits_.request_timeout;
    const auto& req = parser_->get();
    const std::string_view target = Std(req.target());
    const std::string_view path = target.substr(0, target.find('?'));
    route_ = FindRoute(path);
    if (route_ == nullptr && server_.web_ != nullptr && server_.web_->Serves(path)) {
      route_ = &kWebRoute;
      const size_t limit = server_.web_->max_body_bytes();
      parser_->body_limit(limit);  // chunked bodies; a declared length is checked here
      if (const auto declared = parser_->content_length(); declared && *declared > limit) {
        Refuse(413, "request body exceeds the limit of " + std::to_string(limit) + " bytes",
               "http_refused_body_too_large");
        return false;
      }
    }
    if (route_ == nullptr) {
      Refuse(404, "no such path", "http_not_found");
      return false;
    }
    if (route_ != &kWebRoute && req.method() != route_->method) {
      Refuse(405, std::string("use ") + route_->allow + " for " + route_->path,
             "http_method_not_allowed", 0, route_->allow);
      return false;
    }
    if (route_->rate_limited) {
      if (const int wait_s = server_.SecondsBlocked(address_); wait_s > 0) {
        Refuse(429, "too many refused requests from this address; retry later",
               "http_refused_rate_limited", wait_s);
        return false;
      }
    }
    if (const auto declared = parser_->content_length()) {
      if (!ReserveUpTo(static_cast<size_t>(*declared))) return false;
    }
    if (!parser_->is_done()) {
      const auto expect = req[http::field::expect];
      if (beast::iequals(expect, "100-continue")) {
        // The client waits for this before it sends the body (libcurl, by default).
        state_ = State::kWriting;
        stream_.expires_after(limits_.write_timeout);
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                         [self = shared_from_this()](beast::error_code ec, size_t) {
                           if (ec || self->state_ == State::kClosed) {
                             self->Close();
                             return;
                           }
                           self->state_ = State::kBody;
                           self->Parse();
                         });
        return false;
      }
    }
    return true;
  }

  void OnParseError(beast::error_code ec) {
    // The header may be complete (a declared length over the limit) or not; the request line,
    // when it was parsed, names the route for the log line.
    if (route_ == nullptr) route_ = FindRoute(Target().substr(0, Target().find('?')));
    if (ec == http::error::header_limit) {
      RefuseHeaderTooLarge();
    } else if (ec == http::error::body_limit) {
      if (route_ != nullptr) server_.Count(std::string(route_->name) + "_refused_too_large");
      Refuse(
          413,
          "request body exceeds the limit of " + std::to_string(limits_.max_body_bytes) + " bytes",
          "http_refused_body_too_large");
    } else {
      // Beast's messages are fixed texts: they carry no client bytes.
      Refuse(400, "malformed HTTP request: " + ec.message(), "http_bad_request");
    }
  }

  void RefuseHeaderTooLarge() {
    Refuse(431,
           "request header block exceeds the limit of " + std::to_string(limits_.max_header_bytes) +
               " bytes",
           "http_refused_headers_too_large");
  }

  // A refusal by the HTTP layer: counted, logged, answered; the connection closes after it
  // unless the request was read in full.
  void Refuse(int status, const std::string& reason, const char* metric, int retry_after_s = 0,
              const char* allow = nullptr) {
    server_.Count(metric);
    server_.LogRefusal(route_, MethodText(), Target(), body_bytes_read_, status, reason);
    if (status == 503 && retry_after_s == 0) retry_after_s = limits_.retry_after_seconds;
    Answer answer = TextAnswer(status, reason, retry_after_s);
    answer.allow = allow;
    Respond(std::move(answer));
  }

  // The request is complete: run its route.
  void Dispatch() {
    state_ = State::kHandling;
    const Route* route = route_;
    if (!route->on_pool) {
      Respond(route->handle(server_, parser_->get().body()));
      return;
    }
    if (server_.queued_handlers_.load() >= limits_.max_queued_handlers) {
      Refuse(503, "the server is overloaded; retry later", "http_refused_overloaded");
      return;
    }
    ++server_.queued_handlers_;
    // A web request is copied out of the parser here, on the strand.
    std::optional<WebRequest> web;
    if (route == &kWebRoute) web = MakeWebRequest(parser_->get(), address_);
    net::post(server_.workers_, [self = shared_from_this(), route, web = std::move(web),
                                 body = std::move(parser_->get().body())]() mutable {
      --self->server_.queued_handlers_;
      Answer answer;
      try {
        answer = web ? self->server_.HandleWeb(*web) : route->handle(self->server_, body);
      } catch (const std::exception& e) {
        // Exceptions stop here: a handler that throws is a bug; the client gets a 500.
        self->server_.Log(Timestamp() + " " + route->name + " outcome=refused status=500 " +
                          "reason=\"" + EscapeForLog(e.what()) + "\"");
        self->server_.Count(std::string(route->name) + "_refused_internal");
        answer = TextAnswer(500, GenericReason(ErrorCode::kInternal));
      }
      if (route->rate_limited) self->server_.NoteRefusal(self->address_, answer.status);
      net::dispatch(self->executor(), [self, answer = std::move(answer)]() mutable {
        self->Respond(std::move(answer));
      });
    });
  }

  void Respond(Answer answer) {
    if (state_ == State::kClosed) return;
    const bool read_in_full = !refused_at_accept_ && parser_->is_done();
    const bool keep_alive =
        read_in_full && !answer.close && !stopping_ && parser_->get().keep_alive();
    if (answer.next_piece) {
      RespondInPieces(std::move(answer), keep_alive);
      return;
    }
    response_.emplace();
    response_->result(static_cast<unsigned>(answer.status));
    response_->version(11);
    response_->set(http::field::server, "mpp-server");
    response_->set(http::field::content_type, answer.content_type);
    if (answer.retry_after_s > 0) {
      response_->set(http::field::retry_after, std::to_string(answer.retry_after_s));
    }
    if (answer.allow != nullptr) response_->set(http::field::allow, answer.allow);
    for (const auto& [name, value] : answer.headers) response_->set(name, value);
    response_->body() = std::move(answer.body);
    response_->keep_alive(keep_alive);
    response_->prepare_payload();
    state_ = State::kWriting;
    stream_.expires_after(refused_at_accept_ ? limits_.linger_timeout : limits_.write_timeout);
    http::async_write(
        stream_, *response_,
        [self = shared_from_this(), keep_alive, read_in_full](beast::error_code ec, size_t) {
          self->OnWrite(ec, keep_alive, read_in_full);
        });
  }

  // A streamed answer: the header and the first piece, then each next piece as a chunk, each
  // made on a worker while the connection waits (it is read in full: nothing else happens on
  // it meanwhile), written on the strand.
  void RespondInPieces(Answer answer, bool keep_alive) {
    streamed_.emplace();
    streamed_->result(static_cast<unsigned>(answer.status));
    streamed_->version(11);
    streamed_->set(http::field::server, "mpp-server");
    streamed_->set(http::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) streamed_->set(name, value);
    streamed_->chunked(true);
    streamed_->keep_alive(keep_alive);
    serializer_.emplace(*streamed_);
    next_piece_ = std::move(answer.next_piece);
    piece_ = std::move(answer.body);
    state_ = State::kWriting;
    stream_.expires_after(limits_.write_timeout);
    http::async_write_header(stream_, *serializer_,
                             [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                               if (ec) {
                                 self->Close();
                                 return;
                               }
                               self->WritePiece(keep_alive);
                             });
  }

  // Writes piece_ (if any) as a chunk, then asks the worker pool for the next one.
  void WritePiece(bool keep_alive) {
    if (piece_.empty()) {
      MakeNextPiece(keep_alive);
      return;
    }
    stream_.expires_after(limits_.write_timeout);
    net::async_write(stream_, http::make_chunk(net::buffer(piece_)),
                     [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                       if (ec) {
                         self->Close();
                         return;
                       }
                       self->piece_.clear();
                       self->MakeNextPiece(keep_alive);
                     });
  }

  void MakeNextPiece(bool keep_alive) {
    net::post(server_.workers_, [self = shared_from_this(), keep_alive] {
      Result<std::string> piece = std::string();
      try {
        piece = self->next_piece_();
      } catch (const std::exception& e) {
        piece = Error::Internal(e.what());
      }
      net::dispatch(self->executor(), [self, keep_alive, piece = std::move(piece)]() mutable {
        if (self->state_ == State::kClosed) return;
        if (!piece) {  // the status went out already: the answer can only be cut short
          self->server_.Log(Timestamp() + " web outcome=cut reason=\"" +
                            EscapeForLog(piece.error().message()) + "\"");
          self->server_.Count("web_answer_cut");
          self->Close();
          return;
        }
        if (!piece->empty()) {
          self->piece_ = std::move(*piece);
          self->WritePiece(keep_alive);
          return;
        }
        self->stream_.expires_after(self->limits_.write_timeout);
        net::async_write(self->stream_, http::make_chunk_last(),
                         [self, keep_alive](beast::error_code ec, size_t) {
                           self->next_piece_ = nullptr;
                           self->serializer_.reset();
                           self->streamed_.reset();
                           self->OnWrite(ec, keep_alive, /*read_in_full=*/true);
                         });
      });
    });
  }

  void OnWrite(beast::error_code ec, bool keep_alive, bool read_in_full) {
    response_.reset();
    if (ec) {
      Close();
      return;
    }
    if (!keep_alive) {
      if (read_in_full) {
        Close();
      } else {
        Linger();
      }
      return;
    }
    // The next request on this connection.
    ++served_;
    if (reserved_ > 0) server_.ReleaseBodyBytes(reserved_);
    reserved_ = 0;
    NewParser();
    state_ = State::kIdle;
    const auto now = SteadyClock::now();
    header_deadline_ = now + limits_.keep_alive_timeout;
    if (buffer_.size() > 0) {  // pipelined: the next request's bytes are here already
      state_ = State::kHeader;
      request_start_ = now;
      header_deadline_ = now + limits_.header_timeout;
    }
    Parse();
  }

  // The answer went out before the request was read in full: stop sending, read and drop what
  // the client still sends for a moment, so that closing does not reset the answer away.
  void Linger() {
    state_ = State::kLinger;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (!discard_) discard_ = std::make_unique<std::array<char, 16 << 10>>();
    stream_.expires_after(limits_.linger_timeout);
    DiscardSome();
  }

  void DiscardSome() {
    stream_.async_read_some(net::buffer(*discard_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) {
                                self->Close();
                                return;
                              }
                              self->DiscardSome();
                            });
  }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  Impl& server_;
  const HttpLimits& limits_;
  beast::tcp_stream stream_;
  const std::string address_;  // the client's address, for the limits per address
  const bool admitted_;        // counted in the connection limits (not a refused connection)
  beast::flat_buffer buffer_;  // bytes read and not yet parsed; bounded
  std::optional<RequestParser> parser_;
  std::optional<http::response<http::string_body>> response_;  // while it is written
  // A streamed answer (RespondInPieces), while it is written: its header, the piece being
  // written, and what makes the next one.
  std::optional<http::response<http::empty_body>> streamed_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::string piece_;
  std::function<Result<std::string>()> next_piece_;
  std::unique_ptr<std::array<char, 16 << 10>> discard_;  // only while lingering
  State state_ = State::kIdle;
  const Route* route_ = nullptr;  // of the current request, once its header is parsed
  size_t served_ = 0;             // requests answered on this connection
  size_t body_bytes_read_ = 0;    // of the current request, as read from the socket
  size_t reserved_ = 0;           // against max_body_bytes_in_flight
  bool stopping_ = false;
  bool refused_at_accept_ = false;
  SteadyClock::time_point request_start_;     // accepted, or the request's first byte read
  SteadyClock::time_point header_deadline_;   // the header must be complete by then
  SteadyClock::time_point request_deadline_;  // the whole request must be read by then
  SteadyClock::time_point body_start_;
};

// --- routes ------------------------------------------------------------------------------------

const std::array<HttpServer::Impl::Route, 6>& HttpServer::Impl::Routes() {
  static const std::array<Route, 6> kRoutes = {{
      {"/healthz", http::verb::get, "GET", "healthz", /*on_pool=*/true, /*rate_limited=*/false,
       [](Impl& self, std::string&) {
         auto health = self.services_.core.CheckHealth();
         if (health.ok()) {
           self.Count("healthz_ok");
           return TextAnswer(200, "ok");
         }
         self.Count(std::string("healthz_refused_") + ErrorCodeName(health.error().code()));
         // CheckHealth's messages name no path or SQL: the operator's monitor may read them.
         return TextAnswer(503, "degraded: " + OneLine(health.error().message()),
                           self.limits_.retry_after_seconds);
       }},
      {"/metrics", http::verb::get, "GET", "metrics", false, false,
       [](Impl& self, std::string&) {
         Answer a;
         a.content_type = "text/plain";
         a.body = self.MetricsText();
         return a;
       }},
      {"/v1/server-key", http::verb::get, "GET", "server_key", false, false,
       [](Impl& self, std::string&) {
         Answer a;
         a.content_type = "application/json";
         a.body = nlohmann::json{{"public_key", ToHex(self.services_.core.server_public_key())},
                                 {"fingerprint", self.services_.core.server_fingerprint()}}
                      .dump();
         self.Count("server_key_ok");
         return a;
       }},
      {"/v1/enroll", http::verb::post, "POST", "enroll", true, true,
       [](Impl& self, std::string& body) {
         const auto start = SteadyClock::now();
         auto answer = self.services_.devices.Enroll(body);
         SyncLog log;
         if (answer.ok()) {
           auto doc = nlohmann::json::parse(*answer, nullptr, /*allow_exceptions=*/false);
           if (doc.is_object() && doc.contains("device_id") && doc["device_id"].is_string()) {
             log.device_id = doc["device_id"].get<std::string>();
           }
         }
         return self.Finish("enroll", log, start, body.size(), answer, "application/json");
       }},
      {"/v1/push", http::verb::post, "POST", "push", true, true,
       [](Impl& self, std::string& body) {
         const auto start = SteadyClock::now();
         SyncLog log;
         auto answer = self.services_.van_sync.HandlePush(ViewOf(body), &log);
         return self.Finish("push", log, start, body.size(), answer, "application/octet-stream");
       }},
      {"/v1/pull", http::verb::post, "POST", "pull", true, true,
       [](Impl& self, std::string& body) {
         const auto start = SteadyClock::now();
         SyncLog log;
         auto answer = self.services_.van_sync.HandlePull(ViewOf(body), &log);
         return self.Finish("pull", log, start, body.size(), answer, "application/octet-stream");
       }},
  }};
  return kRoutes;
}

const HttpServer::Impl::Route HttpServer::Impl::kWebRoute = {
    "/",    http::verb::unknown, "GET, POST", "web", /*on_pool=*/true, /*rate_limited=*/false,
    nullptr};

WebRequest HttpServer::Impl::MakeWebRequest(http::request<http::string_body>& request,
                                            const std::string& address) {
  WebRequest web;
  web.method = std::string(Std(request.method_string()));
  web.target = std::string(Std(request.target()));
  web.body = std::move(request.body());
  web.client_address = address;
  for (const auto& field : request) {
    std::string name(Std(field.name_string()));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    web.headers.emplace(std::move(name), std::string(Std(field.value())));
  }
  return web;
}

Answer HttpServer::Impl::HandleWeb(const WebRequest& web) {
  const auto start = SteadyClock::now();
  WebAnswer answer = web_->Handle(web);
  const auto ms = std::chrono::duration_cast<Millis>(SteadyClock::now() - start).count();
  // One line per call; the path without its query (a NIK or a name may be in it).
  const std::string_view path = std::string_view(web.target).substr(0, web.target.find('?'));
  Log(Timestamp() + " web method=" + EscapeForLog(web.method, /*token=*/true) + " path=\"" +
      EscapeForLog(path) + "\" status=" + std::to_string(answer.status) +
      " bytes_in=" + std::to_string(web.body.size()) +
      " bytes_out=" + std::to_string(answer.body.size()) + " duration_ms=" + std::to_string(ms));
  Count(answer.status < 400 ? "web_ok" : "web_refused_" + std::to_string(answer.status));
  Answer a;
  a.status = answer.status;
  a.content_type = std::move(answer.content_type);
  a.body = std::move(answer.body);
  a.retry_after_s = answer.retry_after_s;
  a.headers = std::move(answer.headers);
  a.next_piece = std::move(answer.next_piece);
  return a;
}

const HttpServer::Impl::Route* HttpServer::Impl::FindRoute(std::string_view path) {
  for (const Route& r : Routes()) {
    if (path == r.path) return &r;
  }
  return nullptr;
}

template <typename Bytes_>
Answer HttpServer::Impl::Finish(const char* what, const SyncLog& log, SteadyClock::time_point start,
                                size_t bytes_in, const Result<Bytes_>& answer,
                                const char* content_type) {
  const auto ms = std::chrono::duration_cast<Millis>(SteadyClock::now() - start).count();
  std::ostringstream line;
  line << Timestamp() << " " << what
       << " device=" << (log.device_id.empty() ? "-" : EscapeForLog(log.device_id, /*token=*/true))
       << " received=" << log.received << " applied=" << log.applied
       << " conflicts=" << log.conflicts << " bytes_in=" << bytes_in;
  if (log.clock_suspect > 0) {
    line << " clock_suspect=" << log.clock_suspect;  // THREATS.md row 16: warn the operator
    Count("mutations_clock_suspect");
  }
  Answer a;
  if (answer.ok()) {
    const auto& body = answer.value();
    a.content_type = content_type;
    a.body.assign(body.begin(), body.end());
    line << " bytes_out=" << body.size() << " duration_ms=" << ms;
    if (!log.signed_refusal.empty()) {
      // Authentic, but the van and the server disagree about what was applied: the signed
      // answer tells the van how to recover (PROTOCOL.md §6).
      a.status = 409;
      line << " outcome=refused status=409 reason=\"" << EscapeForLog(log.signed_refusal) << "\"";
      Count(std::string(what) + "_refused_disagreement");
    } else {
      line << " outcome=ok";
      Count(std::string(what) + "_ok");
    }
  } else {
    const Error& e = answer.error();
    a.status = HttpStatusFor(e);
    a.body = (a.status >= 500 ? std::string(GenericReason(e.code())) : OneLine(e.message())) + "\n";
    if (a.status == 503) a.retry_after_s = limits_.retry_after_seconds;
    line << " duration_ms=" << ms << " outcome=refused status=" << a.status << " reason=\""
         << EscapeForLog(e.message()) << "\"";
    Count(std::string(what) + "_refused_" + ErrorCodeName(e.code()));
  }
  Log(line.str());
  return a;
}

void HttpServer::Impl::LogRefusal(const Route* route, std::string_view method,
                                  std::string_view target, size_t bytes_in, int status,
                                  const std::string& reason) {
  std::ostringstream line;
  line << Timestamp() << " ";
  if (route != nullptr && route->rate_limited) {  // a sync route: its usual line
    line << route->name << " device=- received=0 applied=0 conflicts=0";
  } else {
    line << "http method=" << (method.empty() ? "-" : EscapeForLog(method, /*token=*/true))
         << " path=\"" << EscapeForLog(target) << "\"";
  }
  line << " bytes_in=" << bytes_in << " outcome=refused status=" << status << " reason=\""
       << EscapeForLog(reason) << "\"";
  Log(line.str());
}

// --- refusal rate limit ----------------------------------------------------------------------

int HttpServer::Impl::SecondsBlocked(const std::string& address) {
  const auto now = SteadyClock::now();
  std::lock_guard<std::mutex> lock(rate_mu_);
  auto it = refusals_.find(address);
  if (it == refusals_.end() || it->second.blocked_until <= now) return 0;
  const auto left = std::chrono::duration_cast<Millis>(it->second.blocked_until - now).count();
  return static_cast<int>((left + 999) / 1000);
}

void HttpServer::Impl::NoteRefusal(const std::string& address, int status) {
  if (status != 401 && status != 403) return;
  const auto now = SteadyClock::now();
  std::lock_guard<std::mutex> lock(rate_mu_);
  if (refusals_.size() >= limits_.max_tracked_addresses && !refusals_.count(address)) {
    // Forget addresses whose window and penalty are over; if none are, the oldest window.
    std::erase_if(refusals_, [&](const auto& entry) {
      return entry.second.blocked_until <= now &&
             now - entry.second.window_start > limits_.refusal_window;
    });
    if (refusals_.size() >= limits_.max_tracked_addresses) {
      refusals_.erase(
          std::min_element(refusals_.begin(), refusals_.end(), [](const auto& a, const auto& b) {
            return a.second.window_start < b.second.window_start;
          }));
    }
  }
  RefusalRecord& r = refusals_[address];
  if (r.count == 0 || now - r.window_start > limits_.refusal_window) {
    r.window_start = now;
    r.count = 0;
  }
  if (++r.count >= limits_.max_auth_refusals) {
    r.blocked_until = now + limits_.refusal_penalty;
    r.count = 0;
  }
}

// --- connections -----------------------------------------------------------------------------

void HttpServer::Impl::Unregister(Session* session, const std::string& address, bool admitted) {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  if (!admitted) {
    --refusing_;
    return;
  }
  sessions_.erase(session);
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

Result<int> HttpServer::Impl::Bind(const std::string& host, int port) {
  const std::string where = host + ":" + std::to_string(port);
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  const auto endpoints = resolver.resolve(
      host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return Error::Unavailable("cannot listen on " + where + " (not an address: " + ec.message() +
                              ")");
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  // The evening rush: hundreds of vans connect at once, and the kernel drops connection
  // attempts past the backlog (each such van waits a second or more for its SYN again).
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return Error::Unavailable("cannot listen on " + where + " (" + ec.message() +
                              "; in use, or not an address of this machine)");
  }
  // Every connection is a file descriptor: make room for max_connections of them.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    const rlim_t wanted = limits_.max_connections + kMaxRefusingConnections + 256;
    if (files.rlim_cur < wanted && files.rlim_cur < files.rlim_max) {
      files.rlim_cur = std::min(wanted, files.rlim_max);
      (void)setrlimit(RLIMIT_NOFILE, &files);
    }
  }
  const auto local = acceptor_.local_endpoint(ec);
  if (ec) return Error::Unavailable("cannot listen on " + where + ": " + ec.message());
  return static_cast<int>(local.port());
}

void HttpServer::Impl::DoAccept() {
  acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Impl::OnAccept, this));
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stop_requested_.load() || !acceptor_.is_open()) return;
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    // Out of file descriptors, or the connection died in the queue: try again shortly.
    accept_retry_.expires_after(kAcceptRetry);
    accept_retry_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec) DoAccept();
    });
    return;
  }
  beast::error_code peer_ec;
  const auto peer = socket.remote_endpoint(peer_ec);
  if (peer_ec) {  // gone already
    DoAccept();
    return;
  }
  // Answers are written in one go; without TCP_NODELAY a small answer after a write can wait
  // for the client's delayed ACK (40 ms per answer: it capped a 10,000-request push).
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::string address = peer.address().to_string();

  bool admitted = false;
  bool answer_refusal = false;
  {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    size_t& from_address = per_address_[address];
    if (sessions_.size() < limits_.max_connections &&
        from_address < limits_.max_connections_per_address) {
      admitted = true;
      ++from_address;
    } else {
      if (from_address == 0) per_address_.erase(address);
      if (refusing_ < kMaxRefusingConnections) {
        answer_refusal = true;
        ++refusing_;
      }
    }
  }
  if (admitted) {
    auto session = std::make_shared<Session>(*this, std::move(socket), std::move(address), true);
    {
      std::lock_guard<std::mutex> lock(sessions_mu_);
      sessions_.insert(session.get());
    }
    net::dispatch(session->executor(), [session] { session->Start(); });
  } else {
    Count("http_refused_too_many_connections");
    if (answer_refusal) {
      auto session = std::make_shared<Session>(*this, std::move(socket), std::move(address), false);
      net::dispatch(session->executor(), [this, session] {
        session->StartRefused(
            TextAnswer(503, "too many connections; retry later", limits_.retry_after_seconds));
      });
    } else {
      socket.close(ignored);
    }
  }
  DoAccept();
}

void HttpServer::Impl::Run() {
  if (!acceptor_.is_open()) return;
  work_.emplace(ioc_.get_executor());
  net::dispatch(acceptor_.get_executor(), [this] {
    if (!stop_requested_.load()) DoAccept();
  });
  auto run = [this] {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        // Handlers do not throw by design; one that does is logged, and serving goes on.
        Log(Timestamp() + " http outcome=error reason=\"" + EscapeForLog(e.what()) + "\"");
      }
    }
  };
  std::vector<std::thread> io_threads;
  for (size_t i = 1; i < std::max<size_t>(1, limits_.io_threads); ++i) io_threads.emplace_back(run);
  run();
  for (auto& t : io_threads) t.join();
  // Handlers still running (a forced stop after stop_grace) finish their storage work.
  workers_.join();
}

void HttpServer::Impl::Stop() {
  if (stop_requested_.exchange(true)) return;
  net::post(acceptor_.get_executor(), [this] { BeginStop(); });
}

void HttpServer::Impl::BeginStop() {
  beast::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    for (Session* s : sessions_) {
      if (auto alive = s->weak_from_this().lock()) live.push_back(std::move(alive));
    }
  }
  for (auto& s : live) net::post(s->executor(), [s] { s->OnStop(); });
  stop_deadline_ = SteadyClock::now() + limits_.stop_grace;
  PollStop();
}

void HttpServer::Impl::PollStop() {
  bool idle = false;
  {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    idle = sessions_.empty() && refusing_ == 0;
  }
  const bool late = SteadyClock::now() >= stop_deadline_;
  if (idle || late) {
    work_.reset();
    if (late) ioc_.stop();  // connections still open past the grace are dropped
    return;
  }
  stop_timer_.expires_after(kStopPoll);
  stop_timer_.async_wait([this](beast::error_code) { PollStop(); });
}

HttpServer::HttpServer(Services& services, std::ostream& log, HttpLimits limits, WebApp* web)
    : impl_(std::make_unique<Impl>(services, log, limits, web)) {}
HttpServer::~HttpServer() = default;

Result<int> HttpServer::Bind(const std::string& host, int port) { return impl_->Bind(host, port); }
void HttpServer::Run() { impl_->Run(); }
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace mpp::server
