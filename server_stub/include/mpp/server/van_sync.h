// Van sync: a van's signed push (applied exactly once, merged field by field) and its signed
// pull (what changed in its scope since its cursor). The HTTP layer only moves bytes in and out.
//
// Exactly once across server processes: a push locks its device's row (StorageTxn::FindDevice)
// and moves the device's last applied seq by compare-and-set (AdvanceDeviceSeq), and each
// applied (device, seq) has a primary key: two processes receiving the same retry at the same
// moment apply it once, and the second answers like a retry.
#pragma once

#include <string>
#include <vector>

#include "mpp/server/server_core.h"

namespace mpp::server {

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

struct PullQuery {
  uint64_t cursor = 0;      // changes after it
  uint64_t patch_base = 0;  // the device holds every change up to it: send the rest as patches
  uint64_t acked_seq = 0;   // report unclean seqs after it
  size_t max_items = 0;
  bool resync = false;  // the device's own requests too, even those it wrote (PullRequestBody)
};

struct PullPage {
  std::vector<sync::Request> requests;      // new to the device: whole
  std::vector<sync::RequestPatch> patches;  // held by the device: what changed after the cursor
  std::vector<sync::ConflictRecord> conflicts;
  uint64_t cursor = 0;  // where the next pull starts
  // The device's last applied seq in the same snapshot: every mutation up to it is reflected in
  // the page's state, none after it.
  uint64_t last_applied_seq = 0;
  std::vector<uint64_t> unclean_seqs;  // of the device, after the acked_seq asked for
  bool more = false;
  int64_t device_last_sync_ms = 0;  // as the snapshot saw it
};

class VanSync {
 public:
  explicit VanSync(ServerCore& core) : core_(core) {}

  Result<Bytes> HandlePush(ByteView envelope, SyncLog* log);
  Result<Bytes> HandlePull(ByteView envelope, SyncLog* log);

  // The device's scope, changes after query.cursor in rev order, at most query.max_items:
  // the requests it made that someone else changed (owner_rev; with resync, every change),
  // every change to the requests other devices of its van code made (a re-installed van gets
  // its work back; two tablets in one van see each other's), and its conflict records. A
  // request it holds (its rev history known, patch_base) comes as a patch of what changed.
  Result<PullPage> ReadPullPage(const std::string& device_id, const PullQuery& query);

 private:
  Result<Bytes> DeviceKey(const std::string& signer);
  // Opens a van's envelope in the fixed order of checks, and checks that the header speaks for
  // the device that signed it and carries a nonce.
  Result<sync::OpenedEnvelope> OpenVanEnvelope(ByteView envelope, sync::EnvelopeKind kind,
                                               SyncLog* log);
  // One attempt at applying a checked batch, in one transaction (ServerCore::RunTransaction).
  struct Batch;
  Result<void> ApplyBatch(const Batch& batch, sync::PushAck& ack, SyncLog& log);
  // The refusals that come before any mutation applies (a seq gap, a reused seq, a receipt
  // another request holds): true with `ack` filled in as the signed refusal, false to go on.
  Result<bool> CheckPushAgreement(StorageTxn& txn, const DeviceRecord& device,
                                  const std::vector<sync::Mutation>& mutations, sync::PushAck& ack,
                                  SyncLog* log);
  Result<Bytes> SealAnswer(sync::EnvelopeKind kind, const std::string& device_id,
                           const Bytes& nonce, ByteView body);

  ServerCore& core_;
};

// A digest of a mutation, stored per applied (device, seq): 128 bits tell a retry from a reuse.
Bytes MutationDigest(const sync::Mutation& m);

}  // namespace mpp::server
