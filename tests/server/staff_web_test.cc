// The staff's JSON API (server_stub/API.md) through StaffWeb::Handle, on the backend
// MPP_TEST_STORAGE names (server_tests runs once per backend): sessions, CSRF and Origin, login
// slowing, the authorization matrix of roles and agencies, bad input, and that staff decisions
// reach the van. The real HTTP server and a real browser are in tests/browser.
#include "mpp/staff_web/staff_web.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mpp/field/use_cases.h"
#include "mpp/sync/qr_code.h"
#include "mpp/server/staff_accounts.h"
#include "mpp/sqlite/sqlite.h"
#include "mpp/sync/enrollment_qr.h"
#include "support/sync_world.h"

namespace mpp::test {
namespace {

using nlohmann::json;
using server::StaffRole;
using server::WebAnswer;
using server::WebRequest;
using ::testing::HasSubstr;

constexpr char kHost[] = "127.0.0.1:8080";
constexpr char kOrigin[] = "http://127.0.0.1:8080";
constexpr char kPassword[] = "kata-sandi-uji-2026";
// Cheap Argon2id for tests; production keeps the default cost.
constexpr crypto::Argon2Params kFastHash{1, 64, 1};

struct Browser {
  std::string cookie;  // "mpp_session=..."
  std::string csrf;
};

class StaffWebTest : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = std::make_unique<SyncWorld>(7);
    accounts_ = std::make_unique<server::StaffAccounts>(world_->services().core, kFastHash);
    web_ = std::make_unique<staff_web::StaffWeb>(world_->services(), *accounts_);
    Add("admin1", "*", StaffRole::kAdmin);
    Add("capil1", "dukcapil", StaffRole::kOfficer);
    Add("capil.lihat", "dukcapil", StaffRole::kViewer);
    Add("nib1", "dpmptsp", StaffRole::kOfficer);

    van_ = &world_->AddVan("KR01");
    ktp_ = SyncWorld::RegisterKtp(*van_, 1);
    sync::FieldMap xss = SyncWorld::KtpFields(2);
    xss["name"] = "<img src=x onerror=alert(1)>Budi";
    auto made = field::RegisterRequest(*van_->store, "dukcapil.ktp-el", xss);
    ASSERT_TRUE(made.ok()) << made.error().message();
    xss_ = *made;
    auto nib = field::RegisterRequest(*van_->store, "dpmptsp.nib",
                                      {{"nik", "6112054101900099"},
                                       {"name", "Usaha Maju"},
                                       {"birth_date", "1990-01-01"},
                                       {"address", "Desa Sungai Raya"},
                                       {"village_code", "61.12.05.2001"},
                                       {"nama_usaha", "Kopi Kubu"},
                                       {"kbli", "10761"},
                                       {"skala_usaha", "mikro"},
                                       {"alamat_usaha", "Desa Sungai Raya"}});
    ASSERT_TRUE(nib.ok()) << nib.error().message();
    nib_ = *nib;
    auto synced = world_->Sync(*van_);
    ASSERT_TRUE(synced.ok()) << synced.error().message();
  }

  void Add(const std::string& user, const std::string& agency, StaffRole role) {
    auto added = accounts_->Add(user, agency, role, kPassword, "test");
    ASSERT_TRUE(added.ok()) << added.error().message();
  }

  WebAnswer Call(const std::string& method, const std::string& target, const std::string& body,
                 const Browser* as, std::map<std::string, std::string> headers = {}) {
    WebRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.client_address = "127.0.0.1";
    r.headers = {{"host", kHost}};
    if (method == "POST") r.headers["origin"] = kOrigin;
    if (as != nullptr) {
      r.headers["cookie"] = "theme=light; " + as->cookie;
      if (method == "POST") r.headers["x-csrf-token"] = as->csrf;
    }
    for (auto& [k, v] : headers) r.headers[k] = v;
    WebAnswer answer = web_->Handle(r);
    // A streamed answer, read to its end as the HTTP server sends it.
    while (answer.next_piece) {
      auto piece = answer.next_piece();
      EXPECT_TRUE(piece.ok()) << piece.error().message();
      if (!piece.ok() || piece->empty()) break;
      answer.body += *piece;
    }
    return answer;
  }
  WebAnswer Get(const std::string& target, const Browser& as) {
    return Call("GET", target, "", &as);
  }
  WebAnswer Post(const std::string& target, const json& body, const Browser& as) {
    return Call("POST", target, body.dump(), &as);
  }

  static std::string HeaderOf(const WebAnswer& a, const std::string& name) {
    for (const auto& [k, v] : a.headers) {
      if (k == name) return v;
    }
    return "";
  }
  static json Body(const WebAnswer& a) { return json::parse(a.body, nullptr, false); }

  Browser Login(const std::string& user, const std::string& address = "127.0.0.1") {
    WebRequest r;
    r.method = "POST";
    r.target = "/api/login";
    r.body = json{{"user", user}, {"password", kPassword}}.dump();
    r.client_address = address;
    r.headers = {{"host", kHost}, {"origin", kOrigin}};
    const WebAnswer a = web_->Handle(r);
    EXPECT_EQ(a.status, 200) << a.body;
    const std::string set_cookie = HeaderOf(a, "Set-Cookie");
    EXPECT_THAT(set_cookie, HasSubstr("HttpOnly"));
    EXPECT_THAT(set_cookie, HasSubstr("SameSite=Strict"));
    Browser b;
    b.cookie = set_cookie.substr(0, set_cookie.find(';'));
    b.csrf = Body(a).value("csrf", "");
    return b;
  }

  std::vector<std::string> ReceiptsListed(const Browser& as, const std::string& query = "") {
    const WebAnswer a = Get("/api/requests" + query, as);
    EXPECT_EQ(a.status, 200) << a.body;
    std::vector<std::string> out;
    const json listed = Body(a);
    for (const auto& item : listed["items"]) out.push_back(item.value("receipt", ""));
    std::sort(out.begin(), out.end());
    return out;
  }

  std::unique_ptr<SyncWorld> world_;
  std::unique_ptr<server::StaffAccounts> accounts_;
  std::unique_ptr<staff_web::StaffWeb> web_;
  Van* van_ = nullptr;
  sync::Request ktp_, xss_, nib_;
};

TEST_F(StaffWebTest, DashboardPagesAreServedWithAStrictContentSecurityPolicy) {
  const WebAnswer page = Call("GET", "/", "", nullptr);
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.content_type, HasSubstr("text/html"));
  EXPECT_THAT(page.body, HasSubstr("app.js"));
  const std::string csp = HeaderOf(page, "Content-Security-Policy");
  EXPECT_THAT(csp, HasSubstr("default-src 'none'"));
  EXPECT_THAT(csp, HasSubstr("script-src 'self'"));
  EXPECT_THAT(csp, Not(HasSubstr("unsafe-inline")));
  EXPECT_EQ(HeaderOf(page, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Call("GET", "/app.js", "", nullptr).status, 200);
  EXPECT_EQ(Call("GET", "/nothing-here.js", "", nullptr).status, 404);
  EXPECT_EQ(Call("POST", "/", "", nullptr).status, 405);
}

TEST_F(StaffWebTest, WrongUserAndWrongPasswordAnswerAlikeAndNoCookie) {
  auto attempt = [&](const std::string& user, const std::string& password) {
    return Call("POST", "/api/login", json{{"user", user}, {"password", password}}.dump(), nullptr);
  };
  const WebAnswer wrong_password = attempt("capil1", "not-the-password");
  const WebAnswer no_such_user = attempt("nobody", "not-the-password");
  EXPECT_EQ(wrong_password.status, 401);
  EXPECT_EQ(no_such_user.status, 401);
  EXPECT_EQ(wrong_password.body, no_such_user.body);
  EXPECT_EQ(HeaderOf(wrong_password, "Set-Cookie"), "");
  ASSERT_TRUE(accounts_->Disable("nib1", "test").ok());
  EXPECT_EQ(attempt("nib1", kPassword).body, no_such_user.body);
}

TEST_F(StaffWebTest, CallsWithoutASessionAreRefusedAndMeNamesTheAccount) {
  EXPECT_EQ(Call("GET", "/api/requests", "", nullptr).status, 401);
  Browser forged{"mpp_session=" + std::string(64, 'a'), "x"};
  EXPECT_EQ(Get("/api/requests", forged).status, 401);
  const Browser capil = Login("capil1");
  const json me = Body(Get("/api/me", capil));
  EXPECT_EQ(me.value("user", ""), "capil1");
  EXPECT_EQ(me.value("agency", ""), "dukcapil");
  EXPECT_EQ(me.value("role", ""), "officer");
  EXPECT_EQ(me.value("csrf", ""), capil.csrf);
}

TEST_F(StaffWebTest, LogoutEndsTheSessionAndClearsTheCookie) {
  const Browser capil = Login("capil1");
  const WebAnswer out = Post("/api/logout", json::object(), capil);
  EXPECT_EQ(out.status, 204);
  EXPECT_THAT(HeaderOf(out, "Set-Cookie"), HasSubstr("Max-Age=0"));
  EXPECT_EQ(Get("/api/me", capil).status, 401);
}

TEST_F(StaffWebTest, PlacesAreTheRegencysDistrictsAndVillagesAndPagesNameThem) {
  const Browser capil = Login("capil1");
  const json places = Body(Get("/api/places", capil));
  EXPECT_EQ(places["districts"].size(), 9u);
  EXPECT_EQ(places["villages"].size(), 123u);
  // 61.12.05.2001, the fixtures' village, by name in the list and the detail.
  const json listed = Body(Get("/api/requests?village=61.12.05.2001&q=Siti", capil));
  ASSERT_EQ(listed["items"].size(), 1u) << listed;
  EXPECT_EQ(listed["items"][0].value("village", ""), "Desa Tanjung Beringin, Kec. Batu Ampar");
  EXPECT_EQ(Body(Get("/api/requests?district=61.12.01", capil))["items"].size(), 0u);
  bool shown = false;
  const json detail = Body(Get("/api/requests/" + ktp_.id, capil));
  for (const auto& f : detail["fields"]) {
    if (f.value("name", "") == "village_code") {
      shown = f.value("display", "") == "Desa Tanjung Beringin, Kec. Batu Ampar";
    }
  }
  EXPECT_TRUE(shown);
}

TEST_F(StaffWebTest, StateChangesNeedTheCsrfTokenAndTheOwnOrigin) {
  const Browser capil = Login("capil1");
  const std::string target = "/api/requests/" + ktp_.id + "/status";
  const std::string body = json{{"status", "received"}, {"note", ""}}.dump();
  const WebAnswer no_token = Call("POST", target, body, &capil, {{"x-csrf-token", ""}});
  EXPECT_EQ(no_token.status, 403) << no_token.body;
  const WebAnswer wrong_token = Call("POST", target, body, &capil, {{"x-csrf-token", "00"}});
  EXPECT_EQ(wrong_token.status, 403);
  const WebAnswer other_site =
      Call("POST", target, body, &capil, {{"origin", "http://evil.example"}});
  EXPECT_EQ(other_site.status, 403);
  EXPECT_THAT(Body(other_site).value("error", ""), HasSubstr("Origin"));
  EXPECT_EQ(world_->ServerState(ktp_.id).status, sync::RequestStatus::kSubmitted);
  EXPECT_EQ(Call("POST", target, body, &capil).status, 200);
  EXPECT_EQ(world_->ServerState(ktp_.id).status, sync::RequestStatus::kReceived);
}

TEST_F(StaffWebTest, SessionsExpireWhenIdleAndAtTheAbsoluteLimit) {
  const Browser capil = Login("capil1");
  world_->clock().Advance(std::chrono::milliseconds(server::StaffAccounts::kIdleExpiry).count() -
                          60'000);
  EXPECT_EQ(Get("/api/me", capil).status, 200);  // kept alive by use
  world_->clock().Advance(std::chrono::milliseconds(server::StaffAccounts::kIdleExpiry).count() +
                          1);
  EXPECT_EQ(Get("/api/me", capil).status, 401);

  const Browser busy = Login("capil1");
  const int64_t absolute =
      std::chrono::milliseconds(server::StaffAccounts::kAbsoluteExpiry).count();
  for (int64_t spent = 0; spent < absolute; spent += 20 * 60'000) {
    world_->clock().Advance(20 * 60'000);
    if (spent + 20 * 60'000 < absolute) {
      ASSERT_EQ(Get("/api/me", busy).status, 200) << spent;
    }
  }
  world_->clock().Advance(1);
  EXPECT_EQ(Get("/api/me", busy).status, 401);
}

TEST_F(StaffWebTest, DisablingAnAccountEndsItsOpenSessionAtOnce) {
  const Browser capil = Login("capil1");
  EXPECT_EQ(Get("/api/requests", capil).status, 200);
  ASSERT_TRUE(accounts_->Disable("capil1", "admin1").ok());
  EXPECT_EQ(Get("/api/requests", capil).status, 401);
  const Browser admin = Login("admin1");
  ASSERT_TRUE(accounts_->SetPassword("admin1", "another-password-1", "admin1").ok());
  EXPECT_EQ(Get("/api/me", admin).status, 401);  // began under the old password
}

TEST_F(StaffWebTest, RepeatedFailedLoginsAreSlowedPerAccountWithoutLockingItOutForLong) {
  auto attempt = [&](const std::string& password, const std::string& address) {
    WebRequest r;
    r.method = "POST";
    r.target = "/api/login";
    r.body = json{{"user", "capil1"}, {"password", password}}.dump();
    r.client_address = address;
    r.headers = {{"host", kHost}};
    return web_->Handle(r);
  };
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(attempt("guess-" + std::to_string(i), "10.0.0." + std::to_string(i)).status, 401);
  }
  const WebAnswer slowed = attempt("guess-x", "10.0.1.1");
  EXPECT_EQ(slowed.status, 401);  // the sixth failure starts the wait
  const WebAnswer waiting = attempt(kPassword, "10.0.1.2");
  EXPECT_EQ(waiting.status, 429) << waiting.body;
  EXPECT_GT(waiting.retry_after_s, 0);
  EXPECT_LE(waiting.retry_after_s, 60);
  // The real user gets in once the wait is over.
  world_->clock().Advance(61'000);
  EXPECT_EQ(attempt(kPassword, "10.0.1.3").status, 200);
}

TEST_F(StaffWebTest, EachRoleSeesOnlyItsAgencyAndAnotherAgencysRequestIsNotFound) {
  const Browser admin = Login("admin1");
  const Browser capil = Login("capil1");
  const Browser viewer = Login("capil.lihat");
  const Browser nib = Login("nib1");
  std::vector<std::string> dukcapil = {ktp_.receipt, xss_.receipt};
  std::sort(dukcapil.begin(), dukcapil.end());
  EXPECT_EQ(ReceiptsListed(capil), dukcapil);
  EXPECT_EQ(ReceiptsListed(viewer), dukcapil);
  EXPECT_EQ(ReceiptsListed(nib), std::vector<std::string>{nib_.receipt});
  EXPECT_EQ(ReceiptsListed(admin).size(), 3u);
  // An agency filter from a non-admin does not widen the view.
  EXPECT_EQ(ReceiptsListed(nib, "?agency=dukcapil"), std::vector<std::string>{nib_.receipt});

  for (const std::string& key : {ktp_.id, ktp_.receipt}) {
    const WebAnswer hidden = Get("/api/requests/" + key, nib);
    EXPECT_EQ(hidden.status, 404) << key;
    const WebAnswer missing = Get("/api/requests/KR01-20000101-9999", nib);
    EXPECT_EQ(Body(hidden).value("code", ""), Body(missing).value("code", ""));
    EXPECT_EQ(Get("/api/requests/" + key, capil).status, 200);
    EXPECT_EQ(Get("/api/requests/" + key, admin).status, 200);
  }
  const WebAnswer change =
      Post("/api/requests/" + ktp_.id + "/status", {{"status", "received"}, {"note", ""}}, nib);
  EXPECT_EQ(change.status, 404);
  const WebAnswer viewer_change =
      Post("/api/requests/" + ktp_.id + "/status", {{"status", "received"}, {"note", ""}}, viewer);
  EXPECT_EQ(viewer_change.status, 403) << viewer_change.body;
  EXPECT_TRUE(Body(Get("/api/requests/" + ktp_.id, viewer))["allowed_statuses"].empty());
  EXPECT_EQ(world_->ServerState(ktp_.id).status, sync::RequestStatus::kSubmitted);
  EXPECT_EQ(Get("/api/vans", capil).status, 403);
  EXPECT_EQ(Body(Get("/api/vans", admin))["items"].size(), 1u);
}

TEST_F(StaffWebTest, ConflictsOfAnotherAgencyAreNeitherListedNorResolvable) {
  // A conflict on the NIB request: staff and the van change its phone concurrently.
  auto edited = field::UpdateRequest(*van_->store, nib_.receipt, {{"phone", "081211112222"}});
  ASSERT_TRUE(edited.ok()) << edited.error().message();
  const Browser nib = Login("nib1");
  ASSERT_EQ(
      Post("/api/requests/" + nib_.id + "/fields", {{"fields", {{"phone", "081299998888"}}}}, nib)
          .status,
      200);
  ASSERT_TRUE(world_->Sync(*van_).ok());
  const json listed = Body(Get("/api/conflicts?open=1", nib));
  ASSERT_EQ(listed["items"].size(), 1u) << listed;
  const uint64_t rev = listed["items"][0].value("rev", uint64_t{0});
  const Browser capil = Login("capil1");
  EXPECT_TRUE(Body(Get("/api/conflicts", capil))["items"].empty());
  EXPECT_EQ(
      Post("/api/conflicts/" + std::to_string(rev) + "/resolve", {{"keep", "van"}}, capil).status,
      404);
  const WebAnswer resolved = Post("/api/conflicts/" + std::to_string(rev) + "/resolve",
                                  {{"keep", "value"}, {"value", "081277776666"}}, nib);
  ASSERT_EQ(resolved.status, 200) << resolved.body;
  ASSERT_TRUE(world_->Sync(*van_).ok());
  auto on_van = van_->store->Find(nib_.id);
  ASSERT_TRUE(on_van.ok()) << on_van.error().message();
  EXPECT_EQ(on_van->view.fields.at("phone").value, "081277776666");
}

TEST_F(StaffWebTest, NeedsInfoNeedsANoteAndTheNoteReachesTheVan) {
  const Browser capil = Login("capil1");
  const std::string target = "/api/requests/" + ktp_.receipt + "/status";
  for (const char* status : {"received", "in_review"}) {
    ASSERT_EQ(Post(target, {{"status", status}, {"note", ""}}, capil).status, 200) << status;
  }
  const WebAnswer no_note = Post(target, {{"status", "needs_info"}, {"note", "  "}}, capil);
  EXPECT_EQ(no_note.status, 400);
  EXPECT_THAT(Body(no_note).value("error", ""), HasSubstr("note"));
  const WebAnswer done =
      Post(target, {{"status", "needs_info"}, {"note", "Lampirkan fotokopi KK"}}, capil);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(Body(done).value("status", ""), "needs_info");
  ASSERT_TRUE(world_->Sync(*van_).ok());
  auto on_van = van_->store->Find(ktp_.id);
  ASSERT_TRUE(on_van.ok()) << on_van.error().message();
  EXPECT_EQ(on_van->view.status, sync::RequestStatus::kNeedsInfo);
  EXPECT_EQ(on_van->view.status_note, "Lampirkan fotokopi KK");
  const json detail = Body(Get("/api/requests/" + ktp_.id, capil));
  EXPECT_FALSE(detail["history"].empty());
}

TEST_F(StaffWebTest, InboxFiltersCountsPagesAndBulkChange) {
  const Browser capil = Login("capil1");
  EXPECT_EQ(ReceiptsListed(capil, "?q=onerror"), std::vector<std::string>{xss_.receipt});
  EXPECT_EQ(ReceiptsListed(capil, "?q=" + ktp_.receipt.substr(0, 8) + "&per_page=1").size(), 1u);
  const json page = Body(Get("/api/requests?per_page=1&page=2", capil));
  EXPECT_EQ(page.value("total", 0), 2);
  EXPECT_EQ(page["items"].size(), 1u);
  EXPECT_EQ(page["counts"].value("submitted", 0), 2);
  // What vans typed is data in JSON, never markup: the page writes it as text.
  const json listed = Body(Get("/api/requests?q=onerror", capil));
  EXPECT_EQ(listed["items"][0].value("name", ""), "<img src=x onerror=alert(1)>Budi");

  const WebAnswer bulk =
      Post("/api/requests/bulk-status",
           {{"ids", {ktp_.id, xss_.id, nib_.id}}, {"status", "received"}}, capil);
  ASSERT_EQ(bulk.status, 200) << bulk.body;
  EXPECT_EQ(Body(bulk).value("changed", 0), 2);
  ASSERT_EQ(Body(bulk)["failed"].size(), 1u);  // another agency's: not found
  EXPECT_EQ(world_->ServerState(nib_.id).status, sync::RequestStatus::kSubmitted);
  EXPECT_EQ(ReceiptsListed(capil, "?status=received").size(), 2u);
  EXPECT_TRUE(ReceiptsListed(capil, "?status=submitted").empty());
}

TEST_F(StaffWebTest, BadInputGetsAClearFourHundredAndChangesNothing) {
  const Browser capil = Login("capil1");
  const std::string target = "/api/requests/" + ktp_.id + "/status";
  struct Case {
    std::string body;
    int status;
  };
  for (const Case& c : std::vector<Case>{{"not json", 400},
                                         {"[]", 400},
                                         {R"({"status":"received","extra":1})", 400},
                                         {R"({"status":"flying"})", 400},
                                         {R"({"status":3})", 400},
                                         {R"({"status":"received","status":"rejected"})", 400},
                                         {R"({"status":"completed"})", 409}}) {
    const WebAnswer a = Call("POST", target, c.body, &capil);
    EXPECT_EQ(a.status, c.status) << c.body << " -> " << a.body;
    EXPECT_FALSE(Body(a).value("error", "").empty()) << c.body;
  }
  for (const char* query : {"?status=flying", "?from=2026-13-01", "?page=0", "?per_page=9999",
                            "?nik=123", "?sort=colour", "?bogus=1", "?q=%zz"}) {
    EXPECT_EQ(Get(std::string("/api/requests") + query, capil).status, 400) << query;
  }
  const WebAnswer bad_field =
      Post("/api/requests/" + ktp_.id + "/fields", {{"fields", {{"phone", "not a phone"}}}}, capil);
  EXPECT_EQ(bad_field.status, 400) << bad_field.body;
  EXPECT_EQ(world_->ServerState(ktp_.id).status, sync::RequestStatus::kSubmitted);
  EXPECT_EQ(world_->ServerState(ktp_.id).fields.at("phone").value, "081234567890");
  EXPECT_EQ(Get("/api/unknown", capil).status, 404);
}

TEST_F(StaffWebTest, CommentsAreAppendOnlyAndScopedToTheAgency) {
  const Browser capil = Login("capil1");
  const Browser viewer = Login("capil.lihat");
  const Browser nib = Login("nib1");
  const std::string target = "/api/requests/" + ktp_.id + "/comments";
  const WebAnswer added = Post(target, {{"text", "KK asli sudah dilihat <b>ok</b>"}}, capil);
  ASSERT_EQ(added.status, 200) << added.body;
  const json comments = Body(added)["comments"];
  ASSERT_EQ(comments.size(), 1u);
  EXPECT_EQ(comments[0].value("by", ""), "capil1");
  EXPECT_EQ(comments[0].value("text", ""), "KK asli sudah dilihat <b>ok</b>");
  EXPECT_EQ(Post(target, {{"text", "   "}}, capil).status, 400);
  EXPECT_EQ(Post(target, {{"text", "dari viewer"}}, viewer).status, 403);
  EXPECT_EQ(Post(target, {{"text", "dari instansi lain"}}, nib).status, 404);
  EXPECT_EQ(Body(Get("/api/requests/" + ktp_.id, viewer))["comments"].size(), 1u);
}

TEST_F(StaffWebTest, SummaryCountsOnlyTheAgenciesTheAccountSees) {
  const json mine = Body(Get("/api/summary", Login("capil1")));
  ASSERT_EQ(mine["agencies"].size(), 1u) << mine;
  EXPECT_EQ(mine["agencies"][0].value("agency", ""), "dukcapil");
  EXPECT_EQ(mine["agencies"][0]["counts"].value("submitted", 0), 2);
  EXPECT_FALSE(mine["agencies"][0]["oldest_open"].is_null());
  const json all = Body(Get("/api/summary", Login("admin1")));
  EXPECT_EQ(all["agencies"].size(), world_->services().staff.catalog().agencies().size());
}

TEST_F(StaffWebTest, ExportIsScopedMaskedAuditedAndOpensInASpreadsheet) {
  const Browser capil = Login("capil1");
  const WebAnswer csv = Get("/api/export?format=csv&mask=1", capil);
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_THAT(csv.content_type, HasSubstr("text/csv"));
  EXPECT_THAT(HeaderOf(csv, "Content-Disposition"), HasSubstr("attachment"));
  EXPECT_EQ(csv.body.rfind("\xEF\xBB\xBF", 0), 0u);  // UTF-8 BOM first
  EXPECT_THAT(csv.body, HasSubstr(ktp_.receipt));
  EXPECT_THAT(csv.body, Not(HasSubstr(nib_.receipt)));  // another agency's
  const std::string nik = ktp_.fields.at("nik").value;
  EXPECT_THAT(csv.body, Not(HasSubstr(nik)));
  EXPECT_THAT(csv.body, HasSubstr(nik.substr(0, 6) + "******" + nik.substr(12)));
  EXPECT_THAT(csv.body, Not(HasSubstr("081234567890")));
  EXPECT_THAT(csv.body, HasSubstr("*********890"));
  const WebAnswer plain = Get("/api/export?format=json&mask=0&q=Siti", capil);
  ASSERT_EQ(plain.status, 200) << plain.body;
  const json items = Body(plain)["items"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["fields"].value("nik", ""), nik);
  EXPECT_EQ(Get("/api/export?format=xml", capil).status, 400);
  // Both exports are in the audit trail, with the filters named but not their values (read
  // from the SQLite file; the PostgreSQL run checks the same code path).
  if (world_->backend() == StorageBackend::kSqlite) {
    auto db = sqlite::Database::Open(world_->dir() + "/server/server.db",
                                     sqlite::Database::Mode::kReadWrite);
    ASSERT_TRUE(db.ok()) << db.error().message();
    auto rows =
        db->Prepare("SELECT actor, detail FROM audit WHERE action LIKE 'export%' ORDER BY id");
    ASSERT_TRUE(rows.ok());
    std::vector<std::string> details;
    for (auto row = rows->Step(); row.ok() && *row; row = rows->Step()) {
      EXPECT_EQ(rows->ColumnText(0), "staff:capil1");
      details.push_back(rows->ColumnText(1));
    }
    ASSERT_EQ(details.size(), 4u);  // each export's start and its end
    EXPECT_THAT(details[0], HasSubstr("csv masked, filters: none"));
    EXPECT_EQ(details[1], "requests: 2");
    EXPECT_THAT(details[2], HasSubstr("filters: q"));
    EXPECT_THAT(details[2], Not(HasSubstr("Siti")));
    EXPECT_EQ(details[3], "requests: 1");
  }
}

TEST_F(StaffWebTest, AdminsMakeTokensWithAQrCodeOfTokenServerAndKey) {
  const Browser admin = Login("admin1");
  EXPECT_EQ(Post("/api/tokens", {{"van_code", "KR07"}, {"server_url", "http://x"}}, Login("capil1"))
                .status,
            403);
  EXPECT_EQ(Post("/api/tokens", {{"van_code", "KR07"}, {"server_url", "ftp://x"}}, admin).status,
            400);
  const WebAnswer made =
      Post("/api/tokens",
           {{"van_code", "KR07"}, {"hours", 2}, {"server_url", "http://10.0.0.5:8080"}}, admin);
  ASSERT_EQ(made.status, 200) << made.body;
  const json t = Body(made);
  EXPECT_EQ(t.value("qr_svg", "").rfind("data:image/svg+xml;base64,", 0), 0u);
  auto qr = sync::DecodeEnrollmentQr(t.value("qr_payload", ""));
  ASSERT_TRUE(qr.ok()) << qr.error().message();
  EXPECT_EQ(qr->server_url, "http://10.0.0.5:8080");
  EXPECT_EQ(qr->token, t.value("token", ""));
  EXPECT_EQ(qr->fingerprint, world_->services().core.server_fingerprint());
  const std::string id = t.value("id", "");
  auto state_of = [&](const std::string& token_id) {
    const json listed = Body(Get("/api/tokens", admin));
    for (const auto& item : listed["items"]) {
      if (item.value("id", "") == token_id) return item.value("state", "");
    }
    return std::string("missing");
  };
  EXPECT_EQ(state_of(id), "unused");
  ASSERT_EQ(Post("/api/tokens/" + id + "/revoke", json::object(), admin).status, 200);
  EXPECT_EQ(state_of(id), "revoked");
  EXPECT_EQ(Post("/api/tokens/" + id + "/revoke", json::object(), admin).status, 409);
}

TEST_F(StaffWebTest, AdminsManageStaffAccountsAndRevokeVans) {
  const Browser admin = Login("admin1");
  const Browser capil = Login("capil1");
  EXPECT_EQ(Get("/api/staff", capil).status, 403);
  const WebAnswer added = Post("/api/staff",
                               {{"user", "baru1"},
                                {"agency", "dukcapil"},
                                {"role", "viewer"},
                                {"password", "kata-sandi-baru-1"}},
                               admin);
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(Post("/api/staff",
                 {{"user", "baru1"},
                  {"agency", "dukcapil"},
                  {"role", "viewer"},
                  {"password", "kata-sandi-baru-1"}},
                 admin)
                .status,
            409);
  EXPECT_EQ(Post("/api/staff",
                 {{"user", "x2"},
                  {"agency", "nowhere"},
                  {"role", "viewer"},
                  {"password", "kata-sandi-baru-1"}},
                 admin)
                .status,
            400);
  EXPECT_EQ(
      Post("/api/staff",
           {{"user", "x3"}, {"agency", "dukcapil"}, {"role", "viewer"}, {"password", "short"}},
           admin)
          .status,
      400);
  EXPECT_EQ(Body(Get("/api/staff", admin))["items"].size(), 5u);
  ASSERT_EQ(Post("/api/staff/capil1/disable", json::object(), admin).status, 200);
  EXPECT_EQ(Get("/api/me", capil).status, 401);

  const json vans = Body(Get("/api/vans", admin));
  ASSERT_EQ(vans["items"].size(), 1u);
  EXPECT_FALSE(vans["items"][0].value("stale", true));
  world_->clock().Advance(4LL * 86'400'000);
  const Browser later = Login("admin1");
  EXPECT_TRUE(Body(Get("/api/vans", later))["items"][0].value("stale", false));
  // A sync with nothing to push is a sync: the van is in touch again.
  ASSERT_TRUE(world_->Sync(*van_).ok());
  const json seen = Body(Get("/api/vans", later));
  EXPECT_FALSE(seen["items"][0].value("stale", true)) << seen;
  EXPECT_EQ(seen["items"][0].value("last_sync_ms", int64_t{0}), world_->clock().NowMillis());
  const std::string device = van_->device_id();
  ASSERT_EQ(Post("/api/vans/" + device + "/revoke", json::object(), later).status, 200);
  EXPECT_TRUE(Body(Get("/api/vans", later))["items"][0].value("revoked", false));
  EXPECT_FALSE(world_->Sync(*van_).ok());  // refused from now on
}

TEST(EnrollmentQrTest, RoundTripsAndRefusesMisreadOrForeignText) {
  const sync::EnrollmentQr qr{"https://mpp.kuburayakab.go.id", "tok123", "SHA256:ab-cd"};
  auto text = sync::EncodeEnrollmentQr(qr);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->rfind("MPPQR1|https://mpp.kuburayakab.go.id|tok123|SHA256:ab-cd|", 0), 0u);
  auto back = sync::DecodeEnrollmentQr(*text);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->token, "tok123");
  std::string misread = *text;
  misread[20] = misread[20] == 'a' ? 'b' : 'a';
  EXPECT_EQ(sync::DecodeEnrollmentQr(misread).error().code(), ErrorCode::kCorrupt);
  EXPECT_FALSE(sync::DecodeEnrollmentQr(text->substr(0, text->size() - 3)).ok());
  EXPECT_FALSE(sync::DecodeEnrollmentQr("MPPQR2|a|b|c|d").ok());
  EXPECT_FALSE(sync::EncodeEnrollmentQr({"https://x", "to|ken", "f"}).ok());
  auto svg = sync::QrCodeSvg(*text);
  ASSERT_TRUE(svg.ok());
  EXPECT_EQ(svg->rfind("<svg", 0), 0u);
}

}  // namespace
}  // namespace mpp::test
