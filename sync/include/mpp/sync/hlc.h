// Hybrid logical clock (Kulkarni et al. 2014). Timestamps stay close to wall time but always
// move forward and respect causality, even when a van's clock is days off or jumps backwards.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "mpp/sync/clock.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

struct HlcTimestamp {
  int64_t wall_ms = 0;   // physical part: the largest wall time seen, in ms since the epoch
  uint32_t logical = 0;  // counter that orders events within the same wall_ms

  auto operator<=>(const HlcTimestamp&) const = default;
  bool is_zero() const { return wall_ms == 0 && logical == 0; }
  std::string ToString() const;  // "1732790000000.3"
  // Packs into one orderable integer (48-bit ms, 16-bit logical) for SQL columns.
  // Requires logical < 65536; the clock guarantees it by borrowing from wall_ms.
  int64_t Packed() const { return (wall_ms << 16) | logical; }
  static HlcTimestamp FromPacked(int64_t packed) {
    return {packed >> 16, static_cast<uint32_t>(packed & 0xffff)};
  }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(wall_ms, logical);
  }
};

// The version of a field: the HLC of the write that set it and who made that write (a device id,
// or "staff:NAME" for a central change). Total order: HLC first, then origin, so every replica
// picks the same winner for concurrent writes.
struct Version {
  HlcTimestamp hlc;
  std::string origin;

  auto operator<=>(const Version&) const = default;
  bool is_zero() const { return hlc.is_zero() && origin.empty(); }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(hlc, origin);
  }
};

class HybridClock {
 public:
  // Remote timestamps further ahead of our wall clock than this are refused (DESIGN.md §4).
  explicit HybridClock(Clock* clock, int64_t max_forward_skew_ms = kDefaultMaxForwardSkewMs)
      : clock_(clock), max_forward_skew_ms_(max_forward_skew_ms) {}

  static constexpr int64_t kDefaultMaxForwardSkewMs = 5 * 60 * 1000;

  // A timestamp for a local event, strictly greater than every timestamp returned or observed.
  HlcTimestamp Now();
  // Merges a timestamp received from a peer. Fails (clock unchanged) when it is more than the
  // allowed skew ahead of our wall clock. Afterwards Now() > remote.
  Result<void> Observe(const HlcTimestamp& remote);
  // Like Observe, but never refuses: used by a van that trusts the server's clock over its own.
  void ObserveTrusted(const HlcTimestamp& remote);

  HlcTimestamp last() const { return last_; }
  // Restores the state persisted from an earlier run (the van keeps it in its store).
  void Restore(const HlcTimestamp& last) { last_ = std::max(last_, last); }

 private:
  void Advance(const HlcTimestamp& remote);

  Clock* clock_;  // not owned
  int64_t max_forward_skew_ms_;
  HlcTimestamp last_;
};

}  // namespace mpp::sync
