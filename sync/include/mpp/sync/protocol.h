// The sync protocol's messages and their signed envelope (sync/PROTOCOL.md has the long form).
//
//   Envelope  := "MPP1" kind:u8 signer_len:u8 signer[signer_len] header_len:u16le header
//                signature[64] body
//   signed    := domain(kind) 0x00 signer header SHA-256(body)
//
// signer is the van's device id, or "server". header is a cereal-encoded EnvelopeHeader and is
// decoded only after the signature checked out; body is a zstd frame of a cereal-encoded
// message whose SHA-256 and decompressed size the header states. The order of checks on
// receipt is fixed (DESIGN.md §5): size bounds, known and active signer, signature, body hash,
// decompressed size bound, and only then decoding of the body.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mpp/sync/bytes.h"
#include "mpp/sync/hlc.h"
#include "mpp/sync/model.h"
#include "mpp/sync/patch.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr size_t kNonceBytes = 16;
inline constexpr size_t kMaxSignerBytes = 64;
inline constexpr size_t kMaxHeaderBytes = 1024;
inline constexpr const char* kServerSigner = "server";
// OpenEnvelope's message when the signature does not verify (the signer is not echoed); the
// server answers it like an unknown device.
inline constexpr const char* kBadSignature = "bad signature";

enum class EnvelopeKind : uint8_t {
  kPush = 1,         // van -> server: a batch of mutations
  kPullRequest = 2,  // van -> server: "changes since my cursor"
  kPushAck = 3,      // server -> van: what was applied
  kPullAnswer = 4,   // server -> van: changed requests, conflicts, catalog
};

// Domain separation: a signature made for one kind never verifies as another.
const char* EnvelopeDomain(EnvelopeKind kind);

struct EnvelopeHeader {
  uint32_t protocol = kProtocolVersion;
  std::string device_id;   // the van this exchange is about (answers: the addressee)
  HlcTimestamp hlc;        // sender's clock when sending
  Bytes nonce;             // request: fresh random; answer: the request's nonce echoed
  uint64_t first_seq = 0;  // push: seq range of the batch
  uint64_t last_seq = 0;
  uint64_t cursor = 0;          // pull request: the van's cursor
  uint64_t body_raw_bytes = 0;  // size of the body after decompression
  Bytes body_sha256;            // of the body as sent (compressed)

  template <class Archive>
  void serialize(Archive& ar) {
    ar(protocol, device_id, hlc, nonce, first_seq, last_seq, cursor, body_raw_bytes, body_sha256);
  }
};

// Why a push was refused although it was authentic: the van and the server disagree about what
// was applied. The refusal is a signed PushAck (HTTP 409) so the van can act on it safely.
enum class PushRefusal : uint8_t {
  kNone,
  // The batch starts past last_applied_seq + 1: the server was restored from a backup and lost
  // acknowledged work (the ack's epoch is new), or a bug. refused_seq = last_applied_seq + 1.
  kSeqGap,
  // Mutation refused_seq differs from the one the server applied under that seq: the van's
  // store was restored from an older copy and reused seqs. The van renumbers its mutations from
  // refused_seq on to follow last_applied_seq; what it lost comes back with its next pull.
  kSeqReused,
  // The create at refused_seq carries a receipt another request already holds. The van re-issues
  // the receipts of its pending creates from refused_seq on in receipt_series.
  kReceiptTaken,
};

// Answer to a push: the device's last applied seq, and the seqs in the batch that did not apply
// cleanly (a lost concurrent write, a refused status change): the van takes the server's state
// of those requests at its next pull instead of folding its own write into its base.
struct PushAck {
  uint64_t last_applied_seq = 0;
  std::vector<uint64_t> unclean_seqs;
  // The server's epoch: it changes when the server is restored from a backup. A van that sees a
  // new one re-sends what the server lost and pulls its scope again from the start.
  uint64_t epoch = 0;
  PushRefusal refusal = PushRefusal::kNone;  // kNone: the batch was applied
  uint64_t refused_seq = 0;
  // The receipt series the device issues receipts in (server-assigned, unique per van code).
  uint32_t receipt_series = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(last_applied_seq, unclean_seqs, epoch, refusal, refused_seq, receipt_series);
  }
};

struct PullAnswer {
  uint64_t cursor = 0;            // the van's next cursor
  bool more = false;              // another page follows: pull again with the new cursor
  uint64_t last_applied_seq = 0;  // of this device, so a lost ack is recovered here
  // Of those after the van's acked_seq, the ones that did not apply as written: the van must
  // not fold them into its copy of the server's state.
  std::vector<uint64_t> unclean_seqs;
  std::vector<Request> requests;  // current server state of each changed request in scope
  // Changes to requests the van already holds: only the parts changed since its cursor.
  std::vector<RequestPatch> patches;
  std::vector<ConflictRecord> conflicts;
  int64_t catalog_version = 0;
  std::string catalog_json;  // empty unless newer than the van's
  uint64_t epoch = 0;        // as in PushAck: a new one means the server was restored

  // Requests and patches go column by column on the wire (sync/src/columns.h); defined in
  // protocol.cc for the codec's archives.
  template <class Archive>
  void save(Archive& ar) const;
  template <class Archive>
  void load(Archive& ar);
};

// The pull request body: which catalog version the van has; up to which seq it knows its
// mutations were acknowledged (the answer says which later ones did not apply cleanly); and the
// cursor of its last complete pull, up to which it holds every change (patches are made against
// it; at most the header's cursor).
struct PullRequestBody {
  int64_t catalog_version = 0;
  uint64_t acked_seq = 0;
  uint64_t patch_base = 0;
  // The van's copy went back in time (its store or the server was restored): send every request
  // of its van code, its own unchanged ones too, whole, until a pull runs to its end.
  bool resync = false;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(catalog_version, acked_seq, patch_base, resync);
  }
};

// Limits on what a receiver accepts, checked before any decoding.
struct EnvelopeLimits {
  size_t max_envelope_bytes = 16 << 20;
  size_t max_body_raw_bytes = 64 << 20;
};

// Builds a signed envelope. body is the uncompressed cereal encoding of the message;
// header.body_raw_bytes and header.body_sha256 are filled in here.
Result<Bytes> SealEnvelope(EnvelopeKind kind, const std::string& signer, EnvelopeHeader header,
                           ByteView raw_body, ByteView private_key, int zstd_level = 3);

// The same, for a signer whose private key stays behind a signing call (the van's key is
// unsealed from its store only for the duration of one signature).
using SignFunction = std::function<Result<Bytes>(ByteView message)>;
Result<Bytes> SealEnvelopeWith(EnvelopeKind kind, const std::string& signer, EnvelopeHeader header,
                               ByteView raw_body, const SignFunction& sign, int zstd_level = 3);

struct OpenedEnvelope {
  EnvelopeKind kind;
  std::string signer;
  EnvelopeHeader header;
  Bytes raw_body;  // decompressed, hash and size checked; not yet decoded
};

// Returns the signer's public key, or an Error (unknown device -> kUnauthenticated, revoked
// device -> kUnauthenticated with "revoked").
using KeyLookup = std::function<Result<Bytes>(const std::string& signer)>;

// Verifies and unpacks an envelope in the fixed order. `expected` is the kind the endpoint
// takes. Every failure is an Error naming the check that failed; nothing is decoded before the
// signature verified.
Result<OpenedEnvelope> OpenEnvelope(ByteView envelope, EnvelopeKind expected,
                                    const KeyLookup& lookup, const EnvelopeLimits& limits);

// Enrolment (JSON over POST /v1/enroll). The van proves it holds its key by signing
//   "mpp-enroll-v1" 0 token 0 device_id 0 public_key 0 nonce
// and the server answers with a signature over
//   "mpp-enroll-answer-v1" 0 device_id 0 server_public_key 0 nonce 0 receipt_series (decimal)
Bytes EnrollRequestSignedBytes(std::string_view token, std::string_view device_id,
                               ByteView public_key, ByteView nonce);
Bytes EnrollAnswerSignedBytes(std::string_view device_id, ByteView server_public_key,
                              ByteView nonce, uint32_t receipt_series);

// Reads the signer field without checking anything (for logging and audit listings).
std::optional<std::string> PeekSigner(ByteView envelope);

}  // namespace mpp::sync
