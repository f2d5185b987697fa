// The van's local store: one SQLite file (WAL, synchronous=FULL) holding the device identity,
// the catalog copy, every request as the server last confirmed it (base) and as the officer sees
// it (view = base + pending mutations), the outbox of pending mutations, conflicts and the sync
// state.
//
// Invariants:
//  - A local change and its outbox mutation commit in one transaction; a call that returned Ok
//    survives power loss.
//  - The outbox holds exactly the mutations the server has not acknowledged, in seq order;
//    seqs are gap-free per device, starting at 1.
//  - Personal data never touches the disk in the clear: request rows, outbox mutations and
//    conflicts are AES-256-GCM sealed under a random data key; the data key and the device's
//    private key are sealed under a key derived (Argon2id) from the officer's passphrase. NIK
//    lookup goes through a keyed hash (HMAC-SHA-256 under a key derived from the data key).
//
// Thread-safety: one VanStore per thread. Several processes may open the same directory; SQLite
// serialises their writes (BEGIN IMMEDIATE, busy timeout).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mpp/sync/bytes.h"
#include "mpp/sync/catalog.h"
#include "mpp/sync/clock.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/model.h"
#include "mpp/sync/protocol.h"
#include "mpp/sync/result.h"

namespace mpp::store {

inline constexpr int kSchemaVersion = 5;
inline constexpr const char* kStoreFileName = "van.db";

struct InitOptions {
  std::string van_code;      // e.g. "KR01": letters and digits, printed on receipts
  std::string officer;       // the officer (petugas) registering requests on this device
  std::string catalog_json;  // the catalog the van starts with
  crypto::Argon2Params kdf;  // cost of deriving the key from the passphrase
};

struct DeviceInfo {
  std::string device_id;  // made at init; the server knows the van by it once enrolled
  std::string van_code;
  std::string officer;
  Bytes public_key;
  std::string fingerprint;
  std::string server_url;  // empty until enrolled
  Bytes server_public_key;
  int64_t enrolled_ms = 0;
  int64_t last_sync_ms = 0;
  int64_t pending = 0;  // mutations in the outbox
  int schema_version = 0;
};

struct RequestRow {
  sync::Request view;    // what the officer sees
  bool pending = false;  // the outbox holds unsynced changes of it
  // When the server last acknowledged a change of it (the van's clock, unix ms); 0 if never.
  int64_t acked_ms = 0;
};

struct RequestFilter {
  std::optional<sync::RequestStatus> status;
  std::optional<std::string> service_id;
  std::optional<std::string> nik;
};

// A change the officer makes. The store fills in origin, seq, HLC, actor and base versions in
// the transaction that commits it (and id and receipt for a new request).
using MutationDraft = sync::Mutation;

class VanStore {
 public:
  // Creates a new store in `dir` (created if missing); fails if one exists there.
  static Result<std::unique_ptr<VanStore>> Create(const std::string& dir,
                                                  std::string_view passphrase,
                                                  const InitOptions& options, sync::Clock& clock,
                                                  sync::Rng& rng);
  // Opens an existing store, locked: device info and catalog are readable; anything touching
  // personal data needs Unlock. Runs pending schema migrations; refuses a store of a newer
  // schema, a foreign database, or a corrupt file with a message saying which.
  static Result<std::unique_ptr<VanStore>> Open(const std::string& dir, sync::Clock& clock,
                                                sync::Rng& rng);

  ~VanStore();
  VanStore(const VanStore&) = delete;
  VanStore& operator=(const VanStore&) = delete;

  // Derives the key from the passphrase and unseals the data key. kUnauthenticated for a wrong
  // passphrase; nothing changes either way.
  Result<void> Unlock(std::string_view passphrase);
  bool unlocked() const;

  // Re-wraps the data key under a key derived from `new_passphrase` (a fresh salt, the store's
  // Argon2id cost), in one transaction. The rows, and the device's private key (sealed under the
  // data key), are not re-encrypted. kUnauthenticated for a wrong `old_passphrase`, and nothing
  // changes. The store need not be unlocked; it stays as it was. Strength is the caller's policy
  // (field_client's CheckPassphraseStrength), not the store's.
  Result<void> ChangePassphrase(std::string_view old_passphrase, std::string_view new_passphrase);

  // The officer who signs the next changes (the actor of every mutation committed from now on);
  // earlier changes keep their actor. Checked like the name at Create (NFC, sync/text.h rules,
  // 1-100 characters). Needs the store unlocked: only who knows the passphrase may sign.
  Result<void> SetOfficer(std::string_view officer);

  Result<DeviceInfo> Device();
  // A copy of the catalog; the store parses it once and keeps it.
  Result<sync::Catalog> Catalog();

  // Applies drafts as the van (Role::kVan) to the local view and appends them to the outbox,
  // all in one transaction: either all commit or none. A draft the state machine refuses (deliver
  // a request that is not completed) or that fails validation is an error and nothing commits.
  // Returns the resulting views, one per draft.
  Result<std::vector<sync::Request>> Commit(std::vector<MutationDraft> drafts);

  // Called with the index of a draft CommitValid left out and why.
  using RefusedDraft = std::function<void(size_t index, const Error& reason)>;
  // Commit for a batch of independent drafts (an import): each is validated and applied exactly
  // as by Commit, but a draft that fails validation or that the state machine refuses is left
  // out instead of failing the batch. refused(i, reason) is called for it (the reason is the
  // catalog's or the merge's own message, without Commit's "refused:" context); it takes no seq
  // and no receipt number. The others commit in one transaction, as Commit's would. Any other
  // failure (storage, crypto) fails the whole batch and nothing commits. Returns how many drafts
  // committed.
  Result<size_t> CommitValid(std::vector<MutationDraft> drafts, const RefusedDraft& refused);

  // By id or receipt number.
  Result<RequestRow> Find(std::string_view id_or_receipt);
  Result<std::vector<RequestRow>> List(const RequestFilter& filter);
  Result<std::vector<sync::ConflictRecord>> Conflicts();

  // ---- Sync support (field_client's pusher and puller) ----

  // Records the server this van is enrolled with, pins its public key, and keeps the receipt
  // series the server gave this device.
  Result<void> SaveEnrollment(const std::string& server_url, ByteView server_public_key,
                              uint32_t receipt_series);
  // Signs with the device's private key (unsealed for the call only).
  Result<Bytes> SignWithDeviceKey(ByteView message);

  struct SyncState {
    uint64_t cursor = 0;  // pull cursor: where the next page starts
    // Where the last pull that ran to its end (no more pages) stopped: every server change up
    // to it is in the base. Pages order requests by their latest change, so mid-way through a
    // pull `cursor` promises less; patches are made against this one.
    uint64_t complete_cursor = 0;
    uint64_t acked_seq = 0;  // every mutation up to it is acknowledged (gone from the outbox)
    int64_t catalog_version = 0;
    uint64_t server_epoch = 0;    // 0 until the first answer; a new one: the server was restored
    uint32_t receipt_series = 0;  // the device's receipt series (0: none given yet)
    uint64_t next_seq = 1;        // the seq the next local change gets
    // Pull the whole scope again, from cursor 0, until a pull runs to its end: the van's copy
    // went back in time (a restore of either side) or lacks a request the server patched.
    bool resync = false;
  };
  Result<SyncState> LoadSyncState();

  // ---- Recovery: when the van and the server disagree about what was applied ----
  // (recovery.cc; PROTOCOL.md §4 "When the two sides disagree"). Each runs in one transaction
  // and leaves the outbox gap-free.

  // Receipts changed by a recovery: the officer tells each citizen the new number.
  struct ReissuedReceipt {
    std::string old_receipt;
    std::string new_receipt;
  };
  struct RecoveryReport {
    size_t renumbered = 0;  // pending mutations that moved to new seqs
    size_t resent = 0;      // requests re-sent to a restored server (MutationKind::kRestore)
    std::vector<ReissuedReceipt> reissued;
  };

  // This store was restored from an older copy and reused seqs the server had applied
  // (PushRefusal::kSeqReused): pending mutations from `first_reused_seq` on move to follow
  // `server_last_applied_seq`, in order; the receipts of the creates among them are re-issued in
  // `receipt_series` (the old numbers may name other citizens' requests on the server).
  Result<RecoveryReport> RenumberAfterReuse(uint64_t first_reused_seq,
                                            uint64_t server_last_applied_seq,
                                            uint32_t receipt_series);
  // A create from `first_seq` on carries a receipt the server already holds
  // (PushRefusal::kReceiptTaken): the pending creates from there on get new receipts in
  // `receipt_series`.
  Result<RecoveryReport> ReissueReceipts(uint64_t first_seq, uint32_t receipt_series);
  // The server was restored from a backup (a new epoch in a signed answer) and holds this
  // device's work up to `server_last_applied_seq`. Every request the van holds is queued again
  // as a kRestore mutation (its state as this van holds it; the van cannot tell which ones the
  // server lost), the pending mutations follow them, and the pull takes the whole scope again,
  // since the server's change numbering went back too.
  Result<RecoveryReport> RecoverFromServerRestore(uint64_t epoch, uint64_t server_last_applied_seq,
                                                  uint32_t receipt_series);
  // The next pull takes the whole scope again (SyncState::resync).
  Result<void> RequestResync();

  // The oldest pending mutations, in seq order, at most `limit`.
  Result<std::vector<sync::Mutation>> PendingMutations(size_t limit);

  // Applies a push acknowledgement in one transaction: mutations up to last_applied_seq (and, when
  // `sent` is given, no further than the batch: the server has not seen what follows it, which a
  // store restored from an older copy may have reused seqs for) leave the outbox; those that
  // applied cleanly are folded into the base (the server holds exactly what the van wrote, and will
  // not send it back); unclean ones wait for the pull to bring the server's state. The view does
  // not change. The HLC takes in the server's timestamp. `sent` may hold the batch just pushed (as
  // PendingMutations returned it), to spare reading it again.
  Result<void> ApplyAck(const sync::PushAck& ack, const sync::HlcTimestamp& server_hlc,
                        std::span<const sync::Mutation> sent = {});

  // Applies one pull answer in one transaction: each request becomes the base and the view is
  // rebuilt as base + the still-pending mutations; acknowledged mutations leave the outbox (the
  // answer carries last_applied_seq, so a lost ack is recovered); conflicts and a newer catalog
  // are stored; the cursor moves only here, with the state it covers. kNotFound, changing
  // nothing, when a patch is for a request this van does not hold (RequestResync mends it).
  //
  // `pulled`, when given, is called for each request the answer touched with the officer's view
  // before the answer (nullopt: this van did not hold it) and after it; calls made before a
  // failure describe changes that were rolled back.
  using PulledRequest =
      std::function<void(const std::optional<sync::Request>& before, const sync::Request& after)>;
  Result<void> ApplyPull(const sync::PullAnswer& answer, const sync::HlcTimestamp& server_hlc,
                         const PulledRequest& pulled = {});
  Result<void> MarkSynced(int64_t now_ms);

  std::string DatabasePathForTesting() const;
  // Caps the database size so a test can make the disk "full" (SQLITE_FULL) on cue.
  Result<void> SetMaxPagesForTesting(int64_t pages);

 private:
  class Impl;
  explicit VanStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mpp::store
