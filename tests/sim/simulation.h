// The deterministic simulation (DESIGN.md §6): N vans and the server in one process, running the
// real sync, van-store and server-storage code on SQLite files, with time, randomness and the
// network driven by one seed. Officers and staff act at random (conflicting edits, cancellations
// against completions, revocations); the network drops, duplicates, corrupts, truncates and
// replays messages and cuts answers after the server applied them; vans and the server crash and
// reopen their stores from disk; van clocks are skewed by days and jump. Then the faults stop,
// every van syncs twice, and the invariants of DESIGN.md §6 are checked. One seed replays exactly.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mpp::sim {

struct SimConfig {
  uint64_t seed = 1;
  int vans = 3;
  int steps = 120;
  double fault_rate = 0.25;  // share of messages that meet a fault while faults are on
  std::string parent_dir;    // where the stores live (default: /dev/shm if present)
};

struct SimResult {
  std::vector<std::string> violations;     // empty when every invariant held
  std::map<std::string, uint64_t> counts;  // actions, mutations and faults injected, by kind
  std::string ReplayCommand(const SimConfig& config) const;
};

SimResult RunSimulation(const SimConfig& config);

}  // namespace mpp::sim
