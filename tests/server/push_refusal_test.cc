// Refusals at the sync endpoints (DESIGN.md §5 and invariant 5 of §6; THREATS.md rows 1-40):
// hand-made bad envelopes go straight to VanSync::HandlePush and HandlePull, and answers are
// tampered with on their way back to a van. Every refusal must carry the right error code and
// HTTP status, a message that names the problem, and change nothing on the receiving side.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "mpp/field/use_cases.h"
#include "mpp/server/http_server.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/protocol.h"
#include "mpp/sync/uuid.h"
#include "support/sync_world.h"

namespace mpp::test {
namespace {

using sync::EnvelopeHeader;
using sync::EnvelopeKind;
using sync::FieldMap;
using sync::HlcTimestamp;
using sync::Mutation;
using sync::MutationKind;
using sync::RequestStatus;
using ::testing::HasSubstr;

constexpr char kKtp[] = "dukcapil.ktp-el";
constexpr int64_t kOneDayMs = 24 * 60 * 60 * 1000;

// ---- Checking that nothing changed ----

// Everything on the server a refused envelope could have touched.
struct ServerSnapshot {
  // device_id, van_code, public_key, enrolled, revoked, last_applied_seq, last_sync_ms
  std::vector<std::tuple<std::string, std::string, Bytes, int64_t, int64_t, uint64_t, int64_t>>
      devices;
  std::vector<std::tuple<sync::Request, std::string, uint64_t>> requests;  // + agency, owner_rev
  std::vector<std::tuple<uint64_t, std::string, sync::ConflictRecord>> conflicts;
  size_t envelopes = 0;
  int64_t hlc = 0;  // the persisted server clock
};

ServerSnapshot TakeSnapshot(SyncWorld& world) {
  ServerSnapshot s;
  auto devices = world.storage().ListDevices();
  EXPECT_TRUE(devices.ok());
  for (const auto& d : *devices) {
    s.devices.emplace_back(d.device_id, d.van_code, d.public_key, d.enrolled_ms, d.revoked_ms,
                           d.last_applied_seq, d.last_sync_ms);
  }
  auto requests = world.storage().ListRequests({});
  EXPECT_TRUE(requests.ok());
  for (const auto& r : *requests) s.requests.emplace_back(r.request, r.agency, r.owner_rev);
  auto conflicts = world.storage().ListConflicts();
  EXPECT_TRUE(conflicts.ok());
  for (const auto& c : *conflicts) s.conflicts.emplace_back(c.rev, c.device_id, c.conflict);
  auto audit = world.services().staff.VerifyEnvelopes();
  EXPECT_TRUE(audit.ok());
  s.envelopes = audit->checked;
  EXPECT_THAT(audit->failures, ::testing::IsEmpty());
  auto txn = world.storage().Begin();  // read only; rolled back when it goes out of scope
  EXPECT_TRUE(txn.ok());
  auto hlc = (*txn)->LoadHlc();
  EXPECT_TRUE(hlc.ok());
  s.hlc = *hlc;
  return s;
}

uint64_t LastApplied(const ServerSnapshot& s, const std::string& device_id) {
  for (const auto& d : s.devices) {
    if (std::get<0>(d) == device_id) return std::get<5>(d);
  }
  ADD_FAILURE() << "no device " << device_id;
  return 0;
}

void ExpectServerUnchanged(SyncWorld& world, const ServerSnapshot& before) {
  const ServerSnapshot after = TakeSnapshot(world);
  for (const auto& d : before.devices) {
    EXPECT_EQ(LastApplied(after, std::get<0>(d)), std::get<5>(d))
        << "last_applied_seq of " << std::get<0>(d) << " moved";
  }
  EXPECT_TRUE(after.devices == before.devices) << "a device record changed";
  EXPECT_EQ(after.requests.size(), before.requests.size()) << "requests were added";
  EXPECT_TRUE(after.requests == before.requests) << "a stored request changed";
  EXPECT_EQ(after.conflicts.size(), before.conflicts.size()) << "conflicts were recorded";
  EXPECT_TRUE(after.conflicts == before.conflicts);
  EXPECT_EQ(after.envelopes, before.envelopes) << "an envelope was stored";
  EXPECT_EQ(after.hlc, before.hlc) << "the persisted server clock moved";
}

// Unknown devices, wrong keys and revoked devices get this one answer (THREATS.md rows 27-28).
constexpr const char* kNotAllowed = "not enrolled, or no longer allowed";

void ExpectRefused(const Result<Bytes>& result, ErrorCode code, int http_status,
                   const std::string& words) {
  ASSERT_FALSE(result.ok()) << "accepted; expected a refusal mentioning \"" << words << "\"";
  EXPECT_EQ(result.error().code(), code)
      << "got " << ErrorCodeName(result.error().code()) << ": " << result.error().message();
  EXPECT_EQ(server::HttpStatusFor(result.error()), http_status) << result.error().message();
  EXPECT_THAT(result.error().message(), HasSubstr(words));
}

// ---- Building envelopes by hand ----

struct Layout {
  size_t header_at = 0;
  size_t header_len = 0;
  size_t signature_at = 0;
  size_t body_at = 0;
};

Layout LayoutOf(const Bytes& envelope) {
  Layout l;
  const size_t signer_len = envelope.at(5);
  const size_t len_at = 6 + signer_len;
  l.header_len = envelope.at(len_at) | (static_cast<size_t>(envelope.at(len_at + 1)) << 8);
  l.header_at = len_at + 2;
  l.signature_at = l.header_at + l.header_len;
  l.body_at = l.signature_at + crypto::kEd25519SignatureBytes;
  return l;
}

// Lays out an envelope by hand, for headers SealEnvelope never writes (a lying body size or
// hash). The signature is genuine: `sign` signs the same bytes OpenEnvelope verifies.
Bytes HandMadeEnvelope(EnvelopeKind kind, const std::string& signer, const EnvelopeHeader& header,
                       const Bytes& body, const sync::SignFunction& sign) {
  const Bytes header_bytes = sync::EncodeValue(header);
  const auto body_hash = crypto::Sha256(body);
  const std::string domain = sync::EnvelopeDomain(kind);
  Bytes message(domain.begin(), domain.end());
  message.push_back(0);
  message.insert(message.end(), signer.begin(), signer.end());
  message.insert(message.end(), header_bytes.begin(), header_bytes.end());
  message.insert(message.end(), body_hash.begin(), body_hash.end());
  auto signature = sign(message);
  EXPECT_TRUE(signature.ok());
  Bytes out = BytesOf("MPP1");
  out.push_back(static_cast<uint8_t>(kind));
  out.push_back(static_cast<uint8_t>(signer.size()));
  out.insert(out.end(), signer.begin(), signer.end());
  out.push_back(static_cast<uint8_t>(header_bytes.size() & 0xff));
  out.push_back(static_cast<uint8_t>(header_bytes.size() >> 8));
  out.insert(out.end(), header_bytes.begin(), header_bytes.end());
  out.insert(out.end(), signature->begin(), signature->end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes FlipBit(Bytes bytes, size_t bit) {
  bytes.at(bit / 8) ^= static_cast<uint8_t>(1u << (bit % 8));
  return bytes;
}

sync::SignFunction KeyOf(Van& van) {
  return [&van](ByteView message) { return van.store->SignWithDeviceKey(message); };
}

sync::SignFunction KeyOf(const crypto::Ed25519KeyPair& keys) {
  return [&keys](ByteView message) { return crypto::Ed25519Sign(keys.private_key, message); };
}

// The server's private key, read from its home directory (to forge *valid* answers that differ
// from the real ones only in one field).
Bytes ServerPrivateKey(SyncWorld& world) {
  std::string hex = ReadFileOrDie(std::filesystem::path(world.dir()) / "server" / "server.key");
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  auto key = FromHex(hex);
  EXPECT_TRUE(key.has_value());
  return key.value_or(Bytes{});
}

Result<sync::OpenedEnvelope> OpenServerAnswer(SyncWorld& world, const Bytes& answer,
                                              EnvelopeKind kind) {
  return sync::OpenEnvelope(answer, kind,
                            [&world](const std::string& signer) -> Result<Bytes> {
                              if (signer != sync::kServerSigner)
                                return Error::Unauthenticated("not the server");
                              return world.services().core.server_public_key();
                            },
                            {});
}

sync::PushAck DecodeAck(SyncWorld& world, const Bytes& answer, const Bytes& nonce) {
  auto opened = OpenServerAnswer(world, answer, EnvelopeKind::kPushAck);
  EXPECT_TRUE(opened.ok()) << opened.error().message();
  if (!opened.ok()) return {};
  EXPECT_EQ(opened->header.nonce, nonce) << "the ack must echo the push's nonce";
  auto ack = sync::DecodeValue<sync::PushAck>(opened->raw_body);
  EXPECT_TRUE(ack.ok());
  return ack.ok() ? *ack : sync::PushAck{};
}

// A server and two enrolled vans; helpers make the mutations and envelopes a van would send.
class EnrolledVans : public ::testing::Test {
 protected:
  HlcTimestamp Now() { return {world_.clock().NowMillis(), 0}; }

  Mutation Create(Van& van, uint64_t seq, const FieldMap& fields) {
    Mutation m;
    m.origin = van.device_id();
    m.seq = seq;
    m.hlc = Now();
    m.actor = "Petugas " + van.van_code;
    m.kind = MutationKind::kCreate;
    m.request_id = sync::NewUuidV7(world_.clock(), world_.rng());
    m.service_id = kKtp;
    char receipt[32];
    snprintf(receipt, sizeof receipt, "-20251128-%04d", static_cast<int>(seq));
    m.receipt = van.van_code + receipt;
    for (const auto& [name, value] : fields) m.writes.push_back({name, value, {}});
    return m;
  }
  Mutation Create(Van& van, uint64_t seq) { return Create(van, seq, SyncWorld::KtpFields(100)); }

  Mutation SetFields(Van& van, uint64_t seq, const std::string& id, const FieldMap& fields) {
    Mutation m;
    m.origin = van.device_id();
    m.seq = seq;
    m.hlc = Now();
    m.actor = "Petugas " + van.van_code;
    m.kind = MutationKind::kSetFields;
    m.request_id = id;
    for (const auto& [name, value] : fields) m.writes.push_back({name, value, {}});
    return m;
  }

  Mutation SetStatus(Van& van, uint64_t seq, const std::string& id, RequestStatus to) {
    Mutation m;
    m.origin = van.device_id();
    m.seq = seq;
    m.hlc = Now();
    m.actor = "Petugas " + van.van_code;
    m.kind = MutationKind::kSetStatus;
    m.request_id = id;
    m.status_to = to;
    return m;
  }

  EnvelopeHeader HeaderFor(Van& van, const std::vector<Mutation>& batch) {
    EnvelopeHeader h;
    h.device_id = van.device_id();
    h.hlc = Now();
    h.nonce.resize(sync::kNonceBytes);
    world_.rng().Fill(h.nonce);
    h.first_seq = batch.empty() ? 1 : batch.front().seq;
    h.last_seq = batch.empty() ? 1 : batch.back().seq;
    return h;
  }

  // A push of `batch` as `van` sends it: signed with the van's own key.
  Bytes Push(Van& van, const std::vector<Mutation>& batch) {
    return Push(van, batch, HeaderFor(van, batch));
  }
  Bytes Push(Van& van, const std::vector<Mutation>& batch, const EnvelopeHeader& header) {
    auto e = sync::SealEnvelopeWith(EnvelopeKind::kPush, van.device_id(), header,
                                    sync::EncodeMutations(batch), KeyOf(van));
    EXPECT_TRUE(e.ok());
    return e.ok() ? *e : Bytes{};
  }

  Bytes PullRequest(Van& van, uint64_t cursor = 0) {
    EnvelopeHeader h = HeaderFor(van, {});
    h.first_seq = h.last_seq = 0;
    h.cursor = cursor;
    auto e =
        sync::SealEnvelopeWith(EnvelopeKind::kPullRequest, van.device_id(), h,
                               sync::EncodeValue(sync::PullRequestBody{1'000'000}), KeyOf(van));
    EXPECT_TRUE(e.ok());
    return e.ok() ? *e : Bytes{};
  }

  Result<Bytes> PostPush(const Bytes& envelope) {
    server::SyncLog log;
    return world_.services().van_sync.HandlePush(envelope, &log);
  }
  struct LoggedPush {
    server::SyncLog log;
    sync::PushAck ack;
  };
  // A push whose answer must be a signed ack (applied or a signed refusal), opened with the
  // server's key.
  LoggedPush PostPushLogged(const Bytes& envelope) {
    LoggedPush out;
    auto answer = world_.services().van_sync.HandlePush(envelope, &out.log);
    EXPECT_TRUE(answer.ok()) << answer.error().message();
    if (!answer.ok()) return out;
    const Bytes server_key = world_.services().core.server_public_key();
    auto opened =
        sync::OpenEnvelope(*answer, EnvelopeKind::kPushAck,
                           [&](const std::string&) -> Result<Bytes> { return server_key; }, {});
    EXPECT_TRUE(opened.ok()) << opened.error().message();
    if (!opened.ok()) return out;
    auto ack = sync::DecodeValue<sync::PushAck>(opened->raw_body);
    EXPECT_TRUE(ack.ok());
    if (ack.ok()) out.ack = *ack;
    return out;
  }
  Result<Bytes> PostPull(const Bytes& envelope) {
    server::SyncLog log;
    return world_.services().van_sync.HandlePull(envelope, &log);
  }

  std::string RegisterAndSync(Van& van, int serial) {
    auto r = field::RegisterRequest(*van.store, kKtp, SyncWorld::KtpFields(serial));
    EXPECT_TRUE(r.ok()) << r.error().message();
    auto synced = world_.Sync(van);
    EXPECT_TRUE(synced.ok()) << synced.error().message();
    return r.ok() ? r->id : "";
  }

  SyncWorld world_{20251128};
  Van& a_ = world_.AddVan("KR01");
  Van& b_ = world_.AddVan("KR02");
};

class PushRefusal : public EnrolledVans {};
class PullRefusal : public EnrolledVans {};

// ---- Who signed it ----

TEST_F(PushRefusal, UnknownDeviceIsUnauthenticated) {
  const auto before = TakeSnapshot(world_);
  auto keys = crypto::GenerateEd25519KeyPair();
  ASSERT_OK(keys);
  Mutation m = Create(a_, 1);
  m.origin = "ghost-van";
  EnvelopeHeader h = HeaderFor(a_, {m});
  h.device_id = "ghost-van";
  auto e = sync::SealEnvelope(EnvelopeKind::kPush, "ghost-van", h, sync::EncodeMutations({m}),
                              keys->private_key);
  ASSERT_OK(e);
  ExpectRefused(PostPush(*e), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, RevokedDeviceIsDeniedAndItsEarlierDataStays) {
  ASSERT_OK(PostPush(Push(a_, {Create(a_, 1)})));
  ASSERT_OK(world_.services().devices.RevokeDevice(a_.device_id(), "admin"));
  const auto before = TakeSnapshot(world_);
  ExpectRefused(PostPush(Push(a_, {Create(a_, 2)})), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  ExpectServerUnchanged(world_, before);
  EXPECT_EQ(before.requests.size(), 1u) << "the data accepted before revocation stays";
}

TEST_F(PushRefusal, ValidSignatureByAnotherDevicesKeyIsRefused) {
  const auto before = TakeSnapshot(world_);
  // Van B signs a push that claims to come from van A (a stolen laptop impersonating another).
  const std::vector<Mutation> batch = {Create(a_, 1)};
  auto e = sync::SealEnvelopeWith(EnvelopeKind::kPush, a_.device_id(), HeaderFor(a_, batch),
                                  sync::EncodeMutations(batch), KeyOf(b_));
  ASSERT_OK(e);
  ExpectRefused(PostPush(*e), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, EveryFlippedSignatureBitIsRefused) {
  const auto before = TakeSnapshot(world_);
  const Bytes good = Push(a_, {Create(a_, 1)});
  const Layout l = LayoutOf(good);
  for (size_t bit = l.signature_at * 8; bit < l.body_at * 8; ++bit) {
    SCOPED_TRACE("signature bit " + std::to_string(bit - l.signature_at * 8));
    ExpectRefused(PostPush(FlipBit(good, bit)), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  }
  ExpectServerUnchanged(world_, before);
  EXPECT_TRUE(PostPush(good).ok()) << "the untouched envelope is accepted";
}

TEST_F(PushRefusal, EveryFlippedHeaderBitIsRefused) {
  const auto before = TakeSnapshot(world_);
  const Bytes good = Push(a_, {Create(a_, 1)});
  const Layout l = LayoutOf(good);
  for (size_t bit = l.header_at * 8; bit < l.signature_at * 8; ++bit) {
    SCOPED_TRACE("header bit " + std::to_string(bit - l.header_at * 8));
    ExpectRefused(PostPush(FlipBit(good, bit)), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  }
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, EverySingleBitFlipAnywhereIsRefusedAndChangesNothing) {
  const auto before = TakeSnapshot(world_);
  const Bytes good = Push(a_, {Create(a_, 1)});
  size_t accepted = 0;
  for (size_t bit = 0; bit < good.size() * 8; ++bit) {
    auto r = PostPush(FlipBit(good, bit));
    if (r.ok()) {
      ++accepted;
      ADD_FAILURE() << "flipping bit " << bit << " of " << good.size() * 8 << " was accepted";
    } else {
      EXPECT_THAT(server::HttpStatusFor(r.error()), ::testing::AnyOf(400, 401))
          << "bit " << bit << ": " << r.error().message();
    }
  }
  EXPECT_EQ(accepted, 0u);
  ExpectServerUnchanged(world_, before);
}

// ---- What was signed ----

TEST_F(PushRefusal, TamperedBodyFailsTheSignatureCheck) {
  const auto before = TakeSnapshot(world_);
  const Bytes good = Push(a_, {Create(a_, 1, SyncWorld::KtpFields(1))});
  // Swap in the (well-formed) body of another batch: the signature covers the body's hash.
  const Bytes other = Push(a_, {Create(a_, 1, SyncWorld::KtpFields(2))});
  Bytes tampered(good.begin(), good.begin() + LayoutOf(good).body_at);
  tampered.insert(tampered.end(), other.begin() + LayoutOf(other).body_at, other.end());
  ASSERT_NE(tampered, good);
  ExpectRefused(PostPush(tampered), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, SignedHeaderWhoseBodyHashDoesNotMatchTheBodyIsRefused) {
  const auto before = TakeSnapshot(world_);
  // A signer-made inconsistency: the signature is over the real body's hash, but the header
  // states the hash of another body.
  const std::vector<Mutation> batch = {Create(a_, 1)};
  const Bytes raw = sync::EncodeMutations(batch);
  const Bytes body = sync::Compress(raw);
  EnvelopeHeader h = HeaderFor(a_, batch);
  h.body_raw_bytes = raw.size();
  const auto wrong = crypto::Sha256(BytesOf("another body"));
  h.body_sha256.assign(wrong.begin(), wrong.end());
  const Bytes e = HandMadeEnvelope(EnvelopeKind::kPush, a_.device_id(), h, body, KeyOf(a_));
  ExpectRefused(PostPush(e), ErrorCode::kUnauthenticated, 401, "body hash mismatch");
  ExpectServerUnchanged(world_, before);
}

// THREATS rows 1 and 33 ask for 400 on truncation. A cut inside the envelope's fixed parts is
// 400 (kCorrupt); a cut inside the body is indistinguishable from a tampered body (the envelope
// carries no body length, and the body must not be decoded before the signature checks out), so
// it is 401 "bad signature". Both change nothing.
TEST_F(PushRefusal, TruncatedEnvelopeIsRefusedAtEveryLength) {
  const auto before = TakeSnapshot(world_);
  const Bytes good = Push(a_, {Create(a_, 1)});
  const Layout l = LayoutOf(good);
  auto cut = [&good](size_t n) { return Bytes(good.begin(), good.begin() + n); };
  ExpectRefused(PostPush(cut(0)), ErrorCode::kCorrupt, 400, "bad magic");
  ExpectRefused(PostPush(cut(5)), ErrorCode::kCorrupt, 400, "bad magic");
  ExpectRefused(PostPush(cut(8)), ErrorCode::kCorrupt, 400, "truncated in the signer");
  ExpectRefused(PostPush(cut(l.header_at + 1)), ErrorCode::kCorrupt, 400,
                "truncated before the signature");
  ExpectRefused(PostPush(cut(l.signature_at + 10)), ErrorCode::kCorrupt, 400,
                "truncated before the signature");
  ExpectRefused(PostPush(cut(l.body_at)), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  ExpectRefused(PostPush(cut(good.size() - 1)), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = PostPush(cut(n));
    ASSERT_FALSE(r.ok()) << "a push cut to " << n << " of " << good.size() << " bytes applied";
    EXPECT_EQ(server::HttpStatusFor(r.error()), n < l.body_at ? 400 : 401)
        << "cut at " << n << ": " << r.error().message();
  }
  ExpectServerUnchanged(world_, before);
  EXPECT_TRUE(PostPush(good).ok()) << "the whole envelope, sent again, is accepted";
}

// ---- Sizes ----

TEST_F(PushRefusal, EnvelopeOverTheSizeLimitIsRefusedFirst) {
  const auto before = TakeSnapshot(world_);
  const size_t limit = server::ServiceOptions{}.limits.max_envelope_bytes;
  Bytes big = Push(a_, {Create(a_, 1)});
  big.resize(limit + 1, 0x00);
  ExpectRefused(PostPush(big), ErrorCode::kTooLarge, 413,
                "exceeds the limit of " + std::to_string(limit));
  // Checked before the signer is even looked up: an unknown signer gets the same answer.
  Bytes forged = big;
  forged[6] ^= 0x01;
  ExpectRefused(PostPush(forged), ErrorCode::kTooLarge, 413, "exceeds the limit");
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, EnvelopeOneByteOverAConfiguredLimitIsRefusedAndAtTheLimitAccepted) {
  const auto before = TakeSnapshot(world_);
  const Bytes e = Push(a_, {Create(a_, 1)});
  auto keys = crypto::GenerateEd25519KeyPair();
  ASSERT_OK(keys);
  server::ServiceOptions tight;
  tight.limits.max_envelope_bytes = e.size() - 1;
  server::Services small(world_.storage(), world_.clock(), world_.rng(), keys->private_key,
                         world_.services().core.catalog(), tight);
  server::SyncLog log;
  ExpectRefused(
      small.van_sync.HandlePush(e, &log), ErrorCode::kTooLarge, 413,
      std::to_string(e.size()) + " bytes exceeds the limit of " + std::to_string(e.size() - 1));
  ExpectServerUnchanged(world_, before);
  tight.limits.max_envelope_bytes = e.size();
  server::Services exact(world_.storage(), world_.clock(), world_.rng(), keys->private_key,
                         world_.services().core.catalog(), tight);
  EXPECT_OK(exact.van_sync.HandlePush(e, &log));
}

TEST_F(PushRefusal, DeclaredBodySizeOverTheLimitIsRefusedBeforeDecompressing) {
  const auto before = TakeSnapshot(world_);
  const size_t limit = server::ServiceOptions{}.limits.max_body_raw_bytes;
  const std::vector<Mutation> batch = {Create(a_, 1)};
  const Bytes body = sync::Compress(sync::EncodeMutations(batch));
  EnvelopeHeader h = HeaderFor(a_, batch);
  h.body_raw_bytes = limit + 1;
  const auto hash = crypto::Sha256(body);
  h.body_sha256.assign(hash.begin(), hash.end());
  const Bytes e = HandMadeEnvelope(EnvelopeKind::kPush, a_.device_id(), h, body, KeyOf(a_));
  ExpectRefused(PostPush(e), ErrorCode::kTooLarge, 413,
                "declared body of " + std::to_string(limit + 1) + " bytes exceeds the limit");
  ExpectServerUnchanged(world_, before);
}

// Zstd frames of `size` zero bytes, with and without the content size in the frame header.
Bytes ZerosFrame(size_t size, bool state_size) {
  const Bytes zeros(size, 0);
  if (state_size) return sync::Compress(zeros);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  Bytes out(ZSTD_compressBound(size));
  ZSTD_inBuffer in{zeros.data(), zeros.size(), 0};
  ZSTD_outBuffer o{out.data(), out.size(), 0};
  const size_t left = ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_end);
  EXPECT_EQ(left, 0u);
  ZSTD_freeCCtx(cctx);
  out.resize(o.pos);
  return out;
}

TEST_F(PushRefusal, DecompressionBombIsRefusedAtTheDeclaredSize) {
  const auto before = TakeSnapshot(world_);
  for (bool frame_states_size : {true, false}) {
    SCOPED_TRACE(frame_states_size ? "frame states its size" : "frame hides its size");
    // 8 MiB of zeros in a few hundred bytes, under a header that declares 1000 bytes: signed
    // properly, so only the decompression bound stands in the way.
    const Bytes body = ZerosFrame(8 << 20, frame_states_size);
    ASSERT_LT(body.size(), 4096u);
    EnvelopeHeader h = HeaderFor(a_, {Create(a_, 1)});
    h.body_raw_bytes = 1000;
    const auto hash = crypto::Sha256(body);
    h.body_sha256.assign(hash.begin(), hash.end());
    const Bytes e = HandMadeEnvelope(EnvelopeKind::kPush, a_.device_id(), h, body, KeyOf(a_));
    ExpectRefused(PostPush(e), ErrorCode::kTooLarge, 413, "exceeds limit 1000");
  }
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, BodyShorterThanDeclaredIsRefused) {
  const auto before = TakeSnapshot(world_);
  const std::vector<Mutation> batch = {Create(a_, 1)};
  const Bytes raw = sync::EncodeMutations(batch);
  const Bytes body = sync::Compress(raw);
  EnvelopeHeader h = HeaderFor(a_, batch);
  h.body_raw_bytes = raw.size() + 10;
  const auto hash = crypto::Sha256(body);
  h.body_sha256.assign(hash.begin(), hash.end());
  const Bytes e = HandMadeEnvelope(EnvelopeKind::kPush, a_.device_id(), h, body, KeyOf(a_));
  ExpectRefused(PostPush(e), ErrorCode::kCorrupt, 400,
                "body decompressed to " + std::to_string(raw.size()) + " bytes, header says " +
                    std::to_string(raw.size() + 10));
  ExpectServerUnchanged(world_, before);
}

// ---- What the body says ----

TEST_F(PushRefusal, SignedGarbageBodyIsMalformed) {
  const auto before = TakeSnapshot(world_);
  EnvelopeHeader h = HeaderFor(a_, {Create(a_, 1)});
  auto e = sync::SealEnvelopeWith(EnvelopeKind::kPush, a_.device_id(), h,
                                  BytesOf("this is not a batch of mutations"), KeyOf(a_));
  ASSERT_OK(e);
  ExpectRefused(PostPush(*e), ErrorCode::kCorrupt, 400, "malformed body");
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, HugeElementCountInTheBodyIsMalformedNotAnAllocation) {
  const auto before = TakeSnapshot(world_);
  const std::vector<Mutation> batch = {Create(a_, 1)};
  Bytes raw = sync::EncodeMutations(batch);
  // body := 0x01 (little-endian flag), then the columns, the first being the string table:
  // u64 element count, elements.
  ASSERT_EQ(raw.at(0), 0x01);
  ASSERT_GT(raw.at(1), 0x01) << "a batch's string table holds its origin, actor, service, ...";
  for (size_t i = 1; i <= 8; ++i) raw[i] = 0xff;
  auto e = sync::SealEnvelopeWith(EnvelopeKind::kPush, a_.device_id(), HeaderFor(a_, batch), raw,
                                  KeyOf(a_));
  ASSERT_OK(e);
  ExpectRefused(PostPush(*e), ErrorCode::kCorrupt, 400, "malformed body");
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, EmptyBatchIsRefused) {
  const auto before = TakeSnapshot(world_);
  ExpectRefused(PostPush(Push(a_, {})), ErrorCode::kInvalidInput, 400, "got 0");
  ExpectServerUnchanged(world_, before);
}

// The refusals of a van and a server that disagree about what was applied are signed acks the
// van can act on (PROTOCOL.md §4), sent as 409; nothing of the batch applies.
TEST_F(PushRefusal, SeqGapIsASignedRefusalNamingTheExpectedSeq) {
  auto before = TakeSnapshot(world_);
  auto gap = PostPushLogged(Push(a_, {Create(a_, 2)}));
  EXPECT_THAT(gap.log.signed_refusal, HasSubstr("expected seq 1"));
  EXPECT_EQ(gap.ack.refusal, sync::PushRefusal::kSeqGap);
  EXPECT_EQ(gap.ack.refused_seq, 1u);
  EXPECT_EQ(gap.ack.last_applied_seq, 0u);
  ExpectServerUnchanged(world_, before);
  ASSERT_OK(PostPush(Push(a_, {Create(a_, 1)})));
  before = TakeSnapshot(world_);
  gap = PostPushLogged(Push(a_, {Create(a_, 3), Create(a_, 4)}));
  EXPECT_THAT(gap.log.signed_refusal, HasSubstr("expected seq 2, batch starts at 3"));
  EXPECT_EQ(gap.ack.refused_seq, 2u);
  EXPECT_EQ(gap.ack.last_applied_seq, 1u);
  ExpectServerUnchanged(world_, before);
}

// Issue 9, item 1: a van store restored from an older copy reuses seq 2 for another citizen.
TEST_F(PushRefusal, ReusedSeqWithOtherContentIsASignedRefusalAndAppliesNothing) {
  const Mutation first = Create(a_, 1);
  const Mutation second = Create(a_, 2);
  ASSERT_OK(PostPush(Push(a_, {first, second})));
  const auto requests_before = world_.storage().ListRequests({});
  ASSERT_OK(requests_before);
  // The same seq 1 (a retry: skipped) and another mutation under seq 2, then a new seq 3.
  Mutation reused = Create(a_, 2);
  reused.receipt = a_.van_code + "-20251128-0009";
  auto refused = PostPushLogged(Push(a_, {first, reused, Create(a_, 3)}));
  EXPECT_EQ(refused.ack.refusal, sync::PushRefusal::kSeqReused);
  EXPECT_EQ(refused.ack.refused_seq, 2u);
  EXPECT_EQ(refused.ack.last_applied_seq, 2u);
  EXPECT_GT(refused.ack.receipt_series, 1u) << "the van re-issues its receipts in a new series";
  EXPECT_THAT(refused.log.signed_refusal, HasSubstr("seq 2 was already used"));
  const auto requests_after = world_.storage().ListRequests({});
  ASSERT_OK(requests_after);
  EXPECT_EQ(requests_after->size(), requests_before->size()) << "nothing of the batch applied";
  EXPECT_EQ((*world_.storage().FindDevice(a_.device_id()))->last_applied_seq, 2u);
  // The very same batch again is a retry: acknowledged, nothing applied twice.
  auto retried = PostPushLogged(Push(a_, {first, second}));
  EXPECT_EQ(retried.ack.refusal, sync::PushRefusal::kNone);
  EXPECT_EQ(world_.storage().ListRequests({})->size(), requests_before->size());
}

// Issue 9, item 4: one receipt number names one request.
TEST_F(PushRefusal, ReceiptHeldByAnotherRequestIsASignedRefusal) {
  const Mutation first = Create(a_, 1);
  ASSERT_OK(PostPush(Push(a_, {first})));
  Mutation same_receipt = Create(a_, 2);
  same_receipt.receipt = first.receipt;
  const auto before = world_.storage().ListRequests({});
  auto refused = PostPushLogged(Push(a_, {same_receipt}));
  EXPECT_EQ(refused.ack.refusal, sync::PushRefusal::kReceiptTaken);
  EXPECT_EQ(refused.ack.refused_seq, 2u);
  EXPECT_THAT(refused.log.signed_refusal, HasSubstr("receipt " + first.receipt));
  EXPECT_EQ(world_.storage().ListRequests({})->size(), before->size());
  // Two creates with one receipt in one batch: the same.
  Mutation twin = Create(a_, 3);
  twin.receipt = a_.van_code + "-20251128-0777";
  Mutation other = Create(a_, 2);
  other.receipt = twin.receipt;
  refused = PostPushLogged(Push(a_, {other, twin}));
  EXPECT_EQ(refused.ack.refusal, sync::PushRefusal::kReceiptTaken);
  EXPECT_EQ(refused.ack.refused_seq, 3u);
}

// Only a device the server marked as recovering (after `mpp-server restore`) may re-send a
// request's state; from any other device the copy is not applied and is marked unclean, so the
// van takes the server's state: a van cannot make a staff decision this way.
TEST_F(PushRefusal, RestoreFromADeviceThatIsNotRecoveringChangesNothing) {
  const Mutation first = Create(a_, 1);
  ASSERT_OK(PostPush(Push(a_, {first})));
  auto found = world_.storage().FindRequest(first.request_id);
  ASSERT_OK(found);
  ASSERT_TRUE(found->has_value());
  sync::Request forged = (*found)->request;
  forged.status = RequestStatus::kCompleted;  // a van may never set this
  Mutation restore;
  restore.origin = a_.device_id();
  restore.seq = 2;
  restore.hlc = Now();
  restore.actor = "Petugas " + a_.van_code;
  restore.kind = MutationKind::kRestore;
  restore.request_id = forged.id;
  const Bytes encoded = sync::EncodeRequest(forged);
  restore.note.assign(encoded.begin(), encoded.end());
  auto ignored = PostPushLogged(Push(a_, {restore}));
  EXPECT_EQ(ignored.ack.refusal, sync::PushRefusal::kNone);
  EXPECT_EQ(ignored.ack.unclean_seqs, std::vector<uint64_t>{2});
  EXPECT_EQ(ignored.log.applied, 0u);
  auto after = world_.storage().FindRequest(first.request_id);
  ASSERT_OK(after);
  EXPECT_EQ((*after)->request.status, RequestStatus::kSubmitted);
}

TEST_F(PushRefusal, HeaderNamingAnotherDeviceIsRefused) {
  const auto before = TakeSnapshot(world_);
  const std::vector<Mutation> batch = {Create(a_, 1)};
  EnvelopeHeader h = HeaderFor(a_, batch);
  h.device_id = b_.device_id();
  ExpectRefused(PostPush(Push(a_, batch, h)), ErrorCode::kInvalidInput, 400,
                "header names device " + b_.device_id() + " but " + a_.device_id() + " signed it");
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, MutationWhoseOriginIsNotTheSignerIsRefused) {
  const auto before = TakeSnapshot(world_);
  Mutation m = Create(a_, 1);
  m.origin = b_.device_id();  // A tries to slip in a write attributed to B
  ExpectRefused(PostPush(Push(a_, {m})), ErrorCode::kInvalidInput, 400,
                "does not match the header's device");
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, HeaderSeqRangeThatDoesNotMatchTheBatchIsRefused) {
  const auto before = TakeSnapshot(world_);
  const std::vector<Mutation> batch = {Create(a_, 1), Create(a_, 2)};
  EnvelopeHeader h = HeaderFor(a_, batch);
  h.last_seq = 5;
  ExpectRefused(PostPush(Push(a_, batch, h)), ErrorCode::kInvalidInput, 400,
                "seq range does not match");
  std::vector<Mutation> skipping = {Create(a_, 1), Create(a_, 3)};
  ExpectRefused(PostPush(Push(a_, skipping)), ErrorCode::kInvalidInput, 400,
                "mutation 1 does not match");
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, HeaderClockADayAheadIsRefused) {
  const auto before = TakeSnapshot(world_);
  const std::vector<Mutation> batch = {Create(a_, 1)};
  EnvelopeHeader h = HeaderFor(a_, batch);
  h.hlc.wall_ms += kOneDayMs;
  ExpectRefused(PostPush(Push(a_, batch, h)), ErrorCode::kInvalidInput, 400,
                "86400 s ahead of the server clock");
  ExpectServerUnchanged(world_, before);
}

// A mutation made while the van's clock was a day fast is the officer's work: it is accepted
// (only the header's clock, the van's clock now, is refused), but its timestamp is not adopted
// into the server clock (THREATS.md row 16, clock_suspect).
TEST_F(PushRefusal, MutationStampedADayAheadIsAcceptedButNotAdoptedIntoTheServerClock) {
  Mutation m = Create(a_, 1);
  m.hlc.wall_ms += kOneDayMs;
  server::SyncLog log;
  auto r = world_.services().van_sync.HandlePush(Push(a_, {m}), &log);
  ASSERT_OK(r);
  EXPECT_EQ(log.applied, 1u);
  EXPECT_EQ(log.clock_suspect, 1u);
  const auto after = TakeSnapshot(world_);
  EXPECT_EQ(after.requests.size(), 1u);
  const int64_t max_skew = server::ServiceOptions{}.max_forward_skew_ms;
  EXPECT_LE(HlcTimestamp::FromPacked(after.hlc).wall_ms, world_.clock().NowMillis() + max_skew)
      << "the server clock was dragged a day into the future";
  auto staff =
      world_.services().staff.SetStatus(m.request_id, RequestStatus::kReceived, "rina", "");
  ASSERT_OK(staff);
  EXPECT_LT(staff->status_version.hlc.wall_ms, m.hlc.wall_ms)
      << "a later staff change took the van's wrong clock";
}

TEST_F(PushRefusal, CreateForAnUnknownServiceIsRefused) {
  const auto before = TakeSnapshot(world_);
  Mutation m = Create(a_, 1);
  m.service_id = "dukcapil.no-such-service";
  ExpectRefused(PostPush(Push(a_, {m})), ErrorCode::kInvalidInput, 400,
                "unknown service \"dukcapil.no-such-service\"");
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, CreateWithAnInvalidNikIsRefusedNamingTheField) {
  const auto before = TakeSnapshot(world_);
  FieldMap fields = SyncWorld::KtpFields(1);
  fields["nik"] = "6112054101900000";  // serial 0000
  auto r = PostPush(Push(a_, {Create(a_, 1, fields)}));
  ExpectRefused(r, ErrorCode::kInvalidInput, 400, "field nik");
  fields["nik"] = "61120541019";  // too short
  ExpectRefused(PostPush(Push(a_, {Create(a_, 1, fields)})), ErrorCode::kInvalidInput, 400,
                "field nik");
  ExpectServerUnchanged(world_, before);
}

TEST_F(PushRefusal, OneBadMutationRefusesTheWholeBatch) {
  const auto before = TakeSnapshot(world_);
  FieldMap bad = SyncWorld::KtpFields(2);
  bad["phone"] = "12345";
  ExpectRefused(PostPush(Push(a_, {Create(a_, 1), Create(a_, 2, bad), Create(a_, 3)})),
                ErrorCode::kInvalidInput, 400, "mutation seq 2: field phone");
  ExpectServerUnchanged(world_, before);
}

// ---- Rules of the state machine and of ownership ----

TEST_F(PushRefusal, VanSettingCompletedIsRecordedAsAConflictAndNotApplied) {
  const Mutation create = Create(a_, 1);
  const std::vector<Mutation> batch = {
      create, SetStatus(a_, 2, create.request_id, RequestStatus::kCompleted)};
  const EnvelopeHeader h = HeaderFor(a_, batch);
  auto answer = PostPush(Push(a_, batch, h));
  ASSERT_OK(answer);
  const sync::PushAck ack = DecodeAck(world_, *answer, h.nonce);
  EXPECT_EQ(ack.last_applied_seq, 2u) << "the refused change is consumed, not retried forever";
  EXPECT_EQ(ack.unclean_seqs, std::vector<uint64_t>{2});

  auto found = world_.storage().FindRequest(create.request_id);
  ASSERT_OK(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->request.status, RequestStatus::kSubmitted);
  auto conflicts = world_.storage().ListConflicts();
  ASSERT_OK(conflicts);
  ASSERT_EQ(conflicts->size(), 1u);
  const sync::ConflictRecord& c = conflicts->front().conflict;
  EXPECT_EQ(conflicts->front().device_id, a_.device_id());
  EXPECT_EQ(c.request_id, create.request_id);
  EXPECT_EQ(c.field, "status");
  EXPECT_EQ(c.kept_value, "submitted");
  EXPECT_EQ(c.lost_value, "completed");
  EXPECT_THAT(c.reason, HasSubstr("a van cannot set a request completed"));
}

TEST_F(PushRefusal, VanChangingAnotherVansRequestIsDenied) {
  const std::string bs_request = RegisterAndSync(b_, 7);
  const auto before = TakeSnapshot(world_);
  ExpectRefused(PostPush(Push(a_, {SetFields(a_, 1, bs_request, {{"phone", "081299990000"}})})),
                ErrorCode::kPermissionDenied, 403, "belongs to another van");
  ExpectRefused(PostPush(Push(a_, {SetStatus(a_, 1, bs_request, RequestStatus::kCancelled)})),
                ErrorCode::kPermissionDenied, 403,
                "request " + bs_request + " belongs to another van");
  Mutation hijack = Create(a_, 1);
  hijack.request_id = bs_request;  // re-create it under A's name
  ExpectRefused(PostPush(Push(a_, {hijack})), ErrorCode::kPermissionDenied, 403,
                "belongs to another van");
  ExpectServerUnchanged(world_, before);
}

// A van's receipt numbers are its van code + date + counter (DESIGN.md §3), and staff find
// requests by receipt (FindRequest: id OR receipt, LIMIT 1). A van that writes another van's
// receipt into its own request can shadow that van's request in staff lookups.
// Today the server accepts it (sync_service.cc HandlePush / merge.cc ApplyCreate do not check
// the receipt against the signer's van code, and requests.receipt is not unique): this test
// fails until the server refuses it.
TEST_F(PushRefusal, CreateWithAnotherVansReceiptIsRefused) {
  const auto before = TakeSnapshot(world_);
  Mutation m = Create(a_, 1);
  m.receipt = "KR02-20251128-0001";  // B's receipt format, under A's signature
  auto r = PostPush(Push(a_, {m}));
  EXPECT_FALSE(r.ok()) << "van KR01 registered a request under receipt " << m.receipt;
  if (!r.ok()) {
    EXPECT_EQ(server::HttpStatusFor(r.error()), 400) << r.error().message();
    EXPECT_THAT(r.error().message(), HasSubstr("receipt"));
  }
  ExpectServerUnchanged(world_, before);
  // What the forgery does when accepted: van B's first citizen gets that receipt, and staff
  // looking it up are shown van A's request instead.
  const std::string bs_request = RegisterAndSync(b_, 5);
  ASSERT_EQ(b_.store->Find(bs_request)->view.receipt, m.receipt);
  auto found = world_.storage().FindRequest(m.receipt);
  ASSERT_OK(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->request.id, bs_request)
      << "staff looking up receipt " << m.receipt << " got van KR01's request";
}

// Request ids are UUIDv7 made by the van (DESIGN.md §3), and staff look requests up by id OR
// receipt. The server takes any string as an id today (ApplyCreate does not check IsUuid), so a
// van can name its request after another van's receipt. This test fails until it is refused.
TEST_F(PushRefusal, CreateWithAnIdThatIsNotAUuidIsRefused) {
  const auto before = TakeSnapshot(world_);
  Mutation m = Create(a_, 1);
  m.request_id = "KR02-20251128-0001";
  auto r = PostPush(Push(a_, {m}));
  EXPECT_FALSE(r.ok()) << "van KR01 created a request with id " << m.request_id;
  if (!r.ok()) {
    EXPECT_EQ(server::HttpStatusFor(r.error()), 400) << r.error().message();
  }
  ExpectServerUnchanged(world_, before);
}

// ---- Replays ----

TEST_F(PushRefusal, ReplayedBatchGetsTheSameAckAndChangesNothing) {
  const Mutation create = Create(a_, 1);
  const std::vector<Mutation> batch = {
      create, SetStatus(a_, 2, create.request_id, RequestStatus::kCompleted)};
  const EnvelopeHeader h = HeaderFor(a_, batch);
  const Bytes e = Push(a_, batch, h);
  auto first = PostPush(e);
  ASSERT_OK(first);
  const auto after_first = TakeSnapshot(world_);
  EXPECT_EQ(after_first.envelopes, 1u);

  world_.clock().Advance(5000);
  auto second = PostPush(e);
  ASSERT_OK(second);
  const sync::PushAck ack1 = DecodeAck(world_, *first, h.nonce);
  const sync::PushAck ack2 = DecodeAck(world_, *second, h.nonce);
  EXPECT_EQ(ack2.last_applied_seq, ack1.last_applied_seq);
  EXPECT_EQ(ack2.unclean_seqs, ack1.unclean_seqs) << "a retry must learn the same outcome";
  EXPECT_EQ(ack2.unclean_seqs, std::vector<uint64_t>{2});

  const auto after_second = TakeSnapshot(world_);
  EXPECT_EQ(LastApplied(after_second, a_.device_id()), 2u);
  EXPECT_TRUE(after_second.requests == after_first.requests) << "the replay changed a request";
  EXPECT_TRUE(after_second.conflicts == after_first.conflicts) << "the replay added a conflict";
  EXPECT_EQ(after_second.envelopes, 1u) << "a replay that applied nothing is not stored again";
}

TEST_F(PushRefusal, OverlappingRetryAppliesOnlyTheNewTail) {
  const Mutation m1 = Create(a_, 1);
  const Mutation m2 = Create(a_, 2);
  ASSERT_OK(PostPush(Push(a_, {m1})));
  const std::vector<Mutation> batch = {m1, m2, Create(a_, 3)};
  const EnvelopeHeader h = HeaderFor(a_, batch);
  auto answer = PostPush(Push(a_, batch, h));
  ASSERT_OK(answer);
  EXPECT_EQ(DecodeAck(world_, *answer, h.nonce).last_applied_seq, 3u);
  const auto s = TakeSnapshot(world_);
  EXPECT_EQ(s.requests.size(), 3u);
  EXPECT_EQ(s.envelopes, 2u);
}

// ---- Hostile text ----

TEST_F(PushRefusal, SqlMetacharactersAreStoredVerbatimAndTheServerKeepsWorking) {
  FieldMap fields = SyncWorld::KtpFields(9);
  fields["name"] = "Robert'); DROP TABLE requests;--";
  fields["address"] = "x' OR '1'='1; DELETE FROM devices; -- \"quoted\" %_\\ ?1 :name";
  fields["catatan"] = "'); UPDATE devices SET revoked_ms = 1; --";
  // Through the van's own store and the real sync path.
  auto r = field::RegisterRequest(*a_.store, kKtp, fields);
  ASSERT_OK(r);
  ASSERT_OK(world_.Sync(a_));
  auto found = world_.storage().FindRequest(r->id);
  ASSERT_OK(found);
  ASSERT_TRUE(found->has_value());
  for (const char* name : {"name", "address", "catatan"}) {
    EXPECT_EQ((*found)->request.fields.at(name).value, fields.at(name)) << name;
  }
  // The tables are all there and the server still takes pushes, pulls and staff changes.
  ASSERT_OK(world_.services().staff.SetStatus(r->id, RequestStatus::kReceived, "rina", ""));
  RegisterAndSync(a_, 10);
  auto devices = world_.storage().ListDevices();
  ASSERT_OK(devices);
  EXPECT_EQ(devices->size(), 2u);
  for (const auto& d : *devices) EXPECT_FALSE(d.revoked());
  EXPECT_EQ(world_.storage().ListRequests({})->size(), 2u);
  auto row = a_.store->Find(r->id);
  ASSERT_OK(row);
  EXPECT_EQ(row->view.fields.at("name").value, fields.at("name"));
  EXPECT_EQ(row->view, (*world_.storage().FindRequest(r->id))->request);
}

TEST_F(PushRefusal, InvalidUtf8InATextFieldIsRefusedNamingTheField) {
  const auto before = TakeSnapshot(world_);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"bad continuation byte", "Siti \xC3\x28"}, {"overlong slash", "Siti \xC0\xAF"},
      {"UTF-16 surrogate", "Siti \xED\xA0\x80"},  {"past U+10FFFF", "Siti \xF4\x90\x80\x80"},
      {"truncated sequence", "Siti \xE2\x82"},    {"lone continuation byte", "\x80Siti"},
  };
  for (const auto& [what, value] : bad) {
    SCOPED_TRACE(what);
    FieldMap fields = SyncWorld::KtpFields(1);
    fields["name"] = value;
    ExpectRefused(PostPush(Push(a_, {Create(a_, 1, fields)})), ErrorCode::kInvalidInput, 400,
                  "field name: value is not valid UTF-8");
  }
  FieldMap nul = SyncWorld::KtpFields(1);
  nul["name"] = std::string("Siti\0Aminah", 11);
  ExpectRefused(PostPush(Push(a_, {Create(a_, 1, nul)})), ErrorCode::kInvalidInput, 400,
                "field name: contains control characters");
  FieldMap wide = SyncWorld::KtpFields(1);
  wide["nik"] =
      "\xEF\xBC\x96"
      "112054101900001";  // a fullwidth 6 in front of 15 ASCII digits
  ExpectRefused(PostPush(Push(a_, {Create(a_, 1, wide)})), ErrorCode::kInvalidInput, 400,
                "field nik");
  ExpectServerUnchanged(world_, before);
}

// ---- Pull ----

TEST_F(PullRefusal, PullSignedByAnotherKeyIsRefused) {
  const auto before = TakeSnapshot(world_);
  EnvelopeHeader h = HeaderFor(a_, {});
  auto e = sync::SealEnvelopeWith(EnvelopeKind::kPullRequest, a_.device_id(), h,
                                  sync::EncodeValue(sync::PullRequestBody{}), KeyOf(b_));
  ASSERT_OK(e);
  ExpectRefused(PostPull(*e), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  auto keys = crypto::GenerateEd25519KeyPair();
  ASSERT_OK(keys);
  auto forged = sync::SealEnvelopeWith(EnvelopeKind::kPullRequest, a_.device_id(), h,
                                       sync::EncodeValue(sync::PullRequestBody{}), KeyOf(*keys));
  ASSERT_OK(forged);
  ExpectRefused(PostPull(*forged), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  ExpectServerUnchanged(world_, before);
}

TEST_F(PullRefusal, UnknownAndRevokedDevicesAreRefused) {
  auto keys = crypto::GenerateEd25519KeyPair();
  ASSERT_OK(keys);
  EnvelopeHeader h = HeaderFor(a_, {});
  h.device_id = "ghost-van";
  auto ghost = sync::SealEnvelopeWith(EnvelopeKind::kPullRequest, "ghost-van", h,
                                      sync::EncodeValue(sync::PullRequestBody{}), KeyOf(*keys));
  ASSERT_OK(ghost);
  ExpectRefused(PostPull(*ghost), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  ASSERT_OK(world_.services().devices.RevokeDevice(a_.device_id(), "admin"));
  const auto before = TakeSnapshot(world_);
  ExpectRefused(PostPull(PullRequest(a_)), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  ExpectServerUnchanged(world_, before);
}

// A push captured on the wire and posted to /v1/pull. THREATS row 23 expects 401 for a
// cross-endpoint replay; the server answers 400 because the envelope says plainly that it is a
// push, and 401 once the kind byte is rewritten (the signature's domain no longer matches).
TEST_F(PullRefusal, PushEnvelopePostedToPullIsRefused) {
  const auto before = TakeSnapshot(world_);
  const Bytes push = Push(a_, {Create(a_, 1)});
  ExpectRefused(PostPull(push), ErrorCode::kInvalidInput, 400,
                "expected a mpp-pull-v1 envelope, got mpp-push-v1");
  Bytes relabelled = push;
  relabelled[4] = static_cast<uint8_t>(EnvelopeKind::kPullRequest);
  ExpectRefused(PostPull(relabelled), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  const Bytes pull = PullRequest(a_);
  ExpectRefused(PostPush(pull), ErrorCode::kInvalidInput, 400,
                "expected a mpp-push-v1 envelope, got mpp-pull-v1");
  Bytes relabelled_pull = pull;
  relabelled_pull[4] = static_cast<uint8_t>(EnvelopeKind::kPush);
  ExpectRefused(PostPush(relabelled_pull), ErrorCode::kUnauthenticated, 401, kNotAllowed);
  ExpectServerUnchanged(world_, before);
}

TEST_F(PullRefusal, PullForAnotherDeviceInTheHeaderIsRefused) {
  RegisterAndSync(b_, 3);
  EnvelopeHeader h = HeaderFor(a_, {});
  h.device_id = b_.device_id();
  auto e = sync::SealEnvelopeWith(EnvelopeKind::kPullRequest, a_.device_id(), h,
                                  sync::EncodeValue(sync::PullRequestBody{}), KeyOf(a_));
  ASSERT_OK(e);
  ExpectRefused(PostPull(*e), ErrorCode::kInvalidInput, 400,
                "header names device " + b_.device_id());
}

TEST_F(PullRefusal, PullClockADayAheadIsRefused) {
  EnvelopeHeader h = HeaderFor(a_, {});
  h.hlc.wall_ms += kOneDayMs;
  auto e = sync::SealEnvelopeWith(EnvelopeKind::kPullRequest, a_.device_id(), h,
                                  sync::EncodeValue(sync::PullRequestBody{}), KeyOf(a_));
  ASSERT_OK(e);
  ExpectRefused(PostPull(*e), ErrorCode::kInvalidInput, 400, "ahead of the server clock");
}

TEST_F(PullRefusal, VansPullNeverReturnsAnotherVansRequests) {
  std::vector<std::string> mine = {RegisterAndSync(a_, 1), RegisterAndSync(a_, 2)};
  std::vector<std::string> theirs = {RegisterAndSync(b_, 3), RegisterAndSync(b_, 4)};
  // Staff touch everything, so every request has a change a pull could carry, and one of B's
  // gets a conflict record.
  for (const auto& id : mine) {
    ASSERT_OK(world_.services().staff.SetStatus(id, RequestStatus::kReceived, "rina", ""));
  }
  for (const auto& id : theirs) {
    ASSERT_OK(world_.services().staff.SetStatus(id, RequestStatus::kReceived, "rina", ""));
  }
  ASSERT_OK(field::UpdateRequest(*b_.store, theirs[0], {{"phone", "081211112222"}}));
  world_.clock().Advance(1000);
  ASSERT_OK(world_.services().staff.SetFields(theirs[0], {{"phone", "081299998888"}}, "rina"));
  ASSERT_OK(world_.Sync(b_));
  ASSERT_EQ(world_.storage().ListConflicts()->size(), 1u);

  // A asks for everything from the beginning.
  const Bytes request = PullRequest(a_, 0);
  auto answer = PostPull(request);
  ASSERT_OK(answer);
  auto opened = OpenServerAnswer(world_, *answer, EnvelopeKind::kPullAnswer);
  ASSERT_OK(opened);
  EXPECT_EQ(opened->header.device_id, a_.device_id());
  auto pulled = sync::DecodeValue<sync::PullAnswer>(opened->raw_body);
  ASSERT_OK(pulled);
  std::set<std::string> ids;
  for (const auto& r : pulled->requests) {
    EXPECT_EQ(r.device_id, a_.device_id()) << "request " << r.id << " of another van was pulled";
    ids.insert(r.id);
  }
  EXPECT_EQ(ids, std::set<std::string>(mine.begin(), mine.end()));
  EXPECT_THAT(pulled->conflicts, ::testing::IsEmpty()) << "B's conflict leaked to A";
  EXPECT_FALSE(pulled->more);
}

// ---- The van's side: answers it must not believe ----

// Passes requests to the server and, for one path, lets the test rewrite the answer on its way
// back (a man in the middle, or a corrupting link).
class TamperingTransport : public sync::Transport {
 public:
  using Tamper = std::function<void(sync::HttpResponse&)>;
  explicit TamperingTransport(sync::Transport& inner) : inner_(inner) {}
  void TamperWith(std::string path, Tamper tamper) {
    path_ = std::move(path);
    tamper_ = std::move(tamper);
  }
  Result<sync::HttpResponse> Send(const sync::HttpRequest& request) override {
    ++requests_[request.path];
    auto response = inner_.Send(request);
    if (response.ok() && request.path == path_ && tamper_) {
      tamper_(*response);
      ++tampered_;
    }
    return response;
  }
  size_t requests(const std::string& path) const {
    auto it = requests_.find(path);
    return it == requests_.end() ? 0 : it->second;
  }
  size_t tampered() const { return tampered_; }

 private:
  sync::Transport& inner_;
  std::string path_;
  Tamper tamper_;
  std::map<std::string, size_t> requests_;
  size_t tampered_ = 0;
};

struct VanSnapshot {
  std::vector<std::pair<sync::Request, bool>> rows;
  int64_t pending = 0;
  uint64_t cursor = 0;
  uint64_t acked_seq = 0;
  int64_t catalog_version = 0;
  std::vector<sync::ConflictRecord> conflicts;
  bool operator==(const VanSnapshot&) const = default;
};

VanSnapshot TakeVanSnapshot(Van& van) {
  VanSnapshot s;
  auto rows = van.store->List({});
  EXPECT_TRUE(rows.ok());
  for (const auto& r : *rows) s.rows.emplace_back(r.view, r.pending);
  s.pending = van.store->Device()->pending;
  auto state = van.store->LoadSyncState();
  EXPECT_TRUE(state.ok());
  s.cursor = state->cursor;
  s.acked_seq = state->acked_seq;
  s.catalog_version = state->catalog_version;
  s.conflicts = van.store->Conflicts().value();
  return s;
}

void ExpectVanUnchanged(Van& van, const VanSnapshot& before) {
  const VanSnapshot after = TakeVanSnapshot(van);
  EXPECT_EQ(after.pending, before.pending) << "the outbox changed";
  EXPECT_EQ(after.cursor, before.cursor) << "the pull cursor moved";
  EXPECT_EQ(after.acked_seq, before.acked_seq);
  EXPECT_EQ(after.rows.size(), before.rows.size());
  EXPECT_TRUE(after.rows == before.rows) << "a request's view changed";
  EXPECT_EQ(after.conflicts.size(), before.conflicts.size());
  EXPECT_TRUE(after == before);
}

// Rewrites a server answer: opens it with the real server key, lets `edit` change its header,
// and seals it again with `key` as `signer`.
void Reseal(SyncWorld& world, sync::HttpResponse& response, EnvelopeKind kind,
            const std::string& signer, const Bytes& key,
            const std::function<void(EnvelopeHeader&)>& edit) {
  auto opened = OpenServerAnswer(world, response.body, kind);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EnvelopeHeader h = opened->header;
  if (edit) edit(h);
  auto sealed = sync::SealEnvelope(kind, signer, h, opened->raw_body, key);
  ASSERT_TRUE(sealed.ok());
  response.body = *sealed;
}

class VanAnswerRefusal : public EnrolledVans {
 protected:
  Result<field::SyncReport> SyncThrough(TamperingTransport& link) {
    field::SyncOptions options;
    options.max_attempts = 1;
    return field::RunSync(*a_.store, link, world_.clock(), world_.rng(), options);
  }

  // A has one synced request that staff moved on, so its next pull has something to carry.
  std::string PrepareStaffChange() {
    const std::string id = RegisterAndSync(a_, 1);
    EXPECT_TRUE(world_.services()
                    .staff.SetStatus(id, RequestStatus::kReceived, "rina", "berkas diterima")
                    .ok());
    return id;
  }

  void ExpectAnswerRefused(const Result<field::SyncReport>& r, const std::string& words) {
    ASSERT_FALSE(r.ok()) << "the van believed a bad answer";
    EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated) << r.error().message();
    EXPECT_THAT(r.error().message(), HasSubstr("server answer refused"));
    EXPECT_THAT(r.error().message(), HasSubstr(words));
  }

  // After the attack stops, an honest sync brings the van level with the server.
  void ExpectCleanSyncConverges(const std::string& id) {
    ASSERT_OK(world_.Sync(a_));
    EXPECT_EQ(a_.store->Device()->pending, 0);
    auto row = a_.store->Find(id);
    ASSERT_OK(row);
    EXPECT_EQ(row->view, (*world_.storage().FindRequest(id))->request);
  }
};

TEST_F(VanAnswerRefusal, PushAckWithAFlippedSignatureBitIsRefusedAndTheOutboxKept) {
  auto r = field::RegisterRequest(*a_.store, kKtp, SyncWorld::KtpFields(1));
  ASSERT_OK(r);
  const auto before = TakeVanSnapshot(a_);
  ASSERT_EQ(before.pending, 1);
  TamperingTransport link(world_.loopback());
  link.TamperWith("/v1/push", [](sync::HttpResponse& response) {
    response.body = FlipBit(response.body, LayoutOf(response.body).signature_at * 8 + 3);
  });
  ExpectAnswerRefused(SyncThrough(link), "bad signature");
  EXPECT_EQ(link.tampered(), 1u);
  EXPECT_EQ(link.requests("/v1/pull"), 0u) << "a sync whose push failed must not go on to pull";
  ExpectVanUnchanged(a_, before);
  ExpectCleanSyncConverges(r->id);
  EXPECT_EQ(world_.storage().ListRequests({})->size(), 1u) << "the retried push applied twice";
}

TEST_F(VanAnswerRefusal, PullAnswerWithAFlippedBitIsRefusedAndTheCursorStays) {
  const std::string id = PrepareStaffChange();
  const auto before = TakeVanSnapshot(a_);
  for (const char* part : {"header", "signature", "body"}) {
    SCOPED_TRACE(part);
    TamperingTransport link(world_.loopback());
    link.TamperWith("/v1/pull", [part](sync::HttpResponse& response) {
      const Layout l = LayoutOf(response.body);
      const size_t at = std::string(part) == "header"      ? l.header_at + 2
                        : std::string(part) == "signature" ? l.signature_at + 7
                                                           : response.body.size() - 3;
      response.body = FlipBit(response.body, at * 8 + 1);
    });
    ExpectAnswerRefused(SyncThrough(link), "bad signature");
    ExpectVanUnchanged(a_, before);
  }
  EXPECT_EQ(a_.store->Find(id)->view.status, RequestStatus::kSubmitted);
  ExpectCleanSyncConverges(id);
  EXPECT_EQ(a_.store->Find(id)->view.status, RequestStatus::kReceived);
}

TEST_F(VanAnswerRefusal, TruncatedPullAnswerIsRefused) {
  const std::string id = PrepareStaffChange();
  const auto before = TakeVanSnapshot(a_);
  for (double fraction : {0.0, 0.01, 0.1, 0.5, 0.9, 0.999}) {
    SCOPED_TRACE(fraction);
    TamperingTransport link(world_.loopback());
    link.TamperWith("/v1/pull", [fraction](sync::HttpResponse& response) {
      response.body.resize(static_cast<size_t>(response.body.size() * fraction));
    });
    auto r = SyncThrough(link);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().message(), HasSubstr("server answer refused"));
    ExpectVanUnchanged(a_, before);
  }
  ExpectCleanSyncConverges(id);
}

TEST_F(VanAnswerRefusal, AnswerSignedByAnotherServerKeyIsRefused) {
  const std::string id = PrepareStaffChange();
  const auto before = TakeVanSnapshot(a_);
  auto impostor = crypto::GenerateEd25519KeyPair();
  ASSERT_OK(impostor);
  TamperingTransport link(world_.loopback());
  link.TamperWith("/v1/pull", [&](sync::HttpResponse& response) {
    Reseal(world_, response, EnvelopeKind::kPullAnswer, sync::kServerSigner, impostor->private_key,
           nullptr);
  });
  ExpectAnswerRefused(SyncThrough(link), "bad signature");
  EXPECT_EQ(link.tampered(), 1u);
  ExpectVanUnchanged(a_, before);
  ExpectCleanSyncConverges(id);
}

TEST_F(VanAnswerRefusal, PushAckSignedByAnotherServerKeyIsRefused) {
  auto r = field::RegisterRequest(*a_.store, kKtp, SyncWorld::KtpFields(1));
  ASSERT_OK(r);
  const auto before = TakeVanSnapshot(a_);
  auto impostor = crypto::GenerateEd25519KeyPair();
  ASSERT_OK(impostor);
  TamperingTransport link(world_.loopback());
  link.TamperWith("/v1/push", [&](sync::HttpResponse& response) {
    Reseal(world_, response, EnvelopeKind::kPushAck, sync::kServerSigner, impostor->private_key,
           nullptr);
  });
  ExpectAnswerRefused(SyncThrough(link), "bad signature");
  ExpectVanUnchanged(a_, before);
  ExpectCleanSyncConverges(r->id);
}

TEST_F(VanAnswerRefusal, AnswerSignedByAVanIsRefused) {
  const std::string id = PrepareStaffChange();
  const auto before = TakeVanSnapshot(a_);
  TamperingTransport link(world_.loopback());
  link.TamperWith("/v1/pull", [&](sync::HttpResponse& response) {
    auto opened = OpenServerAnswer(world_, response.body, EnvelopeKind::kPullAnswer);
    ASSERT_TRUE(opened.ok());
    auto sealed = sync::SealEnvelopeWith(EnvelopeKind::kPullAnswer, b_.device_id(), opened->header,
                                         opened->raw_body, KeyOf(b_));
    ASSERT_TRUE(sealed.ok());
    response.body = *sealed;
  });
  ExpectAnswerRefused(SyncThrough(link), "not the server");
  ExpectVanUnchanged(a_, before);
}

TEST_F(VanAnswerRefusal, GenuinelySignedAnswerWithAnotherNonceIsRefused) {
  const std::string id = PrepareStaffChange();
  const auto before = TakeVanSnapshot(a_);
  const Bytes server_key = ServerPrivateKey(world_);
  TamperingTransport link(world_.loopback());
  link.TamperWith("/v1/pull", [&](sync::HttpResponse& response) {
    Reseal(world_, response, EnvelopeKind::kPullAnswer, sync::kServerSigner, server_key,
           [](EnvelopeHeader& h) { h.nonce[0] ^= 0x01; });
  });
  ExpectAnswerRefused(SyncThrough(link), "nonce");
  EXPECT_EQ(link.tampered(), 1u);
  ExpectVanUnchanged(a_, before);
  ExpectCleanSyncConverges(id);
}

TEST_F(VanAnswerRefusal, GenuinelySignedAckWithAnotherNonceIsRefused) {
  auto r = field::RegisterRequest(*a_.store, kKtp, SyncWorld::KtpFields(1));
  ASSERT_OK(r);
  const auto before = TakeVanSnapshot(a_);
  const Bytes server_key = ServerPrivateKey(world_);
  TamperingTransport link(world_.loopback());
  link.TamperWith("/v1/push", [&](sync::HttpResponse& response) {
    Reseal(world_, response, EnvelopeKind::kPushAck, sync::kServerSigner, server_key,
           [](EnvelopeHeader& h) { h.nonce.assign(sync::kNonceBytes, 0); });
  });
  ExpectAnswerRefused(SyncThrough(link), "nonce");
  ExpectVanUnchanged(a_, before);
  ExpectCleanSyncConverges(r->id);
}

TEST_F(VanAnswerRefusal, GenuinelySignedAnswerForAnotherVanIsRefused) {
  const std::string id = PrepareStaffChange();
  const auto before = TakeVanSnapshot(a_);
  const Bytes server_key = ServerPrivateKey(world_);
  TamperingTransport link(world_.loopback());
  link.TamperWith("/v1/pull", [&](sync::HttpResponse& response) {
    Reseal(world_, response, EnvelopeKind::kPullAnswer, sync::kServerSigner, server_key,
           [&](EnvelopeHeader& h) { h.device_id = b_.device_id(); });
  });
  ExpectAnswerRefused(SyncThrough(link), "addressed to another device");
  ExpectVanUnchanged(a_, before);
}

TEST_F(VanAnswerRefusal, PushAckDeliveredAsThePullAnswerIsRefused) {
  const std::string id = PrepareStaffChange();
  const auto before = TakeVanSnapshot(a_);
  const Bytes server_key = ServerPrivateKey(world_);
  TamperingTransport link(world_.loopback());
  link.TamperWith("/v1/pull", [&](sync::HttpResponse& response) {
    // Same nonce and addressee, genuinely signed, but a push ack (cross-type replay).
    auto opened = OpenServerAnswer(world_, response.body, EnvelopeKind::kPullAnswer);
    ASSERT_TRUE(opened.ok());
    auto sealed = sync::SealEnvelope(EnvelopeKind::kPushAck, sync::kServerSigner, opened->header,
                                     sync::EncodeValue(sync::PushAck{}), server_key);
    ASSERT_TRUE(sealed.ok());
    response.body = *sealed;
  });
  auto r = SyncThrough(link);
  ASSERT_FALSE(r.ok()) << "the van took a push ack for a pull answer";
  EXPECT_THAT(r.error().message(),
              HasSubstr("server answer refused: expected a mpp-pull-answer-v1 envelope, got "
                        "mpp-push-ack-v1"));
  ExpectVanUnchanged(a_, before);
}

TEST_F(VanAnswerRefusal, GenuinelySignedAnswerMovingTheCursorBackIsRefused) {
  const std::string id = PrepareStaffChange();
  ASSERT_OK(world_.Sync(a_));  // the cursor is now past the staff change
  ASSERT_OK(world_.services().staff.SetStatus(id, RequestStatus::kInReview, "rina", ""));
  const auto before = TakeVanSnapshot(a_);
  ASSERT_GT(before.cursor, 0u);
  const Bytes server_key = ServerPrivateKey(world_);
  TamperingTransport link(world_.loopback());
  link.TamperWith("/v1/pull", [&](sync::HttpResponse& response) {
    auto opened = OpenServerAnswer(world_, response.body, EnvelopeKind::kPullAnswer);
    ASSERT_TRUE(opened.ok());
    auto answer = sync::DecodeValue<sync::PullAnswer>(opened->raw_body);
    ASSERT_TRUE(answer.ok());
    answer->cursor = 0;
    auto sealed = sync::SealEnvelope(EnvelopeKind::kPullAnswer, sync::kServerSigner, opened->header,
                                     sync::EncodeValue(*answer), server_key);
    ASSERT_TRUE(sealed.ok());
    response.body = *sealed;
  });
  auto r = SyncThrough(link);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("move the cursor back"));
  ExpectVanUnchanged(a_, before);
  ExpectCleanSyncConverges(id);
}

}  // namespace
}  // namespace mpp::test
