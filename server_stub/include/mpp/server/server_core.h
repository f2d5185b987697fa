// What the server's services share: the storage, the server's keys, the catalog it serves, its
// hybrid clock, and one way to run a write transaction. The services split by job on top of it:
// van sync (van_sync.h), staff queries and changes (staff_service.h), enrolment and devices
// (device_service.h); services.h puts them together.
//
// Thread-safety: every method may be called concurrently, and several server processes may run
// on one database (PostgreSQL): nothing here assumes it is the only writer.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mpp/server/storage.h"
#include "mpp/sync/catalog.h"
#include "mpp/sync/clock.h"
#include "mpp/sync/hlc.h"
#include "mpp/sync/protocol.h"

namespace mpp::server {

struct ServiceOptions {
  // A van's timestamps may be at most this far ahead of the server clock (DESIGN.md §4).
  int64_t max_forward_skew_ms = 10 * 60 * 1000;
  size_t pull_page_items = 2000;  // requests + conflicts per pull answer
  size_t max_batch_mutations = 5000;
  sync::EnvelopeLimits limits;
  // zstd level of the answers. Higher than a van's (3): a server CPU is not a tablet's, and a
  // re-installed van pulls thousands of requests over 2G.
  int answer_zstd_level = 6;
  // The key of the NIK index (ServerHome::nik_key): requests are indexed by HMAC-SHA-256 of
  // their NIK under it, and a new request whose NIK has an open request for the same service
  // from another van is flagged as a possible duplicate. Empty: no index, no flag.
  Bytes nik_index_key;
  // A transaction the database aborted to keep concurrent ones consistent (kAborted: a
  // serialization failure or a deadlock between server processes) is run again, at most this
  // many times in all; then the caller gets the error (503 for a van, which retries later).
  int max_transaction_attempts = 8;
};

class ServerCore {
 public:
  ServerCore(ServerStorage& storage, sync::Clock& clock, sync::Rng& rng, Bytes server_private_key,
             sync::Catalog catalog, ServiceOptions options);

  ServerStorage& storage() { return storage_; }
  sync::Clock& clock() { return clock_; }
  sync::Rng& rng() { return rng_; }
  const ServiceOptions& options() const { return options_; }
  const Bytes& server_private_key() const { return server_private_key_; }
  const Bytes& server_public_key() const { return server_public_key_; }
  std::string server_fingerprint() const;

  // The catalog served now. A reference stays valid for the core's lifetime (catalogs replaced
  // by Adopt or a refresh are kept), but may be superseded by then.
  const sync::Catalog& catalog() const { return *current_catalog_.load(); }
  // Takes the stored catalog if it is newer than the one served (another process ran
  // `mpp-server catalog load`). Called at every push and pull; costs one small read.
  Result<void> RefreshCatalog();
  // Serves `catalog` from now on, unless a newer one is served already.
  void Adopt(sync::Catalog catalog);
  std::string AgencyOf(const sync::Catalog& catalog, const std::string& service_id) const;

  // The server's hybrid clock, kept in step with the other processes through the database:
  // `Stamp` gives a timestamp later than every one this process, or any process that saved its
  // clock before txn began, gave or observed; `Observe` merges a van's (refused when too far
  // ahead). Both save the clock in txn.
  Result<sync::HlcTimestamp> Stamp(StorageTxn& txn);
  // Merges the header's clock and each mutation's; returns how many mutations were stamped too
  // far ahead to be adopted (their work is still accepted). Fails when `header` is too far ahead.
  Result<size_t> ObserveVanClocks(StorageTxn& txn, const sync::HlcTimestamp& header,
                                  const std::vector<sync::HlcTimestamp>& mutations);
  Result<void> ObserveHeader(const sync::HlcTimestamp& header);
  sync::HlcTimestamp StampAnswer();

  // Runs `attempt` (which begins, fills and commits one transaction) until it does not fail
  // with kAborted, at most options().max_transaction_attempts times, with a short random pause
  // between attempts so two processes that collided do not collide again.
  Result<void> RunTransaction(const std::function<Result<void>()>& attempt);
  // Transactions run again since start (RunTransaction), for /metrics.
  uint64_t transaction_retries() const { return transaction_retries_.load(); }

  Result<void> CheckHealth() { return storage_.CheckHealth(); }

  // One entry of the audit trail in a transaction of its own (for what changes nothing else:
  // an account made, a login, an export). `actor` as the trail names it ("staff:rina").
  Result<void> Audit(const std::string& actor, const std::string& action, const std::string& target,
                     const std::string& detail);

 private:
  void AdoptLocked(sync::Catalog catalog);

  ServerStorage& storage_;
  sync::Clock& clock_;
  sync::Rng& rng_;
  Bytes server_private_key_;
  Bytes server_public_key_;
  ServiceOptions options_;
  // Every catalog served since start, the last one current: a reader holding a reference never
  // sees it freed (catalogs change a few times a year).
  std::mutex catalog_mu_;  // guards catalogs_ and serialises refreshes
  std::vector<std::unique_ptr<const sync::Catalog>> catalogs_;
  std::atomic<const sync::Catalog*> current_catalog_{nullptr};
  std::mutex hlc_mu_;
  sync::HybridClock hlc_;  // guarded by hlc_mu_; persisted through storage
  std::atomic<uint64_t> transaction_retries_{0};
};

// Where a change is recorded, so the right van hears of it (storage.h: revs and scopes). The
// core decides each row's bookkeeping here; the storage only persists it.
//
// Saves `after` as the request's new state: a new rev in its van's scope, which parts changed at
// that rev (sync/patch.h: a row stored before revisions were kept starts afresh), and owner_rev.
// notify_owner: the creating device must receive this state at its next pull (someone else
// changed the request, or the device's own write did not apply as written); a device's own
// clean write keeps owner_rev, so its pull does not echo it back. `van_code` is the scope of a
// new request (its maker's van code); an existing row keeps its own.
Result<RequestRow> SaveChange(StorageTxn& txn, const std::optional<RequestRow>& before,
                              const sync::Request& after, const std::string& agency,
                              const std::string& van_code, bool notify_owner, int64_t now_ms);
// Records a conflict for `device_id`, in the scope of its van code.
Result<void> RecordConflict(StorageTxn& txn, const std::string& device_id,
                            const std::string& van_code, const sync::ConflictRecord& conflict,
                            int64_t now_ms);

}  // namespace mpp::server
