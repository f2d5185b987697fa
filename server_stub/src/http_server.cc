#include "mpp/server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

namespace mpp::server {
namespace {

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return out.str();
}

// Envelopes larger than this are refused before they are read in full.
constexpr size_t kMaxRequestBytes = 16 << 20;

}  // namespace

int HttpStatusFor(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kInvalidInput:
    case ErrorCode::kCorrupt:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
      return 503;
    case ErrorCode::kStorageFull:
      return 507;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

// Debian's cpp-httplib is a shared library built with a listen backlog of 5. In the evening rush
// hundreds of vans connect at once; the kernel drops connection attempts past the backlog and
// each such van waits a second or more for its SYN to be sent again. Listening again on the
// bound socket raises the backlog to the system's maximum.
constexpr size_t kWorkerThreads = 32;

class RushReadyServer : public httplib::Server {
 public:
  bool RaiseListenBacklog() { return ::listen(svr_sock_, SOMAXCONN) == 0; }
};

class HttpServer::Impl {
 public:
  Impl(SyncService& service, std::ostream& log) : service_(service), log_(log) {
    server_.set_payload_max_length(kMaxRequestBytes);
    // cpp-httplib answers an over-long body itself (413, empty); give it a reason, a log line
    // and a count like every other refusal.
    server_.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (res.status != 413 || !res.body.empty()) return;
      const std::string reason =
          "request body exceeds the limit of " + std::to_string(kMaxRequestBytes) + " bytes";
      res.set_content(reason + "\n", "text/plain; charset=utf-8");
      const std::string what = req.path.substr(req.path.rfind('/') + 1);  // "push", "pull"
      std::lock_guard<std::mutex> lock(mu_);
      ++counters_[what + "_refused_too_large"];
      log_ << Timestamp() << " " << what
           << " device=- bytes_in=" << req.get_header_value("Content-Length")
           << " outcome=refused status=413 reason=\"" << reason << "\"" << std::endl;
    });
    server_.set_read_timeout(60, 0);
    server_.set_write_timeout(60, 0);
    server_.set_keep_alive_max_count(1000);
    // cpp-httplib writes the status line and headers, then the body, in separate sends. With
    // Nagle's algorithm on, the body waits for the client's delayed ACK of the headers: 40 ms
    // lost per answer, which capped a 10,000-request push at about 6,000 requests/s.
    server_.set_tcp_nodelay(true);
    // A worker serves one van's connection for its whole sync, idle while the van applies an
    // answer. In the rush, more workers than cores keep the storage busy while others wait on
    // their vans; the storage itself serializes what must be.
    server_.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
    server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::ostringstream out;
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [name, value] : counters_) out << name << " " << value << "\n";
      res.set_content(out.str(), "text/plain");
    });
    server_.Get("/v1/server-key", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(nlohmann::json{{"public_key", ToHex(service_.server_public_key())},
                                     {"fingerprint", service_.server_fingerprint()}}
                          .dump(),
                      "application/json");
    });
    server_.Post("/v1/enroll", [this](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      auto answer = service_.Enroll(req.body);
      SyncLog log;
      if (answer.ok()) {
        auto doc = nlohmann::json::parse(*answer, nullptr, /*allow_exceptions=*/false);
        if (doc.is_object()) log.device_id = doc.value("device_id", "");
      }
      Finish("enroll", log, start, req.body.size(), answer, res, "application/json");
    });
    server_.Post("/v1/push", [this](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      SyncLog log;
      auto answer = service_.HandlePush(ViewOf(req.body), &log);
      Finish("push", log, start, req.body.size(), answer, res, "application/octet-stream");
    });
    server_.Post("/v1/pull", [this](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      SyncLog log;
      auto answer = service_.HandlePull(ViewOf(req.body), &log);
      Finish("pull", log, start, req.body.size(), answer, res, "application/octet-stream");
    });
  }

  template <typename Answer>
  void Finish(const char* what, const SyncLog& log, std::chrono::steady_clock::time_point start,
              size_t bytes_in, const Result<Answer>& answer, httplib::Response& res,
              const char* content_type) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    std::ostringstream line;
    line << Timestamp() << " " << what
         << " device=" << (log.device_id.empty() ? "-" : log.device_id)
         << " received=" << log.received << " applied=" << log.applied
         << " conflicts=" << log.conflicts << " bytes_in=" << bytes_in;
    if (log.clock_suspect > 0) {
      line << " clock_suspect=" << log.clock_suspect;  // THREATS.md row 16: warn the operator
      Count("mutations_clock_suspect");
    }
    if (answer.ok()) {
      const auto& body = answer.value();
      res.status = 200;
      res.set_content(std::string(body.begin(), body.end()), content_type);
      line << " bytes_out=" << body.size() << " duration_ms=" << ms << " outcome=ok";
      Count(std::string(what) + "_ok");
    } else {
      const Error& e = answer.error();
      res.status = HttpStatusFor(e);
      res.set_content(e.message() + "\n", "text/plain; charset=utf-8");
      line << " duration_ms=" << ms << " outcome=refused status=" << res.status << " reason=\""
           << e.message() << "\"";
      Count(std::string(what) + "_refused_" + ErrorCodeName(e.code()));
    }
    std::lock_guard<std::mutex> lock(mu_);
    log_ << line.str() << std::endl;
  }

  void Count(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_[name];
  }

  SyncService& service_;
  std::ostream& log_;
  RushReadyServer server_;
  std::mutex mu_;  // guards counters_ and log_
  std::map<std::string, uint64_t> counters_;
};

HttpServer::HttpServer(SyncService& service, std::ostream& log)
    : impl_(std::make_unique<Impl>(service, log)) {}
HttpServer::~HttpServer() = default;

Result<int> HttpServer::Bind(const std::string& host, int port) {
  int bound = port;
  if (port == 0) {
    bound = impl_->server_.bind_to_any_port(host);
    if (bound <= 0) return Error::Unavailable("cannot listen on " + host);
  } else if (!impl_->server_.bind_to_port(host, port)) {
    return Error::Unavailable("cannot listen on " + host + ":" + std::to_string(port) +
                              " (in use, or not an address of this machine)");
  }
  if (!impl_->server_.RaiseListenBacklog()) {
    return Error::Unavailable(std::string("cannot raise the listen backlog: ") +
                              std::strerror(errno));
  }
  return bound;
}

void HttpServer::Run() { impl_->server_.listen_after_bind(); }
void HttpServer::Stop() { impl_->server_.stop(); }

}  // namespace mpp::server
