#include "mpp/field_web/van_web.h"

#include <arpa/inet.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "mpp/sync/json_format.h"
#include "mpp/web_assets/web_assets.h"
#include "sessions.h"
#include "sync_job.h"
#include "van_api.h"
#include "van_lock.h"

namespace mpp::field_web {

// The app's files (field_web/assets), embedded at build time (generated assets.cc).
const web_assets::AssetList& Assets();

namespace {

using nlohmann::json;

constexpr const char* kSessionCookie = "mpp_van_session";
// The biggest body the app sends is a form (a few KiB); a QR payload or a passphrase less.
constexpr size_t kMaxBodyBytes = 64 << 10;

bool IsLoopbackHost(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost";
}

std::string HostPort(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// The Host header values a browser sends for host:port: without the port when it is HTTP's
// default (a browser leaves it out).
void AddHostNames(std::set<std::string>& names, const std::string& host, int port) {
  const std::string with_port = HostPort(host, port);
  names.insert(with_port);
  if (port == 80) names.insert(with_port.substr(0, with_port.rfind(':')));
}

}  // namespace

bool IsPrivateAddress(const std::string& address) {
  in_addr v4{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) {
    const uint32_t a = ntohl(v4.s_addr);
    return (a >> 24) == 10 || (a >> 20) == ((172u << 4) | 1) || (a >> 16) == ((192u << 8) | 168) ||
           (a >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    static const in6_addr kLoopback = IN6ADDR_LOOPBACK_INIT;
    return (v6.s6_addr[0] & 0xFE) == 0xFC ||
           std::equal(v6.s6_addr, v6.s6_addr + 16, kLoopback.s6_addr);
  }
  return false;
}

class VanWebServer::Impl {
 public:
  Impl(const VanWebOptions& options, sync::Clock& clock, sync::Rng& rng, std::ostream& log,
       std::unique_ptr<VanLock> van)
      : options_(options),
        clock_(clock),
        log_(log),
        van_(std::move(van)),
        sync_(*van_, options_.transport, clock),
        api_(*van_, sync_, options_, clock, rng) {}

  ~Impl() {
    Stop();
    if (idle_thread_.joinable()) idle_thread_.join();
    if (lan_thread_.joinable()) lan_thread_.join();
  }

  Result<void> Bind();
  void Run();
  void Stop();
  int port() const { return port_; }
  int lan_port() const { return lan_port_; }
  std::string PairingCode() const { return sessions_.PairingCode(); }

 private:
  struct Listener {
    httplib::Server server;
    std::set<std::string> hosts;  // the Host header values it answers to
    bool lan = false;
  };
  void Configure(Listener& listener);
  void Serve(const Listener& listener, const httplib::Request& req, httplib::Response& res);
  ApiAnswer Api(const Listener& listener, const httplib::Request& req, httplib::Response& res);
  json State(const Listener& listener, const SessionView& session);
  void IdleLoop();

  const VanWebOptions options_;
  sync::Clock& clock_;
  std::ostream& log_;
  std::mutex log_mutex_;
  std::unique_ptr<VanLock> van_;
  Sessions sessions_;
  SyncJob sync_;
  VanApi api_;
  Listener loopback_;
  std::unique_ptr<Listener> lan_;
  int port_ = 0;
  int lan_port_ = 0;
  std::mutex idle_mutex_;
  std::condition_variable idle_wake_;
  bool stopping_ = false;              // Stop() was called; with running_, guarded by idle_mutex_
  bool running_ = false;               // Run() has begun
  std::atomic<bool> finished_{false};  // Run() has returned
  std::thread idle_thread_;
  std::thread lan_thread_;
};

Result<void> VanWebServer::Impl::Bind() {
  Configure(loopback_);
  if (options_.listen_port == 0) {
    port_ = loopback_.server.bind_to_any_port(options_.listen_host);
  } else if (loopback_.server.bind_to_port(options_.listen_host, options_.listen_port)) {
    port_ = options_.listen_port;
  }
  if (port_ <= 0) {
    return Error::Unavailable("cannot listen on " +
                              HostPort(options_.listen_host, options_.listen_port) +
                              ": the port is in use, or the address is not this machine's");
  }
  for (const char* name : {"127.0.0.1", "localhost", "::1"})
    AddHostNames(loopback_.hosts, name, port_);
  if (!options_.lan_address.empty()) {
    lan_ = std::make_unique<Listener>();
    lan_->lan = true;
    Configure(*lan_);
    const int wanted = options_.lan_port != 0 ? options_.lan_port : port_;
    if (!lan_->server.bind_to_port(options_.lan_address, wanted)) {
      return Error::Unavailable("cannot listen on " + HostPort(options_.lan_address, wanted) +
                                ": the port is in use, or the address is not this machine's");
    }
    lan_port_ = wanted;
    AddHostNames(lan_->hosts, options_.lan_address, lan_port_);
  }
  idle_thread_ = std::thread(&Impl::IdleLoop, this);
  return Ok();
}

void VanWebServer::Impl::Configure(Listener& listener) {
  httplib::Server& s = listener.server;
  s.set_payload_max_length(kMaxBodyBytes);
  s.set_read_timeout(10, 0);
  s.set_write_timeout(10, 0);
  s.set_keep_alive_timeout(30);
  auto handler = [this, &listener](const httplib::Request& req, httplib::Response& res) {
    Serve(listener, req, res);
  };
  s.Get(".*", handler);
  s.Post(".*", handler);
  s.Put(".*", handler);
  s.Delete(".*", handler);
  s.Patch(".*", handler);
  s.Options(".*", handler);
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, const std::exception_ptr&) {
        res.status = 500;
        res.set_content(R"({"code":"internal","error":"the van's program failed; see its log"})",
                        "application/json");
      });
}

void VanWebServer::Impl::Serve(const Listener& listener, const httplib::Request& req,
                               httplib::Response& res) {
  const auto started = std::chrono::steady_clock::now();
  for (const auto& [name, value] : web_assets::SecurityHeaders()) {
    res.set_header(std::string(name), std::string(value));
  }
  auto refuse = [&](int status, const std::string& why) {
    res.status = status;
    res.set_content(
        json{{"code", status == 404 ? "not_found" : "forbidden"}, {"error", why}}.dump(),
        "application/json");
  };
  const std::string host = req.get_header_value("Host");
  const std::string fetch_site = req.get_header_value("Sec-Fetch-Site");
  const bool post = req.method == "POST";
  if (listener.hosts.count(host) == 0) {
    // DNS rebinding: a page of another site whose name now points at this machine.
    refuse(403, "this app answers only at its own address; open it as http://" +
                    *listener.hosts.begin());
  } else if (!fetch_site.empty() && fetch_site != "same-origin" && fetch_site != "none") {
    refuse(403, "requests from other web pages are refused");
  } else if (post && req.get_header_value("Origin") != "http://" + host) {
    refuse(403, "the request did not come from the van's app (Origin)");
  } else if (req.path.rfind("/api/", 0) == 0) {
    ApiAnswer a = Api(listener, req, res);
    res.status = a.status;
    if (!a.svg.empty()) {
      res.set_content(a.svg, "image/svg+xml");
    } else if (a.status == 204) {
      res.body.clear();
    } else {
      res.set_content(a.body.dump(-1, ' ', false, json::error_handler_t::replace),
                      "application/json; charset=utf-8");
    }
    // Answers hold citizens' data: never kept by a cache.
    res.set_header("Cache-Control", "no-store");
  } else if (req.method != "GET" && req.method != "HEAD") {
    res.set_header("Allow", "GET, HEAD");
    res.status = 405;
    res.set_content(R"({"code":"method","error":"use GET for the app's pages"})",
                    "application/json");
  } else if (const web_assets::Asset* asset = web_assets::Find(Assets(), req.path)) {
    res.status = 200;
    res.set_content(std::string(asset->bytes), std::string(web_assets::ContentTypeOf(asset->path)));
    res.set_header("Cache-Control", "no-cache");
  } else {
    refuse(404, "no such page");
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  // The path only: a search's query holds names and NIKs.
  std::string path = req.path.substr(0, 120);
  std::replace_if(
      path.begin(), path.end(), [](char c) { return c < 0x21 || c > 0x7e; }, '?');
  std::lock_guard lock(log_mutex_);
  log_ << (listener.lan ? "lan " : "") << req.method.substr(0, 8) << " " << path << " "
       << res.status << " " << ms << " ms\n"
       << std::flush;
}

ApiAnswer VanWebServer::Impl::Api(const Listener& listener, const httplib::Request& req,
                                  httplib::Response& res) {
  const int64_t now = clock_.NowMillis();
  const std::string cookie_id =
      web_assets::CookieValue(req.get_header_value("Cookie"), kSessionCookie);
  std::optional<SessionView> session = sessions_.Find(cookie_id, now);
  if (req.path == "/api/state" && req.method == "GET") {
    if (!session) {
      // The laptop's own browser is paired by being there; a tablet pairs with the code.
      auto created = sessions_.Create(/*paired=*/!listener.lan, now);
      res.set_header("Set-Cookie", std::string(kSessionCookie) + "=" + created.cookie_id +
                                       "; Path=/; HttpOnly; SameSite=Strict");
      session = created.view;
    }
    return ApiAnswer{200, State(listener, *session), ""};
  }
  if (!session) {
    return ErrorAnswer(Error::Unauthenticated("the session ended; reload the page"));
  }
  if (req.method == "POST" &&
      !web_assets::ConstantTimeEquals(req.get_header_value("X-CSRF-Token"), session->csrf)) {
    return ApiAnswer{
        403,
        {{"code", "forbidden"}, {"error", "the page's token is missing or wrong; reload the page"}},
        ""};
  }
  ApiCall call{req.method, req.path, {}, req.body};
  for (const auto& [name, value] : req.params) call.query.emplace(name, value);
  if (req.path == "/api/pair" && req.method == "POST") {
    auto body = sync::ParseJsonObjectStrict(req.body, 2);
    if (!body) return ErrorAnswer(body.error());
    auto code = body->find("code");
    if (code == body->end() || !code->is_string()) {
      return ErrorAnswer(Error::InvalidInput("type the pairing code the laptop shows"));
    }
    if (auto paired = sessions_.Pair(cookie_id, code->get<std::string>()); !paired) {
      return ErrorAnswer(paired.error());
    }
    return ApiAnswer{200, State(listener, *sessions_.Find(cookie_id, now)), ""};
  }
  if (!session->paired) {
    return ApiAnswer{403,
                     {{"code", "not_paired"},
                      {"error", "pair this tablet first: type the code the laptop shows"}},
                     ""};
  }
  if (req.path == "/api/unlock" && req.method == "POST") {
    auto body = sync::ParseJsonObjectStrict(req.body, 2);
    if (!body) return ErrorAnswer(body.error());
    auto passphrase = body->find("passphrase");
    if (passphrase == body->end() || !passphrase->is_string()) {
      return ErrorAnswer(Error::InvalidInput("type the van's passphrase"));
    }
    if (auto unlocked = van_->Unlock(passphrase->get<std::string>()); !unlocked) {
      return ErrorAnswer(unlocked.error());
    }
    sessions_.MarkUnlocked(cookie_id);
    return ApiAnswer{200, State(listener, *sessions_.Find(cookie_id, now)), ""};
  }
  if (!session->unlocked || !van_->unlocked()) {
    return ApiAnswer{
        401, {{"code", "locked"}, {"error", "the van's data is locked: type the passphrase"}}, ""};
  }
  if (req.path == "/api/lock" && req.method == "POST") {
    van_->Lock();
    sessions_.LockAll();
    return ApiAnswer{200, State(listener, *sessions_.Find(cookie_id, now)), ""};
  }
  // Polling the sync's progress is not the officer at work: it keeps no store unlocked.
  if (!(req.path == "/api/sync" && req.method == "GET")) van_->Touch();
  return api_.Handle(call);
}

json VanWebServer::Impl::State(const Listener& listener, const SessionView& session) {
  json state = {
      {"csrf", session.csrf},
      {"paired", session.paired},
      {"unlocked", session.unlocked && van_->unlocked()},
      {"lan", lan_ != nullptr},
      {"from_lan", listener.lan},
      {"now_ms", clock_.NowMillis()},
      {"idle_lock_ms", options_.idle_lock.count()},
      {"zone", {{"name", options_.zone.name}, {"offset_minutes", options_.zone.offset_minutes}}}};
  // An unpaired browser on the LAN learns nothing of the van.
  if (!session.paired) return state;
  // What the lock screen shows too: which van this is, and how fresh its data.
  auto device = van_->With([](store::VanStore& s) { return s.Device(); });
  if (device) {
    state["van_code"] = device->van_code;
    state["officer"] = device->officer;
    state["enrolled"] = !device->server_url.empty();
    state["server"] = device->server_url;
    state["last_sync_ms"] = device->last_sync_ms;
    state["pending"] = device->pending;
  }
  if (state["unlocked"].get<bool>()) {
    state["sync"] = sync_.State();
    // The code a tablet types: shown on the laptop only, to an unlocked session.
    if (lan_ && !listener.lan) state["pairing_code"] = sessions_.PairingCode();
  }
  return state;
}

void VanWebServer::Impl::IdleLoop() {
  std::unique_lock lock(idle_mutex_);
  while (!stopping_) {
    // A second's resolution is plenty for minutes of idle time.
    idle_wake_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    if (van_->LockIfIdle()) {
      sessions_.LockAll();
      std::lock_guard log_lock(log_mutex_);
      log_ << "locked after " << options_.idle_lock.count() / 1000 << " s without use\n"
           << std::flush;
    }
  }
}

void VanWebServer::Impl::Run() {
  {
    std::lock_guard lock(idle_mutex_);
    if (stopping_) return;
    running_ = true;
  }
  if (lan_) lan_thread_ = std::thread([this] { lan_->server.listen_after_bind(); });
  loopback_.server.listen_after_bind();
  if (lan_thread_.joinable()) lan_thread_.join();
  finished_ = true;
}

void VanWebServer::Impl::Stop() {
  bool running = false;
  {
    std::lock_guard lock(idle_mutex_);
    stopping_ = true;
    running = running_;
  }
  idle_wake_.notify_all();
  // httplib's stop() does nothing to a server not listening yet, which would then listen
  // forever: when Run() has begun, wait (bounded) until its listeners are up.
  for (Listener* l : {&loopback_, lan_.get()}) {
    if (l == nullptr) continue;
    for (int i = 0; running && !finished_ && i < 5000 && !l->server.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    l->server.stop();
  }
}

Result<std::unique_ptr<VanWebServer>> VanWebServer::Start(const VanWebOptions& options,
                                                          sync::Clock& clock, sync::Rng& rng,
                                                          std::ostream& log) {
  if (!IsLoopbackHost(options.listen_host)) {
    return Error::InvalidInput(
        "--listen takes a loopback address (127.0.0.1 or ::1); serve a "
        "tablet with --lan ADDR");
  }
  const bool loopback_lan =
      IsLoopbackHost(options.lan_address) || options.lan_address.rfind("127.", 0) == 0;
  if (!options.lan_address.empty() && (!IsPrivateAddress(options.lan_address) ||
                                       (loopback_lan && !options.lan_on_loopback_for_testing))) {
    return Error::InvalidInput("--lan " + options.lan_address.substr(0, 60) +
                               ": give this laptop's address on the van's own Wi-Fi, a private "
                               "one (10.x, 172.16-31.x, 192.168.x, fdxx::)");
  }
  if (!options.transport) return Error::Internal("VanWebOptions::transport is not set");
  MPP_ASSIGN_OR_RETURN(auto van, VanLock::Open(options.data_dir, clock, rng, options.idle_lock));
  auto impl = std::make_unique<Impl>(options, clock, rng, log, std::move(van));
  MPP_RETURN_IF_ERROR(impl->Bind());
  return std::unique_ptr<VanWebServer>(new VanWebServer(std::move(impl)));
}

VanWebServer::VanWebServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VanWebServer::~VanWebServer() = default;
int VanWebServer::port() const { return impl_->port(); }
int VanWebServer::lan_port() const { return impl_->lan_port(); }
std::string VanWebServer::PairingCode() const { return impl_->PairingCode(); }
void VanWebServer::Run() { impl_->Run(); }
void VanWebServer::Stop() { impl_->Stop(); }

}  // namespace mpp::field_web
