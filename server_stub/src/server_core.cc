#include "mpp/server/server_core.h"

#include <chrono>
#include <thread>

#include "mpp/sync/crypto.h"
#include "mpp/sync/patch.h"

namespace mpp::server {

ServerCore::ServerCore(ServerStorage& storage, sync::Clock& clock, sync::Rng& rng,
                       Bytes server_private_key, sync::Catalog catalog, ServiceOptions options)
    : storage_(storage),
      clock_(clock),
      rng_(rng),
      server_private_key_(std::move(server_private_key)),
      server_public_key_(crypto::Ed25519PublicKeyOf(server_private_key_).value()),
      options_(std::move(options)),
      hlc_(&clock, options_.max_forward_skew_ms) {
  AdoptLocked(std::move(catalog));
}

std::string ServerCore::server_fingerprint() const {
  return crypto::KeyFingerprint(server_public_key_);
}

void ServerCore::AdoptLocked(sync::Catalog catalog) {
  catalogs_.push_back(std::make_unique<const sync::Catalog>(std::move(catalog)));
  current_catalog_.store(catalogs_.back().get());
}

void ServerCore::Adopt(sync::Catalog catalog) {
  std::lock_guard<std::mutex> lock(catalog_mu_);
  if (catalog.version() > this->catalog().version()) AdoptLocked(std::move(catalog));
}

Result<void> ServerCore::RefreshCatalog() {
  MPP_ASSIGN_OR_RETURN(int64_t stored, storage_.CatalogVersion());
  if (stored <= catalog().version()) return Ok();
  std::lock_guard<std::mutex> lock(catalog_mu_);
  MPP_ASSIGN_OR_RETURN(auto text, storage_.LoadCatalog());
  if (text.first <= catalog().version()) return Ok();  // another thread took it meanwhile
  MPP_ASSIGN_OR_RETURN(sync::Catalog loaded, sync::Catalog::FromJson(text.second));
  AdoptLocked(std::move(loaded));
  return Ok();
}

std::string ServerCore::AgencyOf(const sync::Catalog& catalog,
                                 const std::string& service_id) const {
  const sync::Service* service = catalog.FindService(service_id);
  return service == nullptr ? "" : service->agency;
}

Result<sync::HlcTimestamp> ServerCore::Stamp(StorageTxn& txn) {
  // The database round trips stay outside hlc_mu_: other threads' pushes do not wait for them.
  MPP_ASSIGN_OR_RETURN(int64_t persisted, txn.LoadHlc());
  sync::HlcTimestamp now;
  int64_t latest = 0;
  {
    std::lock_guard<std::mutex> lock(hlc_mu_);
    hlc_.Restore(sync::HlcTimestamp::FromPacked(persisted));
    now = hlc_.Now();
    latest = hlc_.last().Packed();
  }
  MPP_RETURN_IF_ERROR(txn.SaveHlc(latest));
  return now;
}

Result<size_t> ServerCore::ObserveVanClocks(StorageTxn& txn, const sync::HlcTimestamp& header,
                                            const std::vector<sync::HlcTimestamp>& mutations) {
  // Clocks (DESIGN.md §4, THREATS.md row 16). The header carries the van's clock now: one far
  // ahead of ours is refused, and the officer is told to set it. A mutation made earlier while
  // the clock was wrong is still accepted (the van's work is never lost), but a timestamp past
  // the allowed skew is not adopted into the server clock, so one bad RTC cannot drag the
  // server's time (and every later staff change) into the future.
  MPP_ASSIGN_OR_RETURN(int64_t persisted, txn.LoadHlc());
  size_t suspect = 0;
  int64_t latest = 0;
  {
    std::lock_guard<std::mutex> lock(hlc_mu_);
    hlc_.Restore(sync::HlcTimestamp::FromPacked(persisted));
    MPP_RETURN_IF_ERROR(hlc_.Observe(header));
    for (const auto& hlc : mutations) {
      if (!hlc_.Observe(hlc).ok()) ++suspect;
    }
    latest = hlc_.last().Packed();
  }
  MPP_RETURN_IF_ERROR(txn.SaveHlc(latest));
  return suspect;
}

Result<void> ServerCore::ObserveHeader(const sync::HlcTimestamp& header) {
  std::lock_guard<std::mutex> lock(hlc_mu_);
  return hlc_.Observe(header);
}

sync::HlcTimestamp ServerCore::StampAnswer() {
  std::lock_guard<std::mutex> lock(hlc_mu_);
  return hlc_.Now();
}

Result<void> ServerCore::RunTransaction(const std::function<Result<void>()>& attempt) {
  const int attempts = std::max(1, options_.max_transaction_attempts);
  for (int i = 1;; ++i) {
    Result<void> done = attempt();
    if (done.ok() || done.error().code() != ErrorCode::kAborted || i == attempts) return done;
    transaction_retries_.fetch_add(1);
    // 1-4 ms, doubling: two processes that deadlocked on the same rows go one after the other.
    const uint64_t pause_us = (1000u << std::min(i - 1, 2)) + rng_.Uniform(1000u << std::min(i, 3));
    std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
  }
}

Result<RequestRow> SaveChange(StorageTxn& txn, const std::optional<RequestRow>& before,
                              const sync::Request& after, const std::string& agency,
                              const std::string& van_code, bool notify_owner, int64_t now_ms) {
  RequestRow row;
  row.request = after;
  row.agency = agency;
  row.van_code = before ? before->van_code : van_code;
  MPP_ASSIGN_OR_RETURN(row.rev, txn.NextRev(row.van_code));
  if (before && before->revs) {
    row.revs = sync::NextChangeRevs(before->request, after, *before->revs, row.rev);
  } else {
    row.revs = sync::NextChangeRevs(std::nullopt, after, {}, row.rev);
  }
  row.owner_rev = notify_owner ? row.rev : (before ? before->owner_rev : 0);
  MPP_RETURN_IF_ERROR(txn.SaveRequest(row, now_ms));
  return row;
}

Result<void> RecordConflict(StorageTxn& txn, const std::string& device_id,
                            const std::string& van_code, const sync::ConflictRecord& conflict,
                            int64_t now_ms) {
  MPP_ASSIGN_OR_RETURN(uint64_t rev, txn.NextRev(van_code));
  return txn.AddConflict(device_id, rev, conflict, now_ms);
}

Result<void> ServerCore::Audit(const std::string& actor, const std::string& action,
                               const std::string& target, const std::string& detail) {
  return RunTransaction([&]() -> Result<void> {
    MPP_ASSIGN_OR_RETURN(auto txn, storage_.Begin());
    MPP_RETURN_IF_ERROR(txn->AppendAudit(actor, action, target, detail, clock_.NowMillis()));
    return txn->Commit();
  });
}

}  // namespace mpp::server
