#include "mpp/server/sync_service.h"

#include <nlohmann/json.hpp>
#include <set>

#include "mpp/sync/codec.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/json_format.h"
#include "mpp/sync/merge.h"
#include "mpp/sync/text.h"

namespace mpp::server {
namespace {

using nlohmann::json;

Result<Bytes> HexField(const json& j, const char* name, size_t expected_bytes) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return Error::InvalidInput(std::string("enrolment: \"") + name + "\" is missing");
  }
  auto bytes = FromHex(it->get<std::string>());
  if (!bytes || (expected_bytes != 0 && bytes->size() != expected_bytes)) {
    return Error::InvalidInput(std::string("enrolment: \"") + name + "\" must be " +
                               std::to_string(expected_bytes) + " bytes of hex");
  }
  return *bytes;
}

Result<std::string> StringField(const json& j, const char* name, size_t max_len) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string() || it->get<std::string>().empty() ||
      it->get<std::string>().size() > max_len) {
    return Error::InvalidInput(std::string("enrolment: \"") + name + "\" must be a string of 1-" +
                               std::to_string(max_len) + " characters");
  }
  return it->get<std::string>();
}

}  // namespace

SyncService::SyncService(ServerStorage& storage, sync::Clock& clock, sync::Rng& rng,
                         Bytes server_private_key, sync::Catalog catalog, ServiceOptions options)
    : storage_(storage),
      clock_(clock),
      rng_(rng),
      server_private_key_(std::move(server_private_key)),
      server_public_key_(crypto::Ed25519PublicKeyOf(server_private_key_).value()),
      options_(options),
      hlc_(&clock, options.max_forward_skew_ms) {
  AdoptCatalog(std::move(catalog));
}

void SyncService::AdoptCatalog(sync::Catalog catalog) {
  // Callers hold catalog_mu_ (or are the constructor).
  catalogs_.push_back(std::make_unique<const sync::Catalog>(std::move(catalog)));
  current_catalog_.store(catalogs_.back().get());
}

Result<void> SyncService::RefreshCatalog() {
  MPP_ASSIGN_OR_RETURN(int64_t stored, storage_.CatalogVersion());
  if (stored <= catalog().version()) return Ok();
  std::lock_guard<std::mutex> lock(catalog_mu_);
  MPP_ASSIGN_OR_RETURN(auto text, storage_.LoadCatalog());
  if (text.first <= catalog().version()) return Ok();  // another thread took it meanwhile
  MPP_ASSIGN_OR_RETURN(sync::Catalog loaded, sync::Catalog::FromJson(text.second));
  AdoptCatalog(std::move(loaded));
  return Ok();
}

std::string SyncService::server_fingerprint() const {
  return crypto::KeyFingerprint(server_public_key_);
}

std::string SyncService::AgencyOf(const sync::Catalog& catalog,
                                  const std::string& service_id) const {
  const sync::Service* service = catalog.FindService(service_id);
  return service == nullptr ? "" : service->agency;
}

Result<std::string> SyncService::CreateEnrollmentToken(const std::string& van_code,
                                                       int64_t ttl_ms) {
  if (van_code.empty() || van_code.size() > 12) {
    return Error::InvalidInput("van code must be 1-12 characters");
  }
  if (ttl_ms <= 0) return Error::InvalidInput("the token's lifetime must be positive");
  const std::string token = "mpp-" + ToHex(crypto::RandomBytes(20));
  const auto hash = crypto::Sha256(ViewOf(token));
  const int64_t now = clock_.NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, storage_.Begin());
  MPP_RETURN_IF_ERROR(txn->InsertToken(hash, {van_code, now + ttl_ms, 0, "", now, 0}));
  MPP_RETURN_IF_ERROR(txn->AppendAudit("admin", "token.create", van_code,
                                       "expires_ms=" + std::to_string(now + ttl_ms), now));
  MPP_RETURN_IF_ERROR(txn->Commit());
  return token;
}

Result<std::string> SyncService::Enroll(std::string_view request_json) {
  if (request_json.size() > 4096) return Error::TooLarge("enrolment request over 4 KiB");
  // Duplicate keys and deep nesting refused (THREATS row 38): one key, one meaning.
  auto parsed = sync::ParseJsonObjectStrict(request_json, 4);
  if (!parsed) return parsed.error().WithContext("enrolment");
  const json& j = *parsed;
  MPP_ASSIGN_OR_RETURN(std::string token, StringField(j, "token", 128));
  MPP_ASSIGN_OR_RETURN(std::string device_id, StringField(j, "device_id", sync::kMaxSignerBytes));
  MPP_ASSIGN_OR_RETURN(std::string van_code, StringField(j, "van_code", 12));
  MPP_ASSIGN_OR_RETURN(Bytes public_key, HexField(j, "public_key", crypto::kEd25519PublicKeyBytes));
  MPP_ASSIGN_OR_RETURN(Bytes nonce, HexField(j, "nonce", sync::kNonceBytes));
  MPP_ASSIGN_OR_RETURN(Bytes signature, HexField(j, "signature", crypto::kEd25519SignatureBytes));
  if (device_id == sync::kServerSigner || device_id.find(':') != std::string::npos) {
    return Error::InvalidInput("enrolment: device id \"" + device_id + "\" is reserved");
  }
  // Proof that the van holds the private key of the public key it enrols.
  if (!crypto::Ed25519Verify(public_key,
                             sync::EnrollRequestSignedBytes(token, device_id, public_key, nonce),
                             signature)) {
    return Error::Unauthenticated("enrolment: the signature does not match the public key");
  }
  const auto token_hash = crypto::Sha256(ViewOf(token));
  const int64_t now = clock_.NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, storage_.Begin());
  MPP_ASSIGN_OR_RETURN(auto stored, txn->FindToken(token_hash));
  if (!stored) return Error::Unauthenticated("enrolment token is not valid");
  MPP_ASSIGN_OR_RETURN(auto existing, txn->FindDevice(device_id));
  // A retry after a lost answer: the same device, holding the same key (proved above), asks
  // with the token it already used. It gets the answer again; nothing changes.
  const bool resumed = stored->used_ms != 0 && stored->used_by == device_id && existing &&
                       !existing->revoked() && existing->public_key == public_key;
  uint32_t receipt_series = resumed ? existing->receipt_series : 0;
  if (!resumed) {
    if (stored->used_ms != 0) return Error::Conflict("enrolment token was already used");
    if (stored->revoked_ms != 0) return Error::PermissionDenied("enrolment token was revoked");
    if (stored->expires_ms <= now) return Error::PermissionDenied("enrolment token has expired");
    if (stored->van_code != van_code) {
      return Error::PermissionDenied("enrolment token was issued for van " + stored->van_code +
                                     ", not " + van_code);
    }
    if (existing) return Error::Conflict("device " + device_id + " is already enrolled");
    MPP_RETURN_IF_ERROR(txn->MarkTokenUsed(token_hash, device_id, now));
    DeviceRecord device;
    device.device_id = device_id;
    device.van_code = van_code;
    device.public_key = public_key;
    device.enrolled_ms = now;
    // Tablets of one van register offline at the same time: each gets its own receipt series.
    MPP_ASSIGN_OR_RETURN(device.receipt_series, txn->NextReceiptSeries(van_code));
    MPP_RETURN_IF_ERROR(txn->InsertDevice(device));
    receipt_series = device.receipt_series;
    MPP_RETURN_IF_ERROR(txn->AppendAudit("van:" + van_code, "device.enroll", device_id,
                                         crypto::KeyFingerprint(public_key), now));
    MPP_RETURN_IF_ERROR(txn->Commit());
  }

  MPP_ASSIGN_OR_RETURN(Bytes answer_signature,
                       crypto::Ed25519Sign(server_private_key_, sync::EnrollAnswerSignedBytes(
                                                                    device_id, server_public_key_,
                                                                    nonce, receipt_series)));
  return json{{"device_id", device_id},
              {"server_public_key", ToHex(server_public_key_)},
              {"nonce", ToHex(nonce)},
              {"server_time_ms", now},
              {"receipt_series", receipt_series},
              {"signature", ToHex(answer_signature)}}
      .dump();
}

Result<void> SyncService::RevokeDevice(const std::string& device_id, const std::string& by) {
  const int64_t now = clock_.NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, storage_.Begin());
  MPP_ASSIGN_OR_RETURN(auto device, txn->FindDevice(device_id));
  if (!device) return Error::NotFound("no device " + device_id);
  if (device->revoked()) return Error::Conflict("device " + device_id + " is already revoked");
  MPP_RETURN_IF_ERROR(txn->RevokeDevice(device_id, now));
  MPP_RETURN_IF_ERROR(txn->AppendAudit(by, "device.revoke", device_id, device->van_code, now));
  return txn->Commit();
}

Result<void> SyncService::RevokeToken(const std::string& token_id, const std::string& by) {
  if (by.empty()) return Error::InvalidInput("say who revokes the token (--by NAME)");
  const int64_t now = clock_.NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, storage_.Begin());
  MPP_ASSIGN_OR_RETURN(std::string van_code, txn->RevokeToken(token_id, now));
  MPP_RETURN_IF_ERROR(txn->AppendAudit(by, "token.revoke", token_id, van_code, now));
  return txn->Commit();
}

// Unknown devices, wrong keys and revoked devices get one answer (THREATS.md rows 27-28): a
// prober learns nothing about which device ids exist, and the signer's bytes are never echoed.
// The revoked van's officer learns it from the administrator, who revoked it.
constexpr const char* kNotAuthorised =
    "this device is not enrolled, or no longer allowed: ask the administrator to enrol it again";

Result<Bytes> SyncService::DeviceKey(const std::string& signer) {
  MPP_ASSIGN_OR_RETURN(auto device, storage_.FindDevice(signer));
  if (!device || device->revoked()) return Error::Unauthenticated(kNotAuthorised);
  return device->public_key;
}

Result<Bytes> SyncService::SealAnswer(sync::EnvelopeKind kind, const std::string& device_id,
                                      const Bytes& nonce, ByteView body) {
  sync::EnvelopeHeader header;
  header.device_id = device_id;
  header.nonce = nonce;
  {
    std::lock_guard<std::mutex> lock(hlc_mu_);
    header.hlc = hlc_.Now();
  }
  return sync::SealEnvelope(kind, sync::kServerSigner, std::move(header), body, server_private_key_,
                            options_.answer_zstd_level);
}

Result<sync::OpenedEnvelope> SyncService::OpenVanEnvelope(ByteView envelope,
                                                          sync::EnvelopeKind kind, SyncLog* log) {
  auto result = sync::OpenEnvelope(
      envelope, kind, [this](const std::string& s) { return DeviceKey(s); }, options_.limits);
  if (!result) {
    // A wrong key answers like an unknown or revoked device (DeviceKey).
    if (result.error().code() == ErrorCode::kUnauthenticated &&
        result.error().message() == sync::kBadSignature) {
      return Error::Unauthenticated(kNotAuthorised);
    }
    return result.error();
  }
  sync::OpenedEnvelope opened = std::move(result).value();
  log->device_id = opened.signer;
  if (opened.header.device_id != opened.signer) {
    return Error::InvalidInput("header names device " + opened.header.device_id + " but " +
                               opened.signer + " signed it");
  }
  if (opened.header.nonce.size() != sync::kNonceBytes) {
    return Error::InvalidInput("nonce must be 16 bytes");
  }
  return opened;
}

Result<Bytes> SyncService::HandlePush(ByteView envelope, SyncLog* log) {
  MPP_ASSIGN_OR_RETURN(sync::OpenedEnvelope opened,
                       OpenVanEnvelope(envelope, sync::EnvelopeKind::kPush, log));
  MPP_RETURN_IF_ERROR(RefreshCatalog());
  const sync::Catalog& catalog = this->catalog();
  const sync::EnvelopeHeader& h = opened.header;
  const std::string& device_id = opened.signer;
  MPP_ASSIGN_OR_RETURN(std::vector<sync::Mutation> mutations,
                       sync::DecodeMutations(opened.raw_body));
  log->received = mutations.size();
  if (mutations.empty() || mutations.size() > options_.max_batch_mutations) {
    return Error::InvalidInput("a batch holds 1-" + std::to_string(options_.max_batch_mutations) +
                               " mutations, got " + std::to_string(mutations.size()));
  }
  for (size_t i = 0; i < mutations.size(); ++i) {
    const sync::Mutation& m = mutations[i];
    if (m.seq != h.first_seq + i || m.origin != device_id) {
      return Error::InvalidInput("mutation " + std::to_string(i) +
                                 " does not match the header's device and seq range");
    }
  }
  if (h.last_seq != mutations.back().seq) {
    return Error::InvalidInput("header seq range does not match the batch");
  }
  // Receipts, officers and notes are read by people: checked like form fields (THREATS row 39).
  // A re-sent request's note carries its encoded state, whose texts the merge validates.
  for (const sync::Mutation& m : mutations) {
    Result<void> text = Ok();
    if (m.kind == sync::MutationKind::kRestore) {
      sync::Mutation without_state = m;
      without_state.note.clear();
      text = sync::CheckMutationText(without_state);
    } else {
      text = sync::CheckMutationText(m);
    }
    if (!text) return text.error().WithContext("mutation seq " + std::to_string(m.seq));
  }

  // A create applies to no state, so it can be merged (validated against the catalog, the new
  // request built) before the transaction, which serializes every van's push; inside, only the
  // request's absence is checked. The transaction stays short in the evening rush.
  struct MergedCreate {
    std::optional<sync::Request> state;
    Result<sync::MergeOutcome> outcome;
  };
  std::vector<std::optional<MergedCreate>> creates(mutations.size());
  for (size_t i = 0; i < mutations.size(); ++i) {
    if (mutations[i].kind != sync::MutationKind::kCreate) continue;
    std::optional<sync::Request> state;
    auto outcome = sync::ApplyMutation(catalog, state, mutations[i], sync::Role::kVan);
    creates[i] = MergedCreate{std::move(state), std::move(outcome)};
  }

  const int64_t now = clock_.NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, storage_.Begin());
  MPP_ASSIGN_OR_RETURN(auto device, txn->FindDevice(device_id));
  // Revocation may have happened since the signature check: re-check under the transaction.
  if (!device || device->revoked()) return Error::Unauthenticated(kNotAuthorised);
  const uint64_t last_applied = device->last_applied_seq;
  sync::PushAck ack;
  ack.last_applied_seq = last_applied;
  MPP_ASSIGN_OR_RETURN(ack.epoch, txn->Epoch());
  ack.receipt_series = device->receipt_series;

  // The van and the server must agree on what was applied before anything is. Each refusal
  // below is a signed ack (SyncLog::signed_refusal) from which the van recovers by itself.
  MPP_ASSIGN_OR_RETURN(bool disagree, CheckPushAgreement(*txn, *device, mutations, ack, log));
  if (disagree) {
    // Only the bookkeeping of the refusal commits (a new receipt series); none of the batch's
    // mutations.
    MPP_RETURN_IF_ERROR(txn->Commit());
    return SealAnswer(sync::EnvelopeKind::kPushAck, device_id, h.nonce, sync::EncodeValue(ack));
  }
  {
    // Clocks (DESIGN.md §4, THREATS.md row 16). The header carries the van's clock now: one far
    // ahead of ours is refused, and the officer is told to set it. A mutation made earlier while
    // the clock was wrong is still accepted (the van's work is never lost), but a timestamp past
    // the allowed skew is not adopted into the server clock, so one bad RTC cannot drag the
    // server's time (and every later staff change) into the future.
    std::lock_guard<std::mutex> lock(hlc_mu_);
    MPP_ASSIGN_OR_RETURN(int64_t persisted, txn->LoadHlc());
    hlc_.Restore(sync::HlcTimestamp::FromPacked(persisted));
    MPP_RETURN_IF_ERROR(hlc_.Observe(h.hlc));
    for (const auto& m : mutations) {
      if (m.seq > last_applied && !hlc_.Observe(m.hlc).ok()) ++log->clock_suspect;
    }
    MPP_RETURN_IF_ERROR(txn->SaveHlc(hlc_.last().Packed()));
  }
  bool recovering = device->recovering;
  for (size_t i = 0; i < mutations.size(); ++i) {
    const sync::Mutation& m = mutations[i];
    if (m.seq <= last_applied) continue;  // applied by an earlier attempt: exactly once
    const std::string where = "mutation seq " + std::to_string(m.seq);
    if (m.kind == sync::MutationKind::kRestore && !recovering) {
      // The server has not gone back in time since this device last sent ordinary work, so it
      // holds all the copy could restore (a van store restored from an older copy can take a
      // later restore of the server for its own). Taken as is, a copy could also carry staff
      // decisions a van may not make: it is not applied, and marked unclean, so the van takes
      // the server's state of the request instead.
      MPP_RETURN_IF_ERROR(txn->MarkUnclean(device_id, m.seq));
      MPP_RETURN_IF_ERROR(txn->RecordApplied(device_id, m.seq, MutationDigest(m)));
      continue;
    }
    if (m.kind != sync::MutationKind::kRestore && recovering) {
      recovering = false;  // the van re-sent what it had to: back to ordinary work
      MPP_RETURN_IF_ERROR(txn->SetRecovering(device_id, false));
    }
    MPP_ASSIGN_OR_RETURN(std::optional<sync::Request> state, txn->LoadRequest(m.request_id));
    // A van works on its own requests, whichever of its devices made them (a re-installed
    // tablet continues the old one's work): the receipt carries the van code.
    if (state && state->receipt.rfind(device->van_code + "-", 0) != 0) {
      return Error::PermissionDenied(where + ": request " + m.request_id +
                                     " belongs to another van");
    }
    const std::optional<sync::Request> before = state;
    Result<sync::MergeOutcome> outcome = sync::MergeOutcome{};
    if (!state && creates[i]) {
      state = std::move(creates[i]->state);  // merged before the transaction, against no state
      outcome = std::move(creates[i]->outcome);
    } else {
      outcome = sync::ApplyMutation(catalog, state, m, sync::Role::kVan);
    }
    if (!outcome) return outcome.error().WithContext(where);
    if (m.kind == sync::MutationKind::kRestore) {
      // A copy speaks only for this van: its receipt and the device that made it.
      MPP_ASSIGN_OR_RETURN(auto maker, txn->FindDevice(state->device_id));
      if (state->receipt.rfind(device->van_code + "-", 0) != 0 || !maker ||
          maker->van_code != device->van_code) {
        return Error::PermissionDenied(where + ": the restored request belongs to another van");
      }
    }
    // The creating device hears of every change it did not make itself, or that did not apply
    // as written.
    const bool notify_owner = !outcome->clean || state->device_id != device_id;
    MPP_RETURN_IF_ERROR(
        txn->SaveRequest(before, *state, AgencyOf(catalog, state->service_id), notify_owner, now));
    for (const auto& c : outcome->conflicts) {
      MPP_RETURN_IF_ERROR(txn->AddConflict(device_id, c, now));
    }
    // A new request (or one re-sent after a server restore) whose NIK has an open request for
    // the service at another van is flagged on both vans; a pair is flagged once.
    const bool arrives =
        m.kind == sync::MutationKind::kCreate || m.kind == sync::MutationKind::kRestore;
    MPP_ASSIGN_OR_RETURN(size_t flagged, IndexNik(*txn, catalog, before, *state, arrives, now));
    log->conflicts += flagged;
    if (!outcome->clean) MPP_RETURN_IF_ERROR(txn->MarkUnclean(device_id, m.seq));
    MPP_RETURN_IF_ERROR(txn->RecordApplied(device_id, m.seq, MutationDigest(m)));
    if (m.kind == sync::MutationKind::kRestore) {
      MPP_RETURN_IF_ERROR(txn->AppendAudit("van:" + device->van_code, "request.restore",
                                           m.request_id, "after a server restore", now));
    }
    log->applied++;
    log->conflicts += outcome->conflicts.size();
  }
  const uint64_t new_last = std::max(last_applied, h.last_seq);
  MPP_RETURN_IF_ERROR(txn->UpdateDeviceSync(device_id, new_last, now));
  if (log->applied > 0) {
    // Kept exactly as received, so anyone can re-verify later who submitted what.
    MPP_RETURN_IF_ERROR(txn->StoreEnvelope(
        {0, device_id, h.first_seq, h.last_seq, now, Bytes(envelope.begin(), envelope.end())}));
  }
  ack.last_applied_seq = new_last;
  MPP_ASSIGN_OR_RETURN(ack.unclean_seqs, txn->UncleanSeqs(device_id, h.first_seq, h.last_seq));
  MPP_RETURN_IF_ERROR(txn->Commit());
  return SealAnswer(sync::EnvelopeKind::kPushAck, device_id, h.nonce, sync::EncodeValue(ack));
}

Bytes SyncService::MutationDigest(const sync::Mutation& m) {
  const auto digest = crypto::Sha256(sync::EncodeMutation(m));
  return Bytes(digest.begin(), digest.begin() + 16);  // 128 bits tell a retry from a reuse
}

Result<bool> SyncService::CheckPushAgreement(StorageTxn& txn, const DeviceRecord& device,
                                             const std::vector<sync::Mutation>& mutations,
                                             sync::PushAck& ack, SyncLog* log) {
  const uint64_t last_applied = device.last_applied_seq;
  const uint64_t first_seq = mutations.front().seq;
  auto refuse = [&](sync::PushRefusal refusal, uint64_t seq, std::string reason) {
    ack.refusal = refusal;
    ack.refused_seq = seq;
    log->signed_refusal = std::move(reason);
    return true;
  };
  // A gap: after a restore from a backup the van holds acknowledged work the server lost; the
  // ack's epoch tells the van, which re-sends it from last_applied_seq + 1.
  if (first_seq > last_applied + 1) {
    return refuse(sync::PushRefusal::kSeqGap, last_applied + 1,
                  "seq gap: expected seq " + std::to_string(last_applied + 1) +
                      ", batch starts at " + std::to_string(first_seq));
  }
  std::set<std::string> receipts;
  for (const sync::Mutation& m : mutations) {
    if (m.seq <= last_applied) {
      // A retry carries the very mutation applied under its seq; anything else under an applied
      // seq is new work of a van store restored from an older copy. Its seqs move past
      // last_applied and its receipts to a new series; the van then pulls its whole scope
      // again, and with it what it lost (PullRequestBody::resync).
      MPP_ASSIGN_OR_RETURN(std::optional<Bytes> digest, txn.AppliedDigest(device.device_id, m.seq));
      if (digest && *digest != MutationDigest(m)) {
        MPP_ASSIGN_OR_RETURN(ack.receipt_series, txn.NextReceiptSeries(device.van_code));
        MPP_RETURN_IF_ERROR(txn.SetReceiptSeries(device.device_id, ack.receipt_series));
        return refuse(sync::PushRefusal::kSeqReused, m.seq,
                      "seq " + std::to_string(m.seq) +
                          " was already used for another change of this device (its store was "
                          "restored from an older copy): the van renumbers its changes after seq " +
                          std::to_string(last_applied));
      }
      continue;
    }
    if (m.kind != sync::MutationKind::kCreate) continue;
    // Receipts VANCODE-YYYYMMDD-[S-]NNNN: a van may only issue its own, so a receipt number
    // always leads staff to the van that gave it; and one number names one request.
    const std::string where = "mutation seq " + std::to_string(m.seq);
    if (m.receipt.rfind(device.van_code + "-", 0) != 0) {
      return Error::InvalidInput(where + ": receipt \"" + m.receipt + "\" does not start with " +
                                 "this van's code " + device.van_code);
    }
    MPP_ASSIGN_OR_RETURN(auto holders, txn.RequestsWithReceipt(m.receipt));
    const bool taken = std::any_of(holders.begin(), holders.end(),
                                   [&](const std::string& id) { return id != m.request_id; });
    if (taken || !receipts.insert(m.receipt).second) {
      MPP_ASSIGN_OR_RETURN(ack.receipt_series, txn.NextReceiptSeries(device.van_code));
      MPP_RETURN_IF_ERROR(txn.SetReceiptSeries(device.device_id, ack.receipt_series));
      return refuse(sync::PushRefusal::kReceiptTaken, m.seq,
                    where + ": receipt " + m.receipt +
                        " is already held by another request of this van: the van re-issues it "
                        "in receipt series " +
                        std::to_string(ack.receipt_series));
    }
  }
  return false;
}

Result<Bytes> SyncService::HandlePull(ByteView envelope, SyncLog* log) {
  MPP_ASSIGN_OR_RETURN(sync::OpenedEnvelope opened,
                       OpenVanEnvelope(envelope, sync::EnvelopeKind::kPullRequest, log));
  const sync::EnvelopeHeader& h = opened.header;
  const std::string& device_id = opened.signer;
  MPP_ASSIGN_OR_RETURN(auto body, sync::DecodeValue<sync::PullRequestBody>(opened.raw_body));
  MPP_RETURN_IF_ERROR(RefreshCatalog());
  const sync::Catalog& catalog = this->catalog();
  {
    std::lock_guard<std::mutex> lock(hlc_mu_);
    MPP_RETURN_IF_ERROR(hlc_.Observe(h.hlc));
  }
  MPP_ASSIGN_OR_RETURN(PullPage page,
                       storage_.ReadPull(device_id, {h.cursor, body.patch_base, body.acked_seq,
                                                     options_.pull_page_items, body.resync}));
  sync::PullAnswer answer;
  answer.cursor = page.cursor;
  answer.more = page.more;
  answer.last_applied_seq = page.last_applied_seq;
  answer.unclean_seqs = std::move(page.unclean_seqs);
  answer.requests = std::move(page.requests);
  answer.patches = std::move(page.patches);
  answer.conflicts = std::move(page.conflicts);
  answer.catalog_version = catalog.version();
  MPP_ASSIGN_OR_RETURN(answer.epoch, storage_.Epoch());
  if (body.catalog_version < catalog.version()) answer.catalog_json = catalog.ToJson();
  log->received = answer.requests.size() + answer.patches.size();
  log->conflicts = answer.conflicts.size();
  return SealAnswer(sync::EnvelopeKind::kPullAnswer, device_id, h.nonce, sync::EncodeValue(answer));
}

Result<sync::Request> SyncService::ApplyStaff(
    const std::string& id_or_receipt, sync::Mutation m,
    const std::function<Result<void>(StorageTxn&, const sync::Request&)>& also) {
  MPP_RETURN_IF_ERROR(RefreshCatalog());
  const sync::Catalog& catalog = this->catalog();
  MPP_ASSIGN_OR_RETURN(auto found, storage_.FindRequest(id_or_receipt));
  if (!found) return Error::NotFound("no request with id or receipt " + id_or_receipt);
  const std::string id = found->request.id;
  const int64_t now = clock_.NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, storage_.Begin());
  MPP_ASSIGN_OR_RETURN(std::optional<sync::Request> state, txn->LoadRequest(id));
  if (!state) return Error::NotFound("no request " + id);
  m.request_id = id;
  {
    std::lock_guard<std::mutex> lock(hlc_mu_);
    MPP_ASSIGN_OR_RETURN(int64_t persisted, txn->LoadHlc());
    hlc_.Restore(sync::HlcTimestamp::FromPacked(persisted));
    m.hlc = hlc_.Now();
    MPP_RETURN_IF_ERROR(txn->SaveHlc(hlc_.last().Packed()));
  }
  // What staff type goes into the form's stored spelling, as on the van (Catalog::NormaliseForm).
  if (const sync::Service* service = catalog.FindService(state->service_id)) {
    for (auto& w : m.writes) {
      if (const sync::FieldSpec* spec = service->FindField(w.name)) {
        w.value = sync::NormaliseFieldValue(*spec, std::move(w.value));
      }
    }
  }
  // Staff edit what they see: the base of each write is the current version.
  for (auto& w : m.writes) {
    auto f = state->fields.find(w.name);
    if (f != state->fields.end()) w.base = f->second.version;
  }
  m.status_base = state->status_version;
  const std::optional<sync::Request> before = state;
  MPP_ASSIGN_OR_RETURN(sync::MergeOutcome outcome,
                       sync::ApplyMutation(catalog, state, m, sync::Role::kStaff));
  if (!outcome.clean) {
    // A person at the console gets the refusal directly; nothing is stored.
    return Error::Conflict(outcome.conflicts.front().reason);
  }
  MPP_RETURN_IF_ERROR(txn->SaveRequest(before, *state, AgencyOf(catalog, state->service_id),
                                       /*notify_owner=*/true, now));
  MPP_RETURN_IF_ERROR(IndexNik(*txn, catalog, before, *state, /*flag=*/false, now));
  std::string detail = m.kind == sync::MutationKind::kSetStatus
                           ? std::string("status=") + sync::StatusName(m.status_to)
                           : "fields";
  if (m.kind == sync::MutationKind::kSetFields) {
    for (const auto& w : m.writes) detail += " " + w.name;  // names only: values are personal
  }
  MPP_RETURN_IF_ERROR(txn->AppendAudit(m.origin, "request.change", id, detail, now));
  if (also) MPP_RETURN_IF_ERROR(also(*txn, *state));
  MPP_RETURN_IF_ERROR(txn->Commit());
  return *state;
}

Result<sync::Request> SyncService::StaffSetStatus(const std::string& id_or_receipt,
                                                  sync::RequestStatus to, const std::string& by,
                                                  const std::string& note) {
  if (by.empty()) return Error::InvalidInput("say who makes the change (--by NAME)");
  sync::Mutation m;
  m.origin = "staff:" + by;
  m.actor = m.origin;
  m.kind = sync::MutationKind::kSetStatus;
  m.status_to = to;
  m.note = note;
  return ApplyStaff(id_or_receipt, std::move(m));
}

Result<sync::Request> SyncService::StaffSetFields(const std::string& id_or_receipt,
                                                  const sync::FieldMap& fields,
                                                  const std::string& by) {
  if (by.empty()) return Error::InvalidInput("say who makes the change (--by NAME)");
  if (fields.empty()) return Error::InvalidInput("nothing to change: give --set key=value");
  sync::Mutation m;
  m.origin = "staff:" + by;
  m.actor = m.origin;
  m.kind = sync::MutationKind::kSetFields;
  for (const auto& [name, value] : fields) m.writes.push_back({name, value, {}});
  return ApplyStaff(id_or_receipt, std::move(m));
}

Result<void> SyncService::CheckHealth() { return storage_.CheckHealth(); }

Result<AuditReport> SyncService::VerifyEnvelopes() {
  AuditReport report;
  sync::EnvelopeLimits limits = options_.limits;
  MPP_RETURN_IF_ERROR(storage_.ForEachEnvelope([&](const EnvelopeRecord& e) -> Result<void> {
    ++report.checked;
    // Revoked devices' envelopes stay verifiable: look the key up regardless of revocation.
    auto lookup = [this](const std::string& signer) -> Result<Bytes> {
      MPP_ASSIGN_OR_RETURN(auto device, storage_.FindDevice(signer));
      if (!device) return Error::Unauthenticated("unknown device " + signer);
      return device->public_key;
    };
    auto opened = sync::OpenEnvelope(e.bytes, sync::EnvelopeKind::kPush, lookup, limits);
    if (!opened) {
      report.failures.push_back("envelope " + std::to_string(e.id) + " from " + e.device_id + ": " +
                                opened.error().message());
    } else if (opened->signer != e.device_id || opened->header.first_seq != e.first_seq ||
               opened->header.last_seq != e.last_seq) {
      report.failures.push_back("envelope " + std::to_string(e.id) +
                                ": stored device or seq range differs from the signed one");
    }
    return Ok();
  }));
  return report;
}

}  // namespace mpp::server
