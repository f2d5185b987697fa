// One run of the fleet simulator (issue 5, target 3 "evening rush"): N vans, each its own
// encrypted store driven by the real client code (ImportFile, Enroll, RunSync over the libcurl
// transport), against real `mpp-server serve` processes on 127.0.0.1: one on SQLite, or one or
// more on one PostgreSQL database (van i enrols and syncs through process i % servers).
//
// Phases: setup (server, van stores, enrolment with the pinned server key; with status changes,
// a "yesterday" round in which each van syncs K requests and staff then change their status
// with `mpp-server request set-status-bulk`; then today's backlog of B requests per van), the
// measured rush (every van syncs at once, after a seeded random start delay), and the checks
// (every van's outbox is empty and it holds the K changed statuses; the server holds exactly
// K + B requests and seqs per van).
//
// Only setup failures are Errors; what goes wrong in the rush or the checks is in the report.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "mpp/field/sync_client.h"
#include "mpp/sync/result.h"
#include "process.h"

namespace mpp::fleet {

struct FleetOptions {
  std::string server_bin;       // the mpp-server program
  std::string workload_script;  // tools/workload (run with python3)
  std::string catalog_file;     // given to the server and to every van
  std::string work_parent;      // the work directory is made inside it
  // The server's database: empty for SQLite in the work directory, or the URL of an empty
  // PostgreSQL database (postgresql://...), given to every mpp-server command as MPP_SERVER_DB.
  std::string db;
  // `mpp-server serve` processes on that database (more than one needs PostgreSQL), sharing
  // the data directory's keys.
  int servers = 1;
  bool keep = false;  // keep the work directory even when everything passed
  int vans = 10;
  int backlog = 200;        // new requests each van pushes in the rush
  int status_changes = 0;   // staff status changes each van pulls in the rush
  int start_jitter_ms = 0;  // each van starts after a uniform delay in [0, this]
  int threads = 0;          // vans syncing at once in the rush; 0: one thread per van
  int setup_threads = 0;    // for building the stores; 0: the number of cores
  uint64_t seed = 1;        // workload lines and start delays
  uint32_t kdf_memory_kib = 1024;
  field::SyncOptions sync;  // batch size, attempts
  // Link quality: when proxy_bin is set, every van's rush goes through one flaky-proxy.
  std::string proxy_bin;
  double link_rate_kbit = 0;  // per connection and direction; 0: unlimited
  int link_latency_ms = 0;    // one way
  uint64_t link_cut_every_bytes = 0;
};

struct VanOutcome {
  std::string van_code;
  int64_t start_delay_ms = 0;
  int64_t sync_ms = -1;  // wall time of RunSync in the rush; -1 when it did not run
  field::SyncReport report;
  std::string error;  // empty when the sync succeeded and every check on this van held
  std::vector<std::string> failed_sends;  // "/v1/push: <reason>" per failed attempt
};

struct FleetReport {
  std::string work_dir;
  bool work_dir_kept = false;
  std::vector<VanOutcome> vans;
  std::vector<std::string> server_problems;  // failed server-side checks
  int64_t setup_ms = 0;
  int64_t rush_ms = 0;                  // from the common start to the last van done
  MemoryUse server_memory;              // read right after the rush; the largest process's
  int64_t servers_peak_kib_total = -1;  // VmHWM of every server process, added up
  bool peak_covers_rush_only = false;   // VmHWM was reset before the rush
  // CPU used during the rush by the server and by this simulator (whose vans share the machine
  // with the server, unlike real vans): ms of CPU, all threads.
  int64_t server_cpu_ms = -1;
  int64_t fleet_cpu_ms = -1;
  int64_t kdf_ms = 0;            // median unlock of a van store at kdf_memory_kib
  int64_t kdf_default_ms = 0;    // one derivation at the default cost (64 MiB)
  uint64_t server_refusals = 0;  // "outcome=refused" lines in the server log
  int server_exit_code = -1;     // after SIGTERM; 0 is a clean stop (the first non-zero one)
  std::string link;              // "direct" or the proxy's settings

  size_t failed_vans() const;
  size_t errors() const { return failed_vans() + server_problems.size(); }
};

Result<FleetReport> RunFleet(const FleetOptions& options, std::ostream& progress);

// Nearest-rank percentile of sorted values (p in (0, 100]); 0 for none.
int64_t Percentile(const std::vector<int64_t>& sorted, double p);

}  // namespace mpp::fleet
