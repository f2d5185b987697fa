// The van store's private state, and the members its parts share. Not part of the public API.
// Each group of members below is defined in the file named beside it, one file per job:
//   van_store.cc   opening and creating a store, the device identity, the catalog
//   keys.cc        passphrase key wrapping, the data key, sealing of rows, signing
//   receipts.cc    receipt numbering
//   requests.cc    request rows: base and view bookkeeping, lookups
//   commit.cc      local changes: drafts applied to the view and appended to the outbox
//   outbox.cc      the outbox: append, pending, acknowledgements
//   rebase.cc      a pull answer: the server's state becomes the base, the view is rebased
//   conflicts.cc   conflicts the server recorded
//   sync_state.cc  the sync cursor, seqs and last sync
//   recovery.cc    what the van does when it and the server disagree about what was applied
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mpp/sqlite/sqlite.h"
#include "mpp/store/van_store.h"
#include "mpp/sync/hlc.h"

namespace mpp::store {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

class VanStore::Impl {
 public:
  Impl(Database db, std::string path, sync::Clock& clock, sync::Rng& rng)
      : db_(std::move(db)), path_(std::move(path)), clock_(clock), rng_(rng), hlc_(&clock) {}
  ~Impl();  // cleanses the keys (keys.cc)

  Database db_;
  std::string path_;
  sync::Clock& clock_;
  sync::Rng& rng_;
  sync::HybridClock hlc_;
  Bytes data_key_;   // empty while locked
  Bytes index_key_;  // HMAC key of the NIK index
  // Made from data_key_ and index_key_ on first use; both keys are fixed once unlocked. The
  // sealer keeps the nonce invariant of crypto::AesGcmSealer for everything this store seals.
  std::optional<crypto::AesGcmSealer> sealer_;
  std::optional<crypto::HmacSha256Keyed> nik_mac_;
  std::optional<sync::Catalog> catalog_;
  std::string device_id_;
  std::string van_code_;
  std::string officer_;
  uint32_t receipt_series_ = 0;  // 0 until the server gives one (then series 1's format)

  // ---- Identity and catalog (van_store.cc) ----

  Result<void> LoadIdentity();
  // The parsed catalog, kept for the life of the store; the pointer stays valid until ApplyPull
  // stores a newer catalog.
  Result<const sync::Catalog*> LoadCatalog();

  // ---- Keys and sealing (keys.cc) ----

  // Takes the unsealed data key and derives the NIK index key from it: the store is unlocked.
  void AdoptDataKey(Bytes data_key);
  Result<void> RequireUnlocked() const;
  Bytes NikIndex(std::string_view nik);
  Result<Bytes> Seal(const Bytes& plaintext, const std::string& aad);
  Result<sync::Request> OpenRequest(const Bytes& sealed, const std::string& aad) const;
  Result<sync::Mutation> OpenMutation(const Bytes& sealed, uint64_t seq) const;

  // ---- Receipt numbering (receipts.cc) ----

  // Receipts of this device on `day`: VAN-YYYYMMDD-NNNN in series 0 and 1,
  // VAN-YYYYMMDD-S-NNNN in series S > 1 (the server gives each tablet of a van its own series).
  std::string ReceiptPrefix(const std::string& day) const;
  std::string ReceiptPrefix(const std::string& day, uint32_t series) const;
  // The receipt of a create committed now. `receipt_day` and `receipt_counter` are the
  // numbering state the commit carries (sync_state's receipt_day and receipt_counter); on a new
  // day they move to that day's highest counter. `counter` comes in as receipt_counter and
  // leaves as the number given, so that the caller moves receipt_counter only when the draft
  // commits: a refused one gives its number back.
  Result<std::string> NextReceipt(std::string& receipt_day, int64_t& receipt_counter,
                                  int64_t& counter);
  // Stores the series the server assigned (0: it said nothing). A new series restarts the day's
  // counter (CommitDrafts recomputes it). AdoptReceiptSeries after the transaction committed.
  Result<void> SaveReceiptSeries(uint32_t series);
  void AdoptReceiptSeries(uint32_t series);
  // The highest counter after `prefix` (exactly: a receipt of another series does not count).
  Result<int64_t> HighestReceiptCounter(const std::string& prefix);
  // Gives the pending create `m` a new receipt in `series`, on the day of its old one, and
  // stores it on the request's row and view.
  Result<ReissuedReceipt> ReissueReceipt(sync::Mutation& m, uint32_t series);
  // ReissueReceipt for the creates among `mutations` from `first_seq` on.
  Result<void> ReissueFrom(std::vector<sync::Mutation>& mutations, uint64_t first_seq,
                           uint32_t series, RecoveryReport& report);

  // ---- Request rows: base and view (requests.cc) ----

  Result<RequestRow> ReadRow(Statement& stmt) const;
  Result<std::optional<sync::Request>> LoadView(const std::string& id);
  Result<void> SaveView(const sync::Request& view, bool is_new);
  Result<std::optional<sync::Request>> LoadBase(const std::string& id);
  Result<void> SaveBase(const sync::Request& base);
  // Invariant: a NULL base means either "not acknowledged yet" (its create is in the outbox) or,
  // when nothing of the request is pending, "the base is the view". RetireAcknowledged leaves a
  // cleanly acknowledged create that way rather than encrypting a second copy of every new
  // request. Before the officer's next change moves the view ahead, the base gets its own copy.
  Result<void> KeepBaseBeforeEdit(const sync::Request& view);

  // ---- Local changes (commit.cc) ----

  // Commit and CommitValid (see van_store.h). Without `refused` a refused draft fails the batch;
  // with it, the draft is reported and left out. `views` (may be null) receives the view after
  // each committed draft. Returns how many drafts committed.
  Result<size_t> CommitDrafts(std::vector<MutationDraft>& drafts, const RefusedDraft* refused,
                              std::vector<sync::Request>* views_out);

  // ---- The outbox (outbox.cc) ----

  Result<void> AppendOutbox(const sync::Mutation& m);
  // True when the outbox holds a mutation of the request after `after_seq`.
  Result<bool> HasPendingAfter(const std::string& request_id, uint64_t after_seq);
  // Pending mutations of one request, in seq order.
  Result<std::vector<sync::Mutation>> PendingFor(const std::string& request_id);
  // Every row of an outbox query whose columns are (seq, body), opened.
  Result<std::vector<sync::Mutation>> OpenMutations(Statement& stmt) const;
  // Removes the mutations up to `last_applied_seq` from the outbox. Those `fold` accepts were
  // applied by the server exactly as written: they are folded into the base, in seq order, so
  // the base stays equal to the server's state without the server sending it back. A fold that
  // fails would mean the base had drifted from the server; it is then left as it was, and the
  // next change from the server replaces it. `sent` holds outbox entries the caller already has
  // in memory (the batch just pushed), so they need not be read and decrypted again.
  Result<void> RetireAcknowledged(const sync::Catalog& catalog, uint64_t last_applied_seq,
                                  const std::function<bool(const sync::Mutation&)>& fold,
                                  std::span<const sync::Mutation> sent = {});
  // Recovery's view of the outbox: all of it in seq order, and replacing it (each mutation
  // sealed under its own, possibly new, seq).
  Result<std::vector<sync::Mutation>> ReadOutbox();
  Result<void> WriteOutbox(const std::vector<sync::Mutation>& mutations);

  // ---- Conflicts (conflicts.cc) ----

  // Stores a conflict the server recorded, sealed.
  Result<void> SaveConflict(const sync::ConflictRecord& conflict);

  // ---- Sync state (sync_state.cc) ----

  Result<uint64_t> NextSeq();
  Result<void> SaveNextSeq(uint64_t next_seq);

  // The statements of the hot paths, prepared once.
  Result<Statement*> Cached(const std::string& sql) { return statements_.Get(sql); }

  sqlite::StatementCache statements_{db_};
};

}  // namespace mpp::store
