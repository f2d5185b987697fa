// The van's side of the sync protocol (DESIGN.md §4-5), split the way LiteCore splits its
// replicator: Enroll (one-time trust setup), a pusher (outbox -> server, exactly once), a puller
// (server changes -> base, rebase of pending work), and the retry policy between them.
// Everything goes through the Transport interface, so tests drive it in process.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "mpp/store/van_store.h"
#include "mpp/sync/clock.h"
#include "mpp/sync/transport.h"

namespace mpp::field {

// Tunables of the van's sync, each with its reason.
struct SyncOptions {
  // Mutations per push envelope, at most. 1,000 realistic requests compress to ~115 KB: a few
  // seconds at 2G speed, while one signature and one round trip cover many mutations. A cut
  // link halves the batch until one gets through (Pusher), so a link that drops often still
  // progresses.
  size_t batch_size = 1000;
  // Attempts per step before giving up; with the backoff below they span about two minutes of
  // a flapping link before the officer is told the sync could not complete.
  int max_attempts = 8;
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  // zstd level for push bodies. On 10,000 tools/workload requests in batches of 1,000 (column
  // encoding): level 3 sends 113 B per request, level 5 107 B for more CPU, and the row-wise
  // encoding needed level 19, far too slow for a tablet, to come near.
  int zstd_level = 3;
  // Asked before each request and during each backoff wait (every kCancelPollMs); true stops
  // the sync with kUnavailable and kCancelledSyncMessage. Empty: never cancelled. It may read a
  // flag another thread sets; a request already in flight is not interrupted (it ends, or its
  // transport times out, first). What the server acknowledged stays acknowledged.
  std::function<bool()> cancelled;
};

// How often a backoff wait asks SyncOptions::cancelled: short enough that a cancel button feels
// immediate, long enough that the polling costs nothing.
inline constexpr int64_t kCancelPollMs = 100;
inline constexpr char kCancelledSyncMessage[] =
    "the sync was cancelled; changes not yet sent stay saved on this van";

// One change the pull brought to a request this van already held, as the officer sees it
// (the view before and after the pull): a new status, a field changed by staff, a new conflict.
struct RequestChange {
  enum class Kind { kStatus, kField, kConflict };
  Kind kind = Kind::kStatus;
  std::string request_id;
  std::string receipt;
  std::string field;      // kField: the field; kConflict: the field or "status"
  std::string old_value;  // kStatus: the status before; kField: the value before;
                          // kConflict: the value the server did not apply (this van's)
  std::string new_value;  // kStatus: the new status; kField: the new value;
                          // kConflict: the value kept
  std::string note;       // kStatus: the status note; kConflict: the server's reason
  std::string by;         // who made the change: "staff:NAME", or a device id
};

// One line for the officer: `KR01-20261202-0003: needs_info "Mohon lampirkan pas foto"`.
std::string DescribeChange(const RequestChange& change);

struct SyncReport {
  size_t pushed = 0;        // mutations sent (retries not counted twice)
  size_t acknowledged = 0;  // mutations the server confirmed
  size_t pulled = 0;        // requests received from the server
  size_t conflicts = 0;     // conflict records received
  size_t retries = 0;
  int64_t duration_ms = 0;  // first byte sent to last answer applied
  uint64_t bytes_sent = 0;  // as counted by the transport, headers included
  uint64_t bytes_received = 0;
  // Recoveries, when the van and the server disagreed about what was applied (PROTOCOL.md §4).
  bool server_restored = false;  // the server was restored from a backup (a new epoch)
  bool store_restored = false;   // this store was restored from an older copy (seqs reused)
  size_t renumbered = 0;         // pending changes moved to new seqs
  size_t resent = 0;             // requests sent again to a restored server
  // Receipts re-issued because their number was taken: tell each citizen the new one.
  std::vector<store::VanStore::ReissuedReceipt> reissued_receipts;
  // What the pull changed in requests this van held, in the order applied; and how many
  // requests it did not hold came (a re-installed van, the van's other tablet).
  std::vector<RequestChange> changes;
  size_t new_requests = 0;
};

struct EnrollResult {
  std::string device_id;
  std::string server_fingerprint;
  bool trusted_on_first_use = false;  // no fingerprint was pinned
};

// Enrols the van: fetches the server's key, checks it against `pinned_fingerprint` (when given)
// before the token is sent, proves possession of the device key, verifies the server's signed
// answer and pins the server key in the store.
Result<EnrollResult> Enroll(store::VanStore& store, sync::Transport& transport,
                            const std::string& server_url, const std::string& token,
                            const std::optional<std::string>& pinned_fingerprint, sync::Rng& rng);

// True for a failed sync that never got an answer from the server (no network, the server
// down, a timeout); false for an answer the server sent, a 503 included.
bool ServerUnreachable(const Error& error);

inline constexpr char kNotEnrolledMessage[] =
    "this van is not enrolled with the central server: enrol it before syncing";

// Push, then pull, with retries. kInvalidInput with kNotEnrolledMessage before anything is
// sent when the van is not enrolled. Progress (phase, done, total) for a terminal line.
using SyncProgress = std::function<void(const char* phase, size_t done, size_t total)>;
Result<SyncReport> RunSync(store::VanStore& store, sync::Transport& transport, sync::Clock& clock,
                           sync::Rng& rng, const SyncOptions& options,
                           const SyncProgress& progress = {});

}  // namespace mpp::field
