// mpp-fleet: the fleet simulator. N vans, each its own store and the real client code, sync with
// one real `mpp-server` at once; it reports per-van outcomes and the percentiles of their sync
// durations (issue 5, target 3), and lets operators rehearse a rollout.
// Progress goes to stderr; the result to stdout (a table, or one JSON line with --json).
// Exit 0 when every van synced and every check held, 1 otherwise, 2 for a bad command line.
#include <curl/curl.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "fleet.h"

namespace {

using mpp::fleet::FleetOptions;
using mpp::fleet::FleetReport;
using mpp::fleet::Percentile;
using nlohmann::json;

struct Figures {
  int64_t p50 = 0, p90 = 0, p99 = 0, max = 0;
  uint64_t bytes_sent = 0, bytes_received = 0, retries = 0;
  std::map<std::string, uint64_t> failed_sends;  // reason -> attempts, over all vans
  double requests_per_s = 0;
  double server_peak_rss_mb = 0;
};

// Percentiles over the vans whose sync succeeded: a failed van is listed, not averaged in.
Figures Summarise(const FleetOptions& o, const FleetReport& r) {
  Figures f;
  std::vector<int64_t> durations;
  for (const auto& v : r.vans) {
    f.bytes_sent += v.report.bytes_sent;
    f.bytes_received += v.report.bytes_received;
    f.retries += v.report.retries;
    for (const auto& reason : v.failed_sends) ++f.failed_sends[reason];
    if (v.error.empty() && v.sync_ms >= 0) durations.push_back(v.sync_ms);
  }
  std::sort(durations.begin(), durations.end());
  f.p50 = Percentile(durations, 50);
  f.p90 = Percentile(durations, 90);
  f.p99 = Percentile(durations, 99);
  f.max = durations.empty() ? 0 : durations.back();
  const double pushed = static_cast<double>(o.vans) * o.backlog;
  f.requests_per_s = r.rush_ms > 0 ? pushed * 1000.0 / static_cast<double>(r.rush_ms) : 0;
  f.server_peak_rss_mb = static_cast<double>(r.server_memory.peak_kib) / 1024.0;
  return f;
}

double Round1(double x) { return std::round(x * 10.0) / 10.0; }

json ReportJson(const FleetOptions& o, const FleetReport& r) {
  const Figures f = Summarise(o, r);
  json failures = json::array();
  for (const auto& v : r.vans) {
    if (!v.error.empty()) failures.push_back({{"van", v.van_code}, {"error", v.error}});
  }
  const double total_rss_mb = static_cast<double>(r.servers_peak_kib_total) / 1024.0;
  json j = {{"vans", o.vans},
            {"backlog", o.backlog},
            {"status_changes", o.status_changes},
            {"start_jitter_ms", o.start_jitter_ms},
            {"threads", o.threads > 0 ? std::min(o.threads, o.vans) : o.vans},
            {"seed", o.seed},
            {"link", r.link},
            {"errors", r.errors()},
            {"failed_vans", r.failed_vans()},
            {"p50_ms", f.p50},
            {"p90_ms", f.p90},
            {"p99_ms", f.p99},
            {"max_ms", f.max},
            {"total_ms", r.rush_ms},
            {"requests_per_s", Round1(f.requests_per_s)},
            {"servers", o.servers},
            {"database", o.db.empty() ? "sqlite" : "postgresql"},
            {"server_peak_rss_mb", Round1(f.server_peak_rss_mb)},
            {"servers_peak_rss_total_mb", Round1(total_rss_mb)},
            {"server_peak_rss_rush_only", r.peak_covers_rush_only},
            {"bytes_sent", f.bytes_sent},
            {"bytes_received", f.bytes_received},
            {"retries", f.retries},
            {"failed_sends", f.failed_sends},
            {"server_refusals", r.server_refusals},
            {"server_cpu_ms", r.server_cpu_ms},
            {"fleet_cpu_ms", r.fleet_cpu_ms},
            {"kdf_ms", r.kdf_ms},
            {"kdf_memory_kib", o.kdf_memory_kib},
            {"kdf_default_ms", r.kdf_default_ms},
            {"setup_ms", r.setup_ms},
            {"failures", failures},
            {"server_problems", r.server_problems}};
  if (r.work_dir_kept) j["work_dir"] = r.work_dir;
  return j;
}

void PrintTable(const FleetOptions& o, const FleetReport& r) {
  const Figures f = Summarise(o, r);
  std::cout << std::fixed << std::setprecision(1);
  std::cout << "mpp-fleet: " << o.vans << " vans x " << o.backlog << " new requests, "
            << o.status_changes << " status changes each to pull; start jitter 0-"
            << o.start_jitter_ms << " ms; link " << r.link << "; seed " << o.seed << "\n"
            << "  sync duration  p50 " << f.p50 << " ms   p90 " << f.p90 << " ms   p99 " << f.p99
            << " ms   max " << f.max << " ms\n"
            << "  rush           " << r.rush_ms << " ms wall, " << f.requests_per_s
            << " requests/s, " << static_cast<double>(f.bytes_sent) / 1e6 << " MB sent, "
            << static_cast<double>(f.bytes_received) / 1e6 << " MB received, " << f.retries
            << " retries\n"
            << "  server         " << o.servers << " process(es) on "
            << (o.db.empty() ? "SQLite" : "PostgreSQL") << ", peak RSS " << f.server_peak_rss_mb
            << " MB" << (o.servers > 1 ? " (the largest)" : "")
            << (r.peak_covers_rush_only ? " (during the rush)" : " (since start)") << ", "
            << r.server_refusals << " refusals in its log\n"
            << "  CPU in rush    server " << r.server_cpu_ms << " ms, simulated vans "
            << r.fleet_cpu_ms << " ms (" << std::thread::hardware_concurrency() << " cores)\n"
            << "  van stores     unlock " << r.kdf_ms << " ms at Argon2id " << o.kdf_memory_kib
            << " KiB (" << r.kdf_default_ms
            << " ms at the default 64 MiB; not in the sync figures)\n"
            << "  setup          " << r.setup_ms << " ms\n"
            << "  outcome        " << (r.vans.size() - r.failed_vans()) << " vans ok, "
            << r.failed_vans() << " failed, " << r.server_problems.size()
            << " server check(s) failed\n";
  for (const auto& [reason, count] : f.failed_sends) {
    std::cout << "  retried " << count << " x " << reason << "\n";
  }
  for (const auto& v : r.vans) {
    if (!v.error.empty()) std::cout << "  FAILED " << v.van_code << ": " << v.error << "\n";
  }
  for (const auto& p : r.server_problems) std::cout << "  SERVER " << p << "\n";
  if (r.work_dir_kept) std::cout << "  work directory kept: " << r.work_dir << "\n";
}

// Every van keeps its store open (database, WAL and shared-memory files) and has a socket in the
// rush, so a large fleet needs more descriptors than the usual soft limit: raise it to the hard
// limit, and refuse at once a fleet that would still not fit, rather than fail half-way.
bool EnoughFileDescriptors(int vans) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return true;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  const rlim_t needed = static_cast<rlim_t>(vans) * 4 + 256;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    std::cerr << "mpp-fleet: " << vans << " vans need about " << needed
              << " open files; the limit is " << limit.rlim_cur << " (ulimit -n)\n";
    return false;
  }
  return true;
}

std::string DefaultWorkParent() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mpp-fleet: many simulated vans syncing at once against a real mpp-server"};
  app.require_subcommand(1);
  FleetOptions o;
  o.server_bin = MPP_SERVER_BIN;
  o.workload_script = MPP_WORKLOAD_SCRIPT;
  o.catalog_file = MPP_DEFAULT_CATALOG;
  o.work_parent = DefaultWorkParent();
  std::string proxy_bin = MPP_FLAKY_PROXY_BIN;
  bool use_proxy = false;
  bool json_output = false;

  auto* run = app.add_subcommand("run", "run one evening rush and report it");
  run->add_option("--server-bin", o.server_bin, "the mpp-server program")->capture_default_str();
  run->add_option("--workload", o.workload_script, "tools/workload (run with python3)")
      ->capture_default_str();
  run->add_option("--catalog", o.catalog_file, "catalog for the server and the vans")
      ->capture_default_str();
  run->add_option("--vans", o.vans, "number of vans")
      ->check(CLI::Range(1, 20000))
      ->capture_default_str();
  run->add_option("--backlog", o.backlog, "new requests per van, pushed in the rush")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  run->add_option("--status-changes", o.status_changes,
                  "requests per van synced yesterday whose status staff change; pulled in the rush")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  run->add_option("--start-jitter-ms", o.start_jitter_ms,
                  "each van starts after a seeded uniform delay in [0, J] ms")
      ->check(CLI::Range(0, 3'600'000))
      ->capture_default_str();
  run->add_option("--threads", o.threads, "vans syncing at once; 0: one thread per van")
      ->check(CLI::Range(0, 20000))
      ->capture_default_str();
  run->add_option("--setup-threads", o.setup_threads, "threads building the stores; 0: cores")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  run->add_option("--batch-size", o.sync.batch_size, "mutations per push")
      ->check(CLI::Range(1, 5000))
      ->capture_default_str();
  run->add_option("--attempts", o.sync.max_attempts, "tries per sync step, with backoff")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  run->add_option("--seed", o.seed, "seed of the workload and the start delays")
      ->capture_default_str();
  run->add_option("--kdf-memory-kib", o.kdf_memory_kib,
                  "Argon2id memory cost of the van stores (the default 65536 is timed apart)")
      ->check(CLI::Range(8u, 4u * 1024 * 1024))
      ->capture_default_str();
  run->add_option("--db", o.db,
                  "an empty PostgreSQL database for the server, postgresql://USER:PASSWORD@HOST:"
                  "PORT/DB (default: SQLite in the work directory)");
  run->add_option("--servers", o.servers,
                  "mpp-server serve processes on the --db database; van i syncs through i % N")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  run->add_option("--work", o.work_parent, "where the work directory is made")
      ->capture_default_str();
  run->add_flag("--keep", o.keep, "keep the work directory (it is always kept on failure)");
  run->add_flag("--json", json_output, "one JSON line on stdout");
  run->add_flag("--proxy", use_proxy, "sync through flaky-proxy (implied by the --link options)");
  run->add_option("--proxy-bin", proxy_bin, "the flaky-proxy program")->capture_default_str();
  run->add_option("--link-rate-kbit", o.link_rate_kbit, "bandwidth per van and direction")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--link-latency-ms", o.link_latency_ms, "one-way latency")
      ->check(CLI::Range(0, 60000));
  run->add_option("--link-cut-every-bytes", o.link_cut_every_bytes,
                  "cut each connection after about N bytes");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "mpp-fleet: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (use_proxy || o.link_rate_kbit > 0 || o.link_latency_ms > 0 || o.link_cut_every_bytes > 0) {
    o.proxy_bin = proxy_bin;
  }

  if (!EnoughFileDescriptors(o.vans)) return 1;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  auto report = mpp::fleet::RunFleet(o, std::cerr);
  if (!report) {
    std::cerr << "mpp-fleet: " << report.error().message() << "\n";
    return 1;
  }
  if (json_output) {
    std::cout << ReportJson(o, *report).dump() << "\n";
  } else {
    PrintTable(o, *report);
  }
  return report->errors() == 0 ? 0 : 1;
}
