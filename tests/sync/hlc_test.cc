#include "mpp/sync/hlc.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "support/test_util.h"

namespace mpp::sync {
namespace {

TEST(HybridClock, NowIsStrictlyIncreasingWhenWallClockStands) {
  FakeClock wall(1'000'000);
  HybridClock hlc(&wall);
  HlcTimestamp previous = hlc.Now();
  for (int i = 0; i < 1000; ++i) {
    HlcTimestamp next = hlc.Now();
    EXPECT_LT(previous, next);
    previous = next;
  }
}

TEST(HybridClock, RefusesTimestampsTooFarAhead) {
  FakeClock wall(1'000'000);
  HybridClock hlc(&wall, 60'000);
  const HlcTimestamp before = hlc.last();
  auto r = hlc.Observe({1'000'000 + 61'000, 0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("ahead of the server clock"), std::string::npos);
  EXPECT_EQ(hlc.last(), before);
  EXPECT_OK(hlc.Observe({1'000'000 + 59'000, 7}));
  EXPECT_GT(hlc.Now(), (HlcTimestamp{1'000'000 + 59'000, 7}));
}

TEST(HybridClock, PackedOrderMatchesTimestampOrder) {
  const HlcTimestamp a{1'700'000'000'000, 5}, b{1'700'000'000'000, 6}, c{1'700'000'000'001, 0};
  EXPECT_LT(a.Packed(), b.Packed());
  EXPECT_LT(b.Packed(), c.Packed());
  EXPECT_EQ(HlcTimestamp::FromPacked(b.Packed()), b);
}

// Property: with clocks skewed by days and jumping backwards, every local event is after every
// event it has seen (causality), and the physical part never runs away from the largest wall
// time observed.
TEST(HybridClock, CausalityHoldsUnderSkewAndBackwardJumps) {
  const bool ok = rc::check("hlc causality", [] {
    const int64_t base = 1'700'000'000'000;
    const auto skew_a = *rc::gen::inRange<int64_t>(-3 * 86'400'000, 3 * 86'400'000);
    const auto skew_b = *rc::gen::inRange<int64_t>(-3 * 86'400'000, 3 * 86'400'000);
    FakeClock wall_a(base + skew_a), wall_b(base + skew_b);
    HybridClock a(&wall_a, INT64_MAX / 4), b(&wall_b, INT64_MAX / 4);
    HlcTimestamp last_a, last_b;
    int64_t max_wall = std::max(wall_a.NowMillis(), wall_b.NowMillis());
    const auto steps = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 6));
    for (int step : steps) {
      switch (step) {
        case 0:
          wall_a.Advance(*rc::gen::inRange<int64_t>(-86'400'000, 86'400'000));  // jumps either way
          break;
        case 1:
          wall_b.Advance(*rc::gen::inRange<int64_t>(-86'400'000, 86'400'000));
          break;
        case 2: {
          const HlcTimestamp t = a.Now();
          RC_ASSERT(t > last_a);
          last_a = t;
          break;
        }
        case 3: {
          const HlcTimestamp t = b.Now();
          RC_ASSERT(t > last_b);
          last_b = t;
          break;
        }
        case 4: {  // a sends to b
          const HlcTimestamp sent = a.Now();
          last_a = sent;
          RC_ASSERT(b.Observe(sent).ok());
          const HlcTimestamp after = b.Now();
          RC_ASSERT(after > sent);
          last_b = after;
          break;
        }
        default: {  // b sends to a
          const HlcTimestamp sent = b.Now();
          last_b = sent;
          RC_ASSERT(a.Observe(sent).ok());
          const HlcTimestamp after = a.Now();
          RC_ASSERT(after > sent);
          last_a = after;
          break;
        }
      }
      max_wall = std::max({max_wall, wall_a.NowMillis(), wall_b.NowMillis()});
      RC_ASSERT(a.last().wall_ms <= max_wall + 1);
      RC_ASSERT(b.last().wall_ms <= max_wall + 1);
    }
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace mpp::sync
