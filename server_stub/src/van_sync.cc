#include "mpp/server/van_sync.h"

#include <algorithm>
#include <set>

#include "mpp/server/nik_index.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/merge.h"
#include "mpp/sync/patch.h"
#include "mpp/sync/text.h"

namespace mpp::server {
namespace {

// How stale a device's last_sync_ms may be before a pull writes it (HandlePull).
constexpr int64_t kNoteSyncEveryMs = 5 * 60 * 1000;

// Unknown devices, wrong keys and revoked devices get one answer (THREATS.md rows 27-28): a
// prober learns nothing about which device ids exist, and the signer's bytes are never echoed.
// The revoked van's officer learns it from the administrator, who revoked it.
constexpr const char* kNotAuthorised =
    "this device is not enrolled, or no longer allowed: ask the administrator to enrol it again";

}  // namespace

// A push whose envelope and mutations passed every check that needs no storage.
struct MergedCreate {
  std::optional<sync::Request> state;
  Result<sync::MergeOutcome> outcome;
};
struct VanSync::Batch {
  ByteView envelope;
  const sync::EnvelopeHeader& header;
  const std::string& device_id;
  const sync::Catalog& catalog;
  std::vector<sync::Mutation> mutations;
  // Creates merged before the transaction, against no state (nullopt for other kinds).
  std::vector<std::optional<MergedCreate>> creates;
};

Result<Bytes> VanSync::DeviceKey(const std::string& signer) {
  MPP_ASSIGN_OR_RETURN(auto device, core_.storage().FindDevice(signer));
  if (!device || device->revoked()) return Error::Unauthenticated(kNotAuthorised);
  return device->public_key;
}

Result<Bytes> VanSync::SealAnswer(sync::EnvelopeKind kind, const std::string& device_id,
                                  const Bytes& nonce, ByteView body) {
  sync::EnvelopeHeader header;
  header.device_id = device_id;
  header.nonce = nonce;
  header.hlc = core_.StampAnswer();
  return sync::SealEnvelope(kind, sync::kServerSigner, std::move(header), body,
                            core_.server_private_key(), core_.options().answer_zstd_level);
}

Result<sync::OpenedEnvelope> VanSync::OpenVanEnvelope(ByteView envelope, sync::EnvelopeKind kind,
                                                      SyncLog* log) {
  auto result = sync::OpenEnvelope(
      envelope, kind, [this](const std::string& s) { return DeviceKey(s); },
      core_.options().limits);
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

Result<Bytes> VanSync::HandlePush(ByteView envelope, SyncLog* log) {
  MPP_ASSIGN_OR_RETURN(sync::OpenedEnvelope opened,
                       OpenVanEnvelope(envelope, sync::EnvelopeKind::kPush, log));
  MPP_RETURN_IF_ERROR(core_.RefreshCatalog());
  const sync::Catalog& catalog = core_.catalog();
  const sync::EnvelopeHeader& h = opened.header;
  const std::string& device_id = opened.signer;
  MPP_ASSIGN_OR_RETURN(std::vector<sync::Mutation> mutations,
                       sync::DecodeMutations(opened.raw_body));
  log->received = mutations.size();
  if (mutations.empty() || mutations.size() > core_.options().max_batch_mutations) {
    return Error::InvalidInput("a batch holds 1-" +
                               std::to_string(core_.options().max_batch_mutations) +
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
  // request built) before the transaction, which holds the device's row and its van's scope;
  // inside, only the request's absence is checked. The transaction stays short in the rush.
  Batch batch{envelope, h, device_id, catalog, std::move(mutations), {}};
  batch.creates.resize(batch.mutations.size());
  for (size_t i = 0; i < batch.mutations.size(); ++i) {
    if (batch.mutations[i].kind != sync::MutationKind::kCreate) continue;
    std::optional<sync::Request> state;
    auto outcome = sync::ApplyMutation(catalog, state, batch.mutations[i], sync::Role::kVan);
    batch.creates[i] = MergedCreate{std::move(state), std::move(outcome)};
  }
  // Run again from the start when the database aborted it (a deadlock with another server
  // process): nothing of a failed attempt stays, neither in the database nor in the answer.
  sync::PushAck ack;
  MPP_RETURN_IF_ERROR(core_.RunTransaction([&]() -> Result<void> {
    ack = sync::PushAck{};
    SyncLog fresh;
    fresh.device_id = log->device_id;
    fresh.received = log->received;
    *log = std::move(fresh);
    return ApplyBatch(batch, ack, *log);
  }));
  return SealAnswer(sync::EnvelopeKind::kPushAck, device_id, h.nonce, sync::EncodeValue(ack));
}

Result<void> VanSync::ApplyBatch(const Batch& batch, sync::PushAck& ack, SyncLog& log_ref) {
  SyncLog* log = &log_ref;
  const sync::EnvelopeHeader& h = batch.header;
  const std::string& device_id = batch.device_id;
  const std::vector<sync::Mutation>& mutations = batch.mutations;
  const sync::Catalog& catalog = batch.catalog;
  const int64_t now = core_.clock().NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, core_.storage().Begin());
  MPP_ASSIGN_OR_RETURN(auto device, txn->FindDevice(device_id));
  // Revocation may have happened since the signature check: re-check under the transaction.
  if (!device || device->revoked()) return Error::Unauthenticated(kNotAuthorised);
  const uint64_t last_applied = device->last_applied_seq;
  ack.last_applied_seq = last_applied;
  MPP_ASSIGN_OR_RETURN(ack.epoch, txn->Epoch());
  ack.receipt_series = device->receipt_series;

  // The van and the server must agree on what was applied before anything is. Each refusal
  // below is a signed ack (SyncLog::signed_refusal) from which the van recovers by itself.
  MPP_ASSIGN_OR_RETURN(bool disagree, CheckPushAgreement(*txn, *device, mutations, ack, log));
  if (disagree) {
    // Only the bookkeeping of the refusal commits (a new receipt series); none of the batch's
    // mutations.
    return txn->Commit();
  }
  // Each new mutation changes one request of this van: one load and one rev each, asked for at
  // once (a round trip per mutation less on a database across the network).
  std::vector<sync::HlcTimestamp> new_clocks;
  std::vector<std::string> touched;
  for (const auto& m : mutations) {
    if (m.seq <= last_applied) continue;
    new_clocks.push_back(m.hlc);
    touched.push_back(m.request_id);
  }
  MPP_ASSIGN_OR_RETURN(log->clock_suspect, core_.ObserveVanClocks(*txn, h.hlc, new_clocks));
  MPP_RETURN_IF_ERROR(txn->PrefetchRequests(touched));
  MPP_RETURN_IF_ERROR(txn->ExpectRevs(device->van_code, touched.size()));
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
    MPP_ASSIGN_OR_RETURN(std::optional<RequestRow> row, txn->LoadRequest(m.request_id));
    std::optional<sync::Request> state;
    if (row) state = row->request;
    // A van works on its own requests, whichever of its devices made them (a re-installed
    // tablet continues the old one's work): the receipt carries the van code.
    if (state && state->receipt.rfind(device->van_code + "-", 0) != 0) {
      return Error::PermissionDenied(where + ": request " + m.request_id +
                                     " belongs to another van");
    }
    const std::optional<sync::Request> before = state;
    Result<sync::MergeOutcome> outcome = sync::MergeOutcome{};
    if (!state && batch.creates[i]) {
      state = batch.creates[i]->state;  // merged before the transaction, against no state
      outcome = batch.creates[i]->outcome;
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
    MPP_RETURN_IF_ERROR(SaveChange(*txn, row, *state, core_.AgencyOf(catalog, state->service_id),
                                   device->van_code, notify_owner, now));
    for (const auto& c : outcome->conflicts) {
      MPP_RETURN_IF_ERROR(RecordConflict(*txn, device_id, device->van_code, c, now));
    }
    // A new request (or one re-sent after a server restore) whose NIK has an open request for
    // the service at another van is flagged on both vans; a pair is flagged once.
    const bool arrives =
        m.kind == sync::MutationKind::kCreate || m.kind == sync::MutationKind::kRestore;
    MPP_ASSIGN_OR_RETURN(size_t flagged, IndexNik(*txn, core_.options().nik_index_key, catalog,
                                                  before, *state, arrives, now));
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
  MPP_ASSIGN_OR_RETURN(bool advanced,
                       txn->AdvanceDeviceSeq(device_id, last_applied, new_last, now));
  if (!advanced) {
    // Another process applied seqs of this device since our read (FindDevice locks the row, so
    // only a backend without row locks gets here): run the whole push again, as a retry.
    return Error::Aborted("the device's seqs moved during the push");
  }
  if (log->applied > 0) {
    // Kept exactly as received, so anyone can re-verify later who submitted what.
    MPP_RETURN_IF_ERROR(txn->StoreEnvelope({0, device_id, h.first_seq, h.last_seq, now,
                                            Bytes(batch.envelope.begin(), batch.envelope.end())}));
  }
  ack.last_applied_seq = new_last;
  MPP_ASSIGN_OR_RETURN(ack.unclean_seqs, txn->UncleanSeqs(device_id, h.first_seq, h.last_seq));
  return txn->Commit();
}

Bytes MutationDigest(const sync::Mutation& m) {
  const auto digest = crypto::Sha256(sync::EncodeMutation(m));
  return Bytes(digest.begin(), digest.begin() + 16);  // 128 bits tell a retry from a reuse
}

Result<bool> VanSync::CheckPushAgreement(StorageTxn& txn, const DeviceRecord& device,
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

Result<Bytes> VanSync::HandlePull(ByteView envelope, SyncLog* log) {
  MPP_ASSIGN_OR_RETURN(sync::OpenedEnvelope opened,
                       OpenVanEnvelope(envelope, sync::EnvelopeKind::kPullRequest, log));
  const sync::EnvelopeHeader& h = opened.header;
  const std::string& device_id = opened.signer;
  MPP_ASSIGN_OR_RETURN(auto body, sync::DecodeValue<sync::PullRequestBody>(opened.raw_body));
  MPP_RETURN_IF_ERROR(core_.RefreshCatalog());
  const sync::Catalog& catalog = core_.catalog();
  MPP_RETURN_IF_ERROR(core_.ObserveHeader(h.hlc));
  MPP_ASSIGN_OR_RETURN(PullPage page,
                       ReadPullPage(device_id, {h.cursor, body.patch_base, body.acked_seq,
                                                core_.options().pull_page_items, body.resync}));
  sync::PullAnswer answer;
  answer.cursor = page.cursor;
  answer.more = page.more;
  answer.last_applied_seq = page.last_applied_seq;
  answer.unclean_seqs = std::move(page.unclean_seqs);
  answer.requests = std::move(page.requests);
  answer.patches = std::move(page.patches);
  answer.conflicts = std::move(page.conflicts);
  answer.catalog_version = catalog.version();
  MPP_ASSIGN_OR_RETURN(answer.epoch, core_.storage().Epoch());
  if (body.catalog_version < catalog.version()) answer.catalog_json = catalog.ToJson();
  log->received = answer.requests.size() + answer.patches.size();
  log->conflicts = answer.conflicts.size();
  // A pull is a sync too (staff see when a van was last in touch, and which went quiet): noted
  // at most every few minutes, so a van's pulls cost no write each. Bookkeeping only: a failure
  // here does not fail the van's pull.
  const int64_t now = core_.clock().NowMillis();
  if (now - page.device_last_sync_ms >= kNoteSyncEveryMs) {
    (void)core_.storage().NoteDeviceSync(device_id, now);
  }
  return SealAnswer(sync::EnvelopeKind::kPullAnswer, device_id, h.nonce, sync::EncodeValue(answer));
}

Result<PullPage> VanSync::ReadPullPage(const std::string& device_id, const PullQuery& query) {
  // One snapshot (which a backend refuses while it could not durably accept writes: a database
  // that vanished under the server must not feed a van's cursor): the device, the scope's head and
  // the rows agree.
  MPP_ASSIGN_OR_RETURN(auto snapshot, core_.storage().BeginRead());
  MPP_ASSIGN_OR_RETURN(auto device, snapshot->FindDevice(device_id));
  if (!device) return Error::Unauthenticated("unknown device " + device_id);
  PullPage page;
  page.last_applied_seq = device->last_applied_seq;
  page.device_last_sync_ms = device->last_sync_ms;
  if (query.acked_seq < page.last_applied_seq) {
    MPP_ASSIGN_OR_RETURN(page.unclean_seqs, snapshot->UncleanSeqs(device_id, query.acked_seq + 1,
                                                                  page.last_applied_seq));
  }
  MPP_ASSIGN_OR_RETURN(const uint64_t head, snapshot->ScopeHead(device->van_code));
  // Three feeds, each in rev order; the page is their first max_items in rev order, so each
  // feed needs at most max_items + 1 rows (the one past the page says there is more).
  const size_t limit = query.max_items + 1;
  enum Source { kOwn, kVan, kConflicts };
  std::vector<FeedRow> feeds[3];
  // A resync (the van's copy went back in time) takes the device's own requests by their latest
  // change, written by the device or not: the van may have lost its own writes.
  MPP_ASSIGN_OR_RETURN(feeds[kOwn],
                       snapshot->OwnRequestsAfter(device_id, query.cursor, query.resync, limit));
  MPP_ASSIGN_OR_RETURN(
      feeds[kVan], snapshot->VanRequestsAfter(device->van_code, device_id, query.cursor, limit));
  MPP_ASSIGN_OR_RETURN(feeds[kConflicts], snapshot->ConflictsAfter(device_id, query.cursor, limit));
  snapshot.reset();  // the rest is decoding: let go of the read connection

  size_t next[3] = {0, 0, 0};
  uint64_t last_rev = query.cursor;
  for (size_t items = 0;; ++items) {
    int source = -1;
    for (int f = 0; f < 3; ++f) {
      if (next[f] < feeds[f].size() &&
          (source < 0 || feeds[f][next[f]].rev < feeds[source][next[source]].rev)) {
        source = f;
      }
    }
    if (source < 0) break;
    if (items == query.max_items) {
      page.more = true;
      break;
    }
    const FeedRow& row = feeds[source][next[source]++];
    last_rev = row.rev;
    if (source == kConflicts) {
      MPP_ASSIGN_OR_RETURN(auto conflict, sync::DecodeConflict(row.body));
      page.conflicts.push_back(std::move(conflict));
      continue;
    }
    MPP_ASSIGN_OR_RETURN(auto request, sync::DecodeRequest(row.body));
    std::optional<sync::RequestPatch> patch;
    if (row.revs) {
      MPP_ASSIGN_OR_RETURN(auto revs, sync::DecodeValue<sync::ChangeRevs>(*row.revs));
      patch = sync::PatchSince(request, revs, std::min(query.patch_base, query.cursor));
    }
    if (patch) {
      page.patches.push_back(std::move(*patch));
    } else {
      page.requests.push_back(std::move(request));
    }
  }
  page.cursor = page.more ? last_rev : std::max(head, query.cursor);
  return page;
}

}  // namespace mpp::server
