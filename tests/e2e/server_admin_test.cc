// Issue 10 items 5, 7, 10, 11 through the real programs: `mpp-server serve` on a loopback port,
// vans running `mpp-field`, and the administrator's new commands on the same data directory
// (--version, local times, request show, token list/revoke, catalog load, conflicts
// list/resolve, requests list --nik/--duplicates, a private data directory).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/process_util.h"
#include "support/staff_accounts.h"
#include "support/test_util.h"

namespace mpp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kPath = "PATH=/usr/local/bin:/usr/bin:/bin";
constexpr const char* kKtp = "dukcapil.ktp-el";
constexpr auto kTimeout = std::chrono::milliseconds(60s);

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

json ParseJson(const ProcessResult& r) {
  json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r;
  return j;
}

void ExpectOneLineError(const ProcessResult& r, const std::string& names_problem) {
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_THAT(r.err, StartsWith("mpp-server: ")) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  EXPECT_THAT(r.err, HasSubstr(names_problem)) << r;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

// A valid KTP-el form: a woman born 1990-01-01 (NIK day 41), the given serial.
std::vector<std::string> KtpArgs(int serial) {
  char nik[32];
  std::snprintf(nik, sizeof nik, "611205410190%04d", serial);
  const std::map<std::string, std::string> form = {
      {"nik", nik},
      {"name", "Siti Aminah"},
      {"birth_date", "1990-01-01"},
      {"address", "Jl. Sungai Raya Dalam No. 12, RT 003/RW 002, Desa Sungai Raya"},
      {"village_code", "61.12.05.2001"},
      {"phone", "081234567890"},
      {"alasan", "baru"},
      {"agama", "islam"},
      {"status_kawin", "kawin tercatat"},
      {"pekerjaan", "petani/pekebun"}};
  std::vector<std::string> args = {"request", "new", "--service", kKtp, "--json"};
  for (const auto& [key, value] : form) {
    args.push_back("--set");
    args.push_back(key + "=" + value);
  }
  return args;
}

std::string NikOf(int serial) {
  char nik[32];
  std::snprintf(nik, sizeof nik, "611205410190%04d", serial);
  return nik;
}

struct Van {
  std::string van_code, dir, passphrase;
};

class ServerAdminE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    const ProcessResult r = Server({"init"});
    ASSERT_EQ(r.exit_code, 0) << r;
    fingerprint_ = Lines(r.out).back();
    // The staff accounts the commands below name with --by.
    for (const char* user : {"rina", "budi"}) {
      const ProcessResult added =
          AddStaffAccount({MPP_SERVER_BIN, "--data", dir_}, {kPath, "LANG=C.UTF-8"}, user);
      ASSERT_EQ(added.exit_code, 0) << added;
    }
  }

  void TearDown() override {
    if (server_pid_ > 0) StopProcess(server_pid_, 5s);
  }

  ProcessResult Server(const std::vector<std::string>& args) {
    return RunProcess(Concat({MPP_SERVER_BIN, "--data", dir_}, args), {kPath, "LANG=C.UTF-8"},
                      kTimeout);
  }
  json ServerJson(const std::vector<std::string>& args) {
    const ProcessResult r = Server(Concat(args, {"--json"}));
    EXPECT_EQ(r.exit_code, 0) << r;
    return ParseJson(r);
  }
  ProcessResult Field(const Van& van, const std::vector<std::string>& args) {
    return RunProcess(
        Concat({MPP_FIELD_BIN}, args),
        {kPath, "LANG=C.UTF-8", "MPP_FIELD_DATA=" + van.dir, "MPP_PASSPHRASE=" + van.passphrase},
        kTimeout);
  }
  json FieldJson(const Van& van, const std::vector<std::string>& args) {
    const ProcessResult r = Field(van, Concat(args, {"--json"}));
    EXPECT_EQ(r.exit_code, 0) << r;
    return ParseJson(r);
  }

  void StartServer() {
    for (int attempt = 0; attempt < 20; ++attempt) {
      port_ = FreeLoopbackPort();
      server_pid_ = StartBackground({MPP_SERVER_BIN, "--data", dir_, "serve", "--listen",
                                     "127.0.0.1:" + std::to_string(port_)},
                                    {kPath, "LANG=C.UTF-8"}, temp_.Sub("server.out"),
                                    temp_.Sub("server.log"));
      ASSERT_GT(server_pid_, 0);
      if (WaitForHealthz(port_, server_pid_, 400, 25ms)) return;
      if (!WaitForExit(server_pid_, 2s)) {
        StopProcess(server_pid_, 2s);
        server_pid_ = -1;
        FAIL() << "serve runs but does not answer";
      }
      server_pid_ = -1;
    }
    FAIL() << "no port";
  }

  std::string NewToken(const std::string& van_code) {
    const ProcessResult r = Server({"token", "create", "--van-code", van_code});
    EXPECT_EQ(r.exit_code, 0) << r;
    return Lines(r.out).empty() ? "" : Lines(r.out).front();
  }

  ProcessResult Enroll(const Van& van, const std::string& token) {
    return Field(van, {"enroll", "--server", "http://127.0.0.1:" + std::to_string(port_), "--token",
                       token, "--server-key", fingerprint_});
  }

  Van NewVan(const std::string& van_code, bool enroll = true) {
    Van van{van_code, temp_.Sub("van-" + van_code), "Kubu-raya-" + van_code + "-van-7391-sungai"};
    const ProcessResult init = Field(van, {"init", "--van-code", van_code, "--officer",
                                           "Petugas " + van_code, "--kdf-memory-kib", "64"});
    EXPECT_EQ(init.exit_code, 0) << init;
    if (enroll) {
      const ProcessResult r = Enroll(van, NewToken(van_code));
      EXPECT_EQ(r.exit_code, 0) << r;
    }
    return van;
  }

  void Sync(const Van& van) {
    const ProcessResult r = Field(van, {"sync", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r;
  }

  TempDir temp_;
  const std::string dir_ = temp_.Sub("server");
  std::string fingerprint_;
  pid_t server_pid_ = -1;
  int port_ = 0;
};

TEST_F(ServerAdminE2e, VersionAndAPrivateDataDirectory) {
  const ProcessResult version = RunProcess({MPP_SERVER_BIN, "--version"}, {kPath}, kTimeout);
  EXPECT_EQ(version.exit_code, 0) << version;
  EXPECT_THAT(version.out, StartsWith("mpp-server ")) << version;

  EXPECT_EQ(ModeOf(dir_), 0700u);
  StartServer();
  Van van = NewVan("KR01");
  ASSERT_EQ(Field(van, KtpArgs(1)).exit_code, 0);
  Sync(van);
  // Every file, the WAL and shared-memory files of the running server too, is the owner's only.
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(ModeOf(entry.path().string()), 0600u) << entry.path();
  }
  ASSERT_EQ(StopProcess(server_pid_, 10s), 0);
  server_pid_ = -1;

  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  const ProcessResult refused =
      RunProcess({MPP_SERVER_BIN, "--data", dir_, "serve", "--listen", "127.0.0.1:0"},
                 {kPath, "LANG=C.UTF-8"}, kTimeout);
  ExpectOneLineError(refused, "chmod 700 " + dir_);
}

TEST_F(ServerAdminE2e, RequestShowTokensConflictsInLocalTime) {
  StartServer();
  Van van = NewVan("KR01");
  const json created = ParseJson(Field(van, KtpArgs(2)));
  const std::string receipt = created.value("receipt", "");
  const std::string id = created.value("id", "");
  Sync(van);
  // A concurrent edit: the van's, then a later staff one, on the same field.
  ASSERT_EQ(Field(van, {"request", "update", id, "--set", "phone=081211112222"}).exit_code, 0);
  std::this_thread::sleep_for(5ms);
  ASSERT_EQ(Server({"request", "set", id, "--set", "phone=081299998888", "--by", "rina"}).exit_code,
            0);
  Sync(van);

  std::string lower = receipt;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const ProcessResult show = Server({"request", "show", lower});
  ASSERT_EQ(show.exit_code, 0) << show;
  EXPECT_THAT(show.out, HasSubstr(receipt));
  EXPECT_THAT(show.out, HasSubstr("Nama lengkap: Siti Aminah"));
  EXPECT_THAT(show.out, HasSubstr("staff:rina"));
  EXPECT_TRUE(std::regex_search(show.out, std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d  )"))) << show;
  EXPECT_FALSE(std::regex_search(show.out, std::regex(R"((^|[^0-9])1[0-9]{12}([^0-9]|$))")))
      << "no epoch milliseconds for people: " << show;
  const json shown = ServerJson({"request", "show", receipt});
  EXPECT_EQ(shown.value("id", ""), id);
  EXPECT_GT(shown.value("created_ms", int64_t{0}), 0);
  EXPECT_TRUE(
      std::regex_match(shown.value("created", ""), std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d)")))
      << shown;
  ASSERT_EQ(shown["conflicts"].size(), 1u) << shown;
  EXPECT_EQ(shown["labels"].value("name", ""), "Nama lengkap");
  // The zone is settable: UTC is seven hours behind WIB.
  const json utc = ServerJson({"--time-zone", "UTC", "request", "show", receipt});
  EXPECT_NE(utc.value("created", ""), shown.value("created", ""));

  // conflicts list: receipt and van code; resolve keeps the van's value, the van receives it.
  const ProcessResult listed = Server({"conflicts", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed;
  EXPECT_THAT(listed.out, HasSubstr(receipt));
  EXPECT_THAT(listed.out, HasSubstr("(van KR01)"));
  const json conflicts = ServerJson({"conflicts", "list"});
  ASSERT_EQ(conflicts.size(), 1u);
  const std::string rev = std::to_string(conflicts[0].value("id", 0));
  const ProcessResult resolved =
      Server({"conflicts", "resolve", rev, "--keep", "van", "--by", "budi"});
  ASSERT_EQ(resolved.exit_code, 0) << resolved;
  EXPECT_EQ(ServerJson({"conflicts", "list"}), json::array()) << "no longer open";
  EXPECT_EQ(ServerJson({"conflicts", "list", "--all"}).size(), 1u);
  ExpectOneLineError(Server({"conflicts", "resolve", rev, "--keep", "van", "--by", "budi"}),
                     "already resolved");
  Sync(van);
  const json on_van = FieldJson(van, {"request", "show", id});
  EXPECT_EQ(on_van["fields"].value("phone", ""), "081211112222") << on_van;

  // token list: ids, never the token; a revoked unused token enrols nothing.
  const std::string token = NewToken("KR07");
  const ProcessResult tokens = Server({"token", "list"});
  ASSERT_EQ(tokens.exit_code, 0) << tokens;
  EXPECT_THAT(tokens.out, Not(HasSubstr(token)));
  std::string token_id;
  for (const auto& t : ServerJson({"token", "list"})) {
    if (t.value("van_code", "") == "KR07") token_id = t.value("id", "");
  }
  ASSERT_FALSE(token_id.empty());
  ASSERT_EQ(Server({"token", "revoke", token_id}).exit_code, 0);
  Van late = NewVan("KR07", /*enroll=*/false);
  const ProcessResult enrolled = Enroll(late, token);
  EXPECT_NE(enrolled.exit_code, 0) << enrolled;
}

TEST_F(ServerAdminE2e, CatalogLoadReachesVansAndDuplicatesAreFlagged) {
  StartServer();
  Van first = NewVan("KR01");
  Van second = NewVan("KR02");
  const json a = ParseJson(Field(first, KtpArgs(3)));
  Sync(first);
  const json b = ParseJson(Field(second, KtpArgs(3)));  // the same NIK at another van
  Sync(second);
  Sync(first);

  const ProcessResult dups = Server({"requests", "list", "--duplicates"});
  ASSERT_EQ(dups.exit_code, 0) << dups;
  EXPECT_THAT(dups.out, HasSubstr(a.value("receipt", "") + " (van KR01"));
  EXPECT_THAT(dups.out, HasSubstr(b.value("receipt", "") + " (van KR02"));
  const json by_nik = ServerJson({"requests", "list", "--nik", NikOf(3)});
  EXPECT_EQ(by_nik.size(), 2u) << by_nik;
  const json at_first = FieldJson(first, {"conflicts"});
  EXPECT_THAT(at_first.dump(), HasSubstr(b.value("receipt", ""))) << at_first;
  EXPECT_THAT(at_first.dump(), Not(HasSubstr(NikOf(3))));

  // A catalog with a renamed service, same version: stored as version +1, vans get it.
  json catalog = json::parse(ReadFileOrDie(DefaultCatalogPath()));
  const int64_t version = catalog.value("version", int64_t{0});
  for (auto& s : catalog["services"]) {
    if (s["id"] == kKtp) s["name"] = "KTP elektronik (baru)";
  }
  const std::string file = temp_.Sub("catalog.json");
  std::ofstream(file) << catalog.dump();
  const json loaded = ServerJson({"catalog", "load", file});
  EXPECT_EQ(loaded.value("version", int64_t{0}), version + 1);
  Sync(first);
  EXPECT_THAT(FieldJson(first, {"catalog"}).dump(), HasSubstr("KTP elektronik (baru)"));

  // One that drops a field the open requests hold is refused, naming them.
  for (auto& s : catalog["services"]) {
    if (s["id"] != kKtp) continue;
    auto& fields = s["fields"];
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i]["name"] == "phone") fields.erase(i);
    }
  }
  std::ofstream(file, std::ios::trunc) << catalog.dump();
  ExpectOneLineError(Server({"catalog", "load", file}), a.value("receipt", "") + ": field phone");
}

}  // namespace
}  // namespace mpp::test
