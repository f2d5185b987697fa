#include "fleet.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <sstream>
#include <thread>

#include "mpp/field/use_cases.h"
#include "mpp/server/storage.h"
#include "mpp/store/van_store.h"
#include "mpp/subprocess/subprocess.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/curl_transport.h"

namespace mpp::fleet {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using subprocess::CommandResult;
using subprocess::RunCommand;

// Every van store is throwaway and unlocked once, so they share one passphrase.
constexpr char kPassphrase[] = "fleet-van-passphrase";
constexpr char kStaff[] = "fleet-staff";
// Bounds on the children. Generating ~100k workload lines takes python a few seconds per 10k;
// the bulk status change is one transaction per line.
constexpr auto kCommandTimeout = std::chrono::milliseconds(120s);
constexpr auto kWorkloadTimeout = std::chrono::milliseconds(30min);
constexpr auto kBulkTimeout = std::chrono::milliseconds(30min);
constexpr auto kStartTimeout = std::chrono::milliseconds(30s);
// SIGTERM lets in-flight requests finish; a server still running after this is killed.
constexpr auto kStopGrace = std::chrono::milliseconds(30s);

int64_t MillisSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
}

std::string VanCode(size_t index) {
  char code[16];
  std::snprintf(code, sizeof code, "FLEET%05zu", index + 1);  // letters and digits, <= 12
  return code;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::NotFound("cannot read " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Result<void> WriteLines(const std::string& path, const std::vector<std::string>& lines,
                        size_t first, size_t count) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (size_t i = first; i < first + count; ++i) out << lines[i] << "\n";
  out.flush();
  if (!out) return Error::StorageFull("cannot write " + path);
  return Ok();
}

// A failed command as one line: what ran, how it ended, and the first line of its stderr.
Error CommandError(const std::string& what, const CommandResult& r) {
  std::string err = r.err.substr(0, r.err.find('\n'));
  if (r.timed_out) return Error::Timeout(what + " did not finish in time and was killed");
  return Error::Internal(what + " failed (exit " + std::to_string(r.exit_code) + "): " + err);
}

// Runs fn(0..n-1) on `threads` threads; stops handing out work after the first error and
// returns it.
Result<void> ParallelFor(size_t n, int threads, const std::function<Result<void>(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::optional<Error> first_error;
  auto work = [&] {
    for (;;) {
      const size_t i = next++;
      if (i >= n || failed) return;
      auto done = fn(i);
      if (!done) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = done.error();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  const size_t count = std::min<size_t>(n, static_cast<size_t>(std::max(1, threads)));
  for (size_t t = 0; t < count; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (first_error) return *first_error;
  return Ok();
}

// One simulated van. VanStore keeps references to the clock and rng, so a Van never moves.
struct Van {
  std::string code;
  std::string dir;  // holds store/ and the import files
  sync::SystemClock clock;
  sync::SystemRng rng;
  std::unique_ptr<store::VanStore> store;
  std::string device_id;
  std::vector<std::string> yesterday_ids;  // the requests staff change
  int64_t unlock_ms = 0;
};

// Forwards to the real transport and keeps what failed, so the retries the sync absorbed (and
// the report only counts) can be named.
class ObservedTransport final : public sync::Transport {
 public:
  ObservedTransport(std::unique_ptr<sync::Transport> inner, std::vector<std::string>& failures)
      : inner_(std::move(inner)), failures_(failures) {}
  Result<sync::HttpResponse> Send(const sync::HttpRequest& request) override {
    auto answer = inner_->Send(request);
    if (!answer) {
      failures_.push_back(request.path + ": " + answer.error().message());
    } else if (answer->status != 200) {
      failures_.push_back(request.path + ": HTTP " + std::to_string(answer->status));
    }
    return answer;
  }
  sync::TransferStats stats() const override { return inner_->stats(); }

 private:
  std::unique_ptr<sync::Transport> inner_;
  std::vector<std::string>& failures_;
};

class Fleet {
 public:
  Fleet(const FleetOptions& options, std::ostream& progress)
      : o_(options), progress_(progress), vans_(static_cast<size_t>(options.vans)) {}

  ~Fleet() {
    // On an error path: end the children this run started, by PID, before anything else.
    if (proxy_) proxy_->Stop(5s);
    for (auto& server : servers_) server.Stop(5s);
  }

  Result<FleetReport> Run() {
    const auto setup_start = SteadyClock::now();
    MPP_RETURN_IF_ERROR(MakeWorkDir());
    report_.work_dir = work_;
    MPP_RETURN_IF_ERROR(StartServer());
    MPP_RETURN_IF_ERROR(StartProxy());
    MPP_RETURN_IF_ERROR(MakeWorkload());
    MPP_RETURN_IF_ERROR(SetUpVans());
    if (o_.status_changes > 0) MPP_RETURN_IF_ERROR(ChangeStatusesAsStaff());
    MPP_RETURN_IF_ERROR(ImportTodaysBacklog());
    MeasureKdf();
    report_.setup_ms = MillisSince(setup_start);

    Rush();
    const auto checks_start = SteadyClock::now();
    CheckVans();
    StopChildren();
    CheckServer();
    // Closing checkpoints each store's WAL (an fsync each): in parallel, it is hundreds of them.
    (void)ParallelFor(vans_.size(), SetupThreads(), [this](size_t i) -> Result<void> {
      vans_[i].store.reset();
      return Ok();
    });
    progress_ << "mpp-fleet: checks done in " << MillisSince(checks_start) << " ms" << std::endl;
    return std::move(report_);
  }

  // Empty until the work directory exists.
  const std::string& work_dir() const { return work_; }

 private:
  std::vector<std::string> ChildEnv() const {
    const char* path = std::getenv("PATH");
    std::vector<std::string> env = {
        std::string("PATH=") + (path ? path : "/usr/local/bin:/usr/bin:/bin"), "LANG=C.UTF-8",
        "MPP_SERVER_DATA=" + server_dir_};
    // Every mpp-server command (init, serve, token, the staff's bulk change) on the database.
    if (!o_.db.empty()) env.push_back("MPP_SERVER_DB=" + o_.db);
    return env;
  }

  Result<void> MakeWorkDir() {
    std::string pattern = (fs::path(o_.work_parent) / "mpp-fleet-XXXXXX").string();
    std::error_code ec;
    fs::create_directories(o_.work_parent, ec);
    if (mkdtemp(pattern.data()) == nullptr) {
      return Error::InvalidInput("cannot make a work directory in " + o_.work_parent + ": " +
                                 std::strerror(errno));
    }
    work_ = pattern;
    server_dir_ = (fs::path(work_) / "server").string();
    progress_ << "mpp-fleet: work directory " << work_ << std::endl;
    return Ok();
  }

  Result<void> StartServer() {
    if (o_.servers < 1 || (o_.servers > 1 && o_.db.empty())) {
      return Error::InvalidInput("several server processes share a PostgreSQL database: give --db");
    }
    if (o_.servers > 1 && !o_.proxy_bin.empty()) {
      return Error::InvalidInput("the link proxy fronts one server process: --servers 1");
    }
    MPP_ASSIGN_OR_RETURN(CommandResult init,
                         RunCommand({o_.server_bin, "init", "--catalog", o_.catalog_file},
                                    ChildEnv(), kCommandTimeout));
    if (init.exit_code != 0) return CommandError("mpp-server init", init);
    // The staff account the bulk status change acts as (`--by` names a real account).
    std::vector<std::string> staff_env = ChildEnv();
    staff_env.push_back("MPP_STAFF_PASSWORD=fleet-staff-password");
    MPP_ASSIGN_OR_RETURN(CommandResult staff,
                         RunCommand({o_.server_bin, "staff", "add", "--user", kStaff, "--agency",
                                     "*", "--role", "admin"},
                                    staff_env, kCommandTimeout));
    if (staff.exit_code != 0) return CommandError("mpp-server staff add", staff);
    // The last line of init is the key fingerprint the vans pin.
    std::istringstream lines(init.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("SHA256:", 0) == 0) fingerprint_ = line;
    }
    if (fingerprint_.empty()) return Error::Internal("mpp-server init printed no fingerprint");

    for (int i = 0; i < o_.servers; ++i) MPP_RETURN_IF_ERROR(StartServe(i));
    return Ok();
  }

  // Serve process `index` (its log: server_log_path(index)).
  Result<void> StartServe(int index) {
    // Port 0: the server binds a free port itself and says which, so no other process can take
    // it between our choice and its bind.
    MPP_ASSIGN_OR_RETURN(ChildProcess server,
                         ChildProcess::Start({o_.server_bin, "serve", "--listen", "127.0.0.1:0",
                                              // every simulated van comes from 127.0.0.1
                                              "--max-connections-per-address", "100000"},
                                             ChildEnv(), server_log_path(index)));
    servers_.push_back(std::move(server));
    ChildProcess& started = servers_.back();
    auto line = started.ReadLine(kStartTimeout);
    const std::string prefix = "mpp-server listening on 127.0.0.1:";
    if (!line || line->rfind(prefix, 0) != 0) {
      return Error::Unavailable("mpp-server serve did not start (see " + server_log_path(index) +
                                "): " + (line ? *line : line.error().message()));
    }
    const int port = std::atoi(line->c_str() + prefix.size());
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    server_ports_.push_back(port);
    server_urls_.push_back(url);
    MPP_RETURN_IF_ERROR(WaitForHealthz(url, started));
    progress_ << "mpp-fleet: mpp-server (pid " << started.pid() << ") on " << url
              << (o_.db.empty() ? ", SQLite" : ", PostgreSQL") << std::endl;
    return Ok();
  }

  // The server printed its port after binding, so /healthz answers at once; the few attempts
  // cover a listener that is bound but not yet accepting.
  Result<void> WaitForHealthz(const std::string& url, const ChildProcess& server) {
    sync::CurlOptions options;
    options.connect_timeout_ms = 2000;
    options.total_timeout_ms = 5000;
    MPP_ASSIGN_OR_RETURN(auto transport, sync::CurlTransport::Create(url, options));
    Error last = Error::Unavailable("not tried");
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto answer = transport->Send({"GET", "/healthz", "", {}});
      if (answer && answer->status == 200) return Ok();
      last = answer ? Error::Unavailable("HTTP " + std::to_string(answer->status)) : answer.error();
      if (!server.Running()) break;
      std::this_thread::sleep_for(100ms);  // the interval between two checks
    }
    return Error::Unavailable(url + "/healthz does not answer: " + last.message());
  }

  Result<void> StartProxy() {
    if (o_.proxy_bin.empty()) {
      report_.link =
          o_.servers > 1 ? "direct, " + std::to_string(o_.servers) + " servers" : "direct";
      rush_urls_ = server_urls_;
      return Ok();
    }
    std::vector<std::string> argv = {o_.proxy_bin,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--target",
                                     "127.0.0.1:" + std::to_string(server_ports_[0]),
                                     "--seed",
                                     std::to_string(o_.seed)};
    std::ostringstream link;
    link << "flaky-proxy";
    if (o_.link_rate_kbit > 0) {
      argv.insert(argv.end(), {"--rate-kbit", std::to_string(o_.link_rate_kbit)});
      link << " " << o_.link_rate_kbit << " kbit/s";
    }
    if (o_.link_latency_ms > 0) {
      argv.insert(argv.end(), {"--latency-ms", std::to_string(o_.link_latency_ms)});
      link << " " << o_.link_latency_ms << " ms one way";
    }
    if (o_.link_cut_every_bytes > 0) {
      argv.insert(argv.end(), {"--cut-every-bytes", std::to_string(o_.link_cut_every_bytes)});
      link << " cut every ~" << o_.link_cut_every_bytes << " B";
    }
    report_.link = link.str();
    const std::string log = (fs::path(work_) / "proxy.log").string();
    MPP_ASSIGN_OR_RETURN(ChildProcess proxy, ChildProcess::Start(argv, ChildEnv(), log));
    proxy_ = std::move(proxy);
    auto line = proxy_->ReadLine(kStartTimeout);
    const std::string prefix = "listening 127.0.0.1:";
    if (!line || line->rfind(prefix, 0) != 0) {
      return Error::Unavailable("flaky-proxy did not start (see " + log +
                                "): " + (line ? *line : line.error().message()));
    }
    rush_urls_ = {"http://127.0.0.1:" + line->substr(prefix.size())};
    progress_ << "mpp-fleet: vans sync through " << report_.link << " on " << rush_urls_[0]
              << std::endl;
    return Ok();
  }

  // Yesterday's K lines and today's B lines of every van, from one run of tools/workload.
  Result<void> MakeWorkload() {
    const size_t per_van = PerVan();
    const size_t total = per_van * vans_.size();
    const std::string path = (fs::path(work_) / "workload.jsonl").string();
    const auto start = SteadyClock::now();
    MPP_ASSIGN_OR_RETURN(
        CommandResult r,
        RunCommand({"python3", o_.workload_script, "--n", std::to_string(total), "--seed",
                    std::to_string(o_.seed), "--catalog", o_.catalog_file},
                   ChildEnv(), kWorkloadTimeout, path));
    if (r.exit_code != 0) return CommandError("tools/workload", r);
    std::ifstream in(path, std::ios::binary);
    for (std::string line; std::getline(in, line);) lines_.push_back(std::move(line));
    if (lines_.size() != total) {
      return Error::Internal("tools/workload made " + std::to_string(lines_.size()) +
                             " lines, expected " + std::to_string(total));
    }
    progress_ << "mpp-fleet: " << total << " workload lines in " << MillisSince(start) << " ms"
              << std::endl;
    return Ok();
  }

  Result<void> Import(Van& van, const char* name, size_t first, size_t count) {
    const std::string path = (fs::path(van.dir) / name).string();
    MPP_RETURN_IF_ERROR(WriteLines(path, lines_, first, count));
    MPP_ASSIGN_OR_RETURN(auto imported, field::ImportFile(*van.store, path, {}));
    if (!imported.refused.empty() || imported.imported != count) {
      const std::string reason = imported.refused.empty()
                                     ? ""
                                     : ": line " + std::to_string(imported.refused[0].line) + ": " +
                                           imported.refused[0].reason;
      return Error::Internal(path + ": imported " + std::to_string(imported.imported) + " of " +
                             std::to_string(count) + reason);
    }
    return Ok();
  }

  // Store, token, enrolment and (with status changes) yesterday's round, for one van.
  Result<void> SetUpVan(size_t index) {
    Van& van = vans_[index];
    van.code = VanCode(index);
    van.dir = (fs::path(work_) / "vans" / van.code).string();
    const std::string store_dir = (fs::path(van.dir) / "store").string();
    store::InitOptions init{van.code, "Petugas " + van.code, catalog_json_, {}};
    init.kdf.memory_kib = o_.kdf_memory_kib;
    auto created = store::VanStore::Create(store_dir, kPassphrase, init, van.clock, van.rng);
    if (!created) return created.error();
    created = Error::Internal("closed");  // closes the store
    // Opened and unlocked again, as every `mpp-field` command does: that unlock is the passphrase
    // derivation a real sync pays on top of the figures measured in the rush.
    MPP_ASSIGN_OR_RETURN(van.store, store::VanStore::Open(store_dir, van.clock, van.rng));
    const auto unlock_start = SteadyClock::now();
    MPP_RETURN_IF_ERROR(van.store->Unlock(kPassphrase));
    van.unlock_ms = MillisSince(unlock_start);

    MPP_ASSIGN_OR_RETURN(CommandResult token, RunCommand({o_.server_bin, "token", "create",
                                                          "--van-code", van.code, "--ttl", "24h"},
                                                         ChildEnv(), kCommandTimeout));
    if (token.exit_code != 0) return CommandError("mpp-server token create", token);
    const std::string secret = token.out.substr(0, token.out.find('\n'));
    // Van i belongs to server process i % servers: it enrols there and syncs there.
    const std::string& server_url = server_urls_[index % server_urls_.size()];
    MPP_ASSIGN_OR_RETURN(auto transport, sync::CurlTransport::Create(server_url, {}));
    MPP_ASSIGN_OR_RETURN(auto enrolled, field::Enroll(*van.store, *transport, server_url, secret,
                                                      fingerprint_, van.rng));
    van.device_id = enrolled.device_id;

    if (o_.status_changes > 0) {
      const size_t per_van = PerVan();
      MPP_RETURN_IF_ERROR(
          Import(van, "yesterday.jsonl", index * per_van, static_cast<size_t>(o_.status_changes)));
      MPP_ASSIGN_OR_RETURN(auto synced,
                           field::RunSync(*van.store, *transport, van.clock, van.rng, o_.sync));
      (void)synced;
      MPP_ASSIGN_OR_RETURN(auto rows, van.store->List({}));
      for (const auto& row : rows) van.yesterday_ids.push_back(row.view.id);
    }
    return Ok();
  }

  // Lines of the workload, requests on the server and seqs of each van: yesterday's + today's.
  size_t PerVan() const {
    return static_cast<size_t>(o_.status_changes) + static_cast<size_t>(o_.backlog);
  }

  int SetupThreads() const {
    if (o_.setup_threads > 0) return o_.setup_threads;
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }

  Result<void> SetUpVans() {
    MPP_ASSIGN_OR_RETURN(catalog_json_, ReadFile(o_.catalog_file));
    const auto start = SteadyClock::now();
    auto done = ParallelFor(vans_.size(), SetupThreads(), [this](size_t i) -> Result<void> {
      auto r = SetUpVan(i);
      if (!r) return r.error().WithContext("van " + VanCode(i));
      return Ok();
    });
    if (!done) return done.error();
    progress_ << "mpp-fleet: " << vans_.size() << " vans created and enrolled"
              << (o_.status_changes > 0 ? ", yesterday's round synced" : "") << " in "
              << MillisSince(start) << " ms" << std::endl;
    return Ok();
  }

  // Staff receive K of each van's requests, in one `mpp-server` process on the same data
  // directory, while the server runs: the changes the vans must pull in the rush.
  Result<void> ChangeStatusesAsStaff() {
    const std::string path = (fs::path(work_) / "status_changes.txt").string();
    std::ofstream out(path, std::ios::trunc);
    size_t count = 0;
    for (const auto& van : vans_) {
      for (const auto& id : van.yesterday_ids) {
        out << id << " received\n";
        ++count;
      }
    }
    out.flush();
    if (!out) return Error::StorageFull("cannot write " + path);
    const auto start = SteadyClock::now();
    MPP_ASSIGN_OR_RETURN(CommandResult r,
                         RunCommand({o_.server_bin, "request", "set-status-bulk", "--file", path,
                                     "--by", kStaff, "--note", "received at the MPP"},
                                    ChildEnv(), kBulkTimeout));
    if (r.exit_code != 0) return CommandError("mpp-server request set-status-bulk", r);
    progress_ << "mpp-fleet: staff changed " << count << " statuses in " << MillisSince(start)
              << " ms" << std::endl;
    return Ok();
  }

  Result<void> ImportTodaysBacklog() {
    const auto start = SteadyClock::now();
    const size_t per_van = PerVan();
    auto done = ParallelFor(vans_.size(), SetupThreads(), [&](size_t i) -> Result<void> {
      auto r = Import(vans_[i], "today.jsonl", i * per_van + static_cast<size_t>(o_.status_changes),
                      static_cast<size_t>(o_.backlog));
      if (!r) return r.error().WithContext("van " + vans_[i].code);
      return Ok();
    });
    if (!done) return done.error();
    progress_ << "mpp-fleet: " << vans_.size() * static_cast<size_t>(o_.backlog)
              << " requests registered offline in " << MillisSince(start) << " ms" << std::endl;
    return Ok();
  }

  void MeasureKdf() {
    std::vector<int64_t> unlocks;
    for (const auto& van : vans_) unlocks.push_back(van.unlock_ms);
    std::sort(unlocks.begin(), unlocks.end());
    report_.kdf_ms = Percentile(unlocks, 50);
    const Bytes salt(crypto::kArgon2SaltBytes, 0);
    const auto start = SteadyClock::now();
    auto derived = crypto::Argon2idDeriveKey(kPassphrase, salt, crypto::Argon2Params{});
    report_.kdf_default_ms = derived ? MillisSince(start) : -1;
  }

  // Every van syncs at once: each waits for the common start, then its own seeded delay, then
  // runs RunSync on a fresh transport (connection set-up is part of a van's sync).
  void Rush() {
    const size_t n = vans_.size();
    report_.vans.resize(n);
    sync::SeededRng jitter(o_.seed);
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) {
      report_.vans[i].van_code = vans_[i].code;
      report_.vans[i].start_delay_ms =
          o_.start_jitter_ms > 0
              ? static_cast<int64_t>(jitter.Uniform(static_cast<uint64_t>(o_.start_jitter_ms) + 1))
              : 0;
      order[i] = i;
    }
    // A bounded pool takes the vans in the order they are due.
    std::stable_sort(order.begin(), order.end(), [this](size_t a, size_t b) {
      return report_.vans[a].start_delay_ms < report_.vans[b].start_delay_ms;
    });
    const size_t workers =
        o_.threads > 0 ? std::min(n, static_cast<size_t>(o_.threads)) : std::max<size_t>(n, 1);

    report_.peak_covers_rush_only = true;
    for (const auto& server : servers_) {
      report_.peak_covers_rush_only =
          ResetPeakMemory(server.pid()) && report_.peak_covers_rush_only;
    }
    const int64_t server_cpu_before = ServersCpuMillis();
    const int64_t fleet_cpu_before = ReadCpuMillis(getpid());
    std::mutex mu;
    std::condition_variable cv;
    bool go = false;
    SteadyClock::time_point start;
    std::atomic<size_t> next{0};
    auto work = [&] {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go; });
      }
      for (;;) {
        const size_t k = next++;
        if (k >= n) return;
        const size_t i = order[k];
        VanOutcome& outcome = report_.vans[i];
        std::this_thread::sleep_until(start + std::chrono::milliseconds(outcome.start_delay_ms));
        SyncOne(vans_[i], rush_urls_[i % rush_urls_.size()], outcome);
      }
    };
    std::vector<std::thread> pool;
    pool.reserve(workers);
    progress_ << "mpp-fleet: rush: " << n << " vans, " << workers << " threads, start jitter 0-"
              << o_.start_jitter_ms << " ms" << std::endl;
    for (size_t t = 0; t < workers; ++t) pool.emplace_back(work);
    {
      std::lock_guard<std::mutex> lock(mu);
      start = SteadyClock::now();
      go = true;
    }
    cv.notify_all();
    for (auto& t : pool) t.join();
    report_.rush_ms = MillisSince(start);
    report_.servers_peak_kib_total = 0;
    for (const auto& server : servers_) {
      const MemoryUse use = ReadMemoryUse(server.pid());
      if (use.peak_kib > report_.server_memory.peak_kib) report_.server_memory = use;
      report_.servers_peak_kib_total += use.peak_kib;
    }
    report_.server_cpu_ms = ServersCpuMillis() - server_cpu_before;
    report_.fleet_cpu_ms = ReadCpuMillis(getpid()) - fleet_cpu_before;
  }

  int64_t ServersCpuMillis() const {
    int64_t total = 0;
    for (const auto& server : servers_) total += ReadCpuMillis(server.pid());
    return total;
  }

  void SyncOne(Van& van, const std::string& url, VanOutcome& outcome) {
    auto curl = sync::CurlTransport::Create(url, {});
    if (!curl) {
      outcome.error = curl.error().message();
      return;
    }
    ObservedTransport transport(std::move(curl).value(), outcome.failed_sends);
    const auto start = SteadyClock::now();
    auto report = field::RunSync(*van.store, transport, van.clock, van.rng, o_.sync);
    outcome.sync_ms = MillisSince(start);
    if (report) {
      outcome.report = *report;
    } else {
      outcome.error = report.error().message();
    }
  }

  // The van's side: nothing left to push, and the K changed statuses arrived.
  void CheckVans() {
    for (size_t i = 0; i < vans_.size(); ++i) {
      VanOutcome& outcome = report_.vans[i];
      if (!outcome.error.empty()) continue;
      auto device = vans_[i].store->Device();
      auto received = vans_[i].store->List({sync::RequestStatus::kReceived, {}, {}});
      if (!device || !received) {
        outcome.error = (device ? received.error() : device.error()).message();
      } else if (device->pending != 0) {
        outcome.error = std::to_string(device->pending) + " changes still pending after the sync";
      } else if (received->size() != static_cast<size_t>(o_.status_changes)) {
        outcome.error = "holds " + std::to_string(received->size()) +
                        " received requests after the sync, expected " +
                        std::to_string(o_.status_changes);
      }
    }
  }

  void StopChildren() {
    if (proxy_) proxy_->Stop(5s);
    for (size_t i = 0; i < servers_.size(); ++i) {
      const int code = servers_[i].Stop(kStopGrace);
      if (report_.server_exit_code <= 0) report_.server_exit_code = code;
      if (code != 0) {
        report_.server_problems.push_back("mpp-server exited with " + std::to_string(code) +
                                          " after SIGTERM (see " +
                                          server_log_path(static_cast<int>(i)) + ")");
      }
      std::ifstream log(server_log_path(static_cast<int>(i)));
      for (std::string line; std::getline(log, line);) {
        if (line.find(" outcome=refused") != std::string::npos) ++report_.server_refusals;
      }
    }
  }

  // The server's side, read from its database once it stopped: every van is enrolled once, its
  // last applied seq is K + B (each mutation exactly once), and it holds K + B requests of that
  // van, K of them received.
  void CheckServer() {
    auto& problems = report_.server_problems;
    auto storage = o_.db.empty()
                       ? server::OpenSqliteStorage((fs::path(server_dir_) / "server.db").string())
                       : server::OpenPostgresStorage(o_.db);
    if (!storage) {
      problems.push_back("cannot open the server database: " + storage.error().message());
      return;
    }
    auto devices = (*storage)->ListDevices();
    if (!devices) {
      problems.push_back("cannot list devices: " + devices.error().message());
      return;
    }
    std::map<std::string, server::DeviceRecord> by_id;
    for (auto& d : *devices) by_id[d.device_id] = d;
    if (by_id.size() != vans_.size()) {
      problems.push_back("the server knows " + std::to_string(by_id.size()) +
                         " devices, expected " + std::to_string(vans_.size()));
    }
    const uint64_t per_van = PerVan();
    // One pass over all requests: the storage's query by device scans the whole table.
    server::RequestQuery all;
    all.limit = per_van * vans_.size() + 1;  // one more than expected, to see extras
    auto rows = (*storage)->ListRequests(all);
    if (!rows) {
      problems.push_back("cannot list requests: " + rows.error().message());
      return;
    }
    struct Held {
      uint64_t requests = 0, received = 0;
    };
    std::map<std::string, Held> held;  // by device id
    for (const auto& row : *rows) {
      Held& h = held[row.request.device_id];
      ++h.requests;
      if (row.request.status == sync::RequestStatus::kReceived) ++h.received;
    }
    const uint64_t total = rows->size();
    rows->clear();
    for (const auto& van : vans_) {
      auto it = by_id.find(van.device_id);
      if (it == by_id.end()) {
        problems.push_back(van.code + ": not enrolled on the server");
        continue;
      }
      if (it->second.last_applied_seq != per_van) {
        problems.push_back(van.code + ": last applied seq " +
                           std::to_string(it->second.last_applied_seq) + ", expected " +
                           std::to_string(per_van));
      }
      const Held h = held[van.device_id];
      if (h.requests != per_van || h.received != static_cast<uint64_t>(o_.status_changes)) {
        problems.push_back(van.code + ": the server holds " + std::to_string(h.requests) +
                           " requests (" + std::to_string(h.received) + " received), expected " +
                           std::to_string(per_van) + " (" + std::to_string(o_.status_changes) +
                           ")");
      }
    }
    if (total != per_van * vans_.size()) {
      problems.push_back("the server holds " + std::to_string(total) + " requests, expected " +
                         std::to_string(per_van * vans_.size()));
    }
    progress_ << "mpp-fleet: the server holds " << total << " requests of " << by_id.size()
              << " vans" << std::endl;
  }

  // server.log, then server-2.log, server-3.log... for further processes.
  std::string server_log_path(int index) const {
    return (fs::path(work_) / (index == 0 ? std::string("server.log")
                                          : "server-" + std::to_string(index + 1) + ".log"))
        .string();
  }

  const FleetOptions& o_;
  std::ostream& progress_;
  std::vector<Van> vans_;  // sized once: a Van never moves
  std::vector<std::string> lines_;
  std::string catalog_json_;
  std::string work_, server_dir_, fingerprint_;
  std::vector<std::string> server_urls_, rush_urls_;  // rush: the servers', or the proxy's
  std::vector<int> server_ports_;
  std::vector<ChildProcess> servers_;
  std::optional<ChildProcess> proxy_;
  FleetReport report_;
};

}  // namespace

size_t FleetReport::failed_vans() const {
  return static_cast<size_t>(std::count_if(vans.begin(), vans.end(),
                                           [](const VanOutcome& v) { return !v.error.empty(); }));
}

int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

Result<FleetReport> RunFleet(const FleetOptions& options, std::ostream& progress) {
  Result<FleetReport> result = Error::Internal("not run");
  std::string work_dir;
  {
    Fleet fleet(options, progress);
    result = fleet.Run();
    work_dir = fleet.work_dir();
  }  // the children are stopped here, before their directory may go
  // The work directory stays when something failed, for its logs and stores.
  if (!result) {
    if (work_dir.empty()) return result;
    return Error(result.error().code(),
                 result.error().message() + " (work directory kept: " + work_dir + ")");
  }
  if (options.keep || result->errors() > 0) {
    result->work_dir_kept = true;
  } else {
    std::error_code ec;
    fs::remove_all(result->work_dir, ec);
  }
  return result;
}

}  // namespace mpp::fleet
