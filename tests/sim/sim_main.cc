// mpp-sim: runs the deterministic simulation for one seed (replay) or for fresh seeds over a
// time budget (soak). Prints counts of actions, mutations and faults; exit 1 on any violation.
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <random>

#include "sim/simulation.h"

int main(int argc, char** argv) {
  CLI::App app{"mpp-sim: deterministic simulation of vans and the server under faults"};
  mpp::sim::SimConfig config;
  double minutes = 0;
  uint64_t first_seed = 0;
  app.add_option("--seed", config.seed, "run exactly this seed");
  app.add_option("--vans", config.vans, "vans per run")->check(CLI::Range(1, 50));
  app.add_option("--steps", config.steps, "random actions per run")->check(CLI::Range(1, 100000));
  app.add_option("--fault-rate", config.fault_rate, "share of messages that meet a fault")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--minutes", minutes, "soak: run fresh seeds for this long");
  app.add_option("--first-seed", first_seed, "soak: first seed (default: random, printed)");
  CLI11_PARSE(app, argc, argv);

  std::map<std::string, uint64_t> totals;
  uint64_t runs = 0;
  auto run_one = [&](uint64_t seed) {
    config.seed = seed;
    auto result = mpp::sim::RunSimulation(config);
    ++runs;
    for (const auto& [k, v] : result.counts) totals[k] += v;
    if (!result.violations.empty()) {
      std::cout << "VIOLATION seed " << seed << ":\n";
      for (const auto& v : result.violations) std::cout << "  " << v << "\n";
      std::cout << "replay: " << result.ReplayCommand(config) << "\n";
      return false;
    }
    return true;
  };
  bool ok = true;
  if (minutes <= 0) {
    ok = run_one(config.seed);
  } else {
    if (first_seed == 0) first_seed = std::random_device{}() | 1;
    std::cout << "soak from seed " << first_seed << " for " << minutes << " min\n";
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(minutes * 60'000));
    for (uint64_t seed = first_seed; std::chrono::steady_clock::now() < deadline; ++seed) {
      if (!run_one(seed)) ok = false;
    }
  }
  std::cout << "seeds " << runs << "\n";
  for (const auto& [k, v] : totals) std::cout << k << " " << v << "\n";
  std::cout << (ok ? "no invariant violations\n" : "INVARIANT VIOLATIONS FOUND\n");
  return ok ? 0 : 1;
}
