// The central server's sync logic, independent of HTTP: enrolment, signed push (apply/merge
// exactly once), signed pull, and the administrator's and staff's changes, which go through the
// same merge path as van mutations. The HTTP layer (http_server.h) only moves bytes in and out.
//
// Thread-safety: all methods may be called concurrently; storage serialises writes.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
};

// The field of a service's form that holds the applicant's NIK: the kNik field named "nik",
// else the first required kNik field (forms also hold a parent's NIK, nik_ayah, nik_ibu);
// nullptr when the form has none.
const sync::FieldSpec* NikFieldOf(const sync::Service& service);
// The NIK index's hash of a NIK: HMAC-SHA-256 under the server's NIK key (32 bytes).
Bytes NikIndexHash(ByteView key, std::string_view nik);

// How staff settle a conflict (`mpp-server conflicts resolve`).
enum class Resolution : uint8_t {
  kKeepVan,     // the value the van wrote
  kKeepServer,  // the value the server holds now: nothing changes but the record
  kValue,       // a value staff give
};

// What one push or pull did, for the per-sync log line.
struct SyncLog {
  std::string device_id;
  size_t received = 0;  // mutations in the batch / items in the answer
  size_t applied = 0;   // mutations newly applied (a retry applies 0)
  size_t conflicts = 0;
  size_t clock_suspect = 0;  // mutations stamped too far ahead of the server clock
  // Set when the answer is a signed refusal: the van and the server disagree about what was
  // applied (a seq gap after a server restore, a seq reused by a van store restored from an
  // older copy, a receipt another request holds). The answer body is then a signed PushAck that
  // tells the van how to recover, sent with HTTP 409; this is the one-line reason for the log.
  std::string signed_refusal;
};

struct EnrollAnswer {
  std::string device_id;
  Bytes server_public_key;
};

struct AuditReport {
  size_t checked = 0;
  std::vector<std::string> failures;  // "envelope 12 from <device>: bad signature"
};

class SyncService {
 public:
  SyncService(ServerStorage& storage, sync::Clock& clock, sync::Rng& rng, Bytes server_private_key,
              sync::Catalog catalog, ServiceOptions options = {});

  const Bytes& server_public_key() const { return server_public_key_; }
  std::string server_fingerprint() const;

  // Administrator: a one-time enrolment token for a van, valid for ttl_ms.
  Result<std::string> CreateEnrollmentToken(const std::string& van_code, int64_t ttl_ms);
  // Van enrolment. request_json: {"token", "device_id", "van_code", "public_key" (hex),
  // "nonce" (hex), "signature" (hex, Ed25519 over "mpp-enroll-v1" 0 token device_id public_key
  // nonce)}. Answer JSON is signed by the server over the nonce (see PROTOCOL.md).
  Result<std::string> Enroll(std::string_view request_json);
  Result<void> RevokeDevice(const std::string& device_id, const std::string& by);
  // Revokes an unused enrolment token by its id (storage.h, kTokenIdChars); audited.
  Result<void> RevokeToken(const std::string& token_id, const std::string& by);

  // Administrator: replaces the catalog. The text must pass Catalog::FromJson; it is stored
  // with version max(its own, current + 1), and vans receive it at their next pull (a running
  // `serve` notices the stored version at its next sync). Refused, changing nothing, when a
  // request that is not final would no longer be valid under it (its service removed, a field
  // it holds removed or its value no longer valid, a required field added that it lacks): the
  // message names the receipts and fields. Returns the stored version.
  Result<int64_t> LoadCatalog(const std::string& catalog_json, const std::string& by);

  Result<Bytes> HandlePush(ByteView envelope, SyncLog* log);
  Result<Bytes> HandlePull(ByteView envelope, SyncLog* log);

  // Staff and administrator changes: the same ApplyMutation path as van mutations, with
  // Role::kStaff and origin "staff:<by>"; audited.
  Result<sync::Request> StaffSetStatus(const std::string& id_or_receipt, sync::RequestStatus to,
                                       const std::string& by, const std::string& note);
  Result<sync::Request> StaffSetFields(const std::string& id_or_receipt,
                                       const sync::FieldMap& fields, const std::string& by);
  // Settles an open conflict (its rev, StoredConflict::rev). The new value goes through the
  // same path as StaffSetFields (or StaffSetStatus for a "status" conflict), in the same
  // transaction that marks the conflict resolved, so the van receives it as any staff change;
  // kKeepServer only marks it. A "duplicate" flag is settled with kKeepServer (both requests
  // stay). `value` is used with kValue only. Audited.
  Result<StoredConflict> ResolveConflict(uint64_t rev, Resolution how, const std::string& value,
                                         const std::string& by);

  // The requests whose NIK is `nik` (through the NIK index; needs options.nik_index_key).
  Result<std::vector<StoredRequest>> RequestsWithNik(const std::string& nik);

  // Ok while the storage can durably accept writes; otherwise kUnavailable or kStorageFull with
  // a reason for the operator (never a path or SQL). /healthz reports it.
  Result<void> CheckHealth();

  // Re-verifies the signature and body hash of every stored envelope.
  Result<AuditReport> VerifyEnvelopes();

  // The catalog served now. A reference stays valid for the service's lifetime (catalogs
  // replaced by LoadCatalog or a refresh are kept), but may be superseded by then.
  const sync::Catalog& catalog() const { return *current_catalog_.load(); }
  // Takes the stored catalog if it is newer than the one served (another process ran
  // `mpp-server catalog load`). Called at every push and pull; costs one small read.
  Result<void> RefreshCatalog();

 private:
  Result<Bytes> DeviceKey(const std::string& signer);
  // Opens a van's envelope in the fixed order of checks, and checks that the header speaks for
  // the device that signed it and carries a nonce.
  Result<sync::OpenedEnvelope> OpenVanEnvelope(ByteView envelope, sync::EnvelopeKind kind,
                                               SyncLog* log);
  // The refusals that come before any mutation applies (a seq gap, a reused seq, a receipt
  // another request holds): true with `ack` filled in as the signed refusal, false to go on.
  Result<bool> CheckPushAgreement(StorageTxn& txn, const DeviceRecord& device,
                                  const std::vector<sync::Mutation>& mutations, sync::PushAck& ack,
                                  SyncLog* log);
  static Bytes MutationDigest(const sync::Mutation& m);
  // `also` runs inside the change's transaction, after it was applied (nullptr: nothing).
  Result<sync::Request> ApplyStaff(
      const std::string& id_or_receipt, sync::Mutation mutation,
      const std::function<Result<void>(StorageTxn&, const sync::Request&)>& also = nullptr);
  // Keeps the NIK index in step with a stored request (its NIK field, catalog.cc's kNik type);
  // with `flag`, a request whose NIK has an open request for the same service from another van
  // gets a "duplicate" conflict record on both devices. Returns how many pairs it flagged.
  Result<size_t> IndexNik(StorageTxn& txn, const sync::Catalog& catalog,
                          const std::optional<sync::Request>& before, const sync::Request& request,
                          bool flag, int64_t now_ms);
  std::optional<Bytes> NikHash(std::string_view nik) const;
  void AdoptCatalog(sync::Catalog catalog);
  Result<Bytes> SealAnswer(sync::EnvelopeKind kind, const std::string& device_id,
                           const Bytes& nonce, ByteView body);
  std::string AgencyOf(const sync::Catalog& catalog, const std::string& service_id) const;

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
};

}  // namespace mpp::server
