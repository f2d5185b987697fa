// The HTTP face of the server: thin routes onto the services (services.h), one log line per
// request, a clear status and one-line reason for every refusal, and refusal counters. HTTP/1.1
// over Boost.Beast and Boost.Asio (header-only, Debian's libboost-dev 1.74); no TLS yet.
//
//   GET  /healthz         "ok", or 503 "degraded: <reason>" (ServerCore::CheckHealth)
//   GET  /metrics         counters, one "name value" per line, names from a fixed set
//   GET  /v1/server-key   {"public_key": hex, "fingerprint": "SHA256:..."}
//   POST /v1/enroll       JSON enrolment (device_service.h)
//   POST /v1/push         signed push envelope  -> signed push ack (409 for a signed refusal)
//   POST /v1/pull         signed pull envelope  -> signed pull answer
//
// Threads: a few io threads run every socket read, write and timer asynchronously, so a slow or
// idle connection holds no thread, only a socket and a small buffer. A request is read in full
// (within the limits below) on the io threads, then its handler, which blocks on storage, runs
// on a bounded pool of worker threads; the answer is written asynchronously again.
//
// Limits (HttpLimits, each with its reason): a client has seconds to send a complete request
// header; a body must keep arriving and finish within a deadline; idle keep-alive connections
// are closed; header blocks and bodies are bounded while they are read, whatever the transfer
// encoding (431, 413); connections are capped per client address and in total (503); an
// address that keeps failing authentication is answered 429 for a while without reaching the
// service. Nothing a client sent reaches the log unescaped, and metric names never contain
// client bytes.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mpp/server/services.h"
#include "mpp/sync/http_status.h"

namespace mpp::server {

// Every limit of the HTTP layer, with why it has its value. The defaults are production's.
struct HttpLimits {
  // Socket work is asynchronous, so a few threads carry thousands of connections.
  size_t io_threads = 2;
  // A worker runs one handler at a time and blocks while storage commits (fsync). In the rush,
  // more workers than cores keep the storage busy while others wait on their vans; the storage
  // itself serialises what must be.
  size_t worker_threads = 32;
  // Handlers waiting for a worker; past this the server is overloaded: 503 + Retry-After.
  size_t max_queued_handlers = 1024;

  // From the connection (or the first byte of a keep-alive request) to the end of the header
  // block. A van's header is a few hundred bytes: even on 2G it arrives in well under a second.
  // Slow-header clients (slowloris) are dropped after this, whatever they trickle.
  std::chrono::milliseconds header_timeout{10'000};
  // A whole request (header to the last body byte): a 16 MiB envelope over a good 2G link.
  std::chrono::milliseconds request_timeout{120'000};
  // A body that stops arriving for this long is dropped (a dead link, or a client holding us).
  std::chrono::milliseconds body_idle_timeout{15'000};
  // After body_rate_grace, a body arriving slower than this on average is dropped: the worst
  // 2G link a van syncs over still carries several KiB/s.
  size_t min_body_bytes_per_second = 512;
  std::chrono::milliseconds body_rate_grace{10'000};
  // A keep-alive connection with no new request for this long is closed: a van syncs in one
  // burst of requests, and an idle socket is one a slow client could otherwise hold.
  std::chrono::milliseconds keep_alive_timeout{30'000};
  // Writing an answer (a pull answer of a few hundred KiB over 2G).
  std::chrono::milliseconds write_timeout{120'000};
  // After a refusal sent before the request was read in full, the rest of it is read and
  // dropped for at most this long, so closing the socket does not reset the answer away.
  std::chrono::milliseconds linger_timeout{2'000};
  // Stop() lets requests in flight finish for at most this long (SIGTERM: systemd waits 90 s).
  std::chrono::milliseconds stop_grace{5'000};

  // Request line and headers together (431 past it). A van sends about 300 bytes.
  size_t max_header_bytes = 16 << 10;
  // The envelope bound (sync::EnvelopeLimits::max_envelope_bytes): 413 past it, refused while
  // reading, so memory never holds more of a body than this.
  size_t max_body_bytes = 16 << 20;
  // All request bodies being read or handled at once; past it new bodies get 503. Bounds the
  // memory that many clients each declaring 16 MiB could otherwise make the server reserve.
  size_t max_body_bytes_in_flight = 512u << 20;

  // Connections from one client address (503 past it). A van uses one connection at a time;
  // a NAT of many vans, or an attacker, more. Keeps one address from taking the global cap.
  size_t max_connections_per_address = 64;
  // All open connections (further ones are answered 503 and closed). Bounds sockets and memory.
  size_t max_connections = 4096;

  // Refusals with 401/403 from one address within refusal_window before it is answered 429 for
  // refusal_penalty, without reaching the service (THREATS.md rows 21, 28: guessing tokens,
  // probing device ids). A van with a wrong key fails a few times per sync, not twenty.
  size_t max_auth_refusals = 20;
  std::chrono::milliseconds refusal_window{60'000};
  std::chrono::milliseconds refusal_penalty{30'000};
  // Addresses remembered by the rate limiter; the oldest are forgotten past it.
  size_t max_tracked_addresses = 10'000;

  // Retry-After (seconds) on every 503 and on 429 when no better figure is known.
  int retry_after_seconds = 5;
};

// HTTP status for an Error: sync/http_status.h's, the one mapping.
using sync::HttpStatusFor;

// A request for the staff's dashboard and JSON API, as HttpServer hands it to a WebApp: read in
// full within the limits above (the body also within WebApp::max_body_bytes).
struct WebRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // the path and query as sent
  std::string body;
  std::string client_address;
  // Header values by lower-case name (the first of a repeated header).
  std::map<std::string, std::string> headers;

  std::string Header(const std::string& lower_case_name) const {
    auto it = headers.find(lower_case_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct WebAnswer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type
  int retry_after_s = 0;                                     // > 0: a Retry-After header
  // Set for a long answer sent while it is made (chunked), so memory holds one piece at a time:
  // `body` goes first, then each piece this returns, called on the worker pool one at a time,
  // until it returns "" (the end). An error can then only cut the answer short: the status was
  // sent with the first piece.
  std::function<Result<std::string>()> next_piece;
};

// What serves the paths that are not the vans' (the staff's pages and /api/). Handle runs on
// the worker pool, so it may block on storage; it must not throw.
class WebApp {
 public:
  virtual ~WebApp() = default;
  virtual bool Serves(std::string_view path) const = 0;
  virtual WebAnswer Handle(const WebRequest& request) = 0;
  // Larger bodies are refused (413) before they are read.
  virtual size_t max_body_bytes() const { return 1 << 20; }
};

class HttpServer {
 public:
  // `web`, when given, serves every path that is not one of the routes above and that it
  // Serves(); it must outlive the server.
  HttpServer(Services& services, std::ostream& log, HttpLimits limits = {}, WebApp* web = nullptr);
  ~HttpServer();

  // Binds host:port (port 0 picks a free one) and returns the bound port, or kUnavailable
  // ("cannot listen on ...") when the address is in use or not this machine's.
  Result<int> Bind(const std::string& host, int port);
  // Serves on the calling thread and the io threads until Stop(); returns once in-flight
  // requests finished (at most stop_grace after Stop) and every handler has returned.
  void Run();
  // May be called from any thread, once or more, before or during Run(). Stops accepting,
  // closes connections waiting for a request, and lets requests in flight finish.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mpp::server
