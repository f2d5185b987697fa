// Scale-out with real processes: two `mpp-server serve` processes on one PostgreSQL database (a
// throwaway cluster, tests/support/pg_cluster.h), vans running the real `mpp-field` and syncing
// through either process with `sync --server`, the administrator's commands on the database
// while both serve, one batch retried through both processes (one after the other, and at the
// same moment), the database crashed under running pushes, `serve` started while the database is
// down, and a wrong password.
//
// What must hold (DESIGN.md §6): every request is stored once whichever process took it, an
// acknowledged request is never lost (also across a database crash), a retry is applied once
// even when two processes take it at the same moment, and the servers ride out the database
// going away without a restart. Every process is ended by its PID in TearDown, also on failure;
// every wait polls a condition with a bound.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/pg_cluster.h"
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

constexpr const char* kPath = "PATH=/usr/local/bin:/usr/bin:/bin";  // python3
constexpr const char* kKtp = "dukcapil.ktp-el";
constexpr auto kCommandTimeout = std::chrono::milliseconds(60s);
// A sync whose server cannot take changes spends its retries with backoff (8 attempts: at most
// about a minute) before it gives up.
constexpr auto kSyncTimeout = std::chrono::milliseconds(150s);

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

std::string ReadIfExists(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Refused: non-zero exit, exactly one line "<program>: ..." on stderr naming the problem.
void ExpectOneLineError(const ProcessResult& r, const std::string& program,
                        const std::string& names_problem) {
  EXPECT_FALSE(r.timed_out) << r;
  EXPECT_NE(r.exit_code, 0) << r;
  EXPECT_THAT(r.err, StartsWith(program + ": ")) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  EXPECT_THAT(r.err, HasSubstr(names_problem)) << r;
}

// Pushes a server log reports as applying something, and the mutations they applied.
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

// A NIK that passes validation: Kubu Raya (61.12.07), a man born 1990-03-15, the given serial.
std::string Nik(int serial) {
  char digits[8];
  std::snprintf(digits, sizeof digits, "%04d", serial);
  return std::string("611207150390") + digits;
}

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

// The first few differences, so a failure does not print thousands of requests.
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

// Stands between a van and a server for one HTTP request, and loses the answer: it reads the
// request, forwards it to `forward_port` when that is non-zero (the server applies it), then
// resets the van's connection without answering, as a link cut right after the server's commit
// does. The request's body (a signed push envelope) can then be sent again by the test.
class AnswerLosingProxy {
 public:
  explicit AnswerLosingProxy(int forward_port) : forward_port_(forward_port) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listener_, 4) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "the proxy cannot listen: " << std::strerror(errno);
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~AnswerLosingProxy() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) close(listener_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // The request seen (after the proxy is done with it), within `bound`.
  struct Seen {
    std::string path;
    std::string body;
    HttpAnswer forwarded;  // the server's answer the van never got (status 0 when not forwarded)
  };
  std::optional<Seen> Wait(std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (done_) return seen_;
      }
      std::this_thread::sleep_for(5ms);  // the interval between two looks, not the wait
    }
    return std::nullopt;
  }

 private:
  void Serve() {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    int client = -1;
    while (client < 0 && !stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) == 1) client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    }
    if (client < 0) return;
    std::string raw;
    size_t head_end = std::string::npos, total = 0;
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      if (head_end == std::string::npos && (head_end = raw.find("\r\n\r\n")) != std::string::npos) {
        std::string head = raw.substr(0, head_end);
        std::transform(head.begin(), head.end(), head.begin(), ::tolower);
        const size_t at = head.find("content-length:");
        total = head_end + 4 + (at == std::string::npos ? 0 : std::stoul(head.substr(at + 15)));
      }
      if (head_end != std::string::npos && raw.size() >= total) break;
      pollfd p{client, POLLIN, 0};
      if (poll(&p, 1, 50) != 1) continue;
      char buffer[16384];
      const ssize_t n = recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      raw.append(buffer, static_cast<size_t>(n));
    }
    Seen seen;
    if (head_end != std::string::npos && raw.size() >= total) {
      const size_t space = raw.find(' ');
      seen.path = raw.substr(space + 1, raw.find(' ', space + 1) - space - 1);
      seen.body = raw.substr(head_end + 4, total - head_end - 4);
      if (forward_port_ > 0) seen.forwarded = HttpCall(forward_port_, "POST", seen.path, seen.body);
    }
    // An abortive close: the van sees its connection reset, with no answer.
    linger reset{1, 0};
    setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(client);
    std::lock_guard<std::mutex> lock(mu_);
    seen_ = std::move(seen);
    done_ = true;
  }

  int forward_port_ = 0;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  bool done_ = false;
  Seen seen_;
};

struct Van {
  std::string van_code;
  std::string dir;
  std::string passphrase;
  std::string device_id;
};

// One `mpp-server serve` process.
struct Serve {
  pid_t pid = -1;
  int port = 0;
  std::string log;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

class ScaleOut : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = SharedPgCluster();
    ASSERT_NE(cluster_, nullptr);
    db_ = cluster_->CreateDatabase();
    const ProcessResult r = Server({"init"});
    ASSERT_EQ(r.exit_code, 0) << r;
    const auto lines = Lines(r.out);
    ASSERT_FALSE(lines.empty()) << r;
    fingerprint_ = lines.back();
    ASSERT_THAT(fingerprint_, StartsWith("SHA256:")) << r;
    const ProcessResult rina =
        AddStaffAccount({MPP_SERVER_BIN, "--data", server_dir_, "--db", db_}, ServerEnv(), "rina");
    ASSERT_EQ(rina.exit_code, 0) << rina;
  }

  void TearDown() override {
    for (pid_t& pid : background_) {
      if (pid > 0) KillProcess(pid);
      pid = -1;
    }
    for (Serve& s : serves_) {
      if (s.pid > 0) StopProcess(s.pid, 5s);
      s.pid = -1;
    }
    // A test that failed with the cluster down: the next SharedPgCluster() starts it again.
  }

  static std::vector<std::string> ServerEnv() { return {kPath, "LANG=C.UTF-8"}; }
  static std::vector<std::string> FieldEnv(const Van& van) {
    return {kPath, "LANG=C.UTF-8", "MPP_FIELD_DATA=" + van.dir, "MPP_PASSPHRASE=" + van.passphrase};
  }

  // An administrator command on the database (with the data directory's keys).
  ProcessResult Server(const std::vector<std::string>& args) {
    return RunProcess(Concat({MPP_SERVER_BIN, "--data", server_dir_, "--db", db_}, args),
                      ServerEnv(), kCommandTimeout);
  }
  json ServerJson(const std::vector<std::string>& args) {
    const ProcessResult r = Server(Concat(args, {"--json"}));
    EXPECT_EQ(r.exit_code, 0) << r;
    return ParseJson(r);
  }

  // Polls GET /healthz until it answers `status`; the last answer (status 0: none) after
  // `bound`.
  static HttpAnswer WaitForHealth(int port, int status, std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    HttpAnswer last;
    while (std::chrono::steady_clock::now() < deadline) {
      last = HttpCall(port, "GET", "/healthz", "", 2s);
      if (last.status == status) return last;
      std::this_thread::sleep_for(25ms);  // the interval between two checks, not the wait
    }
    return last;
  }

  // Starts `mpp-server serve` on a free loopback port (or on `serve.port` when set: vans know a
  // server by its URL) and waits until /healthz answers `health` (200, or 503 for a server
  // whose database is down). The process stays in serves_ for TearDown.
  void StartServe(Serve& serve, int health = 200) {
    ASSERT_LE(serve.pid, 0) << "already serving";
    const bool fixed_port = serve.port != 0;
    for (int attempt = 1; attempt <= 20; ++attempt) {
      if (!fixed_port) serve.port = FreeLoopbackPort();
      serve.log = temp_.Sub("serve-" + std::to_string(serve.port) + "-" +
                            std::to_string(++starts_) + ".log");
      serve.pid = StartBackground(
          {MPP_SERVER_BIN, "--data", server_dir_, "--db", db_, "serve", "--listen",
           "127.0.0.1:" + std::to_string(serve.port), "--max-connections-per-address", "1000"},
          ServerEnv(), temp_.Sub("serve.out"), serve.log, /*append=*/false);
      ASSERT_GT(serve.pid, 0);
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (std::chrono::steady_clock::now() < deadline && IsRunning(serve.pid)) {
        const HttpAnswer answer = HttpCall(serve.port, "GET", "/healthz", "", 2s);
        if (answer.status == health) return;
        std::this_thread::sleep_for(25ms);  // the interval between two checks
      }
      const auto code = WaitForExit(serve.pid, 2s);
      if (!code) {
        StopProcess(serve.pid, 2s);
        serve.pid = -1;
        FAIL() << "mpp-server serve runs but /healthz does not answer " << health << " on port "
               << serve.port << ":\n"
               << ReadIfExists(serve.log);
      }
      serve.pid = -1;
      const std::string log = ReadIfExists(serve.log);
      ASSERT_THAT(log, HasSubstr("cannot listen")) << "serve exited " << *code << ": " << log;
      if (fixed_port) std::this_thread::sleep_for(50ms);  // until the old socket is released
    }
    FAIL() << "no port to listen on after 20 attempts";
  }

  Serve& NewServe(int health = 200) {
    serves_.emplace_back();
    Serve& serve = serves_.back();
    StartServe(serve, health);
    return serve;
  }

  int StopServe(Serve& serve) {
    const int code = StopProcess(serve.pid, 10s);
    serve.pid = -1;
    return code;
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

  std::string NewToken(const std::string& van_code) {
    const ProcessResult r = Server({"token", "create", "--van-code", van_code});
    EXPECT_EQ(r.exit_code, 0) << r;
    const auto lines = Lines(r.out);
    return lines.empty() ? "" : lines.front();
  }

  // A van with a cheap KDF, enrolled through `enrol_at` with the pinned server key.
  Van NewVan(const std::string& van_code, const Serve& enrol_at) {
    Van van{van_code, temp_.Sub("van-" + van_code), "passphrase-of-" + van_code, ""};
    const ProcessResult init = Field(van, {"init", "--van-code", van_code, "--officer",
                                           "Rahmat Hidayat", "--kdf-memory-kib", "64"});
    EXPECT_EQ(init.exit_code, 0) << init;
    van.device_id = FieldJson(van, {"status"}).value("device_id", "");
    const ProcessResult enrolled = Field(van, {"enroll", "--server", enrol_at.url(), "--token",
                                               NewToken(van_code), "--server-key", fingerprint_});
    EXPECT_EQ(enrolled.exit_code, 0) << enrolled;
    return van;
  }

  json NewKtp(const Van& van, int serial) {
    const ProcessResult r = Field(van, NewKtpArgs(serial));
    EXPECT_EQ(r.exit_code, 0) << r;
    return ParseJson(r);
  }

  // `n` lines of tools/workload (seed `seed`) in a file.
  std::string Workload(int n, int seed) {
    const ProcessResult r = RunProcess({"python3", std::string(MPP_SOURCE_DIR) + "/tools/workload",
                                        "--n", std::to_string(n), "--seed", std::to_string(seed)},
                                       {kPath, "LANG=C.UTF-8"}, kCommandTimeout);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string file = temp_.Sub("workload-" + std::to_string(seed) + ".jsonl");
    std::ofstream(file, std::ios::binary) << r.out;
    return file;
  }

  void Import(const Van& van, const std::string& file, int expected) {
    const json report = FieldJson(van, {"request", "import", "--file", file, "--force"});
    EXPECT_EQ(report.value("imported", 0), expected) << report.dump().substr(0, 2000);
  }

  // A sync through `through` (--server) that must complete; its JSON summary.
  json Sync(const Van& van, const Serve& through, const std::vector<std::string>& extra = {}) {
    const ProcessResult r =
        Field(van, Concat({"sync", "--json", "--server", through.url()}, extra), kSyncTimeout);
    EXPECT_EQ(r.exit_code, 0) << r;
    return ParseJson(r);
  }

  pid_t StartSync(const Van& van, const Serve& through, const std::vector<std::string>& extra) {
    const pid_t pid = StartBackground(
        Concat({MPP_FIELD_BIN, "sync", "--json", "--server", through.url()}, extra), FieldEnv(van),
        temp_.Sub("sync-" + van.van_code + ".out"), temp_.Sub("sync-" + van.van_code + ".err"));
    background_.push_back(pid);
    return pid;
  }
  std::optional<int> FinishBackground(pid_t pid, std::chrono::milliseconds bound) {
    auto code = WaitForExit(pid, bound);
    if (code) std::replace(background_.begin(), background_.end(), pid, pid_t{-1});
    return code;
  }

  // Polls the servers' logs (a line is written once its answer is sent) until they report at
  // least `mutations` applied; what they report then, or after `bound`.
  int64_t WaitForAppliedMutations(int64_t mutations, std::chrono::milliseconds bound = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    int64_t seen = AppliedInLogs().mutations;
    while (seen < mutations && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);  // the interval between two looks at the logs
      seen = AppliedInLogs().mutations;
    }
    return seen;
  }

  AppliedPushes AppliedInLogs() {
    AppliedPushes all;
    for (const auto& entry : fs::directory_iterator(temp_.path())) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("serve-", 0) != 0) continue;
      const AppliedPushes one = CountAppliedPushes(ReadIfExists(entry.path().string()));
      all.pushes += one.pushes;
      all.mutations += one.mutations;
    }
    return all;
  }

  json ServerRequestsOf(const Van& van) {
    json mine = json::array();
    for (const auto& r : ServerJson({"requests", "list"})) {
      if (r.value("device_id", "") == van.device_id) mine.push_back(r);
    }
    return mine;
  }

  // Invariant 1: the van's view equals the server's state for its requests, nothing pending.
  void ExpectVanEqualsServer(const Van& van) {
    const json van_list = FieldJson(van, {"request", "list"});
    for (const auto& r : van_list) EXPECT_FALSE(r.value("pending", true)) << r;
    const auto on_van = Essentials(van_list);
    const auto on_server = Essentials(ServerRequestsOf(van));
    EXPECT_EQ(on_van.size(), on_server.size());
    EXPECT_EQ(Differences(on_van, on_server), "") << "van " << van.van_code;
  }

  // Invariants 2 and 3: the server holds each of `vans`' requests exactly once (ids and
  // receipts unique, `per_van` each), each van's last applied seq is its last seq, and every
  // stored envelope verifies.
  void ExpectExactlyOnce(const std::vector<const Van*>& vans, int per_van) {
    const json all = ServerJson({"requests", "list"});
    ASSERT_TRUE(all.is_array());
    EXPECT_EQ(all.size(), vans.size() * static_cast<size_t>(per_van));
    std::set<std::string> ids, receipts;
    for (const auto& r : all) {
      EXPECT_TRUE(ids.insert(r.value("id", "")).second) << "request twice: " << r.value("id", "");
      EXPECT_TRUE(receipts.insert(r.value("receipt", "")).second)
          << "receipt twice: " << r.value("receipt", "");
    }
    std::map<std::string, int64_t> seqs;
    for (const auto& d : ServerJson({"device", "list"})) {
      seqs[d.value("device_id", "")] = d.value("last_applied_seq", int64_t{-1});
    }
    for (const Van* van : vans) {
      EXPECT_EQ(Pending(*van), 0) << van->van_code;
      EXPECT_EQ(seqs[van->device_id], per_van) << van->van_code;
      ExpectVanEqualsServer(*van);
    }
    EXPECT_LE(AppliedInLogs().mutations, static_cast<int64_t>(vans.size()) * per_van)
        << "the server logs report more applied mutations than the vans made";
    const ProcessResult audit = Server({"audit", "verify"});
    EXPECT_EQ(audit.exit_code, 0) << audit;
    EXPECT_THAT(audit.out, HasSubstr(" 0 failures")) << audit;
  }

  TempDir temp_;
  PgCluster* cluster_ = nullptr;
  std::string db_;
  std::string server_dir_ = temp_.Sub("server");
  std::string fingerprint_;
  std::deque<Serve> serves_;  // references into it stay valid as it grows
  int starts_ = 0;
  std::vector<pid_t> background_;
};

// --- 1. vans alternate between two servers on one database --------------------------------------

TEST_F(ScaleOut, VansAlternatingBetweenTwoServersStoreEachRequestOnceAndGetStaffChanges) {
  Serve& a = NewServe();
  Serve& b = NewServe();
  ASSERT_FALSE(HasFailure());
  const Serve* both[] = {&a, &b};
  std::vector<Van> vans = {NewVan("KR01", a), NewVan("KR02", b), NewVan("KR03", a)};
  ASSERT_FALSE(HasFailure());

  constexpr int kRounds = 4, kPerRound = 3;
  int serial = 1;
  std::string staff_receipt;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    for (size_t i = 0; i < vans.size(); ++i) {
      for (int k = 0; k < kPerRound; ++k) {
        const json created = NewKtp(vans[i], serial++);
        if (staff_receipt.empty()) staff_receipt = created.value("receipt", "");
      }
      const json report = Sync(vans[i], *both[(round + i) % 2]);
      EXPECT_EQ(report.value("acknowledged", -1), kPerRound) << report;
    }
    if (round == 1) {
      // Staff, while both processes serve: the change reaches the van through either.
      const ProcessResult set = Server({"request", "set-status", staff_receipt, "received", "--by",
                                        "rina", "--note", "berkas diterima"});
      ASSERT_EQ(set.exit_code, 0) << set;
    }
  }
  for (size_t i = 0; i < vans.size(); ++i) Sync(vans[i], *both[(kRounds + i) % 2]);

  const json shown = FieldJson(vans[0], {"request", "show", staff_receipt});
  EXPECT_EQ(shown.value("status", ""), "received") << shown;
  EXPECT_EQ(shown.value("status_note", ""), "berkas diterima") << shown;
  // Both processes took pushes.
  EXPECT_GT(CountAppliedPushes(ReadIfExists(a.log)).pushes, 0) << ReadIfExists(a.log);
  EXPECT_GT(CountAppliedPushes(ReadIfExists(b.log)).pushes, 0) << ReadIfExists(b.log);
  ExpectExactlyOnce({&vans[0], &vans[1], &vans[2]}, kRounds * kPerRound);
  // The enrolled URL stays what it was.
  EXPECT_EQ(FieldJson(vans[1], {"status"}).value("server", ""), b.url());
}

// --- 2. one batch, retried through the other server ---------------------------------------------

TEST_F(ScaleOut, AnswerLostFromOneServerAndTheRetryThroughTheOtherIsAppliedOnce) {
  constexpr int n = 300;
  Serve& a = NewServe();
  Serve& b = NewServe();
  ASSERT_FALSE(HasFailure());
  const Van van = NewVan("KR01", a);
  Import(van, Workload(n, 41), n);
  ASSERT_FALSE(HasFailure());

  // Through the proxy to A: A applies the batch, the van never hears so.
  AnswerLosingProxy lost(a.port);
  const ProcessResult cut = Field(van, {"sync", "--server", lost.url(), "--attempts", "1"});
  EXPECT_NE(cut.exit_code, 0) << cut;
  EXPECT_THAT(cut.err, HasSubstr("server not reachable")) << cut;
  const auto seen = lost.Wait(10s);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->path, "/v1/push");
  EXPECT_EQ(seen->forwarded.status, 200) << seen->forwarded;
  EXPECT_EQ(Pending(van), n) << "the van never got the answer";
  EXPECT_EQ(ServerJson({"requests", "list"}).size(), static_cast<size_t>(n));

  // The van retries through B: the same batch, acknowledged, applied nothing again.
  const json retried = Sync(van, b);
  EXPECT_EQ(retried.value("acknowledged", -1), n) << retried;
  EXPECT_EQ(CountAppliedPushes(ReadIfExists(b.log)).mutations, 0) << ReadIfExists(b.log);
  ExpectExactlyOnce({&van}, n);
}

// --- 3. the same batch at both servers at the same moment ---------------------------------------

TEST_F(ScaleOut, SameBatchSentToBothServersAtOnceIsAcknowledgedByBothAndAppliedOnce) {
  constexpr int kRounds = 5, kBatch = 200;
  Serve& a = NewServe();
  Serve& b = NewServe();
  ASSERT_FALSE(HasFailure());
  const Van van = NewVan("KR01", a);
  const std::vector<std::string> lines = Lines(ReadFileOrDie(Workload(kRounds * kBatch, 42)));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kRounds * kBatch));

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string chunk = temp_.Sub("chunk-" + std::to_string(round) + ".jsonl");
    {
      std::ofstream out(chunk, std::ios::binary);
      for (int i = 0; i < kBatch; ++i)
        out << lines[static_cast<size_t>(round * kBatch + i)] << "\n";
    }
    Import(van, chunk, kBatch);

    // The van's push, captured and never delivered.
    AnswerLosingProxy capture(/*forward_port=*/0);
    const ProcessResult cut = Field(van, {"sync", "--server", capture.url(), "--attempts", "1"});
    EXPECT_NE(cut.exit_code, 0) << cut;
    const auto seen = capture.Wait(10s);
    ASSERT_TRUE(seen.has_value());
    ASSERT_EQ(seen->path, "/v1/push");

    // Two retries of it, one at each server, released together.
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    HttpAnswer answers[2];
    std::thread senders[2];
    const int ports[2] = {a.port, b.port};
    for (int s = 0; s < 2; ++s) {
      senders[s] = std::thread([&, s] {
        ++ready;
        while (!go) std::this_thread::yield();
        answers[s] = HttpCall(ports[s], "POST", "/v1/push", seen->body, 30s);
      });
    }
    while (ready < 2) std::this_thread::yield();
    go = true;
    for (auto& t : senders) t.join();
    EXPECT_EQ(answers[0].status, 200) << "server A: " << answers[0];
    EXPECT_EQ(answers[1].status, 200) << "server B: " << answers[1];
    EXPECT_EQ(ServerJson({"requests", "list"}).size(), static_cast<size_t>((round + 1) * kBatch));
    EXPECT_EQ(WaitForAppliedMutations((round + 1) * kBatch), (round + 1) * kBatch)
        << "applied twice, or not at all";

    // The van's own retry gets the acknowledgement too.
    const json synced = Sync(van, round % 2 == 0 ? b : a);
    EXPECT_EQ(synced.value("acknowledged", -1), kBatch) << synced;
  }
  ExpectExactlyOnce({&van}, kRounds * kBatch);
  EXPECT_EQ(WaitForAppliedMutations(kRounds * kBatch), kRounds * kBatch);
}

// --- 4. the database crashes under running pushes -----------------------------------------------

TEST_F(ScaleOut, DatabaseCrashedUnderRunningPushesLosesNoAcknowledgedRequest) {
  constexpr int n = 1500;
  Serve& a = NewServe();
  Serve& b = NewServe();
  ASSERT_FALSE(HasFailure());
  const Van first = NewVan("KR01", a);
  const Van second = NewVan("KR02", b);
  Import(first, Workload(n, 51), n);
  Import(second, Workload(n, 52), n);
  ASSERT_FALSE(HasFailure());
  const pid_t pid_a = a.pid, pid_b = b.pid;

  // Small batches: many pushes, so the crash lands between and inside them.
  const pid_t sync_first = StartSync(first, a, {"--batch-size", "20"});
  const pid_t sync_second = StartSync(second, b, {"--batch-size", "20"});
  ASSERT_GT(sync_first, 0);
  ASSERT_GT(sync_second, 0);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (AppliedInLogs().pushes < 6 && std::chrono::steady_clock::now() < deadline &&
         (IsRunning(sync_first) || IsRunning(sync_second))) {
    std::this_thread::sleep_for(2ms);  // the interval between two looks at the logs
  }
  ASSERT_GE(AppliedInLogs().pushes, 6) << "the syncs did not get going";
  const int applied_before_crash = AppliedInLogs().pushes;
  ASSERT_TRUE(cluster_->Crash());
  EXPECT_LT(applied_before_crash, 2 * n / 20) << "the crash came after the last push";

  // Both servers notice, and say so, while they keep running.
  for (const Serve* s : {&a, &b}) {
    const HttpAnswer down = WaitForHealth(s->port, 503, 30s);
    EXPECT_EQ(down.status, 503) << down;
    EXPECT_THAT(down.body, HasSubstr("degraded")) << down;
    EXPECT_THAT(down.body, Not(HasSubstr(cluster_->password()))) << down;
  }
  ASSERT_TRUE(cluster_->StartAgain());
  for (const Serve* s : {&a, &b}) {
    const HttpAnswer up = WaitForHealth(s->port, 200, 60s);
    EXPECT_EQ(up.status, 200) << "port " << s->port << ": " << up << "\n" << ReadIfExists(s->log);
  }
  EXPECT_TRUE(IsRunning(pid_a) && IsRunning(pid_b)) << "a server did not ride out the crash";

  for (const pid_t sync : {sync_first, sync_second}) {
    const auto code = FinishBackground(sync, kSyncTimeout);
    ASSERT_TRUE(code.has_value()) << "a sync still runs after the database came back";
    RecordProperty("sync_exit_" + std::to_string(sync), *code);
  }
  for (const Van* van : {&first, &second}) {
    if (const std::string err = ReadIfExists(temp_.Sub("sync-" + van->van_code + ".err"));
        !err.empty()) {
      EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line: " << err;
      EXPECT_THAT(err, Not(HasSubstr(cluster_->password()))) << err;
    }
  }

  // No acknowledged request lost: everything a van holds as sent is on the server, as sent.
  int64_t acknowledged = 0;
  for (const Van* van : {&first, &second}) {
    const json van_list = FieldJson(*van, {"request", "list"});
    std::map<std::string, json> sent = Essentials(van_list);
    for (const auto& r : van_list) {
      if (r.value("pending", true)) sent.erase(r.value("id", ""));
    }
    acknowledged += static_cast<int64_t>(sent.size());
    const auto on_server = Essentials(ServerRequestsOf(*van));
    for (const auto& [id, essentials] : sent) {
      auto it = on_server.find(id);
      ASSERT_NE(it, on_server.end()) << "acknowledged but not on the server: " << id;
      EXPECT_EQ(it->second, essentials) << id;
    }
  }
  EXPECT_GT(acknowledged, 0);
  RecordProperty("acknowledged_after_crash", static_cast<int>(acknowledged));

  // The rest arrives, once.
  for (const Van* van : {&first, &second}) {
    for (int attempt = 0; attempt < 3 && Pending(*van) != 0; ++attempt) Sync(*van, a);
  }
  ExpectExactlyOnce({&first, &second}, n);
}

// --- 5. serve started while the database is down ------------------------------------------------

TEST_F(ScaleOut, ServeStartedWhileTheDatabaseIsDownAnswers503AndRecoversWhenItIsBack) {
  Serve& a = NewServe();
  ASSERT_FALSE(HasFailure());
  const Van van = NewVan("KR01", a);
  NewKtp(van, 1);
  NewKtp(van, 2);
  ASSERT_EQ(StopServe(a), 0);
  ASSERT_TRUE(cluster_->Stop());

  // On the same port (the van's enrolled URL), with the database down.
  ASSERT_NO_FATAL_FAILURE(StartServe(a, /*health=*/503));
  const pid_t pid = a.pid;
  const HttpAnswer health = HttpCall(a.port, "GET", "/healthz");
  EXPECT_EQ(health.status, 503) << health;
  EXPECT_THAT(health.body, StartsWith("degraded: ")) << health;
  EXPECT_THAT(health.body, Not(HasSubstr(cluster_->password()))) << health;
  EXPECT_THAT(ReadIfExists(a.log), HasSubstr("starting degraded")) << ReadIfExists(a.log);
  EXPECT_THAT(ReadIfExists(a.log), Not(HasSubstr(cluster_->password())));

  const ProcessResult refused = Field(van, {"sync", "--attempts", "2"});
  EXPECT_EQ(refused.exit_code, 1) << refused;
  EXPECT_EQ(refused.err,
            "mpp-field: the server cannot take changes now (HTTP 503); 2 changes stay saved on "
            "this van and will be sent at the next sync\n")
      << refused;
  EXPECT_EQ(Pending(van), 2);
  // The administrator's commands say the database is not there, in one line.
  const ProcessResult listed = Server({"requests", "list"});
  ExpectOneLineError(listed, "mpp-server", "");
  EXPECT_THAT(listed.err, Not(HasSubstr(cluster_->password()))) << listed;

  ASSERT_TRUE(cluster_->StartAgain());
  const HttpAnswer up = WaitForHealth(a.port, 200, 60s);
  EXPECT_EQ(up.status, 200) << up << "\n" << ReadIfExists(a.log);
  const json synced = Sync(van, a);
  EXPECT_EQ(synced.value("acknowledged", -1), 2) << synced;
  EXPECT_EQ(a.pid, pid);
  EXPECT_TRUE(IsRunning(pid)) << "serve restarted";
  ExpectExactlyOnce({&van}, 2);
}

// --- 6. a wrong password, a URL that is not PostgreSQL's -----------------------------------------

TEST_F(ScaleOut, WrongPasswordMakesServeExitWithOneLineThatNamesTheProblemNotThePassword) {
  const std::string wrong_password = "Wr0ng-Passw0rd-4e1f";
  const std::string dbname = db_.substr(db_.rfind('/') + 1);
  const std::string wrong = cluster_->url_with_password(dbname, wrong_password);
  const int port = FreeLoopbackPort();
  const ProcessResult serve = RunProcess({MPP_SERVER_BIN, "--data", server_dir_, "--db", wrong,
                                          "serve", "--listen", "127.0.0.1:" + std::to_string(port)},
                                         ServerEnv(), 30s);
  ExpectOneLineError(serve, "mpp-server", "password");
  EXPECT_THAT(serve.err, Not(HasSubstr(wrong_password))) << serve;
  EXPECT_THAT(serve.err, Not(HasSubstr(cluster_->password()))) << serve;
  EXPECT_EQ(HttpCall(port, "GET", "/healthz").status, 0) << "it serves anyway";

  // The same for an administrator command, and through MPP_SERVER_DB.
  const ProcessResult listed =
      RunProcess({MPP_SERVER_BIN, "--data", server_dir_, "requests", "list"},
                 Concat(ServerEnv(), {"MPP_SERVER_DB=" + wrong}), 30s);
  ExpectOneLineError(listed, "mpp-server", "password");
  EXPECT_THAT(listed.err, Not(HasSubstr(wrong_password))) << listed;

  const ProcessResult not_postgres =
      RunProcess({MPP_SERVER_BIN, "--data", server_dir_, "--db", "mysql://mpp:x@127.0.0.1/mpp",
                  "serve", "--listen", "127.0.0.1:" + std::to_string(port)},
                 ServerEnv(), 30s);
  ExpectOneLineError(not_postgres, "mpp-server", "postgresql://");
}

}  // namespace
}  // namespace mpp::test
