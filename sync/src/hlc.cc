#include "mpp/sync/hlc.h"

#include <algorithm>

namespace mpp::sync {
namespace {
// The logical counter must fit the 16 bits of Packed(); past that we borrow a millisecond, which
// keeps ordering and drifts from wall time by at most 1 ms per 65535 events in one ms.
constexpr uint32_t kMaxLogical = 0xffff;

HlcTimestamp Normalize(HlcTimestamp ts) {
  if (ts.logical > kMaxLogical) {
    ts.wall_ms += 1;
    ts.logical = 0;
  }
  return ts;
}
}  // namespace

std::string HlcTimestamp::ToString() const {
  return std::to_string(wall_ms) + "." + std::to_string(logical);
}

HlcTimestamp HybridClock::Now() {
  const int64_t physical = clock_->NowMillis();
  if (physical > last_.wall_ms) {
    last_ = {physical, 0};
  } else {
    last_ = Normalize({last_.wall_ms, last_.logical + 1});
  }
  return last_;
}

void HybridClock::Advance(const HlcTimestamp& remote) {
  const int64_t physical = clock_->NowMillis();
  const int64_t wall = std::max({physical, last_.wall_ms, remote.wall_ms});
  uint32_t logical = 0;
  if (wall == last_.wall_ms && wall == remote.wall_ms) {
    logical = std::max(last_.logical, remote.logical) + 1;
  } else if (wall == last_.wall_ms) {
    logical = last_.logical + 1;
  } else if (wall == remote.wall_ms) {
    logical = remote.logical + 1;
  }
  last_ = Normalize({wall, logical});
}

Result<void> HybridClock::Observe(const HlcTimestamp& remote) {
  const int64_t physical = clock_->NowMillis();
  if (remote.wall_ms - physical > max_forward_skew_ms_) {
    return Error::InvalidInput("timestamp " + remote.ToString() + " is " +
                               std::to_string((remote.wall_ms - physical) / 1000) +
                               " s ahead of the server clock (limit " +
                               std::to_string(max_forward_skew_ms_ / 1000) +
                               " s): set the device's date and time");
  }
  Advance(remote);
  return Ok();
}

void HybridClock::ObserveTrusted(const HlcTimestamp& remote) { Advance(remote); }

}  // namespace mpp::sync
