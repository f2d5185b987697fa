#include "mpp/sync/protocol.h"

#include <cstring>

#include "codec_impl.h"
#include "columns.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/crypto.h"

namespace mpp::sync {
namespace {

constexpr char kMagic[4] = {'M', 'P', 'P', '1'};
constexpr size_t kFixedPrefix = 4 + 1 + 1;  // magic, kind, signer_len

Bytes SignedBytes(EnvelopeKind kind, std::string_view signer, ByteView header,
                  const crypto::Sha256Digest& body_hash) {
  const std::string_view domain = EnvelopeDomain(kind);
  Bytes out;
  out.reserve(domain.size() + 1 + signer.size() + header.size() + body_hash.size());
  out.insert(out.end(), domain.begin(), domain.end());
  out.push_back(0);
  out.insert(out.end(), signer.begin(), signer.end());
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), body_hash.begin(), body_hash.end());
  return out;
}

bool KnownKind(uint8_t k) { return k >= 1 && k <= 4; }

struct RawParts {
  EnvelopeKind kind;
  std::string signer;
  ByteView header;
  ByteView signature;
  ByteView body;
};

Result<RawParts> Split(ByteView e) {
  if (e.size() < kFixedPrefix || std::memcmp(e.data(), kMagic, 4) != 0) {
    return Error::Corrupt("not an MPP envelope (bad magic)");
  }
  if (!KnownKind(e[4])) return Error::Corrupt("unknown envelope kind " + std::to_string(e[4]));
  const size_t signer_len = e[5];
  if (signer_len == 0 || signer_len > kMaxSignerBytes) {
    return Error::Corrupt("signer length " + std::to_string(signer_len) + " out of bounds");
  }
  size_t pos = kFixedPrefix;
  if (e.size() < pos + signer_len + 2) return Error::Corrupt("envelope truncated in the signer");
  RawParts parts{static_cast<EnvelopeKind>(e[4]),
                 std::string(reinterpret_cast<const char*>(e.data() + pos), signer_len),
                 {},
                 {},
                 {}};
  pos += signer_len;
  const size_t header_len = e[pos] | (static_cast<size_t>(e[pos + 1]) << 8);
  pos += 2;
  if (header_len == 0 || header_len > kMaxHeaderBytes) {
    return Error::Corrupt("header length " + std::to_string(header_len) + " out of bounds");
  }
  if (e.size() < pos + header_len + crypto::kEd25519SignatureBytes) {
    return Error::Corrupt("envelope truncated before the signature");
  }
  parts.header = e.subspan(pos, header_len);
  pos += header_len;
  parts.signature = e.subspan(pos, crypto::kEd25519SignatureBytes);
  pos += crypto::kEd25519SignatureBytes;
  parts.body = e.subspan(pos);
  return parts;
}

}  // namespace

const char* EnvelopeDomain(EnvelopeKind kind) {
  switch (kind) {
    case EnvelopeKind::kPush:
      return "mpp-push-v1";
    case EnvelopeKind::kPullRequest:
      return "mpp-pull-v1";
    case EnvelopeKind::kPushAck:
      return "mpp-push-ack-v1";
    case EnvelopeKind::kPullAnswer:
      return "mpp-pull-answer-v1";
  }
  return "mpp-unknown";
}

Result<Bytes> SealEnvelope(EnvelopeKind kind, const std::string& signer, EnvelopeHeader header,
                           ByteView raw_body, ByteView private_key, int zstd_level) {
  return SealEnvelopeWith(
      kind, signer, std::move(header), raw_body,
      [private_key](ByteView message) { return crypto::Ed25519Sign(private_key, message); },
      zstd_level);
}

Result<Bytes> SealEnvelopeWith(EnvelopeKind kind, const std::string& signer, EnvelopeHeader header,
                               ByteView raw_body, const SignFunction& sign, int zstd_level) {
  if (signer.empty() || signer.size() > kMaxSignerBytes) {
    return Error::InvalidInput("signer must be 1-64 bytes");
  }
  const Bytes body = Compress(raw_body, zstd_level);
  const crypto::Sha256Digest body_hash = crypto::Sha256(body);
  header.body_raw_bytes = raw_body.size();
  header.body_sha256.assign(body_hash.begin(), body_hash.end());
  const Bytes header_bytes = EncodeValue(header);
  if (header_bytes.size() > kMaxHeaderBytes) return Error::TooLarge("envelope header too large");
  MPP_ASSIGN_OR_RETURN(Bytes signature, sign(SignedBytes(kind, signer, header_bytes, body_hash)));
  Bytes out;
  out.reserve(kFixedPrefix + signer.size() + 2 + header_bytes.size() + signature.size() +
              body.size());
  out.insert(out.end(), kMagic, kMagic + 4);
  out.push_back(static_cast<uint8_t>(kind));
  out.push_back(static_cast<uint8_t>(signer.size()));
  out.insert(out.end(), signer.begin(), signer.end());
  out.push_back(static_cast<uint8_t>(header_bytes.size() & 0xff));
  out.push_back(static_cast<uint8_t>(header_bytes.size() >> 8));
  out.insert(out.end(), header_bytes.begin(), header_bytes.end());
  out.insert(out.end(), signature.begin(), signature.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Result<OpenedEnvelope> OpenEnvelope(ByteView envelope, EnvelopeKind expected,
                                    const KeyLookup& lookup, const EnvelopeLimits& limits) {
  // 1. Size bounds.
  if (envelope.size() > limits.max_envelope_bytes) {
    return Error::TooLarge("envelope of " + std::to_string(envelope.size()) +
                           " bytes exceeds the limit of " +
                           std::to_string(limits.max_envelope_bytes));
  }
  MPP_ASSIGN_OR_RETURN(RawParts parts, Split(envelope));
  if (parts.kind != expected) {
    return Error::InvalidInput(std::string("expected a ") + EnvelopeDomain(expected) +
                               " envelope, got " + EnvelopeDomain(parts.kind));
  }
  // 2. Known and active signer.
  MPP_ASSIGN_OR_RETURN(Bytes public_key, lookup(parts.signer));
  // 3. Signature over the header and the body's hash.
  const crypto::Sha256Digest body_hash = crypto::Sha256(parts.body);
  if (!crypto::Ed25519Verify(public_key,
                             SignedBytes(parts.kind, parts.signer, parts.header, body_hash),
                             parts.signature)) {
    return Error::Unauthenticated(kBadSignature);
  }
  // The header is authenticated now; decode it.
  MPP_ASSIGN_OR_RETURN(EnvelopeHeader header, DecodeValue<EnvelopeHeader>(parts.header));
  if (header.protocol != kProtocolVersion) {
    return Error::InvalidInput("protocol version " + std::to_string(header.protocol) +
                               " is not supported (this side speaks " +
                               std::to_string(kProtocolVersion) + ")");
  }
  // 4. Body hash.
  if (header.body_sha256.size() != body_hash.size() ||
      std::memcmp(header.body_sha256.data(), body_hash.data(), body_hash.size()) != 0) {
    return Error::Unauthenticated("body hash mismatch: the body is not the one that was signed");
  }
  // 5. Decompressed size bound, then decompression bounded by the declared size.
  if (header.body_raw_bytes > limits.max_body_raw_bytes) {
    return Error::TooLarge("declared body of " + std::to_string(header.body_raw_bytes) +
                           " bytes exceeds the limit of " +
                           std::to_string(limits.max_body_raw_bytes));
  }
  MPP_ASSIGN_OR_RETURN(Bytes raw, Decompress(parts.body, header.body_raw_bytes));
  if (raw.size() != header.body_raw_bytes) {
    return Error::Corrupt("body decompressed to " + std::to_string(raw.size()) +
                          " bytes, header says " + std::to_string(header.body_raw_bytes));
  }
  return OpenedEnvelope{parts.kind, std::move(parts.signer), std::move(header), std::move(raw)};
}

namespace {
Bytes Joined(std::string_view domain, std::initializer_list<ByteView> parts) {
  Bytes out(domain.begin(), domain.end());
  for (ByteView p : parts) {
    out.push_back(0);
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}
}  // namespace

Bytes EnrollRequestSignedBytes(std::string_view token, std::string_view device_id,
                               ByteView public_key, ByteView nonce) {
  return Joined("mpp-enroll-v1", {ViewOf(token), ViewOf(device_id), public_key, nonce});
}

Bytes EnrollAnswerSignedBytes(std::string_view device_id, ByteView server_public_key,
                              ByteView nonce, uint32_t receipt_series) {
  const std::string series = std::to_string(receipt_series);
  return Joined("mpp-enroll-answer-v1",
                {ViewOf(device_id), server_public_key, nonce, ViewOf(series)});
}

std::optional<std::string> PeekSigner(ByteView envelope) {
  auto parts = Split(envelope);
  if (!parts) return std::nullopt;
  return parts->signer;
}

}  // namespace mpp::sync

namespace mpp::sync {
// The protocol's messages are encoded with the generic codec; instantiate it for them here so
// callers need only codec.h.
// A patch travels as the request-shaped part it carries, plus two small columns.
template <class Archive>
void PullAnswer::save(Archive& ar) const {
  std::vector<Request> parts;
  std::vector<uint8_t> status_changed;
  std::vector<uint32_t> history_from;
  for (const RequestPatch& p : patches) {
    parts.push_back(p.part);
    status_changed.push_back(p.status_changed ? 1 : 0);
    history_from.push_back(p.history_from);
  }
  ar(cursor, more, last_applied_seq, unclean_seqs, ToColumns(requests), ToColumns(parts),
     status_changed, history_from, conflicts, catalog_version, catalog_json, epoch);
}

template <class Archive>
void PullAnswer::load(Archive& ar) {
  RequestColumns columns;
  RequestColumns part_columns;
  std::vector<uint8_t> status_changed;
  std::vector<uint32_t> history_from;
  ar(cursor, more, last_applied_seq, unclean_seqs, columns, part_columns, status_changed,
     history_from, conflicts, catalog_version, catalog_json, epoch);
  auto decoded = FromColumns(columns);
  if (!decoded) throw cereal::Exception(decoded.error().message());
  requests = std::move(decoded).value();
  auto parts = FromColumns(part_columns);
  if (!parts) throw cereal::Exception(parts.error().message());
  if (status_changed.size() != parts->size() || history_from.size() != parts->size()) {
    throw cereal::Exception("the patch columns have different lengths");
  }
  patches.clear();
  for (size_t i = 0; i < parts->size(); ++i) {
    if (status_changed[i] > 1) throw cereal::Exception("a patch's status flag is not 0 or 1");
    patches.push_back({std::move((*parts)[i]), status_changed[i] == 1, history_from[i]});
  }
}

template Bytes EncodeValue<EnvelopeHeader>(const EnvelopeHeader&);
template Result<EnvelopeHeader> DecodeValue<EnvelopeHeader>(ByteView);
template Bytes EncodeValue<PushAck>(const PushAck&);
template Result<PushAck> DecodeValue<PushAck>(ByteView);
template Bytes EncodeValue<PullAnswer>(const PullAnswer&);
template Result<PullAnswer> DecodeValue<PullAnswer>(ByteView);
template Bytes EncodeValue<PullRequestBody>(const PullRequestBody&);
template Bytes EncodeValue<ChangeRevs>(const ChangeRevs&);
template Result<ChangeRevs> DecodeValue<ChangeRevs>(ByteView);
template Result<PullRequestBody> DecodeValue<PullRequestBody>(ByteView);
}  // namespace mpp::sync
