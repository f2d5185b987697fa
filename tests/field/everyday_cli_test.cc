// The officer's everyday commands through the real `mpp-field` binary (issue 10, items 7-9):
// --version, times in local time, receipts in any case, labels in `request show`, several
// officers on one van, changing the passphrase and refusing weak ones, and what `sync` tells the
// officer. The sync tests serve the real services over HTTP from this process, so the test can
// act as staff between two syncs of the van.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "mpp/server/http_server.h"
#include "mpp/server/server_home.h"
#include "mpp/server/services.h"
#include "mpp/sync/clock.h"
#include "mpp/sync/local_time.h"
#include "support/process_util.h"
#include "support/test_util.h"

namespace mpp::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kPassphrase = "sungai-raya-2024";
constexpr const char* kNewPassphrase = "perahu kopi hujan lima";
constexpr const char* kPath = "PATH=/usr/local/bin:/usr/bin:/bin";

void ExpectOneLineError(const ProcessResult& r, const std::string& names_problem) {
  EXPECT_FALSE(r.timed_out) << r;
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_THAT(r.err, StartsWith("mpp-field: ")) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  EXPECT_THAT(r.err, HasSubstr(names_problem)) << r;
}

std::map<std::string, std::string> FilesIn(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files[fs::relative(entry.path(), dir).string()] = ReadFileOrDie(entry.path());
    }
  }
  return files;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> KtpArgs(const std::string& nik_serial, const std::string& name) {
  return {"request",   "new",
          "--service", "dukcapil.ktp-el",
          "--set",     "nik=611207150390" + nik_serial,
          "--set",     "name=" + name,
          "--set",     "birth_date=1990-03-15",
          "--set",     "address=Jl. Adisucipto No. 12, Desa Arang Limbung",
          "--set",     "village_code=61.12.07.2001",
          "--set",     "alasan=baru",
          "--set",     "agama=islam",
          "--set",     "status_kawin=kawin tercatat",
          "--set",     "pekerjaan=petani/pekebun",
          "--json"};
}

class EverydayCli : public ::testing::Test {
 protected:
  ProcessResult Field(const std::vector<std::string>& args,
                      const std::vector<std::string>& extra_env = {}) {
    std::vector<std::string> env = {kPath, "LANG=C.UTF-8", "MPP_FIELD_DATA=" + data_dir_};
    if (passphrase_) env.push_back("MPP_PASSPHRASE=" + *passphrase_);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<std::string> argv = {MPP_FIELD_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, env);
  }

  json FieldJson(const std::vector<std::string>& args,
                 const std::vector<std::string>& extra_env = {}) {
    const ProcessResult r = Field(args, extra_env);
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_EQ(r.err, "") << r;
    json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r;
    return j;
  }

  void Init(const std::string& officer = "Siti Rahmawati") {
    const ProcessResult r =
        Field({"init", "--van-code", "KR01", "--officer", officer, "--kdf-memory-kib", "64"});
    ASSERT_EQ(r.exit_code, 0) << r;
  }

  json NewKtp(const std::string& serial, const std::string& name = "Hendra Saputra") {
    return FieldJson(KtpArgs(serial, name));
  }

  TempDir temp_;
  std::string data_dir_ = temp_.Sub("van");
  std::optional<std::string> passphrase_ = kPassphrase;
};

// --- item 7: version, local times, receipts, labels -------------------------------------------

TEST_F(EverydayCli, VersionPrintsTheProgramAndItsVersion) {
  const ProcessResult r = Field({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, sync::VersionLine("mpp-field") + "\n") << r;
  EXPECT_THAT(r.out, StartsWith("mpp-field ")) << r;
}

TEST_F(EverydayCli, ShowPrintsHistoryInLocalTimeAndJsonKeepsTheMilliseconds) {
  Init();
  const json created = NewKtp("0001");
  const json shown = FieldJson({"request", "show", created["receipt"], "--json"});
  ASSERT_EQ(shown["history"].size(), 1u) << shown;
  const int64_t at_ms = shown["history"][0]["at_ms"].get<int64_t>();
  const sync::TimeZone wib = sync::ParseTimeZone("WIB").value();
  EXPECT_EQ(shown["history"][0]["at_local"], sync::FormatLocalTime(at_ms, wib)) << shown;
  EXPECT_EQ(shown["created_local"], sync::FormatLocalTime(shown["created_ms"].get<int64_t>(), wib))
      << shown;

  const ProcessResult text = Field({"request", "show", created["receipt"]});
  ASSERT_EQ(text.exit_code, 0) << text;
  EXPECT_THAT(text.out, HasSubstr("[" + sync::FormatLocalTime(at_ms, wib) + "] Siti Rahmawati"))
      << text;
  EXPECT_THAT(text.out, Not(HasSubstr(std::to_string(at_ms)))) << text;

  // The zone: --time-zone, else MPP_TIME_ZONE; the option wins.
  const sync::TimeZone wit = sync::ParseTimeZone("WIT").value();
  const sync::TimeZone utc = sync::ParseTimeZone("UTC").value();
  EXPECT_THAT(Field({"request", "show", created["receipt"]}, {"MPP_TIME_ZONE=WIT"}).out,
              HasSubstr("[" + sync::FormatLocalTime(at_ms, wit) + "]"));
  EXPECT_THAT(
      Field({"--time-zone", "utc", "request", "show", created["receipt"]}, {"MPP_TIME_ZONE=WIT"})
          .out,
      HasSubstr("[" + sync::FormatLocalTime(at_ms, utc) + "]"));
  ExpectOneLineError(Field({"--time-zone", "Mars", "request", "show", created["receipt"]}), "Mars");
}

TEST_F(EverydayCli, ReceiptIsFoundWhateverItsCase) {
  Init();
  const json created = NewKtp("0001");
  std::string lower = created["receipt"];
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  ASSERT_NE(lower, created["receipt"].get<std::string>());
  EXPECT_EQ(FieldJson({"request", "show", lower, "--json"})["id"], created["id"]);
  const json updated =
      FieldJson({"request", "update", lower, "--set", "name=Hendra Saputra Putra", "--json"});
  EXPECT_EQ(updated["id"], created["id"]);
  EXPECT_EQ(FieldJson({"request", "show", created["id"], "--json"})["fields"]["name"],
            "Hendra Saputra Putra");
}

TEST_F(EverydayCli, ShowLabelsEachFieldAsTheFormDoes) {
  Init();
  const json created = NewKtp("0001", "Siti Aminah");
  const ProcessResult r = Field({"request", "show", created["receipt"]});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("    Nama lengkap (name): Siti Aminah\n")) << r;
  EXPECT_THAT(r.out, HasSubstr("    NIK (nik): 6112071503900001\n")) << r;
}

// --- item 8: officers, passphrases ----------------------------------------------------------

TEST_F(EverydayCli, OfficerSetSignsTheNextChangesAndHistoryShowsWhoDidWhat) {
  Init("Siti Rahmawati");
  const json created = NewKtp("0001");
  const ProcessResult set = Field({"officer", "set", "Budi Santoso"});
  ASSERT_EQ(set.exit_code, 0) << set;
  EXPECT_THAT(set.out, HasSubstr("Budi Santoso")) << set;
  FieldJson({"request", "update", created["receipt"], "--set", "name=Hendra S", "--json"});
  const json shown = FieldJson({"request", "show", created["receipt"], "--json"});
  ASSERT_EQ(shown["history"].size(), 2u) << shown;
  EXPECT_EQ(shown["history"][0]["actor"], "Siti Rahmawati");
  EXPECT_EQ(shown["history"][1]["actor"], "Budi Santoso");
  EXPECT_EQ(shown["officer"], "Siti Rahmawati");  // who registered it stays
  EXPECT_EQ(FieldJson({"status", "--json"})["officer"], "Budi Santoso");
}

TEST_F(EverydayCli, OfficerSetRefusesABadNameOrAWrongPassphraseAndChangesNothing) {
  Init("Siti Rahmawati");
  ExpectOneLineError(Field({"officer", "set", "Budi\u202eSantoso"}), "officer name");
  ExpectOneLineError(Field({"officer", "set", ""}), "officer name");
  passphrase_ = "not-the-passphrase";
  ExpectOneLineError(Field({"officer", "set", "Budi Santoso"}), "wrong passphrase");
  passphrase_ = kPassphrase;
  EXPECT_EQ(FieldJson({"status", "--json"})["officer"], "Siti Rahmawati");
}

TEST_F(EverydayCli, OfficerNameIsStoredInNfc) {
  Init("Siti Rahmawati");
  ASSERT_EQ(Field({"officer", "set", "Jose\u0301 Manurung"}).exit_code, 0);
  EXPECT_EQ(FieldJson({"status", "--json"})["officer"], "Jos\u00e9 Manurung");
}

TEST_F(EverydayCli, InitRefusesAWeakPassphraseWithTheReasonAndCreatesNoStore) {
  for (const char* weak : {"password", "12345678", "Siti2026KR01", "qwertyuiop"}) {
    SCOPED_TRACE(weak);
    passphrase_ = weak;
    ExpectOneLineError(Field({"init", "--van-code", "KR01", "--officer", "Siti Rahmawati",
                              "--kdf-memory-kib", "64"}),
                       "passphrase too easy to guess");
    EXPECT_FALSE(fs::exists(fs::path(data_dir_) / "van.db"));
  }
  passphrase_ = "Siti2026KR01";
  EXPECT_THAT(Field({"init", "--van-code", "KR01", "--officer", "Siti Rahmawati"}).err,
              HasSubstr("van code or an officer's name"));
  passphrase_ = kNewPassphrase;
  Init();
}

TEST_F(EverydayCli, PassphraseChangeRewrapsTheKeySoOnlyTheNewOneOpensTheStore) {
  Init();
  const json created = NewKtp("0001");
  const ProcessResult changed =
      Field({"passphrase", "change"}, {std::string("MPP_NEW_PASSPHRASE=") + kNewPassphrase});
  ASSERT_EQ(changed.exit_code, 0) << changed;
  EXPECT_EQ(changed.err, "") << changed;
  ExpectOneLineError(Field({"request", "list", "--json"}), "wrong passphrase");
  passphrase_ = kNewPassphrase;
  const json shown = FieldJson({"request", "show", created["id"], "--json"});
  EXPECT_EQ(shown["fields"]["name"], "Hendra Saputra");
  EXPECT_EQ(FieldJson({"status", "--json"})["pending"], 1);
  // The device key still signs: it is sealed under the data key, which did not change.
  EXPECT_EQ(FieldJson(KtpArgs("0002", "Dewi Lestari"))["receipt"].get<std::string>().substr(0, 5),
            "KR01-");
}

TEST_F(EverydayCli, PassphraseChangeWithAWrongOldOneOrAWeakNewOneChangesNothing) {
  Init();
  NewKtp("0001");
  const auto before = FilesIn(data_dir_);
  passphrase_ = "not-the-passphrase";
  ExpectOneLineError(
      Field({"passphrase", "change"}, {std::string("MPP_NEW_PASSPHRASE=") + kNewPassphrase}),
      "wrong passphrase");
  passphrase_ = kPassphrase;
  ExpectOneLineError(Field({"passphrase", "change"}, {"MPP_NEW_PASSPHRASE=password1"}),
                     "passphrase too easy to guess");
  ExpectOneLineError(Field({"passphrase", "change"}), "no new passphrase");
  EXPECT_TRUE(FilesIn(data_dir_) == before);
  EXPECT_EQ(FieldJson({"request", "list", "--json"}).size(), 1u);
}

// --- item 9: what sync tells the officer -----------------------------------------------------

// The real services served over HTTP from this process, on a free port: the test acts as staff
// through the service while the van's real binary syncs with it.
class InProcessServer {
 public:
  explicit InProcessServer(const std::string& dir) {
    const std::string catalog = ReadFileOrDie(DefaultCatalogPath());
    auto fingerprint = server::InitServerHome(dir, catalog);
    EXPECT_TRUE(fingerprint.ok()) << fingerprint.error().message();
    auto home = server::OpenServerHome(dir, clock_);
    EXPECT_TRUE(home.ok()) << home.error().message();
    home_ = std::move(home).value();
    services_ = std::make_unique<server::Services>(*home_.storage, clock_, rng_, home_.private_key,
                                                   home_.catalog);
    log_.open(dir + "/http.log");
    Start();
  }
  ~InProcessServer() { Stop(); }

  void Start() {
    http_ = std::make_unique<server::HttpServer>(*services_, log_);
    auto port = http_->Bind("127.0.0.1", port_);
    EXPECT_TRUE(port.ok()) << port.error().message();
    port_ = port.ok() ? *port : 0;
    thread_ = std::thread([this] { http_->Run(); });
  }
  void Stop() {
    if (!http_) return;
    http_->Stop();
    thread_.join();
    http_.reset();
  }

  server::Services& services() { return *services_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  sync::SystemClock clock_;
  sync::SystemRng rng_;
  server::ServerHome home_;
  std::unique_ptr<server::Services> services_;
  std::ofstream log_;
  std::unique_ptr<server::HttpServer> http_;
  std::thread thread_;
  int port_ = 0;
};

// Another listener on the same services: a second address of the same deployment (a second
// server process on the same database looks like this to a van).
class SecondAddress {
 public:
  explicit SecondAddress(server::Services& services, const std::string& log_path) : log_(log_path) {
    http_ = std::make_unique<server::HttpServer>(services, log_);
    auto port = http_->Bind("127.0.0.1", 0);
    EXPECT_TRUE(port.ok()) << port.error().message();
    port_ = port.ok() ? *port : 0;
    thread_ = std::thread([this] { http_->Run(); });
  }
  ~SecondAddress() {
    http_->Stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::ofstream log_;
  std::unique_ptr<server::HttpServer> http_;
  std::thread thread_;
  int port_ = 0;
};

class EverydaySync : public EverydayCli {
 protected:
  void SetUp() override {
    Init();
    auto token = server_.services().devices.CreateEnrollmentToken("KR01", 3600 * 1000);
    ASSERT_TRUE(token.ok()) << token.error().message();
    const ProcessResult enrolled =
        Field({"enroll", "--server", server_.url(), "--token", *token, "--server-key",
               server_.services().core.server_fingerprint()});
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled;
  }

  InProcessServer server_{temp_.Sub("server")};
};

TEST_F(EverydaySync, SyncSaysWhichRequestsStaffChangedAndHow) {
  const json a = NewKtp("0001", "Hendra Saputra");
  const json b = NewKtp("0002", "Dewi Lestari");
  const ProcessResult first = Field({"sync"});
  ASSERT_EQ(first.exit_code, 0) << first;
  const std::string ra = a["receipt"], rb = b["receipt"];
  EXPECT_THAT(first.out, Not(HasSubstr(ra + ":"))) << first;  // its own work is no news

  ASSERT_OK(server_.services().staff.SetStatus(ra, sync::RequestStatus::kInReview, "rina", ""));
  ASSERT_OK(server_.services().staff.SetStatus(ra, sync::RequestStatus::kNeedsInfo, "rina",
                                               "Mohon lampirkan pas foto"));
  ASSERT_OK(server_.services().staff.SetFields(rb, {{"name", "Dewi Lestari Putri"}}, "rina"));
  const ProcessResult second = Field({"sync"});
  ASSERT_EQ(second.exit_code, 0) << second;
  const auto lines = Lines(second.out);
  EXPECT_THAT(lines, ::testing::Contains(ra + ": needs_info \"Mohon lampirkan pas foto\""))
      << second;
  EXPECT_THAT(lines,
              ::testing::Contains(rb + ": name \"Dewi Lestari\" -> \"Dewi Lestari Putri\" (by "
                                       "staff:rina)"))
      << second;
  EXPECT_THAT(second.out, HasSubstr("Synced:")) << second;

  // --json: the same changes as a list; a sync with nothing new lists none.
  ASSERT_OK(server_.services().staff.SetStatus(ra, sync::RequestStatus::kInReview, "rina", ""));
  const json report = FieldJson({"sync", "--json"});
  ASSERT_EQ(report["changes"].size(), 1u) << report;
  EXPECT_EQ(report["changes"][0]["kind"], "status");
  EXPECT_EQ(report["changes"][0]["receipt"], ra);
  EXPECT_EQ(report["changes"][0]["old_value"], "needs_info");
  EXPECT_EQ(report["changes"][0]["new_value"], "in_review");
  EXPECT_EQ(FieldJson({"sync", "--json"})["changes"].size(), 0u);

  // The last sync in local time, not milliseconds.
  const ProcessResult status = Field({"status"});
  EXPECT_THAT(status.out, ::testing::ContainsRegex("Last sync: [0-9]{4}-[0-9]{2}-[0-9]{2} "
                                                   "[0-9]{2}:[0-9]{2} WIB"))
      << status;
}

TEST_F(EverydaySync, SyncListsAConflictTheServerRecorded) {
  const json a = NewKtp("0001", "Hendra Saputra");
  ASSERT_EQ(Field({"sync"}).exit_code, 0);
  const std::string ra = a["receipt"];
  // Staff complete it while the officer, offline, cancels it: the server keeps the staff's
  // status and records the van's change it could not apply.
  FieldJson({"request", "cancel", ra, "--reason", "pindah domisili", "--json"});
  ASSERT_OK(server_.services().staff.SetStatus(ra, sync::RequestStatus::kInReview, "rina", ""));
  ASSERT_OK(server_.services().staff.SetStatus(ra, sync::RequestStatus::kCompleted, "rina", ""));
  const ProcessResult r = Field({"sync"});
  ASSERT_EQ(r.exit_code, 0) << r;
  ASSERT_EQ(FieldJson({"conflicts", "--json"}).size(), 1u) << r;
  EXPECT_THAT(r.out, HasSubstr(ra + ": conflict on status: kept \"completed\" (by staff:rina), "
                                    "not applied \"cancelled\""))
      << r;
  EXPECT_THAT(Lines(r.out), ::testing::Contains(ra + ": completed")) << r;
  // `conflicts` names the request by its receipt too.
  EXPECT_THAT(Field({"conflicts"}).out,
              StartsWith(ra + " " + a["id"].get<std::string>() + " status"));
}

TEST_F(EverydaySync, UnreachableServerEndsWithOneSentenceAndKeepsTheChanges) {
  NewKtp("0001");
  NewKtp("0002");
  const json c = NewKtp("0003");
  FieldJson({"request", "update", c["receipt"], "--set", "name=Rudi", "--json"});
  server_.Stop();
  const ProcessResult r = Field({"sync", "--attempts", "1"});
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_EQ(r.err,
            "mpp-field: server not reachable; 4 changes stay saved on this van and will be sent "
            "at the next sync\n")
      << r;
  EXPECT_THAT(r.err, Not(HasSubstr("curl"))) << r;
  EXPECT_EQ(FieldJson({"status", "--json"})["pending"], 4);

  const ProcessResult verbose = Field({"--verbose", "sync", "--attempts", "1"});
  EXPECT_NE(verbose.exit_code, 0) << verbose;
  const auto lines = Lines(verbose.err);
  ASSERT_EQ(lines.size(), 2u) << verbose;
  EXPECT_THAT(lines[0], HasSubstr("server not reachable; 4 changes stay saved")) << verbose;
  EXPECT_THAT(lines[1], StartsWith("mpp-field: detail: ")) << verbose;
  EXPECT_THAT(lines[1], HasSubstr("curl")) << verbose;

  // The next sync sends them.
  server_.Start();
  const json synced = FieldJson({"sync", "--json"});
  EXPECT_EQ(synced["acknowledged"], 4) << synced;
  EXPECT_EQ(FieldJson({"status", "--json"})["pending"], 0);
}

// --- sync --server: one sync through another address of the same deployment ---------------

TEST_F(EverydaySync, SyncThroughAnotherAddressOfTheDeploymentKeepsTheEnrolledOne) {
  SecondAddress second(server_.services(), temp_.Sub("second.log"));
  const json a = NewKtp("0001", "Hendra Saputra");
  NewKtp("0002", "Dewi Lestari");
  // The enrolled address is down: only the other one can have taken these.
  server_.Stop();
  const json pushed = FieldJson({"sync", "--server", second.url(), "--json"});
  EXPECT_EQ(pushed["acknowledged"], 2) << pushed;
  EXPECT_EQ(pushed["server"], second.url()) << pushed;
  const json status = FieldJson({"status", "--json"});
  EXPECT_EQ(status["pending"], 0) << status;
  EXPECT_EQ(status["server"], server_.url()) << status;  // the enrolled URL is not changed

  // Staff's change comes back through that address too.
  const std::string ra = a["receipt"];
  ASSERT_OK(server_.services().staff.SetStatus(ra, sync::RequestStatus::kInReview, "rina", ""));
  const ProcessResult pulled = Field({"sync", "--server", second.url()});
  ASSERT_EQ(pulled.exit_code, 0) << pulled;
  EXPECT_THAT(Lines(pulled.out), ::testing::Contains(ra + ": in_review")) << pulled;

  // Without --server the van syncs with its enrolled address again, here unreachable.
  const ProcessResult enrolled = Field({"sync", "--attempts", "1"});
  EXPECT_NE(enrolled.exit_code, 0) << enrolled;
  EXPECT_THAT(enrolled.err, StartsWith("mpp-field: server not reachable; no changes are waiting"))
      << enrolled;
  server_.Start();
  const json back = FieldJson({"sync", "--json"});
  EXPECT_EQ(back["server"], server_.url()) << back;
  EXPECT_EQ(back["pushed"], 0) << back;
}

TEST_F(EverydaySync, SyncServerOptionWithABadUrlIsOneLineBeforeTheUnlockAndChangesNothing) {
  NewKtp("0001");
  const auto before = FilesIn(data_dir_);
  for (const std::string bad : {"127.0.0.1:8080", "ftp://127.0.0.1:21", "http://"}) {
    SCOPED_TRACE(bad);
    const ProcessResult r = Field({"sync", "--server", bad});
    ExpectOneLineError(r, "--server: server URL \"" + bad + "\"");
    EXPECT_THAT(r.err, Not(HasSubstr(server_.url()))) << r;
  }
  // Checked before the passphrase is asked for: no passphrase, still the URL's error.
  passphrase_.reset();
  ExpectOneLineError(Field({"sync", "--server", "mpp.example"}), "must start with http://");
  passphrase_ = kPassphrase;
  EXPECT_TRUE(FilesIn(data_dir_) == before);
  EXPECT_EQ(FieldJson({"status", "--json"})["pending"], 1);
}

TEST_F(EverydaySync, SyncServerOptionThatReachesNothingIsTheUnreachableSentence) {
  NewKtp("0001");
  const std::string nowhere = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  const ProcessResult r = Field({"sync", "--server", nowhere, "--attempts", "1"});
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_EQ(r.err,
            "mpp-field: server not reachable; 1 change stays saved on this van and will be sent "
            "at the next sync\n")
      << r;
  EXPECT_EQ(FieldJson({"sync", "--json"})["acknowledged"], 1);
}

TEST_F(EverydaySync, SyncServerOptionPointingAtAnotherDeploymentSendsItNothing) {
  // Another server with its own key: the van's pinned key is not its key, and it does not know
  // the device. Nothing is acknowledged and the van keeps its work for its own server.
  InProcessServer other(temp_.Sub("other"));
  NewKtp("0001");
  const ProcessResult r = Field({"sync", "--server", other.url(), "--attempts", "1"});
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_THAT(r.err, StartsWith("mpp-field: push from seq 1 refused by the server (HTTP 401)"))
      << r;
  EXPECT_EQ(FieldJson({"status", "--json"})["pending"], 1);
  auto held = other.services().staff.ListRequests({});
  ASSERT_TRUE(held.ok()) << held.error().message();
  EXPECT_TRUE(held->empty());
  EXPECT_EQ(FieldJson({"sync", "--json"})["acknowledged"], 1);
}

}  // namespace
}  // namespace mpp::test
