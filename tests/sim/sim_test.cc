// CI runs a fixed set of seeds of the deterministic simulation; each failure prints the one-line
// command that replays it (tools/soak.sh runs fresh seeds for longer).
#include <gtest/gtest.h>

#include <cstdlib>

#include "sim/simulation.h"

namespace mpp::sim {
namespace {

// MPP_SIM_SEEDS overrides how many seeds a run covers: 1,000 by default (about two minutes in
// a release build on two cores); tools/test.sh --asan runs 200, as sanitizers cost ~5x.
int SeedCount() {
  if (const char* env = std::getenv("MPP_SIM_SEEDS")) return std::max(1, std::atoi(env));
  return 1000;
}

class SimSeeds : public ::testing::TestWithParam<int> {};

TEST_P(SimSeeds, InvariantsHoldAfterFaultsHeal) {
  const int shard = GetParam();
  constexpr int kShards = 10;
  std::map<std::string, uint64_t> totals;
  for (int seed = 1 + shard; seed <= SeedCount(); seed += kShards) {
    SimConfig config;
    config.seed = static_cast<uint64_t>(seed);
    SimResult result = RunSimulation(config);
    for (const auto& [k, v] : result.counts) totals[k] += v;
    ASSERT_TRUE(result.violations.empty()) << "seed " << seed << ": " << result.violations.front()
                                           << "\nreplay: " << result.ReplayCommand(config);
  }
  std::string summary;
  for (const auto& [k, v] : totals) summary += k + "=" + std::to_string(v) + " ";
  RecordProperty("counts", summary);
  std::cout << "[ sim shard " << shard << " ] " << summary << "\n";
}

INSTANTIATE_TEST_SUITE_P(Shards, SimSeeds, ::testing::Range(0, 10));

}  // namespace
}  // namespace mpp::sim
