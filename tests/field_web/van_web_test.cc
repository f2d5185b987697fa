// The officer's app over real HTTP on a free loopback port: what a browser can and cannot do
// (Host, cross-site, Origin, CSRF, the lock), the use cases behind the JSON API, a sync started
// from the page, and enrolment by the QR payload. The van is enrolled with an in-process server
// (SyncWorld), reached through the loopback transport.
#include "mpp/field_web/van_web.h"

#include <httplib.h>

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "mpp/sync/enrollment_qr.h"
#include "support/fixtures.h"
#include "support/sync_world.h"
#include "support/test_util.h"

namespace mpp::test {
namespace {

using nlohmann::json;

// The app's threads read the clock while the test moves it: an atomic one.
class SharedClock final : public sync::Clock {
 public:
  explicit SharedClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMillis() override { return now_ms_.load(); }
  void SleepFor(std::chrono::milliseconds d) override { now_ms_ += d.count(); }
  void Advance(int64_t ms) { now_ms_ += ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

// Forwards to a transport the test owns (the world's loopback), for one enrolment or sync.
class Borrowed final : public sync::Transport {
 public:
  explicit Borrowed(sync::Transport& inner) : inner_(inner) {}
  Result<sync::HttpResponse> Send(const sync::HttpRequest& r) override { return inner_.Send(r); }
  sync::TransferStats stats() const override { return inner_.stats(); }

 private:
  sync::Transport& inner_;
};

struct Answer {
  int status = 0;
  json body;
  std::string raw;
  std::string content_type;
};

// A browser session: the cookie and the CSRF token the state gave.
class Browser {
 public:
  explicit Browser(int port, std::string host = "127.0.0.1")
      : host_(std::move(host)), port_(port), client_(host_, port) {
    client_.set_connection_timeout(5);
    client_.set_read_timeout(20);
  }
  std::string origin() const { return "http://" + host_ + ":" + std::to_string(port_); }

  Answer Get(const std::string& path, httplib::Headers extra = {}) {
    httplib::Headers headers = Base();
    headers.insert(extra.begin(), extra.end());
    return Read(client_.Get(path.c_str(), headers));
  }
  Answer Post(const std::string& path, const json& body, httplib::Headers extra = {},
              bool with_origin = true, bool with_csrf = true) {
    httplib::Headers headers = Base();
    if (with_origin) headers.emplace("Origin", origin());
    if (with_csrf) headers.emplace("X-CSRF-Token", csrf_);
    for (auto& [k, v] : extra) {
      headers.erase(k);
      headers.emplace(k, v);
    }
    return Read(client_.Post(path.c_str(), headers, body.dump(), "application/json"));
  }
  Answer State() {
    auto res = client_.Get("/api/state", Base());
    Answer a = Read(res);
    if (res && res->has_header("Set-Cookie")) {
      std::string cookie = res->get_header_value("Set-Cookie");
      cookie_ = cookie.substr(0, cookie.find(';'));
    }
    if (a.status == 200) csrf_ = a.body.value("csrf", "");
    return a;
  }
  Answer Unlock(const std::string& passphrase = kVanPassphrase) {
    return Post("/api/unlock", {{"passphrase", passphrase}});
  }

 private:
  httplib::Headers Base() const {
    httplib::Headers h;
    if (!cookie_.empty()) h.emplace("Cookie", cookie_);
    return h;
  }
  static Answer Read(const httplib::Result& res) {
    Answer a;
    if (!res) return a;
    a.status = res->status;
    a.raw = res->body;
    a.content_type = res->get_header_value("Content-Type");
    if (a.content_type.rfind("application/json", 0) == 0)
      a.body = json::parse(res->body, nullptr, false);
    return a;
  }

  std::string host_;
  int port_;
  httplib::Client client_;
  std::string cookie_, csrf_;
};

json ValidForm(const std::string& nik, const std::string& name = "Siti Aminah") {
  return {{"nik", nik},
          {"name", name},
          {"birth_date", "01-01-1990"},
          {"address", "Jl. Parit Haji Husin"},
          {"village_code", "61.12.01.2001"},
          {"alasan", "baru"},
          {"agama", "islam"},
          {"status_kawin", "kawin tercatat"},
          {"pekerjaan", "petani/pekebun"}};
}

class VanWebTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Van& van = world_.AddVan("KR01");
    dir_ = van.dir;
    van.store.reset();  // the app opens its own
    StartApp(dir_);
  }
  void TearDown() override { StopApp(); }

  // The app on `dir`, on a free loopback port, reaching the world's server; `adjust` changes
  // its options first.
  void StartApp(const std::string& dir,
                const std::function<void(field_web::VanWebOptions&)>& adjust = {}) {
    field_web::VanWebOptions options;
    options.data_dir = dir;
    options.listen_port = 0;
    options.idle_lock = std::chrono::minutes(10);
    options.transport = [this](const std::string&) -> Result<std::unique_ptr<sync::Transport>> {
      return std::unique_ptr<sync::Transport>(new Borrowed(world_.loopback()));
    };
    if (adjust) adjust(options);
    auto server = field_web::VanWebServer::Start(options, clock_, rng_, log_);
    ASSERT_OK(server);
    server_ = std::move(*server);
    thread_ = std::thread([this] { server_->Run(); });
  }
  void StopApp() {
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  Browser Unlocked() {
    Browser b(server_->port());
    EXPECT_EQ(b.State().status, 200);
    EXPECT_EQ(b.Unlock().status, 200);
    return b;
  }

  // Waits, with a bound, until the sync started from the page has ended; its last state.
  json WaitForSync(Browser& b) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    json state;
    while (std::chrono::steady_clock::now() < end) {
      state = b.Get("/api/sync").body;
      if (!state.value("running", true)) return state;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "the sync did not end within 30 s: " << state.dump();
    return state;
  }

  SyncWorld world_{41};
  SharedClock clock_{1'764'300'000'000};
  sync::SystemRng rng_;
  std::ostringstream log_;
  std::string dir_;
  std::unique_ptr<field_web::VanWebServer> server_;
  std::thread thread_;
};

TEST_F(VanWebTest, OnlyItsOwnHostNameIsAnswered) {
  Browser b(server_->port());
  EXPECT_EQ(
      b.Get("/api/state", {{"Host", "attacker.example:" + std::to_string(server_->port())}}).status,
      403);
  EXPECT_EQ(b.Get("/", {{"Host", "attacker.example"}}).status, 403);
  EXPECT_EQ(b.Get("/api/state", {{"Host", "localhost:" + std::to_string(server_->port())}}).status,
            200);
  Answer page = b.Get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.raw.find("<html lang=\"id\">"), std::string::npos);
}

TEST_F(VanWebTest, CrossSiteRequestsAndForeignOriginsAreRefused) {
  Browser b(server_->port());
  ASSERT_EQ(b.State().status, 200);
  EXPECT_EQ(b.Get("/api/state", {{"Sec-Fetch-Site", "cross-site"}}).status, 403);
  EXPECT_EQ(b.Get("/app.js", {{"Sec-Fetch-Site", "same-site"}}).status, 403);
  EXPECT_EQ(b.Post("/api/unlock", {{"passphrase", kVanPassphrase}},
                   {{"Origin", "http://attacker.example"}})
                .status,
            403);
  EXPECT_EQ(
      b.Post("/api/unlock", {{"passphrase", kVanPassphrase}}, {}, /*with_origin=*/false).status,
      403);
  EXPECT_EQ(
      b.Post("/api/unlock", {{"passphrase", kVanPassphrase}}, {}, true, /*with_csrf=*/false).status,
      403);
  // None of these unlocked anything.
  EXPECT_FALSE(b.State().body.value("unlocked", true));
  EXPECT_EQ(b.Unlock().status, 200);
  EXPECT_TRUE(b.State().body.value("unlocked", false));
}

TEST_F(VanWebTest, TheStoreStaysLockedUntilThePassphraseAndLocksAgain) {
  Browser b(server_->port());
  Answer state = b.State();
  ASSERT_EQ(state.status, 200);
  EXPECT_FALSE(state.body["unlocked"].get<bool>());
  EXPECT_EQ(state.body["van_code"], "KR01");
  Answer locked = b.Get("/api/requests");
  EXPECT_EQ(locked.status, 401);
  EXPECT_EQ(locked.body["code"], "locked");
  Answer wrong = b.Unlock("not-the-passphrase");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(b.Get("/api/catalog").status, 401);
  ASSERT_EQ(b.Unlock().status, 200);
  EXPECT_EQ(b.Get("/api/catalog").status, 200);
  // A second browser needs the passphrase too, though the store is open.
  Browser other(server_->port());
  ASSERT_EQ(other.State().status, 200);
  EXPECT_EQ(other.Get("/api/requests").status, 401);
  EXPECT_EQ(other.Unlock("wrong").status, 401);
  EXPECT_EQ(other.Unlock().status, 200);
  // The officer's lock button closes every session.
  ASSERT_EQ(b.Post("/api/lock", json::object()).status, 200);
  EXPECT_EQ(b.Get("/api/requests").status, 401);
  EXPECT_EQ(other.Get("/api/requests").status, 401);
}

TEST_F(VanWebTest, IdleTimeLocksTheStore) {
  StopApp();
  StartApp(dir_, [](field_web::VanWebOptions& options) {
    options.transport = [](const std::string&) -> Result<std::unique_ptr<sync::Transport>> {
      return Error::Unavailable("no network in this test");
    };
  });
  Browser b = Unlocked();
  ASSERT_EQ(b.Get("/api/requests").status, 200);
  clock_.Advance(9 * 60 * 1000);
  ASSERT_EQ(b.Get("/api/requests").status, 200);  // the officer at work: the idle time restarts
  clock_.Advance(9 * 60 * 1000);
  EXPECT_EQ(b.Get("/api/requests").status, 200);
  // Polling the state is not work: ten minutes of it, and the store locks.
  clock_.Advance(10 * 60 * 1000 + 1);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (b.State().body.value("unlocked", true) && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(b.State().body.value("unlocked", true));
  EXPECT_EQ(b.Get("/api/requests").status, 401);
  EXPECT_NE(log_.str().find("locked after 600 s without use"), std::string::npos);
}

TEST_F(VanWebTest, RegistrationReportsEveryProblemAtOnceAndSavesNothing) {
  Browser b = Unlocked();
  json form = ValidForm("6112010101900001");
  form["nik"] = "6112";
  form["birth_date"] = "31-02-1990";
  form.erase("name");
  Answer check = b.Post("/api/check", {{"service", "dukcapil.ktp-el"}, {"fields", form}});
  ASSERT_EQ(check.status, 200);
  EXPECT_FALSE(check.body["ok"].get<bool>());
  const json& fields = check.body["problems"]["fields"];
  EXPECT_TRUE(fields.contains("nik")) << check.raw;
  EXPECT_TRUE(fields.contains("name")) << check.raw;
  EXPECT_TRUE(fields.contains("birth_date")) << check.raw;
  Answer refused = b.Post("/api/requests", {{"service", "dukcapil.ktp-el"}, {"fields", form}});
  EXPECT_EQ(refused.status, 400);
  EXPECT_TRUE(refused.body["problems"]["fields"].contains("nik"));
  EXPECT_EQ(b.Get("/api/requests").body["total"], 0);
  EXPECT_EQ(
      b.Post("/api/requests", {{"service", "dukcapil.ktp-el"}, {"fields", form}, {"extra", 1}})
          .status,
      400);
  EXPECT_EQ(
      b.Post("/api/requests", {{"service", "no.such"}, {"fields", ValidForm(ValidNik(1))}}).status,
      400);
}

TEST_F(VanWebTest, ARegisteredRequestIsSavedThenSentWithWhenAfterTheSync) {
  Browser b = Unlocked();
  Answer made =
      b.Post("/api/requests", {{"service", "dukcapil.ktp-el"}, {"fields", ValidForm(ValidNik(7))}});
  ASSERT_EQ(made.status, 201) << made.raw;
  const json request = made.body["request"];
  EXPECT_EQ(request["state"], "saved");
  EXPECT_EQ(request["village"]["name"], "Sungai Raya");
  const std::string id = request["id"];
  const std::string receipt = request["receipt"];
  EXPECT_EQ(receipt.rfind("KR01-", 0), 0u);
  EXPECT_EQ(made.body["receipt_qr_svg"].get<std::string>().rfind("<svg", 0), 0u);

  // The receipt's QR code is the receipt number, as an SVG image.
  Answer qr = b.Get("/api/requests/" + id + "/qr.svg");
  EXPECT_EQ(qr.status, 200);
  EXPECT_EQ(qr.content_type, "image/svg+xml");
  EXPECT_EQ(qr.raw.rfind("<svg", 0), 0u);

  // Search by name, NIK and receipt.
  EXPECT_EQ(b.Get("/api/requests?q=aminah").body["matched"], 1);
  EXPECT_EQ(b.Get("/api/requests?q=" + ValidNik(7).substr(6, 6)).body["matched"], 1);
  EXPECT_EQ(b.Get("/api/requests?q=" + receipt).body["matched"], 1);
  EXPECT_EQ(b.Get("/api/requests?q=budi").body["matched"], 0);

  ASSERT_EQ(b.Post("/api/sync", json::object()).status, 202);
  json end = WaitForSync(b);
  ASSERT_TRUE(end.value("ok", false)) << end.dump();
  EXPECT_EQ(end["report"]["acknowledged"], 1);
  json shown = b.Get("/api/requests/" + receipt).body["request"];
  EXPECT_EQ(shown["state"], "sent");
  EXPECT_EQ(shown["acked_ms"], clock_.NowMillis());
  EXPECT_GT(b.State().body["last_sync_ms"].get<int64_t>(), 0);
}

TEST_F(VanWebTest, ADuplicateIsShownAndRegisteredOnlyWhenForced) {
  Browser b = Unlocked();
  const json form = ValidForm(ValidNik(3));
  ASSERT_EQ(b.Post("/api/requests", {{"service", "dukcapil.ktp-el"}, {"fields", form}}).status,
            201);
  Answer check = b.Post("/api/check", {{"service", "dukcapil.ktp-el"}, {"fields", form}});
  ASSERT_EQ(check.body["duplicates"].size(), 1u);
  Answer twice = b.Post("/api/requests", {{"service", "dukcapil.ktp-el"}, {"fields", form}});
  EXPECT_EQ(twice.status, 409);
  ASSERT_EQ(twice.body["duplicates"].size(), 1u);
  EXPECT_EQ(b.Get("/api/requests").body["total"], 1);
  EXPECT_EQ(
      b.Post("/api/requests", {{"service", "dukcapil.ktp-el"}, {"fields", form}, {"force", true}})
          .status,
      201);
  EXPECT_EQ(b.Get("/api/requests").body["total"], 2);
}

TEST_F(VanWebTest, CancelNeedsAReasonAndDeliverNeedsACompletedRequest) {
  Browser b = Unlocked();
  Answer made =
      b.Post("/api/requests", {{"service", "dukcapil.ktp-el"}, {"fields", ValidForm(ValidNik(4))}});
  ASSERT_EQ(made.status, 201);
  const std::string id = made.body["request"]["id"];
  EXPECT_EQ(b.Post("/api/requests/" + id + "/deliver", {{"received_by", "Siti"}}).status, 400);
  EXPECT_EQ(b.Post("/api/requests/" + id + "/cancel", json::object()).status, 400);
  Answer cancelled = b.Post("/api/requests/" + id + "/cancel", {{"reason", "warga pindah"}});
  ASSERT_EQ(cancelled.status, 200) << cancelled.raw;
  EXPECT_EQ(cancelled.body["request"]["status"], "cancelled");
  EXPECT_EQ(b.Get("/api/requests/nope").status, 404);
}

TEST_F(VanWebTest, AVanEnrolsWithTheQrPayloadAndABadChecksumChangesNothing) {
  StopApp();
  const std::string fresh = world_.dir() + "/van-new";
  {
    auto catalog = world_.storage().LoadCatalog();
    ASSERT_OK(catalog);
    store::InitOptions init;
    init.van_code = "KR09";
    init.officer = "Rahmat";
    init.catalog_json = catalog->second;
    init.kdf.memory_kib = 64;
    init.kdf.time_cost = 1;
    ASSERT_OK(store::VanStore::Create(fresh, kVanPassphrase, init, clock_, rng_));
  }
  StartApp(fresh);
  Browser b = Unlocked();
  EXPECT_FALSE(b.State().body["enrolled"].get<bool>());
  EXPECT_EQ(b.Post("/api/sync", json::object()).status, 400);  // not enrolled
  auto token = world_.services().devices.CreateEnrollmentToken("KR09", 3'600'000);
  ASSERT_OK(token);
  auto payload = sync::EncodeEnrollmentQr(
      {"http://127.0.0.1:1", *token, world_.services().core.server_fingerprint()});
  ASSERT_OK(payload);
  std::string damaged = *payload;
  damaged[damaged.size() - 1] = damaged.back() == '0' ? '1' : '0';
  Answer refused = b.Post("/api/enroll", {{"qr", damaged}});
  EXPECT_EQ(refused.status, 400);
  EXPECT_FALSE(b.State().body["enrolled"].get<bool>());
  Answer enrolled = b.Post("/api/enroll", {{"qr", *payload}});
  ASSERT_EQ(enrolled.status, 200) << enrolled.raw;
  EXPECT_EQ(enrolled.body["server_fingerprint"], world_.services().core.server_fingerprint());
  EXPECT_TRUE(b.State().body["enrolled"].get<bool>());
}

// The tablet's listener (--lan), on 127.0.0.2 so that the traffic stays on this machine: a
// browser there must pair with the laptop's code before anything, learns nothing of the van
// before, and then unlocks with the passphrase like any other.
TEST_F(VanWebTest, ATabletOnTheLanPairsWithTheLaptopsCodeFirst) {
  StopApp();
  StartApp(dir_, [](field_web::VanWebOptions& options) {
    options.lan_address = "127.0.0.2";
    options.lan_on_loopback_for_testing = true;
  });
  ASSERT_EQ(server_->lan_port(), server_->port());

  Browser tablet(server_->lan_port(), "127.0.0.2");
  Answer first = tablet.State();
  ASSERT_EQ(first.status, 200);
  EXPECT_FALSE(first.body["paired"].get<bool>());
  EXPECT_FALSE(first.body.contains("van_code")) << "an unpaired tablet learns the van's code";
  EXPECT_FALSE(first.body.contains("pairing_code"));
  EXPECT_EQ(tablet.Get("/api/requests").body["code"], "not_paired");
  EXPECT_EQ(tablet.Unlock().status, 403) << "the passphrase before pairing";
  // The laptop's names are not the tablet listener's.
  EXPECT_EQ(
      tablet.Get("/api/state", {{"Host", "127.0.0.1:" + std::to_string(server_->port())}}).status,
      403);

  // The laptop, unlocked, shows the code; the tablet types it.
  Browser laptop = Unlocked();
  const std::string code = laptop.State().body["pairing_code"];
  EXPECT_EQ(code, server_->PairingCode());
  EXPECT_EQ(tablet.Post("/api/pair", {{"code", code == "000000" ? "000001" : "000000"}}).status,
            401);
  Answer paired = tablet.Post("/api/pair", {{"code", code}});
  ASSERT_EQ(paired.status, 200) << paired.raw;
  EXPECT_TRUE(paired.body["paired"].get<bool>());
  EXPECT_FALSE(paired.body["unlocked"].get<bool>());
  EXPECT_EQ(paired.body["van_code"], "KR01");
  EXPECT_FALSE(paired.body.contains("pairing_code")) << "the tablet is shown the code";
  EXPECT_NE(server_->PairingCode(), code);
  EXPECT_EQ(tablet.Get("/api/requests").status, 401);
  EXPECT_EQ(tablet.Unlock().status, 200);
  EXPECT_EQ(tablet.Get("/api/requests").status, 200);
  EXPECT_NE(log_.str().find("lan GET /api/requests 200"), std::string::npos);
}

TEST(VanWebStart, ALanAddressMustBePrivate) {
  SyncWorld world(5);
  Van& van = world.AddVan("KR02");
  van.store.reset();
  sync::SystemClock clock;
  sync::SystemRng rng;
  std::ostringstream log;
  field_web::VanWebOptions options;
  options.data_dir = van.dir;
  options.listen_port = 0;
  options.transport = [](const std::string&) -> Result<std::unique_ptr<sync::Transport>> {
    return Error::Unavailable("none");
  };
  options.lan_address = "8.8.8.8";
  auto refused = field_web::VanWebServer::Start(options, clock, rng, log);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("private"), std::string::npos);
  options.lan_address = "";
  options.listen_host = "0.0.0.0";
  EXPECT_FALSE(field_web::VanWebServer::Start(options, clock, rng, log).ok());
}

TEST(VanWebStart, PrivateAddresses) {
  for (const char* a :
       {"10.0.0.5", "172.16.0.1", "172.31.255.254", "192.168.1.10", "fd12::1", "127.0.0.1"}) {
    EXPECT_TRUE(field_web::IsPrivateAddress(a)) << a;
  }
  for (const char* a :
       {"8.8.8.8", "172.32.0.1", "192.169.0.1", "2001:db8::1", "localhost", "", "10.0.0"}) {
    EXPECT_FALSE(field_web::IsPrivateAddress(a)) << a;
  }
}

}  // namespace
}  // namespace mpp::test
