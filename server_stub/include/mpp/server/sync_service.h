// The central server's sync logic, independent of HTTP: enrolment, signed push (apply/merge
// exactly once), signed pull, and the administrator's and staff's changes, which go through the
// same merge path as van mutations. The HTTP layer (http_server.h) only moves bytes in and out.
//
// Thread-safety: all methods may be called concurrently; storage serialises writes.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

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

  Result<Bytes> HandlePush(ByteView envelope, SyncLog* log);
  Result<Bytes> HandlePull(ByteView envelope, SyncLog* log);

  // Staff and administrator changes: the same ApplyMutation path as van mutations, with
  // Role::kStaff and origin "staff:<by>"; audited.
  Result<sync::Request> StaffSetStatus(const std::string& id_or_receipt, sync::RequestStatus to,
                                       const std::string& by, const std::string& note);
  Result<sync::Request> StaffSetFields(const std::string& id_or_receipt,
                                       const sync::FieldMap& fields, const std::string& by);

  // Ok while the storage can durably accept writes; otherwise kUnavailable or kStorageFull with
  // a reason for the operator (never a path or SQL). /healthz reports it.
  Result<void> CheckHealth();

  // Re-verifies the signature and body hash of every stored envelope.
  Result<AuditReport> VerifyEnvelopes();

  const sync::Catalog& catalog() const { return catalog_; }

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
  Result<sync::Request> ApplyStaff(const std::string& id_or_receipt, sync::Mutation mutation);
  Result<Bytes> SealAnswer(sync::EnvelopeKind kind, const std::string& device_id,
                           const Bytes& nonce, ByteView body);
  std::string AgencyOf(const std::string& service_id) const;

  ServerStorage& storage_;
  sync::Clock& clock_;
  sync::Rng& rng_;
  Bytes server_private_key_;
  Bytes server_public_key_;
  sync::Catalog catalog_;
  ServiceOptions options_;
  std::mutex hlc_mu_;
  sync::HybridClock hlc_;  // guarded by hlc_mu_; persisted through storage
};

}  // namespace mpp::server
