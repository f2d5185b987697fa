// UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Made offline on a van, sorts by
// creation time, collision-free in practice.
#pragma once

#include <string>

#include "mpp/sync/clock.h"

namespace mpp::sync {

// Canonical lowercase form "0190c5a2-7b1e-7c3d-8e4f-0123456789ab".
std::string NewUuidV7(Clock& clock, Rng& rng);
bool IsUuid(std::string_view text);

}  // namespace mpp::sync
