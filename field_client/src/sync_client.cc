#include "mpp/field/sync_client.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "mpp/sync/codec.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/protocol.h"

namespace mpp::field {
namespace {

using nlohmann::json;

bool IsTransientStatus(int status) { return status == 502 || status == 503 || status == 504; }

bool IsSignedRefusal(const sync::HttpResponse& response) {
  return response.status == 409 && response.content_type == "application/octet-stream";
}

// Bounds the recoveries one sync may run: each moves the outbox past a disagreement, so a few
// suffice; more means the server keeps refusing, and the officer should hear of it.
constexpr int kMaxRecoveriesPerSync = 8;

// Every error made from an answer of the server says so; ServerUnreachable tells them apart.
constexpr std::string_view kRefusedByTheServer = " refused by the server (HTTP ";

// Turns a non-2xx answer into an Error carrying the server's one-line reason.
Error HttpError(const sync::HttpResponse& response, const std::string& what) {
  std::string reason(response.body.begin(), response.body.end());
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == '\r')) reason.pop_back();
  if (reason.size() > 300) reason.resize(300);
  const std::string message =
      what + std::string(kRefusedByTheServer) + std::to_string(response.status) + "): " + reason;
  switch (response.status) {
    case 400:
      return Error::InvalidInput(message);
    case 401:
      return Error::Unauthenticated(message);
    case 403:
      return Error::PermissionDenied(message);
    case 404:
      return Error::NotFound(message);
    case 409:
      return Error::Conflict(message);
    case 413:
      return Error::TooLarge(message);
    default:
      return IsTransientStatus(response.status) ? Error::Unavailable(message)
                                                : Error::Internal(message);
  }
}

Result<void> CheckCancelled(const SyncOptions& options) {
  if (options.cancelled && options.cancelled()) return Error::Unavailable(kCancelledSyncMessage);
  return Ok();
}

// Sends with exponential backoff and full jitter on transient failures (network errors and
// 502/503/504). Every request the sync sends is safe to repeat. The request is built anew for
// each attempt (1, 2, ...), so a caller can send less after a failure.
using RequestBuilder = std::function<Result<sync::HttpRequest>(int attempt)>;

class RetryingSender {
 public:
  RetryingSender(sync::Transport& transport, sync::Clock& clock, sync::Rng& rng,
                 const SyncOptions& options, SyncReport& report)
      : transport_(transport), clock_(clock), rng_(rng), options_(options), report_(report) {}

  Result<sync::HttpResponse> Send(const sync::HttpRequest& request, const std::string& what) {
    return Send([&request](int) -> Result<sync::HttpRequest> { return request; }, what);
  }

  Result<sync::HttpResponse> Send(const RequestBuilder& build, const std::string& what) {
    std::chrono::milliseconds backoff = options_.initial_backoff;
    Error last = Error::Unavailable(what + ": not attempted");
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      // Every step of the sync sends through here, so this one check covers them all.
      MPP_RETURN_IF_ERROR(CheckCancelled(options_));
      MPP_ASSIGN_OR_RETURN(sync::HttpRequest request, build(attempt));
      auto response = transport_.Send(request);
      if (response.ok() && response->status == 200) return response;
      // A signed refusal (PushRefusal): the caller verifies and acts on it.
      if (response.ok() && IsSignedRefusal(*response)) return response;
      if (response.ok()) {
        Error e = HttpError(*response, what);
        if (!IsTransientStatus(response->status)) return e;
        last = e;
      } else {
        if (!response.error().transient()) return response.error().WithContext(what);
        last = response.error();
      }
      if (attempt == options_.max_attempts) break;
      ++report_.retries;
      // Full jitter: a fleet that lost the link together does not come back in lockstep.
      const auto wait_ms =
          static_cast<int64_t>(rng_.Uniform(static_cast<uint64_t>(backoff.count()) + 1));
      MPP_RETURN_IF_ERROR(Wait(wait_ms));
      backoff = std::min(options_.max_backoff, backoff * 2);
    }
    return Error(last.code(), what + " failed after " + std::to_string(options_.max_attempts) +
                                  " attempts: " + last.message());
  }

 private:
  // Sleeps in slices of kCancelPollMs, so a cancel during a long backoff is heard promptly.
  Result<void> Wait(int64_t wait_ms) {
    if (!options_.cancelled) {
      clock_.SleepFor(std::chrono::milliseconds(wait_ms));
      return Ok();
    }
    for (int64_t left = wait_ms; left > 0; left -= kCancelPollMs) {
      MPP_RETURN_IF_ERROR(CheckCancelled(options_));
      clock_.SleepFor(std::chrono::milliseconds(std::min(left, kCancelPollMs)));
    }
    return Ok();
  }

  sync::Transport& transport_;
  sync::Clock& clock_;
  sync::Rng& rng_;
  const SyncOptions& options_;
  SyncReport& report_;
};

Bytes FreshNonce(sync::Rng& rng) {
  Bytes nonce(sync::kNonceBytes);
  rng.Fill(nonce);
  return nonce;
}

// Verifies a server answer: signed by the pinned server key, for this device, echoing our nonce.
Result<sync::OpenedEnvelope> OpenAnswer(const Bytes& body, sync::EnvelopeKind kind,
                                        const store::DeviceInfo& device, const Bytes& nonce) {
  auto lookup = [&device](const std::string& signer) -> Result<Bytes> {
    if (signer != sync::kServerSigner) {
      return Error::Unauthenticated("answer signed by \"" + signer + "\", not the server");
    }
    return device.server_public_key;
  };
  auto opened = sync::OpenEnvelope(body, kind, lookup, sync::EnvelopeLimits{});
  if (!opened) return opened.error().WithContext("server answer refused");
  if (opened->header.nonce != nonce) {
    return Error::Unauthenticated(
        "server answer refused: it does not echo this request's nonce (a replayed answer?)");
  }
  if (opened->header.device_id != device.device_id) {
    return Error::Unauthenticated("server answer refused: it is addressed to another device");
  }
  return opened;
}

// Acts on what a signed answer says when the van and the server disagree about what was
// applied (PROTOCOL.md §4, "When the two sides disagree"): a new server epoch (the server was
// restored from a backup), a seq this store reused (it was restored from an older copy), a
// receipt the server already holds. Each recovery rewrites the outbox in one transaction, so
// the next push goes through; the officer hears of each in the report.
class Reconciler {
 public:
  Reconciler(store::VanStore& store, SyncReport& report) : store_(store), report_(report) {}

  // Checks what every signed answer says against the store, and recovers when they disagree:
  // a new epoch (the server was restored: re-send what it lost), or a seq the server applied
  // that this store never issued (the store was restored from an older copy: continue after it
  // and pull the whole scope again). True when the store recovered: the pusher then pushes
  // again, and the pull starts from the beginning. A store that knows no epoch yet adopts the
  // first (ApplyAck, ApplyPull).
  Result<bool> RecoverIfDisagreeing(uint64_t epoch, uint64_t server_last_applied_seq,
                                    uint32_t receipt_series) {
    MPP_ASSIGN_OR_RETURN(auto state, store_.LoadSyncState());
    if (state.server_epoch != 0 && state.server_epoch != epoch) {
      MPP_RETURN_IF_ERROR(CountRecovery());
      MPP_ASSIGN_OR_RETURN(auto done, store_.RecoverFromServerRestore(
                                          epoch, server_last_applied_seq, receipt_series));
      report_.server_restored = true;
      Add(done);
      return true;
    }
    if (server_last_applied_seq >= state.next_seq) {
      MPP_RETURN_IF_ERROR(CountRecovery());
      MPP_ASSIGN_OR_RETURN(auto done, store_.RenumberAfterReuse(
                                          state.next_seq, server_last_applied_seq, receipt_series));
      report_.store_restored = true;
      Add(done);
      return true;
    }
    return false;
  }

  // A pull answer patched a request this store does not hold (its copy went back in time in a
  // way no answer revealed): pull the whole scope again, once per sync.
  Result<void> ResyncAfterMissingRequest(const Error& why) {
    if (resynced_) return why;
    resynced_ = true;
    return store_.RequestResync();
  }

  // Acts on a refused push (ack.refusal != kNone) of an unchanged epoch.
  Result<void> Recover(const sync::PushAck& ack, uint64_t batch_first_seq) {
    MPP_RETURN_IF_ERROR(CountRecovery());
    switch (ack.refusal) {
      case sync::PushRefusal::kNone:
        return Ok();
      case sync::PushRefusal::kSeqGap:
        // Without a new epoch the server did not go back in time: nothing here can mend it.
        return Error::Conflict("the server expects seq " + std::to_string(ack.refused_seq) +
                               " from this van, which holds changes from seq " +
                               std::to_string(batch_first_seq) +
                               " on; nothing was lost on the van: ask the administrator");
      case sync::PushRefusal::kSeqReused: {
        MPP_ASSIGN_OR_RETURN(
            auto done,
            store_.RenumberAfterReuse(ack.refused_seq, ack.last_applied_seq, ack.receipt_series));
        report_.store_restored = true;
        Add(done);
        return Ok();
      }
      case sync::PushRefusal::kReceiptTaken: {
        MPP_ASSIGN_OR_RETURN(auto done,
                             store_.ReissueReceipts(ack.refused_seq, ack.receipt_series));
        Add(done);
        return Ok();
      }
    }
    return Error::Corrupt("the server refused the push for an unknown reason");
  }

 private:
  Result<void> CountRecovery() {
    if (++recoveries_ > kMaxRecoveriesPerSync) {
      return Error::Conflict("the server keeps refusing this van's changes after " +
                             std::to_string(kMaxRecoveriesPerSync) +
                             " recoveries; nothing was lost on the van: ask the administrator");
    }
    return Ok();
  }

  void Add(const store::VanStore::RecoveryReport& done) {
    report_.renumbered += done.renumbered;
    report_.resent += done.resent;
    report_.reissued_receipts.insert(report_.reissued_receipts.end(), done.reissued.begin(),
                                     done.reissued.end());
  }

  store::VanStore& store_;
  SyncReport& report_;
  int recoveries_ = 0;
  bool resynced_ = false;
};

class Pusher {
 public:
  Pusher(store::VanStore& store, RetryingSender& sender, Reconciler& reconciler, sync::Clock& clock,
         sync::Rng& rng, const store::DeviceInfo& device, const SyncOptions& options,
         SyncReport& report)
      : store_(store),
        sender_(sender),
        reconciler_(reconciler),
        clock_(clock),
        rng_(rng),
        device_(device),
        options_(options),
        report_(report),
        batch_size_(options.batch_size) {}

  Result<void> Run(const SyncProgress& progress) {
    const size_t total = static_cast<size_t>(device_.pending);
    for (;;) {
      MPP_ASSIGN_OR_RETURN(bool pushed, PushNextBatch());
      if (!pushed) return Ok();
      if (progress) progress("push", report_.acknowledged, total);
    }
  }

 private:
  // Pushes the oldest pending mutations; false when there were none. The batch adapts to the
  // link: each failed attempt halves it (a link that drops every few tens of KB never carries a
  // body larger than that), each success doubles it again, up to options.batch_size. Shrinking
  // is safe: the server skips seqs it already applied, so a batch whose answer was lost is
  // simply acknowledged again.
  Result<bool> PushNextBatch() {
    // Read once; a retry with a smaller batch sends a prefix of it (the oldest entries).
    MPP_ASSIGN_OR_RETURN(std::vector<sync::Mutation> batch, store_.PendingMutations(batch_size_));
    if (batch.empty()) return false;
    // A batch is a run of consecutive seqs. After a recovery the outbox may hold the retries of
    // mutations the server applied, then work renumbered to follow the server's last seq.
    for (size_t i = 1; i < batch.size(); ++i) {
      if (batch[i].seq != batch[i - 1].seq + 1) {
        batch.resize(i);
        break;
      }
    }
    sync::EnvelopeHeader header;
    auto build = [&](int attempt) -> Result<sync::HttpRequest> {
      if (attempt > 1) {
        batch_size_ = std::max<size_t>(1, batch_size_ / 2);
        if (batch.size() > batch_size_) batch.resize(batch_size_);
      }
      header = {};
      header.device_id = device_.device_id;
      header.hlc = {clock_.NowMillis(), 0};
      header.nonce = FreshNonce(rng_);
      header.first_seq = batch.front().seq;
      header.last_seq = batch.back().seq;
      // Signed once per batch; the private key is unsealed only for this call.
      MPP_ASSIGN_OR_RETURN(Bytes envelope, SealWithDeviceKey(header, sync::EncodeMutations(batch)));
      if (header.last_seq > highest_sent_) {  // count each mutation once, however often sent
        report_.pushed += header.last_seq - std::max(highest_sent_, header.first_seq - 1);
        highest_sent_ = header.last_seq;
      }
      return sync::HttpRequest{"POST", "/v1/push", "application/octet-stream", std::move(envelope)};
    };
    MPP_ASSIGN_OR_RETURN(sync::HttpResponse response,
                         sender_.Send(build, "push from seq " + std::to_string(batch.front().seq)));
    MPP_ASSIGN_OR_RETURN(auto opened, OpenAnswer(response.body, sync::EnvelopeKind::kPushAck,
                                                 device_, header.nonce));
    MPP_ASSIGN_OR_RETURN(auto ack, sync::DecodeValue<sync::PushAck>(opened.raw_body));
    // Signed, so safe to act on: a new epoch or a refusal rewrites the outbox; then push on.
    MPP_ASSIGN_OR_RETURN(bool recovered, reconciler_.RecoverIfDisagreeing(
                                             ack.epoch, ack.last_applied_seq, ack.receipt_series));
    if (!recovered && ack.refusal != sync::PushRefusal::kNone) {
      MPP_RETURN_IF_ERROR(reconciler_.Recover(ack, header.first_seq));
      recovered = true;
    }
    if (recovered) {
      highest_sent_ = 0;  // the seqs moved
      return true;
    }
    if (ack.last_applied_seq < header.last_seq) {
      return Error::Internal("server acknowledged up to seq " +
                             std::to_string(ack.last_applied_seq) + " of a batch ending at " +
                             std::to_string(header.last_seq));
    }
    MPP_RETURN_IF_ERROR(store_.ApplyAck(ack, opened.header.hlc, batch));
    report_.acknowledged += batch.size();
    batch_size_ = std::min(options_.batch_size, batch_size_ * 2);
    return true;
  }

  Result<Bytes> SealWithDeviceKey(const sync::EnvelopeHeader& header, const Bytes& body);

  store::VanStore& store_;
  RetryingSender& sender_;
  Reconciler& reconciler_;
  sync::Clock& clock_;
  sync::Rng& rng_;
  const store::DeviceInfo& device_;
  const SyncOptions& options_;
  SyncReport& report_;
  size_t batch_size_;  // adapts to the link, within [1, options_.batch_size]
  uint64_t highest_sent_ = 0;
};

Result<Bytes> Pusher::SealWithDeviceKey(const sync::EnvelopeHeader& header, const Bytes& body) {
  return sync::SealEnvelopeWith(
      sync::EnvelopeKind::kPush, device_.device_id, header, body,
      [this](ByteView message) { return store_.SignWithDeviceKey(message); }, options_.zstd_level);
}

class Puller {
 public:
  Puller(store::VanStore& store, RetryingSender& sender, Reconciler& reconciler, sync::Clock& clock,
         sync::Rng& rng, const store::DeviceInfo& device, SyncReport& report)
      : store_(store),
        sender_(sender),
        reconciler_(reconciler),
        clock_(clock),
        rng_(rng),
        device_(device),
        report_(report) {}

  // Pulls every page; true when an answer showed a new server epoch and the store recovered
  // (the page is not applied: the sync pushes again, then pulls from the beginning).
  Result<bool> Run(const SyncProgress& progress) {
    for (;;) {
      MPP_ASSIGN_OR_RETURN(auto state, store_.LoadSyncState());
      sync::EnvelopeHeader header;
      header.device_id = device_.device_id;
      header.hlc = {clock_.NowMillis(), 0};
      header.nonce = FreshNonce(rng_);
      header.cursor = state.cursor;
      const Bytes body = sync::EncodeValue(sync::PullRequestBody{
          state.catalog_version, state.acked_seq, state.complete_cursor, state.resync});
      MPP_ASSIGN_OR_RETURN(Bytes envelope, sync::SealEnvelopeWith(
                                               sync::EnvelopeKind::kPullRequest, device_.device_id,
                                               header, body, [this](ByteView message) {
                                                 return store_.SignWithDeviceKey(message);
                                               }));
      MPP_ASSIGN_OR_RETURN(sync::HttpResponse response,
                           sender_.Send({"POST", "/v1/pull", "application/octet-stream", envelope},
                                        "pull from cursor " + std::to_string(state.cursor)));
      MPP_ASSIGN_OR_RETURN(auto opened, OpenAnswer(response.body, sync::EnvelopeKind::kPullAnswer,
                                                   device_, header.nonce));
      MPP_ASSIGN_OR_RETURN(auto answer, sync::DecodeValue<sync::PullAnswer>(opened.raw_body));
      MPP_ASSIGN_OR_RETURN(bool recovered, reconciler_.RecoverIfDisagreeing(
                                               answer.epoch, answer.last_applied_seq, 0));
      if (recovered) return true;
      if (answer.cursor < state.cursor) {
        return Error::Unauthenticated("server answer refused: it would move the cursor back");
      }
      // The changes are kept only once the page committed.
      std::vector<RequestChange> changes;
      std::map<std::string, std::string> receipts;
      size_t new_requests = 0;
      auto pulled = [&](const std::optional<sync::Request>& before, const sync::Request& after) {
        receipts[after.id] = after.receipt;
        if (!before) {
          ++new_requests;
          return;
        }
        Compare(*before, after, changes);
      };
      auto applied = store_.ApplyPull(answer, opened.header.hlc, pulled);
      if (!applied && applied.error().code() == ErrorCode::kNotFound) {
        MPP_RETURN_IF_ERROR(reconciler_.ResyncAfterMissingRequest(applied.error()));
        continue;
      }
      MPP_RETURN_IF_ERROR(applied);
      report_.pulled += answer.requests.size() + answer.patches.size();
      report_.conflicts += answer.conflicts.size();
      for (const auto& c : answer.conflicts) {
        RequestChange change;
        change.kind = RequestChange::Kind::kConflict;
        change.request_id = c.request_id;
        change.receipt = ReceiptOf(c.request_id, receipts);
        change.field = c.field;
        change.old_value = c.lost_value;
        change.new_value = c.kept_value;
        change.note = c.reason;
        change.by = c.kept_version.origin;
        changes.push_back(std::move(change));
      }
      report_.changes.insert(report_.changes.end(), std::make_move_iterator(changes.begin()),
                             std::make_move_iterator(changes.end()));
      report_.new_requests += new_requests;
      if (progress) progress("pull", report_.pulled, 0);
      if (!answer.more) return false;
    }
  }

 private:
  // What changed between the officer's view before and after a page: the status, then each
  // field whose value differs.
  static void Compare(const sync::Request& before, const sync::Request& after,
                      std::vector<RequestChange>& out) {
    if (before.status != after.status) {
      RequestChange change;
      change.request_id = after.id;
      change.receipt = after.receipt;
      change.old_value = sync::StatusName(before.status);
      change.new_value = sync::StatusName(after.status);
      change.note = after.status_note;
      change.by = after.status_version.origin;
      out.push_back(std::move(change));
    }
    std::set<std::string> names;
    for (const auto& [name, value] : before.fields) names.insert(name);
    for (const auto& [name, value] : after.fields) names.insert(name);
    for (const auto& name : names) {
      auto was = before.fields.find(name);
      auto now = after.fields.find(name);
      const std::string old_value = was == before.fields.end() ? "" : was->second.value;
      const std::string new_value = now == after.fields.end() ? "" : now->second.value;
      if (old_value == new_value) continue;
      RequestChange change;
      change.kind = RequestChange::Kind::kField;
      change.request_id = after.id;
      change.receipt = after.receipt;
      change.field = name;
      change.old_value = old_value;
      change.new_value = new_value;
      if (now != after.fields.end()) change.by = now->second.version.origin;
      out.push_back(std::move(change));
    }
  }

  // The receipt of a conflict's request: from this page, else from the store.
  std::string ReceiptOf(const std::string& request_id,
                        const std::map<std::string, std::string>& page) {
    auto it = page.find(request_id);
    if (it != page.end()) return it->second;
    auto row = store_.Find(request_id);
    return row ? row->view.receipt : request_id;
  }

  store::VanStore& store_;
  RetryingSender& sender_;
  Reconciler& reconciler_;
  sync::Clock& clock_;
  sync::Rng& rng_;
  const store::DeviceInfo& device_;
  SyncReport& report_;
};

}  // namespace

bool ServerUnreachable(const Error& error) {
  return error.transient() && error.message().find(kRefusedByTheServer) == std::string::npos;
}

std::string DescribeChange(const RequestChange& change) {
  const std::string who = change.by.empty() ? "" : " (by " + change.by + ")";
  switch (change.kind) {
    case RequestChange::Kind::kStatus:
      return change.receipt + ": " + change.new_value +
             (change.note.empty() ? "" : " \"" + change.note + "\"");
    case RequestChange::Kind::kField:
      return change.receipt + ": " + change.field + " \"" + change.old_value + "\" -> \"" +
             change.new_value + "\"" + who;
    case RequestChange::Kind::kConflict:
      return change.receipt + ": conflict on " + change.field + ": kept \"" + change.new_value +
             "\"" + who + ", not applied \"" + change.old_value + "\": " + change.note;
  }
  return change.receipt;
}

Result<EnrollResult> Enroll(store::VanStore& store, sync::Transport& transport,
                            const std::string& server_url, const std::string& token,
                            const std::optional<std::string>& pinned_fingerprint, sync::Rng& rng) {
  MPP_ASSIGN_OR_RETURN(store::DeviceInfo device, store.Device());
  if (device.enrolled_ms != 0) {
    return Error::Conflict("this van is already enrolled with " + device.server_url);
  }
  // 1. The server's key, checked against the pinned fingerprint before the token leaves.
  MPP_ASSIGN_OR_RETURN(sync::HttpResponse key_response,
                       transport.Send({"GET", "/v1/server-key", "", {}}));
  if (key_response.status != 200) return HttpError(key_response, "server key request");
  json key_doc = json::parse(key_response.body, nullptr, /*allow_exceptions=*/false);
  if (key_doc.is_discarded() || !key_doc.contains("public_key") ||
      !key_doc["public_key"].is_string()) {
    return Error::Corrupt("the server's key answer is not the expected JSON");
  }
  auto server_key = FromHex(key_doc["public_key"].get<std::string>());
  if (!server_key || server_key->size() != crypto::kEd25519PublicKeyBytes) {
    return Error::Corrupt("the server's public key is malformed");
  }
  EnrollResult result;
  result.server_fingerprint = crypto::KeyFingerprint(*server_key);
  if (pinned_fingerprint) {
    if (*pinned_fingerprint != result.server_fingerprint) {
      return Error::Unauthenticated("server key fingerprint " + result.server_fingerprint +
                                    " does not match the pinned " + *pinned_fingerprint +
                                    ": not sending the token (an impostor, or a typo?)");
    }
  } else {
    result.trusted_on_first_use = true;
  }
  // 2. Enrol: prove possession of the device key.
  const Bytes nonce = FreshNonce(rng);
  MPP_ASSIGN_OR_RETURN(Bytes signature, store.SignWithDeviceKey(sync::EnrollRequestSignedBytes(
                                            token, device.device_id, device.public_key, nonce)));
  const std::string request = json{
      {"token", token},
      {"device_id", device.device_id},
      {"van_code", device.van_code},
      {"public_key", ToHex(device.public_key)},
      {"nonce", ToHex(nonce)},
      {"signature",
       ToHex(signature)}}.dump();
  MPP_ASSIGN_OR_RETURN(
      sync::HttpResponse response,
      transport.Send({"POST", "/v1/enroll", "application/json", BytesOf(request)}));
  if (response.status != 200) return HttpError(response, "enrolment");
  // 3. The answer must be signed by the key we checked, over our nonce.
  json answer = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded() || !answer.contains("signature") || !answer["signature"].is_string()) {
    return Error::Corrupt("the enrolment answer is not the expected JSON");
  }
  auto answer_signature = FromHex(answer["signature"].get<std::string>());
  const auto series = answer.find("receipt_series");
  if (series == answer.end() || !series->is_number_unsigned() ||
      series->get<uint64_t>() > UINT32_MAX) {
    return Error::Corrupt("the enrolment answer has no receipt series");
  }
  const auto receipt_series = series->get<uint32_t>();
  if (!answer_signature ||
      !crypto::Ed25519Verify(
          *server_key,
          sync::EnrollAnswerSignedBytes(device.device_id, *server_key, nonce, receipt_series),
          *answer_signature)) {
    return Error::Unauthenticated("the enrolment answer is not signed by the server's key");
  }
  MPP_RETURN_IF_ERROR(store.SaveEnrollment(server_url, *server_key, receipt_series));
  result.device_id = device.device_id;
  return result;
}

Result<SyncReport> RunSync(store::VanStore& store, sync::Transport& transport, sync::Clock& clock,
                           sync::Rng& rng, const SyncOptions& options,
                           const SyncProgress& progress) {
  MPP_ASSIGN_OR_RETURN(store::DeviceInfo device, store.Device());
  if (device.enrolled_ms == 0 || device.server_public_key.empty()) {
    return Error::InvalidInput(kNotEnrolledMessage);
  }
  SyncReport report;
  const sync::TransferStats before = transport.stats();
  const int64_t start = clock.NowMillis();
  RetryingSender sender(transport, clock, rng, options, report);
  Reconciler reconciler(store, report);
  Pusher pusher(store, sender, reconciler, clock, rng, device, options, report);
  Puller puller(store, sender, reconciler, clock, rng, device, report);
  // A pull that finds the server restored rewrites the outbox: push it, then pull again (the
  // reconciler bounds how often). A push the server refuses because a request does not exist
  // or exists already is followed by a pull all the same: the server may have been restored
  // once more, and only a signed answer can tell the van. Any other failure ends the sync, so a
  // forged or damaged answer changes nothing.
  for (bool again = true; again;) {
    auto pushed = pusher.Run(progress);
    const bool may_be_older_server = !pushed && (pushed.error().code() == ErrorCode::kNotFound ||
                                                 pushed.error().code() == ErrorCode::kConflict);
    if (!pushed && !may_be_older_server) return pushed.error();
    MPP_ASSIGN_OR_RETURN(again, puller.Run(progress));
    if (!pushed && !again) return pushed.error();
  }
  const int64_t end = clock.NowMillis();
  MPP_RETURN_IF_ERROR(store.MarkSynced(end));
  report.duration_ms = end - start;
  const sync::TransferStats after = transport.stats();
  report.bytes_sent = after.bytes_sent - before.bytes_sent;
  report.bytes_received = after.bytes_received - before.bytes_received;
  return report;
}

}  // namespace mpp::field
