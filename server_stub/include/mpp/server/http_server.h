// The HTTP face of the server (cpp-httplib): thin routes onto SyncService, one log line per
// sync, a clear status and one-line reason for every refusal, and refusal counters.
//
//   GET  /healthz         "ok"
//   GET  /metrics         counters, one "name value" per line
//   GET  /v1/server-key   {"public_key": hex, "fingerprint": "SHA256:..."}
//   POST /v1/enroll       JSON enrolment (sync_service.h)
//   POST /v1/push         signed push envelope  -> signed push ack
//   POST /v1/pull         signed pull envelope  -> signed pull answer
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "mpp/server/sync_service.h"

namespace mpp::server {

// HTTP status for an Error (400 invalid/corrupt, 401 unauthenticated, 403 denied, 404, 409
// conflict, 413 too large, 503 unavailable, 507 storage full, 500 otherwise).
int HttpStatusFor(const Error& error);

class HttpServer {
 public:
  HttpServer(SyncService& service, std::ostream& log);
  ~HttpServer();

  // Binds host:port (port 0 picks a free one) and returns the bound port.
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop(); in-flight requests finish first.
  void Run();
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mpp::server
