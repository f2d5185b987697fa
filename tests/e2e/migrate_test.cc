// `mpp-server migrate --from DIR --db URL` through the real programs: a regency's SQLite server
// with vans, conflicts, a staff change the van has not pulled yet; the migration into an empty
// PostgreSQL database (a throwaway cluster, tests/support/pg_cluster.h); then the same vans go
// on syncing with a server on PostgreSQL: counts match, `audit verify` passes, nothing is lost
// and nothing arrives twice, and the cursors carried over (no complete re-pull).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/pg_cluster.h"
#include "support/process_util.h"
#include "support/staff_accounts.h"
#include "support/test_util.h"

namespace mpp::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kPath = "PATH=/usr/local/bin:/usr/bin:/bin";
constexpr auto kTimeout = std::chrono::milliseconds(60s);

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string LastLine(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last;
}

// A valid KTP-el form (a woman born 1990-01-01, NIK day 41) with the given serial.
std::vector<std::string> KtpArgs(int serial) {
  char nik[32];
  std::snprintf(nik, sizeof nik, "611205410190%04d", serial);
  const std::map<std::string, std::string> form = {
      {"nik", nik},
      {"name", "Siti Aminah " + std::to_string(serial)},
      {"birth_date", "1990-01-01"},
      {"address", "Jl. Sungai Raya Dalam No. 12, RT 003/RW 002, Desa Sungai Raya"},
      {"village_code", "61.12.05.2001"},
      {"phone", "081234567890"},
      {"alasan", "baru"},
      {"agama", "islam"},
      {"status_kawin", "kawin tercatat"},
      {"pekerjaan", "petani/pekebun"}};
  std::vector<std::string> args = {"request", "new", "--service", "dukcapil.ktp-el", "--json"};
  for (const auto& [key, value] : form) {
    args.push_back("--set");
    args.push_back(key + "=" + value);
  }
  return args;
}

class Migrate : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_pid_ > 0) StopProcess(server_pid_, 5s);
  }

  ProcessResult Server(const std::vector<std::string>& args, const std::string& db = "") {
    std::vector<std::string> argv = {MPP_SERVER_BIN, "--data", dir_};
    if (!db.empty()) argv = Concat(argv, {"--db", db});
    return RunProcess(Concat(argv, args), {kPath, "LANG=C.UTF-8"}, kTimeout);
  }
  json ServerJson(const std::vector<std::string>& args, const std::string& db = "") {
    const ProcessResult r = Server(Concat(args, {"--json"}), db);
    EXPECT_EQ(r.exit_code, 0) << r;
    return json::parse(r.out, nullptr, false);
  }
  ProcessResult Field(const std::string& van, const std::vector<std::string>& args) {
    return RunProcess(Concat({MPP_FIELD_BIN}, args),
                      {kPath, "LANG=C.UTF-8", "MPP_FIELD_DATA=" + temp_.Sub("van-" + van),
                       "MPP_PASSPHRASE=Kubu-raya-" + van + "-van-7391-sungai"},
                      kTimeout);
  }
  json SyncJson(const std::string& van) {
    const ProcessResult r = Field(van, {"sync", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r;
    return json::parse(r.out, nullptr, false);
  }

  void StartServer(const std::string& db) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      port_ = FreeLoopbackPort();
      std::vector<std::string> argv = {MPP_SERVER_BIN, "--data", dir_};
      if (!db.empty()) argv = Concat(argv, {"--db", db});
      server_pid_ = StartBackground(
          Concat(argv, {"serve", "--listen", "127.0.0.1:" + std::to_string(port_)}),
          {kPath, "LANG=C.UTF-8"}, temp_.Sub("server.out"), temp_.Sub("server.log"), true);
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
  void StopServer() {
    ASSERT_EQ(StopProcess(server_pid_, 10s), 0);
    server_pid_ = -1;
  }

  void NewVan(const std::string& van, const std::string& fingerprint) {
    ASSERT_EQ(Field(van, {"init", "--van-code", van, "--officer", "Petugas " + van,
                          "--kdf-memory-kib", "64"})
                  .exit_code,
              0);
    const ProcessResult token = Server({"token", "create", "--van-code", van});
    ASSERT_EQ(token.exit_code, 0) << token;
    const ProcessResult enrolled =
        Field(van, {"enroll", "--server", "http://127.0.0.1:" + std::to_string(port_), "--token",
                    LastLine(token.out), "--server-key", fingerprint});
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled;
  }

  std::string Register(const std::string& van, int serial) {
    const ProcessResult r = Field(van, KtpArgs(serial));
    EXPECT_EQ(r.exit_code, 0) << r;
    return json::parse(r.out, nullptr, false).value("receipt", "");
  }

  std::set<std::string> ServerReceipts(const std::string& db) {
    std::set<std::string> receipts;
    const json list = ServerJson({"requests", "list"}, db);
    for (const auto& r : list) receipts.insert(r.value("receipt", ""));
    EXPECT_EQ(receipts.size(), list.size()) << "a receipt twice on the server";
    return receipts;
  }

  TempDir temp_;
  const std::string dir_ = temp_.Sub("server");
  pid_t server_pid_ = -1;
  int port_ = 0;
};

TEST_F(Migrate, SqliteRegencyMovesToPostgresAndTheVansGoOnWithNothingLostOrTwice) {
  PgCluster* pg = SharedPgCluster();
  ASSERT_NE(pg, nullptr);
  const std::string db = pg->CreateDatabase();

  // The regency on SQLite: two vans, a conflict, a staff change KR01 has not pulled yet.
  const ProcessResult init = Server({"init"});
  ASSERT_EQ(init.exit_code, 0) << init;
  const std::string fingerprint = LastLine(init.out);
  // The staff account moves with the database: it acts on PostgreSQL below.
  const ProcessResult rina =
      AddStaffAccount({MPP_SERVER_BIN, "--data", dir_}, {kPath, "LANG=C.UTF-8"}, "rina");
  ASSERT_EQ(rina.exit_code, 0) << rina;
  StartServer("");
  NewVan("KR01", fingerprint);
  NewVan("KR02", fingerprint);
  std::set<std::string> registered;
  for (int i = 1; i <= 12; ++i) registered.insert(Register("KR01", i));
  for (int i = 101; i <= 105; ++i) registered.insert(Register("KR02", i));
  SyncJson("KR01");
  SyncJson("KR02");
  const std::string pending = *registered.begin();
  ASSERT_EQ(Server({"request", "set-status", pending, "received", "--by", "rina"}).exit_code, 0);
  // A staff correction and the van's offline edit of the same field: a conflict record.
  const std::string contested = *std::next(registered.begin());
  ASSERT_EQ(Server({"request", "set", contested, "--set", "phone=081299998888", "--by", "rina"})
                .exit_code,
            0);
  ASSERT_EQ(
      Field("KR01", {"request", "update", contested, "--set", "phone=081211112222"}).exit_code, 0);
  SyncJson("KR01");
  const json conflicts_before = ServerJson({"conflicts", "list", "--all"});
  ASSERT_FALSE(conflicts_before.empty());
  // The staff change after KR01's last sync: it must reach the van through PostgreSQL.
  const std::string late = *std::next(registered.begin(), 2);
  ASSERT_EQ(Server({"request", "set-status", late, "received", "--by", "rina"}).exit_code, 0);
  StopServer();

  // A refused migration changes nothing and says why.
  const ProcessResult no_db = Server({"migrate", "--from", dir_});
  EXPECT_NE(no_db.exit_code, 0);
  EXPECT_THAT(no_db.err, HasSubstr("--db"));

  const ProcessResult migrated = Server({"migrate", "--from", dir_}, db);
  ASSERT_EQ(migrated.exit_code, 0) << migrated;
  const json rows = ServerJson({"migrate", "--from", dir_}, pg->CreateDatabase("mpp_second"));
  EXPECT_EQ(rows.value("requests", -1), 17);
  EXPECT_EQ(rows.value("devices", -1), 2);
  // Into a database that holds data already: refused.
  const ProcessResult again = Server({"migrate", "--from", dir_}, db);
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("already holds data"));

  // Counts match, audit verify passes, the conflicts came along.
  EXPECT_EQ(ServerReceipts(db), ServerReceipts(""));
  EXPECT_EQ(ServerReceipts(db), registered);
  const ProcessResult audit = Server({"audit", "verify"}, db);
  EXPECT_EQ(audit.exit_code, 0) << audit;
  EXPECT_THAT(audit.out, HasSubstr("0 failures"));
  EXPECT_EQ(ServerJson({"conflicts", "list", "--all"}, db).size(), conflicts_before.size());

  // The vans go on against PostgreSQL (the same address, the same key).
  StartServer(db);
  // The vans' enrolled URL named the old port: this sync goes to the new one.
  const std::string url = "http://127.0.0.1:" + std::to_string(port_);
  const ProcessResult kr01 = Field("KR01", {"sync", "--server", url, "--json"});
  ASSERT_EQ(kr01.exit_code, 0) << kr01;
  const json first = json::parse(kr01.out, nullptr, false);
  // Only the change made after its last sync: its cursor carried over, no complete re-pull.
  EXPECT_EQ(first.value("pulled", -1), 1) << kr01.out;
  const ProcessResult show = Field("KR01", {"request", "show", late, "--json"});
  EXPECT_EQ(json::parse(show.out, nullptr, false).value("status", ""), "received") << show;
  const ProcessResult kr02 = Field("KR02", {"sync", "--server", url, "--json"});
  ASSERT_EQ(kr02.exit_code, 0) << kr02;
  EXPECT_EQ(json::parse(kr02.out, nullptr, false).value("pulled", -1), 0) << kr02.out;

  // New work arrives once; old work is not sent again.
  registered.insert(Register("KR02", 106));
  const ProcessResult pushed = Field("KR02", {"sync", "--server", url, "--json"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed;
  EXPECT_EQ(json::parse(pushed.out, nullptr, false).value("acknowledged", -1), 1);
  EXPECT_EQ(ServerReceipts(db), registered);
  const ProcessResult audit_after = Server({"audit", "verify"}, db);
  EXPECT_EQ(audit_after.exit_code, 0) << audit_after;
}

}  // namespace
}  // namespace mpp::test
