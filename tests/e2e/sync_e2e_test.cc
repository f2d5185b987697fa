// The whole loop with real processes, as in the field: `mpp-server serve` on a loopback port,
// vans running `mpp-field` against it, the administrator's `mpp-server` commands on the same data
// directory, and faults a unit test cannot make: the server down, SIGKILL of the server in the
// middle of a large push, SIGKILL of the van's sync half-way, garbage on the wire.
// DESIGN.md §4-6 and issue 3 say what must hold; each test names the invariant it checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mpp/sync/clock.h"
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

constexpr const char* kPath = "PATH=/usr/local/bin:/usr/bin:/bin";  // python3, sqlite3
constexpr const char* kKtp = "dukcapil.ktp-el";
constexpr auto kCommandTimeout = std::chrono::milliseconds(60s);
// A sync against a server that is down spends all its retries (8 attempts, full-jitter backoff
// from 0.5 s doubling to 30 s: about 30 s on average, at most about 62 s) before it gives up.
constexpr auto kSyncAgainstDownServerTimeout = std::chrono::milliseconds(120s);

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

json ParseJson(const ProcessResult& r) {
  json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r;
  return j;
}

// Refused: non-zero exit, exactly one line "<program>: ..." on stderr naming the problem.
void ExpectOneLineError(const ProcessResult& r, const std::string& program,
                        const std::string& names_problem) {
  EXPECT_FALSE(r.timed_out) << r;
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_THAT(r.err, StartsWith(program + ": ")) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << r;
  EXPECT_THAT(r.err, HasSubstr(names_problem)) << r;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A file that may not exist yet (a log being written): its bytes, or "".
std::string ReadIfExists(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Server log lines of pushes that applied at least one mutation, and the sum they applied.
struct AppliedPushes {
  int pushes = 0;
  int64_t mutations = 0;
};
AppliedPushes CountAppliedPushes(const std::string& log) {
  AppliedPushes counted;
  static const std::regex applied(R"( push device=\S+ received=\d+ applied=(\d+) .*outcome=ok)");
  for (const auto& line : Lines(log)) {
    std::smatch m;
    if (std::regex_search(line, m, applied) && std::stoll(m[1]) > 0) {
      ++counted.pushes;
      counted.mutations += std::stoll(m[1]);
    }
  }
  return counted;
}

// A NIK that passes validation: Kubu Raya (61.12.07), man born 1990-03-15, the given serial.
std::string Nik(int serial) {
  char serial_digits[5];
  std::snprintf(serial_digits, sizeof serial_digits, "%04d", serial);
  return std::string("611207150390") + serial_digits;
}

// `request new` of a complete, valid KTP-el form.
std::vector<std::string> NewKtpArgs(int serial) {
  const std::map<std::string, std::string> form = {
      {"nik", Nik(serial)},
      {"name", "Hendra Saputra"},
      {"birth_date", "1990-03-15"},
      {"address", "Jl. Adisucipto No. 12, RT 003/RW 002, Desa Arang Limbung"},
      {"village_code", "61.12.07.2001"},
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

// What must agree between a van and the server for one request.
std::map<std::string, json> Essentials(const json& list) {
  std::map<std::string, json> out;
  EXPECT_TRUE(list.is_array()) << list;
  if (!list.is_array()) return out;
  for (const auto& r : list) {
    const std::string id = r.value("id", "");
    EXPECT_EQ(out.count(id), 0u) << "request " << id << " listed twice";
    out[id] = {{"receipt", r.value("receipt", "")},
               {"status", r.value("status", "")},
               {"status_note", r.value("status_note", "")},
               {"fields", r.value("fields", json::object())}};
  }
  return out;
}

// Names the first few differences, so a failure does not print thousands of requests.
std::string Differences(const std::map<std::string, json>& van,
                        const std::map<std::string, json>& server) {
  std::string out;
  int shown = 0;
  auto note = [&](const std::string& text) {
    if (shown++ < 5) out += text + "\n";
  };
  for (const auto& [id, v] : van) {
    auto it = server.find(id);
    if (it == server.end()) {
      note("only on the van: " + id + " " + v.dump());
    } else if (it->second != v) {
      note("differs: " + id + "\n  van:    " + v.dump() + "\n  server: " + it->second.dump());
    }
  }
  for (const auto& [id, s] : server) {
    if (!van.count(id)) note("only on the server: " + id + " " + s.dump());
  }
  if (shown > 5) out += std::to_string(shown - 5) + " more differences\n";
  return out;
}

struct Van {
  std::string van_code;
  std::string dir;
  std::string passphrase;
  std::string device_id;
};

// One test's world: a server data directory with its key, the server process (when started),
// vans, and background processes, all stopped by PID in TearDown whatever happened.
class SyncE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    const ProcessResult r =
        RunProcess({MPP_SERVER_BIN, "--data", server_dir_, "init"}, ServerEnv(), kCommandTimeout);
    ASSERT_EQ(r.exit_code, 0) << r;
    const auto lines = Lines(r.out);
    ASSERT_FALSE(lines.empty()) << r;
    fingerprint_ = lines.back();
    ASSERT_THAT(fingerprint_, StartsWith("SHA256:")) << r;
    for (const char* user : {"rina", "staf"}) {
      const ProcessResult added =
          AddStaffAccount({MPP_SERVER_BIN, "--data", server_dir_}, ServerEnv(), user);
      ASSERT_EQ(added.exit_code, 0) << added;
    }
  }

  void TearDown() override {
    for (pid_t& pid : background_) {
      if (pid > 0) KillProcess(pid);
      pid = -1;
    }
    if (server_pid_ > 0) {
      StopProcess(server_pid_, 5s);
      server_pid_ = -1;
    }
  }

  static std::vector<std::string> ServerEnv() { return {kPath, "LANG=C.UTF-8"}; }

  static std::vector<std::string> FieldEnv(const Van& van) {
    return {kPath, "LANG=C.UTF-8", "MPP_FIELD_DATA=" + van.dir, "MPP_PASSPHRASE=" + van.passphrase};
  }

  ProcessResult Server(const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout = kCommandTimeout) {
    return RunProcess(Concat({MPP_SERVER_BIN, "--data", server_dir_}, args), ServerEnv(), timeout);
  }

  json ServerJson(const std::vector<std::string>& args) {
    const ProcessResult r = Server(Concat(args, {"--json"}));
    EXPECT_EQ(r.exit_code, 0) << r;
    return ParseJson(r);
  }

  // An administrator command that must succeed.
  void Admin(const std::vector<std::string>& args) {
    const ProcessResult r = Server(args);
    EXPECT_EQ(r.exit_code, 0) << "mpp-server " << ::testing::PrintToString(args) << ": " << r;
  }

  ProcessResult Field(const Van& van, const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = kCommandTimeout) {
    return RunProcess(Concat({MPP_FIELD_BIN}, args), FieldEnv(van), timeout);
  }

  json FieldJson(const Van& van, const std::vector<std::string>& args) {
    const ProcessResult r = Field(van, Concat(args, {"--json"}));
    EXPECT_EQ(r.exit_code, 0) << r;
    return ParseJson(r);
  }

  int64_t Pending(const Van& van) {
    return FieldJson(van, {"status"}).value("pending", int64_t{-1});
  }

  // `mpp-server serve` on a free loopback port (a new one when another process took it), or,
  // once a port is chosen, on that same port again: enrolled vans know the server by its URL.
  // Returns when /healthz answers. The log (stderr) of each start goes to its own file.
  void StartServer() {
    ASSERT_LE(server_pid_, 0) << "the server runs already";
    const bool fixed_port = port_ != 0;
    for (int attempt = 1; attempt <= 40; ++attempt) {
      if (!fixed_port) port_ = FreeLoopbackPort();
      ASSERT_GT(port_, 0);
      ++server_starts_;
      server_log_ = temp_.Sub("server-" + std::to_string(server_starts_) + ".log");
      const std::string out = temp_.Sub("server-" + std::to_string(server_starts_) + ".out");
      server_pid_ = StartBackground({MPP_SERVER_BIN, "--data", server_dir_, "serve", "--listen",
                                     "127.0.0.1:" + std::to_string(port_)},
                                    ServerEnv(), out, server_log_);
      ASSERT_GT(server_pid_, 0);
      if (WaitForHealthz(port_, server_pid_, /*attempts=*/400, 25ms)) return;
      // Not up: either it exited (the port was taken: try again) or it hangs (a failure).
      const auto code = WaitForExit(server_pid_, 2s);
      const std::string log = ReadIfExists(server_log_);
      if (!code) {
        StopProcess(server_pid_, 2s);
        server_pid_ = -1;
        FAIL() << "mpp-server serve runs but /healthz does not answer on port " << port_ << "\n"
               << log;
      }
      server_pid_ = -1;
      ASSERT_THAT(log, HasSubstr("cannot listen")) << "mpp-server serve exited " << *code;
      if (fixed_port) std::this_thread::sleep_for(50ms);  // until the old socket is released
    }
    FAIL() << "no port to listen on after 40 attempts";
  }

  // SIGTERM, as an operator (or systemd) stops the server; its exit code.
  int StopServer() {
    const int code = StopProcess(server_pid_, 10s);
    server_pid_ = -1;
    return code;
  }

  void KillServer() {
    ASSERT_GT(server_pid_, 0);
    EXPECT_EQ(KillProcess(server_pid_), 128 + SIGKILL);
    server_pid_ = -1;
  }

  std::string ServerUrl() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // A van initialised with a cheap KDF; enrolled with the pinned server key when `enroll`.
  // `tablet` tells apart several devices of one van code (their own store directories).
  Van NewVan(const std::string& van_code, const std::string& officer, bool enroll = true,
             const std::string& tablet = "") {
    Van van{van_code, temp_.Sub("van-" + van_code + tablet), "passphrase-of-" + van_code, ""};
    const ProcessResult init = Field(
        van, {"init", "--van-code", van_code, "--officer", officer, "--kdf-memory-kib", "64"});
    EXPECT_EQ(init.exit_code, 0) << init;
    van.device_id = FieldJson(van, {"status"}).value("device_id", "");
    EXPECT_FALSE(van.device_id.empty());
    if (enroll) {
      const std::string token = NewToken(van_code);
      const ProcessResult r = Field(
          van, {"enroll", "--server", ServerUrl(), "--token", token, "--server-key", fingerprint_});
      EXPECT_EQ(r.exit_code, 0) << r;
      EXPECT_EQ(r.err, "") << r;
    }
    return van;
  }

  std::string NewToken(const std::string& van_code) {
    const ProcessResult r = Server({"token", "create", "--van-code", van_code});
    EXPECT_EQ(r.exit_code, 0) << r;
    const auto lines = Lines(r.out);
    EXPECT_EQ(lines.size(), 1u) << "token create prints the token and nothing else: " << r;
    return lines.empty() ? "" : lines.front();
  }

  json NewKtp(const Van& van, int serial) {
    const ProcessResult r = Field(van, NewKtpArgs(serial));
    EXPECT_EQ(r.exit_code, 0) << r;
    return ParseJson(r);
  }

  // A sync that must complete; its JSON summary.
  json Sync(const Van& van, const std::vector<std::string>& extra = {}) {
    const ProcessResult r = Field(van, Concat({"sync", "--json"}, extra));
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_FALSE(r.timed_out) << r;
    return ParseJson(r);
  }

  json ServerRequestsOf(const std::string& device_id) {
    json mine = json::array();
    for (const auto& r : ServerJson({"requests", "list"})) {
      if (r.value("device_id", "") == device_id) mine.push_back(r);
    }
    return mine;
  }

  // Invariant 1 (convergence): the van's view equals the server's state for its scope.
  void ExpectVanEqualsServer(const Van& van) {
    const json van_list = FieldJson(van, {"request", "list"});
    for (const auto& r : van_list) {
      EXPECT_EQ(r.value("pending", true), false) << "still pending on the van: " << r;
    }
    const auto on_van = Essentials(van_list);
    const auto on_server = Essentials(ServerRequestsOf(van.device_id));
    EXPECT_EQ(on_van.size(), on_server.size());
    EXPECT_EQ(Differences(on_van, on_server), "") << "van " << van.van_code;
  }

  void ExpectAuditVerifies() {
    const ProcessResult r = Server({"audit", "verify"});
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_THAT(r.out, HasSubstr(" 0 failures")) << r;
  }

  // Polls the current server log until `pushes` pushes applied something; false when `watched`
  // exited first or the bound passed. The interval is between checks of the condition.
  bool WaitForAppliedPushes(int pushes, pid_t watched, std::chrono::milliseconds bound = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      if (CountAppliedPushes(ReadIfExists(server_log_)).pushes >= pushes) return true;
      if (!IsRunning(watched)) return false;
      std::this_thread::sleep_for(2ms);
    }
    return false;
  }

  AppliedPushes AppliedInAllServerLogs() {
    AppliedPushes all;
    for (int i = 1; i <= server_starts_; ++i) {
      const auto one =
          CountAppliedPushes(ReadIfExists(temp_.Sub("server-" + std::to_string(i) + ".log")));
      all.pushes += one.pushes;
      all.mutations += one.mutations;
    }
    return all;
  }

  // A van holding `n` requests of the workload generator, enrolled, nothing synced yet.
  Van VanWithWorkload(int n, int seed) {
    Van van = NewVan("KR07", "Rahmat Hidayat");
    const ProcessResult workload =
        RunProcess({"python3", std::string(MPP_SOURCE_DIR) + "/tools/workload", "--n",
                    std::to_string(n), "--seed", std::to_string(seed)},
                   {kPath, "LANG=C.UTF-8"});
    EXPECT_EQ(workload.exit_code, 0) << workload.err;
    const std::string file = temp_.Sub("workload.jsonl");
    std::ofstream(file, std::ios::binary) << workload.out;
    const json report = FieldJson(van, {"request", "import", "--file", file});
    EXPECT_EQ(report.value("imported", 0), n) << report.dump().substr(0, 2000);
    EXPECT_EQ(Pending(van), n);
    return van;
  }

  // Starts `mpp-field sync` in the background (its PID is stopped in TearDown if still running).
  pid_t StartSync(const Van& van, const std::vector<std::string>& extra) {
    const pid_t pid = StartBackground(Concat({MPP_FIELD_BIN, "sync", "--json"}, extra),
                                      FieldEnv(van), temp_.Sub("sync.out"), temp_.Sub("sync.err"));
    background_.push_back(pid);
    return pid;
  }

  // Reaps a background process started by StartSync; its exit code, or nothing after `bound`.
  std::optional<int> FinishBackground(pid_t pid, std::chrono::milliseconds bound) {
    auto code = WaitForExit(pid, bound);
    if (code) std::replace(background_.begin(), background_.end(), pid, pid_t{-1});
    return code;
  }

  // Syncs until nothing is pending, at most `attempts` times; the number of syncs it took.
  int SyncUntilNothingPending(const Van& van, int attempts = 3) {
    for (int i = 1; i <= attempts; ++i) {
      const ProcessResult r = Field(van, {"sync", "--json"});
      if (r.exit_code == 0 && Pending(van) == 0) return i;
      if (i == attempts) ADD_FAILURE() << "still pending after " << attempts << " syncs: " << r;
    }
    return attempts;
  }

  // Invariants 2 and 3 after faults: the server holds exactly the van's `n` requests, once each.
  void ExpectExactlyOnce(const Van& van, int n) {
    const json on_server = ServerJson({"requests", "list"});
    ASSERT_TRUE(on_server.is_array());
    EXPECT_EQ(on_server.size(), static_cast<size_t>(n));
    std::set<std::string> ids, receipts;
    for (const auto& r : on_server) {
      ids.insert(r.value("id", ""));
      receipts.insert(r.value("receipt", ""));
    }
    EXPECT_EQ(ids.size(), static_cast<size_t>(n)) << "duplicate request ids on the server";
    EXPECT_EQ(receipts.size(), static_cast<size_t>(n)) << "duplicate receipts on the server";
    EXPECT_EQ(Pending(van), 0);
    ExpectVanEqualsServer(van);
    // Every mutation applied once: the server's seq for the van is the van's last seq.
    const json devices = ServerJson({"device", "list"});
    ASSERT_EQ(devices.size(), 1u) << devices;
    EXPECT_EQ(devices[0].value("last_applied_seq", int64_t{-1}), n) << devices;
    EXPECT_LE(AppliedInAllServerLogs().mutations, n)
        << "the server logs report more applied mutations than the van ever made";
    ExpectAuditVerifies();
  }

  void ExpectStoreIntact(const Van& van) {
    const ProcessResult r = RunProcess(
        {"sqlite3", (fs::path(van.dir) / "van.db").string(), "PRAGMA integrity_check"}, {kPath});
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_EQ(r.out, "ok\n") << r;
  }

  TempDir temp_;
  std::string server_dir_ = temp_.Sub("server");
  std::string fingerprint_;
  int port_ = 0;
  pid_t server_pid_ = -1;
  int server_starts_ = 0;
  std::string server_log_;
  std::vector<pid_t> background_;
};

std::string Id(const json& created) { return created.value("id", ""); }

const json* FindConflict(const json& conflicts, const std::string& request_id,
                         const std::string& field) {
  for (const auto& c : conflicts) {
    if (c.value("request_id", "") == request_id && c.value("field", "") == field) return &c;
  }
  return nullptr;
}

// --- 1. two vans, offline work, administrator changes, conflicts on both sides ------------------

TEST_F(SyncE2e, TwoVansOfflineEditsAndAdminChangesConvergeWithConflictsOnBothSides) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Van a = NewVan("KR01", "Siti Rahmawati");
  const Van b = NewVan("KR02", "Budi Santoso");
  ASSERT_EQ(StopServer(), 0);

  // In the field, out of reach of the server.
  const json a1 = NewKtp(a, 1), a2 = NewKtp(a, 2), a3 = NewKtp(a, 3);
  const json b1 = NewKtp(b, 11), b2 = NewKtp(b, 12), b3 = NewKtp(b, 13);
  ASSERT_FALSE(HasFailure());
  {
    // Both vans try while the server is down, side by side: each spends its retries, then
    // says in one line why it could not sync, and keeps its work.
    auto try_a = std::async(std::launch::async,
                            [&] { return Field(a, {"sync"}, kSyncAgainstDownServerTimeout); });
    auto try_b = std::async(std::launch::async,
                            [&] { return Field(b, {"sync"}, kSyncAgainstDownServerTimeout); });
    const ProcessResult failed_a = try_a.get(), failed_b = try_b.get();
    ExpectOneLineError(failed_a, "mpp-field", "server not reachable");
    ExpectOneLineError(failed_b, "mpp-field", "server not reachable");
    EXPECT_EQ(Pending(a), 3);
    EXPECT_EQ(Pending(b), 3);
  }

  ASSERT_NO_FATAL_FAILURE(StartServer());
  EXPECT_EQ(Sync(a).value("acknowledged", -1), 3);
  EXPECT_EQ(Sync(b).value("acknowledged", -1), 3);
  EXPECT_EQ(ServerJson({"requests", "list"}).size(), 6u);

  // The administrator works on requests of both vans.
  Admin({"request", "set-status", Id(a2), "received", "--by", "rina"});
  Admin({"request", "set", Id(a1), "--set", "pekerjaan=wiraswasta", "--by", "rina"});
  Admin({"request", "set", Id(b2), "--set", "address=Jl. Ahmad Yani No. 3, Desa Kuala Dua", "--by",
         "rina"});
  Admin({"request", "set-status", Id(b1), "received", "--by", "rina"});
  Admin({"request", "set-status", Id(b1), "in_review", "--by", "rina"});
  Admin({"request", "set-status", Id(b1), "completed", "--by", "rina", "--note",
         "KTP-el siap diambil"});
  // Meanwhile, offline: van A edits the field the administrator corrected; van B cancels the
  // request staff have completed.
  EXPECT_EQ(
      Field(a, {"request", "update", Id(a1), "--set", "pekerjaan=nelayan/perikanan"}).exit_code, 0);
  EXPECT_EQ(
      Field(b, {"request", "cancel", Id(b1), "--reason", "pemohon pindah domisili"}).exit_code, 0);
  ASSERT_FALSE(HasFailure());

  for (int round = 1; round <= 2; ++round) {
    SCOPED_TRACE("sync round " + std::to_string(round));
    Sync(a);
    Sync(b);
  }

  // The conflicts, on each van (its own only) and on the server (both, with the device).
  const json a_conflicts = FieldJson(a, {"conflicts"});
  const json b_conflicts = FieldJson(b, {"conflicts"});
  const json server_conflicts = ServerJson({"conflicts", "list"});
  const json* field_on_a = FindConflict(a_conflicts, Id(a1), "pekerjaan");
  const json* status_on_b = FindConflict(b_conflicts, Id(b1), "status");
  const json* field_on_server = FindConflict(server_conflicts, Id(a1), "pekerjaan");
  const json* status_on_server = FindConflict(server_conflicts, Id(b1), "status");
  ASSERT_NE(field_on_a, nullptr) << a_conflicts;
  ASSERT_NE(status_on_b, nullptr) << b_conflicts;
  ASSERT_NE(field_on_server, nullptr) << server_conflicts;
  ASSERT_NE(status_on_server, nullptr) << server_conflicts;
  EXPECT_EQ(std::set<std::string>(
                {field_on_a->value("kept_value", ""), field_on_a->value("lost_value", "")}),
            std::set<std::string>({"wiraswasta", "nelayan/perikanan"}))
      << *field_on_a;
  EXPECT_EQ(status_on_b->value("kept_value", ""), "completed") << *status_on_b;
  EXPECT_EQ(status_on_b->value("lost_value", ""), "cancelled") << *status_on_b;
  EXPECT_EQ(field_on_server->value("device_id", ""), a.device_id) << *field_on_server;
  EXPECT_EQ(status_on_server->value("device_id", ""), b.device_id) << *status_on_server;
  for (const char* key : {"kept_value", "lost_value", "kept_by", "lost_by", "reason"}) {
    EXPECT_EQ(field_on_a->value(key, ""), field_on_server->value(key, "")) << key;
    EXPECT_EQ(status_on_b->value(key, ""), status_on_server->value(key, "")) << key;
  }
  EXPECT_EQ(FindConflict(a_conflicts, Id(b1), "status"), nullptr)
      << "van A sees a conflict of van B: " << a_conflicts;
  EXPECT_EQ(FindConflict(b_conflicts, Id(a1), "pekerjaan"), nullptr)
      << "van B sees a conflict of van A: " << b_conflicts;

  // The administrator's changes reached the vans; the server's state decided the status.
  const json a2_on_a = FieldJson(a, {"request", "show", Id(a2)});
  EXPECT_EQ(a2_on_a.value("status", ""), "received") << a2_on_a;
  const json b2_on_b = FieldJson(b, {"request", "show", Id(b2)});
  EXPECT_EQ(b2_on_b["fields"].value("address", ""), "Jl. Ahmad Yani No. 3, Desa Kuala Dua");
  const json b1_on_b = FieldJson(b, {"request", "show", Id(b1)});
  EXPECT_EQ(b1_on_b.value("status", ""), "completed") << b1_on_b;

  // Convergence, and scope: each van holds exactly its own three requests, as the server does.
  EXPECT_EQ(Pending(a), 0);
  EXPECT_EQ(Pending(b), 0);
  ExpectVanEqualsServer(a);
  ExpectVanEqualsServer(b);
  EXPECT_EQ(FieldJson(a, {"request", "list"}).size(), 3u);
  EXPECT_EQ(FieldJson(b, {"request", "list"}).size(), 3u);
  (void)a3;
  (void)b3;
  ExpectAuditVerifies();
}

// The rules of a request through the real programs (issue 10): staff must give a reason to
// reject; an officer's offline edit of the request staff rejected meanwhile is not stored on it,
// but kept as a conflict record on both sides; once the van knows, it refuses the edit itself.
TEST_F(SyncE2e, AFinalRequestStaysFinalAndARejectionCarriesItsReason) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Van a = NewVan("KR01", "Siti Rahmawati");
  const json created = NewKtp(a, 1);
  EXPECT_EQ(Sync(a).value("acknowledged", -1), 1);

  ExpectOneLineError(Server({"request", "set-status", Id(created), "rejected", "--by", "rina"}),
                     "mpp-server", "a rejection needs a note");
  Admin({"request", "set-status", Id(created), "rejected", "--by", "rina", "--note",
         "NIK tidak terdaftar di Dukcapil"});
  // Offline, before the van hears of it: for the van the request is still open.
  EXPECT_EQ(
      Field(a, {"request", "update", Id(created), "--set", "catatan=nomor HP baru"}).exit_code, 0);
  Sync(a);

  const json on_server = ServerJson({"requests", "list"});
  ASSERT_EQ(on_server.size(), 1u);
  EXPECT_EQ(on_server[0].value("status", ""), "rejected");
  EXPECT_FALSE(on_server[0]["fields"].contains("catatan")) << on_server;
  const json server_conflicts = ServerJson({"conflicts", "list"});
  const json* record = FindConflict(server_conflicts, Id(created), "catatan");
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->value("lost_value", ""), "nomor HP baru");
  EXPECT_THAT(record->value("reason", ""), HasSubstr("rejected, which is final"));
  const json van_conflicts = FieldJson(a, {"conflicts"});
  const json* on_van = FindConflict(van_conflicts, Id(created), "catatan");
  ASSERT_NE(on_van, nullptr);
  EXPECT_EQ(on_van->value("reason", ""), record->value("reason", ""));

  const json shown = FieldJson(a, {"request", "show", Id(created)});
  EXPECT_EQ(shown.value("status", ""), "rejected");
  EXPECT_EQ(shown.value("status_note", ""), "NIK tidak terdaftar di Dukcapil");
  ExpectOneLineError(Field(a, {"request", "update", Id(created), "--set", "catatan=lagi"}),
                     "mpp-field", "rejected, which is final");
  EXPECT_EQ(Pending(a), 0);
  ExpectVanEqualsServer(a);
}

// --- 2. SIGKILL of the server during a large push
// --------------------------------------------------

constexpr int kLargePush = 3000;
constexpr int kBatch = 100;  // 30 pushes

// The kill comes once the server log shows this many pushes applied.
class ServerKilledDuringLargePush : public SyncE2e, public ::testing::WithParamInterface<int> {};

TEST_P(ServerKilledDuringLargePush, LosesNothingAndDuplicatesNothing) {
  const int kill_after_pushes = GetParam();
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Van van = VanWithWorkload(kLargePush, 11);
  ASSERT_FALSE(HasFailure());

  const pid_t sync = StartSync(van, {"--batch-size", std::to_string(kBatch)});
  ASSERT_GT(sync, 0);
  ASSERT_TRUE(WaitForAppliedPushes(kill_after_pushes, sync))
      << "the sync ended before the server applied " << kill_after_pushes << " pushes:\n"
      << ReadIfExists(temp_.Sub("sync.err")) << ReadIfExists(server_log_);
  ASSERT_NO_FATAL_FAILURE(KillServer());
  const int applied_before_kill = CountAppliedPushes(ReadIfExists(server_log_)).pushes;
  EXPECT_LT(applied_before_kill, kLargePush / kBatch) << "the kill came after the last push";

  // Back on the same data directory and port; the van's retries may reach it, or give up.
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const auto sync_code = FinishBackground(sync, 120s);
  ASSERT_TRUE(sync_code.has_value()) << "the interrupted sync still runs after 120 s";
  RecordProperty("interrupted_sync_exit", *sync_code);
  if (*sync_code != 0) {
    const std::string err = ReadIfExists(temp_.Sub("sync.err"));
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line with the reason: " << err;
  }

  SyncUntilNothingPending(van);
  ExpectExactlyOnce(van, kLargePush);
}

INSTANTIATE_TEST_SUITE_P(KillPoints, ServerKilledDuringLargePush, ::testing::Values(1, 12, 24),
                         [](const auto& info) { return "AfterPush" + std::to_string(info.param); });

// --- 3. SIGKILL of the van's sync half-way
// ----------------------------------------------------------

TEST_F(SyncE2e, SyncProcessKilledHalfWayFinishesOnTheNextTry) {
  constexpr int n = 2000;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Van van = VanWithWorkload(n, 12);
  ASSERT_FALSE(HasFailure());

  const pid_t sync = StartSync(van, {"--batch-size", std::to_string(kBatch)});
  ASSERT_GT(sync, 0);
  // The second push proves the van applied the first acknowledgement.
  ASSERT_TRUE(WaitForAppliedPushes(2, sync))
      << "the sync ended before the server applied two pushes:\n"
      << ReadIfExists(temp_.Sub("sync.err"));
  kill(sync, SIGKILL);
  const auto code = FinishBackground(sync, 10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 128 + SIGKILL) << "the sync finished before it was killed";
  // Power cut or kill: the store is a valid database, and still usable.
  ExpectStoreIntact(van);
  const int64_t pending_after_kill = Pending(van);
  EXPECT_GT(pending_after_kill, 0);
  EXPECT_LT(pending_after_kill, n);

  const json summary = Sync(van, {"--batch-size", std::to_string(kBatch)});
  EXPECT_GT(summary.value("acknowledged", 0), 0) << summary;
  EXPECT_LE(summary.value("acknowledged", 0), pending_after_kill) << summary;
  EXPECT_EQ(Pending(van), 0);
  ExpectExactlyOnce(van, n);
  ExpectStoreIntact(van);
}

// --- 4. bad input on the wire
// -----------------------------------------------------------------------

int64_t CounterSum(const std::string& metrics, const std::string& prefix) {
  int64_t sum = 0;
  for (const auto& line : Lines(metrics)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const size_t space = line.rfind(' ');
    if (space != std::string::npos) sum += std::stoll(line.substr(space + 1));
  }
  return sum;
}

TEST_F(SyncE2e, BadInputOnTheWire) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::mt19937 rng(7);
  std::string random_bytes(4096, '\0');
  for (auto& c : random_bytes) c = static_cast<char>(rng() & 0xff);
  const std::vector<std::pair<std::string, std::string>> garbage = {
      {"text", "garbage"},
      {"empty", ""},
      {"random bytes", random_bytes},
      {"magic only", "MPP1"},
      {"header longer than the envelope", std::string("MPP1\x01\x05vanXX\xff\xff", 13) + "abc"},
  };
  int sent = 0;
  for (const std::string path : {"/v1/push", "/v1/pull"}) {
    for (const auto& [what, body] : garbage) {
      SCOPED_TRACE(path + " with " + what);
      const HttpAnswer answer = HttpCall(port_, "POST", path, body);
      ++sent;
      EXPECT_EQ(answer.status, 400) << answer;
      EXPECT_EQ(std::count(answer.body.begin(), answer.body.end(), '\n'), 1) << answer;
      EXPECT_TRUE(answer.body.size() > 1 && answer.body.back() == '\n') << answer;
    }
  }

  // Each refusal is a line of the server log and a count in /metrics.
  const auto log = Lines(ReadIfExists(server_log_));
  for (const std::string what : {"push", "pull"}) {
    const auto refused = std::count_if(log.begin(), log.end(), [&](const std::string& line) {
      return line.find(" " + what + " ") != std::string::npos &&
             line.find("outcome=refused status=400 reason=\"") != std::string::npos;
    });
    EXPECT_EQ(refused, static_cast<long>(garbage.size())) << what << "\n"
                                                          << ReadIfExists(server_log_);
  }
  const HttpAnswer metrics = HttpCall(port_, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics;
  EXPECT_EQ(CounterSum(metrics.body, "push_refused_"), static_cast<int64_t>(garbage.size()))
      << metrics.body;
  EXPECT_EQ(CounterSum(metrics.body, "pull_refused_"), static_cast<int64_t>(garbage.size()))
      << metrics.body;
  EXPECT_EQ(CounterSum(metrics.body, "push_ok"), 0) << metrics.body;

  // Nothing changed, and the server still serves.
  EXPECT_EQ(ServerJson({"requests", "list"}), json::array());
  EXPECT_EQ(ServerJson({"conflicts", "list"}), json::array());
  EXPECT_EQ(HttpCall(port_, "GET", "/healthz").status, 200);
  const ProcessResult audit = Server({"audit", "verify"});
  EXPECT_EQ(audit.exit_code, 0) << audit;
  EXPECT_THAT(audit.out, HasSubstr("checked 0 envelopes")) << audit;
  EXPECT_EQ(sent, 2 * static_cast<int>(garbage.size()));
}

// Issue 3, "Bad input": an oversized body is a refusal like any other: a status with a reason,
// a line in the server log, a count in /metrics.
TEST_F(SyncE2e, OversizedPushIsRefusedWithAReasonInTheLogAndMetrics) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string body(17u << 20, 'x');  // over the 16 MiB envelope bound
  const HttpAnswer answer = HttpCall(port_, "POST", "/v1/push", body, 30s);
  EXPECT_EQ(answer.status, 413) << answer.error;
  EXPECT_EQ(std::count(answer.body.begin(), answer.body.end(), '\n'), 1)
      << "a one-line reason: \"" << answer.body << "\"";
  EXPECT_THAT(ReadIfExists(server_log_), HasSubstr("outcome=refused status=413"))
      << "the refusal is not in the server log";
  const HttpAnswer metrics = HttpCall(port_, "GET", "/metrics");
  EXPECT_EQ(CounterSum(metrics.body, "push_refused_"), 1) << "metrics:\n" << metrics.body;
  EXPECT_EQ(HttpCall(port_, "GET", "/healthz").status, 200);
}

// --- 5. enrolment against the wrong key ----------------------------------------------------------

TEST_F(SyncE2e, EnrollWithWrongFingerprintLeavesTokenUnused) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Van van = NewVan("KR03", "Dewi Lestari", /*enroll=*/false);
  const std::string token = NewToken("KR03");
  std::string wrong = fingerprint_;
  wrong.back() = wrong.back() == '0' ? '1' : '0';

  const ProcessResult refused =
      Field(van, {"enroll", "--server", ServerUrl(), "--token", token, "--server-key", wrong});
  ExpectOneLineError(refused, "mpp-field", "does not match");
  EXPECT_THAT(refused.err, HasSubstr(wrong)) << refused;
  EXPECT_EQ(FieldJson(van, {"status"}).value("enrolled", true), false);
  // The token never left the van: the server saw no enrolment attempt, and knows no device.
  EXPECT_THAT(ReadIfExists(server_log_), ::testing::Not(HasSubstr(" enroll "))) << server_log_;
  EXPECT_EQ(ServerJson({"device", "list"}), json::array());

  const ProcessResult enrolled = Field(
      van, {"enroll", "--server", ServerUrl(), "--token", token, "--server-key", fingerprint_});
  EXPECT_EQ(enrolled.exit_code, 0) << enrolled;
  EXPECT_EQ(enrolled.err, "") << enrolled;
  EXPECT_EQ(FieldJson(van, {"status"}).value("enrolled", false), true);
  const json devices = ServerJson({"device", "list"});
  ASSERT_EQ(devices.size(), 1u) << devices;
  EXPECT_EQ(devices[0].value("device_id", ""), van.device_id);
  EXPECT_EQ(devices[0].value("van_code", ""), "KR03");
  // And the van can sync with it.
  NewKtp(van, 21);
  EXPECT_EQ(Sync(van).value("acknowledged", -1), 1);
}

// --- 6. clean stop -------------------------------------------------------------------------------

TEST_F(SyncE2e, ServerStopsCleanlyOnSigterm) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const pid_t pid = server_pid_;
  const auto start = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  const auto code = WaitForExit(pid, 10s);
  ASSERT_TRUE(code.has_value()) << "still running 10 s after SIGTERM";
  server_pid_ = -1;
  EXPECT_EQ(*code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_THAT(ReadIfExists(server_log_), HasSubstr("mpp-server: stopped"));
  EXPECT_EQ(HttpCall(port_, "GET", "/healthz").status, 0) << "the port still answers";
  // The data directory is fine for the next start.
  ASSERT_NO_FATAL_FAILURE(StartServer());
  EXPECT_EQ(StopServer(), 0);
}

// "finishes what is in flight and exits 0": a sync in progress loses nothing by it.
TEST_F(SyncE2e, ServerStopsCleanlyOnSigtermDuringASync) {
  constexpr int n = 1000;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Van van = VanWithWorkload(n, 13);
  ASSERT_FALSE(HasFailure());
  const pid_t sync = StartSync(van, {"--batch-size", "50"});
  ASSERT_GT(sync, 0);
  ASSERT_TRUE(WaitForAppliedPushes(2, sync)) << ReadIfExists(temp_.Sub("sync.err"));

  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(StopServer(), 0) << ReadIfExists(server_log_);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  const std::string log = ReadIfExists(server_log_);
  EXPECT_THAT(log, HasSubstr("mpp-server: stopped"));
  EXPECT_EQ(log.find("outcome=refused"), std::string::npos) << log;

  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_TRUE(FinishBackground(sync, 120s).has_value()) << "the sync still runs after 120 s";
  SyncUntilNothingPending(van);
  ExpectExactlyOnce(van, n);
}

}  // namespace
}  // namespace mpp::test

// --- Crash loops: SIGKILL of `mpp-field sync` and of `mpp-server serve`, 20 times each
// ----------------------------------------------------------------------------------------

namespace mpp::test {
namespace {

// Each round kills at a point picked by a seeded generator (the seed is GoogleTest's, printed
// with a failure), counted in applied pushes since the round started; then checks the van's
// store and goes on. At the end one clean sync must leave exactly the registered requests.
class CrashLoop : public SyncE2e {
 protected:
  static constexpr int kRounds = 20;
  static constexpr int kPerRound = 120;  // new requests registered before each round
  static constexpr int kBatchSize = 20;

  // Kills the sync (kill_server false) or the server (true) after `after` more applied pushes.
  void KillDuringSync(const Van& van, bool kill_server, int after) {
    const int before = CountAppliedPushes(ReadIfExists(server_log_)).pushes;
    const pid_t sync = StartSync(van, {"--batch-size", std::to_string(kBatchSize)});
    ASSERT_GT(sync, 0);
    if (!WaitForAppliedPushes(before + after, sync)) {
      FinishBackground(sync, 60s);  // the sync finished first: nothing to kill this round
      return;
    }
    if (kill_server) {
      ASSERT_NO_FATAL_FAILURE(KillServer());
      ASSERT_NO_FATAL_FAILURE(StartServer());
      ASSERT_TRUE(FinishBackground(sync, 120s).has_value()) << "the sync hangs after a restart";
    } else {
      kill(sync, SIGKILL);
      ASSERT_TRUE(FinishBackground(sync, 10s).has_value());
    }
    ExpectStoreIntact(van);
  }

  void Run(bool kill_server) {
    ASSERT_NO_FATAL_FAILURE(StartServer());
    const Van van = VanWithWorkload(kPerRound, 21);
    ASSERT_FALSE(HasFailure());
    sync::SeededRng pick(static_cast<uint64_t>(::testing::UnitTest::GetInstance()->random_seed()));
    int registered = kPerRound;
    for (int round = 0; round < kRounds; ++round) {
      SCOPED_TRACE("round " + std::to_string(round));
      ASSERT_NO_FATAL_FAILURE(
          KillDuringSync(van, kill_server, 1 + static_cast<int>(pick.Uniform(4))));
      // The officer keeps working between syncs.
      for (int i = 0; i < 3; ++i) NewKtp(van, 1000 + round * 3 + i);
      registered += 3;
    }
    SyncUntilNothingPending(van);
    ExpectExactlyOnce(van, registered);
    ExpectNoPersonalDataInLogs();
  }

  // THREATS.md row 48: the server's logs and the van's error output never carry a citizen's NIK
  // (the requests registered in the rounds use known NIKs; the log holds thousands of lines).
  void ExpectNoPersonalDataInLogs() {
    std::string logs = ReadIfExists(temp_.Sub("sync.err"));
    for (int i = 1; i <= server_starts_; ++i) {
      logs += ReadIfExists(temp_.Sub("server-" + std::to_string(i) + ".log"));
    }
    ASSERT_FALSE(logs.empty());
    for (int serial = 1000; serial < 1000 + kRounds * 3; ++serial) {
      EXPECT_EQ(logs.find(Nik(serial)), std::string::npos) << "NIK " << Nik(serial) << " in a log";
    }
  }
};

TEST_F(CrashLoop, SyncKilledTwentyTimesLosesAndDuplicatesNothing) { Run(/*kill_server=*/false); }

TEST_F(CrashLoop, ServerKilledTwentyTimesLosesAndDuplicatesNothing) { Run(/*kill_server=*/true); }

// ---- Issue 9: stores that go back in time, several tablets in one van ----

// The server's requests of a van code (the scope of each of its tablets), and checks that
// receipts are unique there.
class StoresBackInTime : public SyncE2e {
 protected:
  json ServerRequestsOfVan(const std::string& van_code) {
    json mine = json::array();
    std::set<std::string> receipts;
    for (const auto& r : ServerJson({"requests", "list"})) {
      const std::string receipt = r.value("receipt", "");
      if (receipt.rfind(van_code + "-", 0) != 0) continue;
      EXPECT_TRUE(receipts.insert(receipt).second) << "receipt " << receipt << " twice";
      mine.push_back(r);
    }
    return mine;
  }

  // Invariant 1 for a van code: the tablet holds what the server holds, nothing pending.
  void ExpectTabletEqualsServer(const Van& van) {
    EXPECT_EQ(Pending(van), 0);
    const auto on_van = Essentials(FieldJson(van, {"request", "list"}));
    const auto on_server = Essentials(ServerRequestsOfVan(van.van_code));
    EXPECT_EQ(on_van.size(), on_server.size());
    EXPECT_EQ(Differences(on_van, on_server), "") << "van " << van.van_code;
  }

  // The van's requests on the server are exactly those of the citizens `first`..`last`, each
  // once (registered once, applied once).
  void ExpectEachNikOnce(const std::string& van_code, int first, int last,
                         std::vector<int> more = {}) {
    for (int serial = first; serial <= last; ++serial) more.push_back(serial);
    std::map<std::string, int> niks;
    for (const auto& r : ServerRequestsOfVan(van_code)) niks[r["fields"].value("nik", "")]++;
    for (int serial : more) EXPECT_EQ(niks[Nik(serial)], 1) << "NIK of citizen " << serial;
    EXPECT_EQ(niks.size(), more.size());
  }

  static void CopyDir(const std::string& from, const std::string& to) {
    fs::remove_all(to);
    fs::copy(from, to, fs::copy_options::recursive);
  }
};

// Item 1: the officer restores an older copy of the tablet's store. The ten requests made after
// the copy and synced are on the server; the ten made after the restore reuse their seqs and
// receipt numbers. Today's answer: none lost, none applied twice, no receipt given twice, and
// the van has all of them back.
TEST_F(StoresBackInTime, VanStoreRestoredFromAnOlderCopyLosesNothingAndGivesNoReceiptTwice) {
  StartServer();
  Van van = NewVan("KR01", "Rahmat Hidayat");
  for (int serial = 1; serial <= 3; ++serial) NewKtp(van, serial);
  Sync(van);
  const std::string copy = temp_.Sub("van-KR01.copy");
  CopyDir(van.dir, copy);
  for (int serial = 4; serial <= 13; ++serial) NewKtp(van, serial);
  Sync(van);
  CopyDir(copy, van.dir);  // the officer restores the old copy
  std::set<std::string> given_after_restore;
  for (int serial = 14; serial <= 23; ++serial) {
    given_after_restore.insert(NewKtp(van, serial).value("receipt", ""));
  }
  const json report = Sync(van);
  EXPECT_TRUE(report.value("store_restored", false)) << report;
  EXPECT_EQ(report.value("renumbered", 0), 10) << report;
  // Every receipt the van gave after the restore that the server holds for another citizen is
  // re-issued, and the officer is told which.
  std::set<std::string> reissued_old;
  for (const auto& r : report["reissued_receipts"]) {
    reissued_old.insert(r.value("old", ""));
    EXPECT_NE(r.value("new", ""), r.value("old", ""));
  }
  for (const auto& receipt : given_after_restore) EXPECT_EQ(reissued_old.count(receipt), 1u);
  Sync(van);  // nothing left to do
  ExpectEachNikOnce("KR01", 1, 23);
  ExpectTabletEqualsServer(van);
  ExpectAuditVerifies();
}

// Item 2 (THREATS.md row 19): the server is restored from a backup taken before the van's last
// five requests. The van learns of the new epoch from a signed answer, sends again from its own
// store the requests it holds (it cannot tell which five the server lost), and goes on; nothing
// it registered is lost.
TEST_F(StoresBackInTime, ServerRestoredFromAnOlderBackupGetsTheVansWorkBack) {
  StartServer();
  Van van = NewVan("KR01", "Rahmat Hidayat");
  Van other = NewVan("KR02", "Siti Rahma");
  for (int serial = 1; serial <= 3; ++serial) NewKtp(van, serial);
  NewKtp(other, 100);
  Sync(van);
  Sync(other);
  const std::string backup = temp_.Sub("server-backup.db");
  Admin({"backup", "--to", backup});  // while serving
  for (int serial = 4; serial <= 8; ++serial) NewKtp(van, serial);
  Sync(van);
  ASSERT_EQ(StopServer(), 0);
  const ProcessResult restored = Server({"restore", "--from", backup});
  ASSERT_EQ(restored.exit_code, 0) << restored;
  EXPECT_EQ(ServerRequestsOfVan("KR01").size(), 3u) << "the backup lacks the last five";
  StartServer();
  for (int serial = 9; serial <= 10; ++serial) NewKtp(van, serial);
  const json report = Sync(van);
  EXPECT_TRUE(report.value("server_restored", false)) << report;
  EXPECT_EQ(report.value("resent", 0), 8) << report;
  const json other_report = Sync(other);  // lost nothing, sends its one request again
  EXPECT_TRUE(other_report.value("server_restored", false)) << other_report;
  EXPECT_EQ(other_report.value("resent", -1), 1) << other_report;
  Sync(van);
  ExpectEachNikOnce("KR01", 1, 10);
  ExpectTabletEqualsServer(van);
  ExpectTabletEqualsServer(other);
  ExpectAuditVerifies();
}

// Item 3 (THREATS.md row 13): the database file is replaced under the running server. It must
// acknowledge nothing (SQLite would go on writing into the unlinked file), answer 503 with
// Retry-After, say degraded on /healthz, and name no path; once restarted on its data directory
// it starts a new epoch and the van's work arrives.
TEST_F(StoresBackInTime, DatabaseReplacedUnderARunningServerAcknowledgesNothing) {
  StartServer();
  Van van = NewVan("KR01", "Rahmat Hidayat");
  NewKtp(van, 1);
  Sync(van);
  const std::string db = server_dir_ + "/server.db";
  fs::copy_file(db, db + ".copy");
  fs::rename(db + ".copy", db);  // another file under the same name
  const HttpAnswer health = HttpCall(port_, "GET", "/healthz");
  EXPECT_EQ(health.status, 503) << health;
  EXPECT_THAT(health.body, HasSubstr("degraded")) << health;
  EXPECT_THAT(health.body, Not(HasSubstr(server_dir_))) << health;
  NewKtp(van, 2);
  const ProcessResult refused = Field(van, {"sync", "--attempts", "2"});
  EXPECT_NE(refused.exit_code, 0) << refused;
  EXPECT_THAT(refused.err, HasSubstr("503")) << refused;
  EXPECT_THAT(refused.err, Not(HasSubstr(server_dir_))) << refused;
  EXPECT_THAT(refused.err, Not(HasSubstr("SQL"))) << refused;
  EXPECT_EQ(Pending(van), 1) << "nothing was acknowledged";
  ASSERT_EQ(StopServer(), 0);
  StartServer();
  Sync(van);
  ExpectEachNikOnce("KR01", 1, 2);
  ExpectTabletEqualsServer(van);
}

// The data directory deleted under the running server: the same.
TEST_F(StoresBackInTime, DataDirectoryDeletedUnderARunningServerAcknowledgesNothing) {
  StartServer();
  Van van = NewVan("KR01", "Rahmat Hidayat");
  NewKtp(van, 1);
  Sync(van);
  fs::remove_all(server_dir_);
  const HttpAnswer health = HttpCall(port_, "GET", "/healthz");
  EXPECT_EQ(health.status, 503) << health;
  EXPECT_THAT(health.body, HasSubstr("degraded")) << health;
  NewKtp(van, 2);
  const ProcessResult refused = Field(van, {"sync", "--attempts", "2"});
  EXPECT_NE(refused.exit_code, 0) << refused;
  EXPECT_THAT(refused.err, HasSubstr("503")) << refused;
  EXPECT_EQ(Pending(van), 1) << "nothing was acknowledged";
}

// Item 4: two tablets enrolled for one van work offline at once. Their receipts differ (each
// has its own series), both sync without errors, each holds the other's requests, and staff
// decisions by receipt reach the right request and both tablets.
TEST_F(StoresBackInTime, TwoTabletsOfOneVanNeverShareAReceipt) {
  StartServer();
  Van first = NewVan("KR01", "Rahmat Hidayat", true, "-a");
  Van second = NewVan("KR01", "Siti Rahma", true, "-b");
  std::set<std::string> receipts;
  for (int serial = 1; serial <= 3; ++serial) {
    EXPECT_TRUE(receipts.insert(NewKtp(first, serial).value("receipt", "")).second);
    EXPECT_TRUE(receipts.insert(NewKtp(second, 10 + serial).value("receipt", "")).second);
  }
  Sync(first);
  Sync(second);
  Sync(first);
  ExpectEachNikOnce("KR01", 1, 3, {11, 12, 13});
  const std::string receipt = *receipts.begin();
  Admin({"request", "set-status", receipt, "received", "--by", "staf"});
  Sync(first);
  Sync(second);
  ExpectTabletEqualsServer(first);
  ExpectTabletEqualsServer(second);
  for (const Van* tablet : {&first, &second}) {
    const json shown = FieldJson(*tablet, {"request", "show", receipt});
    EXPECT_EQ(shown.value("status", ""), "received") << shown;
  }
}

}  // namespace
}  // namespace mpp::test
