// CurlTransport against a real HTTP server (cpp-httplib) on 127.0.0.1: bodies, statuses, the
// Error mapping (refused, cut, stalled, too large), keep-alive and byte counters. Every Send runs
// under short timeouts and every server handler waits with a bound, so no test can hang.
#include "mpp/sync/curl_transport.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/test_util.h"

namespace mpp::sync {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr auto kHandlerWaitBound = std::chrono::seconds(10);

void InitCurlOnce() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  ASSERT_EQ(rc, CURLE_OK);
}

CurlOptions TestOptions() {
  CurlOptions options;
  options.connect_timeout_ms = 2'000;
  options.total_timeout_ms = 5'000;
  return options;
}

HttpRequest Get(const std::string& path) {
  HttpRequest request;
  request.method = "GET";
  request.path = path;
  return request;
}

HttpRequest Post(const std::string& path, Bytes body, const std::string& content_type) {
  HttpRequest request;
  request.method = "POST";
  request.path = path;
  request.content_type = content_type;
  request.body = std::move(body);
  return request;
}

// A loopback TCP socket bound to a free port; closed on destruction.
class LoopbackSocket {
 public:
  LoopbackSocket() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot bind a loopback socket: " << std::strerror(errno);
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~LoopbackSocket() { Close(); }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;

  int fd() const { return fd_; }
  int port() const { return port_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  int port_ = 0;
};

class CurlTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { InitCurlOnce(); }

  void SetUp() override {
    server_.set_keep_alive_timeout(1);
    server_.set_tcp_nodelay(true);  // else Nagle + delayed ACK add 40 ms to some answers
    server_.Post("/echo", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        echo_content_types_.push_back(req.get_header_value("Content-Type"));
        echo_had_expect_.push_back(req.has_header("Expect"));
      }
      res.set_content(req.body, "application/x-echo");
    });
    server_.Get("/hello", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        hello_ports_.push_back(req.remote_port);
      }
      res.set_content("salam", "text/plain");
    });
    server_.Get("/boom", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("kaput", "text/plain");
    });
    server_.Get("/stall", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock lock(mu_);
      stall_cv_.wait_for(lock, kHandlerWaitBound, [this] { return released_; });
      res.set_content("too late", "text/plain");
    });
    // /bytes?n=N answers N bytes with a Content-Length; /chunked?n=N streams them chunked.
    server_.Get("/bytes", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::string(std::stoul(req.get_param_value("n")), 'x'),
                      "application/octet-stream");
    });
    server_.Get("/chunked", [](const httplib::Request& req, httplib::Response& res) {
      const size_t n = std::stoul(req.get_param_value("n"));
      res.set_chunked_content_provider(
          "application/octet-stream",
          [n, sent = size_t{0}](size_t, httplib::DataSink& sink) mutable {
            if (sent < n) {
              const std::string chunk(std::min<size_t>(1024, n - sent), 'y');
              sent += chunk.size();
              return sink.write(chunk.data(), chunk.size());
            }
            sink.done();
            return true;
          });
    });

    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0) << "cannot bind the test server";
    server_thread_ = std::thread([this] { server_.listen_after_bind(); });
    const auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running() && steady_clock::now() < deadline) std::this_thread::yield();
    ASSERT_TRUE(server_.is_running()) << "test server did not start";
  }

  void TearDown() override {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    stall_cv_.notify_all();
    if (server_thread_.joinable()) {
      // stop() only works once the accept loop runs (SetUp waited for it, with a bound).
      const auto deadline = steady_clock::now() + std::chrono::seconds(10);
      while (!server_.is_running() && steady_clock::now() < deadline) std::this_thread::yield();
      server_.stop();
      server_thread_.join();
    }
  }

  std::string BaseUrl() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::unique_ptr<CurlTransport> Make(const CurlOptions& options = TestOptions()) {
    auto created = CurlTransport::Create(BaseUrl(), options);
    EXPECT_TRUE(created.ok()) << created.error().message();
    return created.ok() ? std::move(created).value() : nullptr;
  }

  httplib::Server server_;
  std::thread server_thread_;
  int port_ = -1;

  std::mutex mu_;
  std::condition_variable stall_cv_;
  bool released_ = false;
  std::vector<std::string> echo_content_types_;
  std::vector<bool> echo_had_expect_;
  std::vector<int> hello_ports_;
};

TEST_F(CurlTransportTest, PostRoundTripsEveryByteValue) {
  auto transport = Make();
  ASSERT_NE(transport, nullptr);
  Bytes body;
  for (int i = 0; i < 256; ++i) body.push_back(static_cast<uint8_t>(i));
  auto r = transport->Send(Post("/echo", body, "application/x-mpp-batch"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, "application/x-echo");
  EXPECT_EQ(r->body, body);
  std::lock_guard lock(mu_);
  ASSERT_EQ(echo_content_types_.size(), 1u);
  EXPECT_EQ(echo_content_types_[0], "application/x-mpp-batch");
}

TEST_F(CurlTransportTest, LargePostIsSentWithoutExpectContinue) {
  auto transport = Make();
  ASSERT_NE(transport, nullptr);
  Bytes body(2 << 20);  // above curl's 1 MiB threshold for "Expect: 100-continue"
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<uint8_t>(i * 131 + (i >> 11));
  auto r = transport->Send(Post("/echo", body, "application/octet-stream"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, body);
  std::lock_guard lock(mu_);
  ASSERT_EQ(echo_had_expect_.size(), 1u);
  EXPECT_FALSE(echo_had_expect_[0]);
}

TEST_F(CurlTransportTest, EmptyPostIsSent) {
  auto transport = Make();
  ASSERT_NE(transport, nullptr);
  auto r = transport->Send(Post("/echo", {}, "application/octet-stream"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
}

TEST_F(CurlTransportTest, GetReturnsBodyAndContentType) {
  auto transport = Make();
  ASSERT_NE(transport, nullptr);
  auto r = transport->Send(Get("/hello"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, "text/plain");
  EXPECT_EQ(StringOf(r->body), "salam");
}

TEST_F(CurlTransportTest, ServerErrorIsAResponseNotAnError) {
  auto transport = Make();
  ASSERT_NE(transport, nullptr);
  auto r = transport->Send(Get("/boom"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(StringOf(r->body), "kaput");
  auto missing = transport->Send(Get("/no-such-path"));
  ASSERT_OK(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(CurlTransportTest, ConnectionRefusedIsUnavailable) {
  LoopbackSocket unused;  // a port nobody listens on: bound, then closed
  const int port = unused.port();
  ASSERT_GT(port, 0);
  unused.Close();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  auto created = CurlTransport::Create(url, TestOptions());
  ASSERT_OK(created);
  auto r = (*created)->Send(Get("/v1/pull"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable) << r.error().message();
  EXPECT_TRUE(r.error().transient());
  EXPECT_NE(r.error().message().find(url + "/v1/pull"), std::string::npos) << r.error().message();
}

TEST_F(CurlTransportTest, ConnectionClosedWithoutAnswerIsUnavailable) {
  LoopbackSocket listener;
  ASSERT_GT(listener.port(), 0);
  ASSERT_EQ(listen(listener.fd(), 1), 0);
  // Accepts one connection, reads the request, hangs up without a word.
  std::thread peer([fd = listener.fd()] {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5'000) != 1) return;
    const int conn = accept(fd, nullptr, nullptr);
    if (conn < 0) return;
    pollfd q{conn, POLLIN, 0};
    char buffer[4096];
    if (poll(&q, 1, 5'000) == 1) (void)recv(conn, buffer, sizeof(buffer), 0);
    close(conn);
  });
  auto created =
      CurlTransport::Create("http://127.0.0.1:" + std::to_string(listener.port()), TestOptions());
  ASSERT_OK(created);
  auto r = (*created)->Send(Get("/v1/pull"));
  peer.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable) << r.error().message();
  EXPECT_TRUE(r.error().transient());
}

TEST_F(CurlTransportTest, StalledServerTimesOutAndTransportStaysUsable) {
  CurlOptions options = TestOptions();
  options.total_timeout_ms = 300;
  auto transport = Make(options);
  ASSERT_NE(transport, nullptr);
  const auto start = steady_clock::now();
  auto r = transport->Send(Get("/stall"));
  const auto elapsed = steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kTimeout) << r.error().message();
  EXPECT_TRUE(r.error().transient());
  EXPECT_NE(r.error().message().find(BaseUrl() + "/stall"), std::string::npos);
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::seconds(5));

  auto next = transport->Send(Get("/hello"));  // a new connection replaces the abandoned one
  ASSERT_OK(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(CurlTransportTest, ResponseOverTheLimitIsTooLarge) {
  CurlOptions options = TestOptions();
  options.max_response_bytes = 4096;
  auto transport = Make(options);
  ASSERT_NE(transport, nullptr);

  auto at_limit = transport->Send(Get("/bytes?n=4096"));
  ASSERT_OK(at_limit);
  EXPECT_EQ(at_limit->body.size(), 4096u);

  auto announced = transport->Send(Get("/bytes?n=4097"));  // Content-Length says too much
  ASSERT_FALSE(announced.ok());
  EXPECT_EQ(announced.error().code(), ErrorCode::kTooLarge) << announced.error().message();
  EXPECT_FALSE(announced.error().transient());

  auto streamed = transport->Send(Get("/chunked?n=20000"));  // no length: refused mid-stream
  ASSERT_FALSE(streamed.ok());
  EXPECT_EQ(streamed.error().code(), ErrorCode::kTooLarge) << streamed.error().message();
  EXPECT_NE(streamed.error().message().find(BaseUrl() + "/chunked"), std::string::npos);

  auto chunked_ok = transport->Send(Get("/chunked?n=4096"));
  ASSERT_OK(chunked_ok);
  EXPECT_EQ(chunked_ok->body.size(), 4096u);
}

TEST_F(CurlTransportTest, ReusesOneConnection) {
  auto transport = Make();
  ASSERT_NE(transport, nullptr);
  for (int i = 0; i < 2; ++i) {
    auto r = transport->Send(Get("/hello"));
    ASSERT_OK(r);
    ASSERT_OK(transport->Send(Post("/echo", BytesOf("x"), "application/octet-stream")));
  }
  auto last = transport->Send(Get("/hello"));
  ASSERT_OK(last);
  std::lock_guard lock(mu_);
  ASSERT_EQ(hello_ports_.size(), 3u);
  EXPECT_EQ(hello_ports_[0], hello_ports_[1]);
  EXPECT_EQ(hello_ports_[1], hello_ports_[2]);
}

TEST_F(CurlTransportTest, StatsCountBodiesAndHeaders) {
  auto transport = Make();
  ASSERT_NE(transport, nullptr);
  EXPECT_EQ(transport->stats().requests, 0u);
  const Bytes body(10'000, 0x5a);
  ASSERT_OK(transport->Send(Post("/echo", body, "application/octet-stream")));
  const TransferStats one = transport->stats();
  EXPECT_EQ(one.requests, 1u);
  EXPECT_GT(one.bytes_sent, body.size());  // the body plus a request line and headers
  EXPECT_GT(one.bytes_received, body.size());
  // Headers are counted once, not the body twice.
  EXPECT_LT(one.bytes_sent, body.size() + 1024);
  EXPECT_LT(one.bytes_received, body.size() + 1024);

  ASSERT_OK(transport->Send(Get("/hello")));
  const TransferStats two = transport->stats();
  EXPECT_EQ(two.requests, 2u);
  EXPECT_GT(two.bytes_sent, one.bytes_sent + 10);  // "GET /hello HTTP/1.1" alone is more
  EXPECT_GE(two.bytes_received, one.bytes_received + 5 + 10);  // "salam" and a status line
}

TEST_F(CurlTransportTest, CreateRefusesInvalidUrls) {
  for (const std::string url : {"", "127.0.0.1:8080", "ftp://127.0.0.1/", "file:///etc/passwd",
                                "http://", "https://", "http://host/?q=1", "http ://x"}) {
    auto r = CurlTransport::Create(url, TestOptions());
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput) << url << ": " << r.error().message();
  }
  EXPECT_OK(CurlTransport::Create("https://mpp.kuburayakab.go.id", TestOptions()));
  EXPECT_OK(CurlTransport::Create("http://127.0.0.1:8080/", TestOptions()));
}

TEST_F(CurlTransportTest, TrailingSlashInBaseUrlIsNotDoubled) {
  auto created = CurlTransport::Create(BaseUrl() + "/", TestOptions());
  ASSERT_OK(created);
  auto r = (*created)->Send(Get("/hello"));
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace mpp::sync
