// Server storage: persistence only, behind an interface, so the embedded SQLite default and the
// PostgreSQL scale-out backend are interchangeable. The protocol's decisions (which changes a
// pull carries and in which order, patch or whole request, which revision a change gets, whether
// the owning van must hear of it, the per-device seq check) are made by the core (van_sync.cc,
// change_log.cc), which never sees SQL; a backend stores and finds rows.
//
// Change numbering: every stored change (a request's new state, a conflict record) gets a "rev"
// from one counter that only grows, taken for the change's *scope*: the van code whose devices
// pull it. A request's owner_rev is the rev of its last change that its device does not already
// know (staff changes, or a van write that did not apply as written); a device's pull cursor is a
// rev. Backends guarantee, per scope, that revs become visible in the order they were taken
// (NextRev): a reader never sees rev 11 of a scope while its rev 10 may still commit, so a
// cursor never skips a change that committed late.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mpp/server/staff_store.h"
#include "mpp/sync/bytes.h"
#include "mpp/sync/model.h"
#include "mpp/sync/patch.h"
#include "mpp/sync/result.h"

namespace mpp::server {

struct DeviceRecord {
  std::string device_id;
  std::string van_code;
  Bytes public_key;
  int64_t enrolled_ms = 0;
  int64_t revoked_ms = 0;  // 0 while active
  uint64_t last_applied_seq = 0;
  int64_t last_sync_ms = 0;
  // The device's receipts are VAN-YYYYMMDD-NNNN (series 1) or VAN-YYYYMMDD-S-NNNN (series S >
  // 1): the series is unique among the devices of a van code, so tablets sharing a van never
  // issue the same receipt offline.
  uint32_t receipt_series = 0;
  // Set for every device when the server is restored from a backup: until the device sends an
  // ordinary mutation again, it may re-send its copies of requests (MutationKind::kRestore).
  bool recovering = false;

  bool revoked() const { return revoked_ms != 0; }
};

struct StoredRequest {
  sync::Request request;
  std::string agency;
  uint64_t owner_rev = 0;
};

// A request as the write path stores it: its state and the bookkeeping of its changes.
struct RequestRow {
  sync::Request request;
  std::string agency;
  std::string van_code;  // the scope: the van code of the device that made it
  uint64_t rev = 0;      // of its last change
  uint64_t owner_rev = 0;
  // Which parts changed at which rev (sync/patch.h); nullopt for a row stored before revisions
  // were kept, which a pull sends whole.
  std::optional<sync::ChangeRevs> revs;
};

// One entry of a device's change feed, as stored: the rev that orders it and its encoded body
// (a request, sync::EncodeRequest, with its ChangeRevs; or a conflict, sync::EncodeConflict).
struct FeedRow {
  uint64_t rev = 0;
  Bytes body;
  std::optional<Bytes> revs;
};

struct StoredConflict {
  uint64_t rev = 0;       // also the conflict's id for people (`mpp-server conflicts resolve REV`)
  std::string device_id;  // the van whose request it concerns
  sync::ConflictRecord conflict;
  int64_t created_ms = 0;
  // Of the request it concerns, for people ("" when the request is not stored).
  std::string receipt;
  std::string van_code;
  // Set once staff resolved it (`conflicts resolve`); an open conflict has resolved_ms 0.
  int64_t resolved_ms = 0;
  std::string resolved_by;
  std::string resolution;  // "kept the van's value", "set to the given value", ...

  bool open() const { return resolved_ms == 0; }
};

struct EnvelopeRecord {
  int64_t id = 0;
  std::string device_id;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  int64_t received_ms = 0;
  Bytes bytes;  // exactly as received
};

struct TokenRecord {
  std::string van_code;
  int64_t expires_ms = 0;
  int64_t used_ms = 0;     // 0 while unused
  std::string used_by;     // the device it enrolled
  int64_t created_ms = 0;  // 0 for tokens made before it was kept (schema v3)
  int64_t revoked_ms = 0;  // 0 unless revoked before use: a revoked token enrols nothing
};

// The server keeps only a token's SHA-256. Its id for people is the first kTokenIdChars hex
// digits of that hash: `token list` shows it, `token revoke ID` takes it.
inline constexpr size_t kTokenIdChars = 12;

struct StoredToken {
  std::string id;
  TokenRecord token;
};

// A request found through the NIK index (request_nik), with what the duplicate check needs.
struct NikMatch {
  std::string request_id;
  std::string receipt;
  std::string device_id;
  std::string van_code;
  sync::RequestStatus status = sync::RequestStatus::kSubmitted;
};

// A pair of requests flagged as possible duplicates (`requests list --duplicates`).
struct DuplicatePair {
  NikMatch request;  // the later one, whose arrival flagged the pair
  NikMatch other;
  int64_t flagged_ms = 0;
};

struct RequestQuery {
  std::optional<sync::RequestStatus> status;
  std::optional<std::string> agency;
  std::optional<std::string> device_id;
  size_t limit = 1'000'000;
};

// One page of the staff's inbox with the filters an index of the requests table serves; the
// rest (text, dates, places) is filtered by the core on decoded requests (staff_scope.cc).
struct RequestPageQuery {
  std::optional<std::string> agency;
  std::optional<sync::RequestStatus> status;
  std::string service_id;  // "" for any
  std::string van_code;    // "" for any
  // By the server's time of the last change (updated_ms), newest first; or by receipt, A to Z.
  bool by_receipt = false;
  bool reversed = false;
  size_t offset = 0;
  size_t limit = 50;
  // Set: in id order instead, the ids after this one ("" from the first), for reading every
  // request a batch at a time (an export); counts are not computed then.
  std::optional<std::string> after_id;
};

struct RequestPageRows {
  std::vector<StoredRequest> rows;
  std::vector<std::string> van_codes;  // of each row
  // Per status over the same filters except the status; the page's total is its status's (or
  // all of them without a status filter).
  std::map<sync::RequestStatus, size_t> counts;
};

// One unit of work. Destroying it without Commit() rolls everything back.
//
// A write that returns nothing (Result<void>) may be sent later, with the transaction's next
// read or its commit (PostgreSQL sends them so, in one round trip): its failure, a constraint
// say, is then reported by that later call, Commit at the latest. Either way the transaction
// fails as a whole, and the core treats every error as the end of it.
class StorageTxn {
 public:
  virtual ~StorageTxn() = default;

  // Also locks the device's row until the transaction ends, so two server processes handling
  // the same device's retry at the same moment take turns: the second sees what the first
  // applied.
  virtual Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) = 0;
  virtual Result<void> InsertDevice(const DeviceRecord& device) = 0;
  // Compare-and-set: moves the device's last applied seq from `expected` to `last_applied_seq`
  // (and stamps the sync). False, changing nothing, when the row no longer holds `expected`:
  // another transaction applied seqs meanwhile, and this one must be run again.
  virtual Result<bool> AdvanceDeviceSeq(const std::string& device_id, uint64_t expected,
                                        uint64_t last_applied_seq, int64_t now_ms) = 0;
  virtual Result<void> RevokeDevice(const std::string& device_id, int64_t now_ms) = 0;

  virtual Result<std::optional<TokenRecord>> FindToken(ByteView token_hash) = 0;
  virtual Result<void> InsertToken(ByteView token_hash, const TokenRecord& token) = 0;
  virtual Result<void> MarkTokenUsed(ByteView token_hash, const std::string& device_id,
                                     int64_t now_ms) = 0;

  // Locks the request's row until the transaction ends (a staff change in one process and a
  // van's push in another never both merge into the same old state).
  virtual Result<std::optional<RequestRow>> LoadRequest(const std::string& id) = 0;
  // What a push is about to load: a backend may lock and read them all at once (in id order, so
  // two pushes never deadlock on them), for the LoadRequest calls that follow. A hint only:
  // LoadRequest gives the same answers with or without it.
  virtual Result<void> PrefetchRequests(const std::vector<std::string>& /*ids*/) { return Ok(); }
  // A new rev for a change in `scope` (a van code). Revs only grow; within one scope they
  // become visible to readers in the order taken (see the backend for how).
  virtual Result<uint64_t> NextRev(const std::string& scope) = 0;
  // A hint: this transaction is about to take about `count` revs of `scope`. A backend may
  // reserve them at once; revs it reserved and this transaction did not take are never used
  // (revs only need to grow, not to be dense).
  virtual Result<void> ExpectRevs(const std::string& /*scope*/, size_t /*count*/) { return Ok(); }
  // Inserts or replaces the row (the core computed its rev, owner_rev and revs).
  virtual Result<void> SaveRequest(const RequestRow& row, int64_t now_ms) = 0;
  // `rev` from NextRev of the device's van code.
  virtual Result<void> AddConflict(const std::string& device_id, uint64_t rev,
                                   const sync::ConflictRecord& conflict, int64_t now_ms) = 0;
  // A digest of each applied mutation per (device, seq): a retry carries the same mutation, a
  // van store restored from an older copy reuses the seq for another one. nullopt when the seq
  // has no digest (applied before digests were kept).
  virtual Result<std::optional<Bytes>> AppliedDigest(const std::string& device_id,
                                                     uint64_t seq) = 0;
  virtual Result<void> RecordApplied(const std::string& device_id, uint64_t seq,
                                     ByteView digest) = 0;
  // Ids of the requests holding this receipt (at most two are reported).
  virtual Result<std::vector<std::string>> RequestsWithReceipt(const std::string& receipt) = 0;
  // One more than the highest receipt series of the van code's devices.
  virtual Result<uint32_t> NextReceiptSeries(const std::string& van_code) = 0;
  virtual Result<void> SetReceiptSeries(const std::string& device_id, uint32_t series) = 0;
  virtual Result<void> SetRecovering(const std::string& device_id, bool recovering) = 0;
  // The server's epoch (PushAck::epoch); StartEpoch makes `epoch` current and marks every
  // device recovering.
  virtual Result<uint64_t> Epoch() = 0;
  virtual Result<void> StartEpoch(uint64_t epoch) = 0;
  // Seqs of a device that did not apply cleanly, so a replayed batch gets the same answer.
  virtual Result<void> MarkUnclean(const std::string& device_id, uint64_t seq) = 0;
  virtual Result<std::vector<uint64_t>> UncleanSeqs(const std::string& device_id,
                                                    uint64_t first_seq, uint64_t last_seq) = 0;
  virtual Result<void> StoreEnvelope(const EnvelopeRecord& envelope) = 0;
  virtual Result<void> AppendAudit(const std::string& actor, const std::string& action,
                                   const std::string& target, const std::string& detail,
                                   int64_t now_ms) = 0;
  // The server's hybrid clock survives restarts and is shared by processes on one database:
  // LoadHlc is the latest any process saved, SaveHlc publishes this process's (never lowering
  // it). Neither may serialise transactions of different vans.
  virtual Result<int64_t> LoadHlc() = 0;
  virtual Result<void> SaveHlc(int64_t packed) = 0;

  // Revokes the unused token whose id (kTokenIdChars hex digits, any case) is `id`: NotFound
  // without one, Conflict when it was already used or revoked. Returns its van code.
  virtual Result<std::string> RevokeToken(const std::string& id, int64_t now_ms) = 0;

  // The NIK index: the keyed hash (HMAC-SHA-256 under the server's NIK key, never the NIK) of a
  // request's NIK field, replaced when it changes; and the requests whose NIK has `nik_hash`
  // for `service_id`, with their current status.
  virtual Result<void> IndexNik(const std::string& request_id, ByteView nik_hash,
                                const std::string& service_id) = 0;
  virtual Result<std::vector<NikMatch>> FindByNikHash(ByteView nik_hash,
                                                      const std::string& service_id) = 0;
  // Records that two requests were flagged as possible duplicates; false when the pair (in
  // either order) already was, so a re-sent request does not flag it again.
  virtual Result<bool> RecordDuplicate(const std::string& request_id, const std::string& other_id,
                                       int64_t now_ms) = 0;

  // A stored conflict by its rev; and marking it resolved (once).
  virtual Result<std::optional<StoredConflict>> FindConflict(uint64_t rev) = 0;
  virtual Result<void> ResolveConflict(uint64_t rev, const std::string& by,
                                       const std::string& resolution, int64_t now_ms) = 0;

  // The catalog inside the transaction (see ServerStorage::LoadCatalog), and every request that
  // is not final, for checking a new catalog against them before it replaces the current one.
  virtual Result<std::pair<int64_t, std::string>> LoadCatalog() = 0;
  virtual Result<void> SaveCatalog(int64_t version, const std::string& json) = 0;
  virtual Result<std::vector<sync::Request>> OpenRequests() = 0;

  virtual Result<void> Commit() = 0;
};

// One consistent read of what a pull needs (a read-only snapshot): every call sees the same
// committed state. Feeds are in rev order, at most `limit` rows, after rev `after`.
class StorageSnapshot {
 public:
  virtual ~StorageSnapshot() = default;

  virtual Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) = 0;
  virtual Result<uint64_t> Epoch() = 0;
  // No change of `scope` that becomes visible later has a rev at or below this (StorageTxn::
  // NextRev): a cursor may move up to it.
  virtual Result<uint64_t> ScopeHead(const std::string& scope) = 0;
  virtual Result<std::vector<uint64_t>> UncleanSeqs(const std::string& device_id,
                                                    uint64_t first_seq, uint64_t last_seq) = 0;
  // Requests the device made, by owner_rev (or, with by_latest_change, by rev).
  virtual Result<std::vector<FeedRow>> OwnRequestsAfter(const std::string& device_id,
                                                        uint64_t after, bool by_latest_change,
                                                        size_t limit) = 0;
  // Requests that other devices of the van code made, by rev.
  virtual Result<std::vector<FeedRow>> VanRequestsAfter(const std::string& van_code,
                                                        const std::string& except_device_id,
                                                        uint64_t after, size_t limit) = 0;
  // The device's conflict records, by rev.
  virtual Result<std::vector<FeedRow>> ConflictsAfter(const std::string& device_id, uint64_t after,
                                                      size_t limit) = 0;
};

class ServerStorage {
 public:
  virtual ~ServerStorage() = default;

  virtual Result<std::unique_ptr<StorageTxn>> Begin() = 0;
  virtual Result<std::unique_ptr<StorageSnapshot>> BeginRead() = 0;
  // Staff accounts and sessions, in the same database.
  virtual StaffStore& staff_store() = 0;

  // Ok while the storage can durably accept writes (its files are the ones it opened, writable,
  // with room left); otherwise kUnavailable or kStorageFull, with a reason that names no path.
  virtual Result<void> CheckHealth() { return Ok(); }

  // Moves the device's last_sync_ms up to now_ms (never down), outside any transaction: a pull
  // that changed nothing is still a sync.
  virtual Result<void> NoteDeviceSync(const std::string& device_id, int64_t now_ms) = 0;

  // Reads outside a write transaction (each is one consistent snapshot).
  virtual Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) = 0;
  virtual Result<std::vector<DeviceRecord>> ListDevices() = 0;
  virtual Result<std::vector<StoredRequest>> ListRequests(const RequestQuery& query) = 0;
  // Two statements on one snapshot: the counts and the page (its bodies only are decoded).
  virtual Result<RequestPageRows> PageRequests(const RequestPageQuery& query) = 0;
  // By id, or by receipt (matched case-insensitively: "kr01-20261202-0001" finds
  // KR01-20261202-0001); kConflict when a receipt names two requests (kept from before
  // receipts were unique per van), with their ids, so a command never picks one of them.
  virtual Result<std::optional<StoredRequest>> FindRequest(const std::string& id_or_receipt) = 0;
  virtual Result<uint64_t> Epoch() = 0;
  // Every conflict, open and resolved, in rev order, with the receipt and van code of its request.
  virtual Result<std::vector<StoredConflict>> ListConflicts() = 0;
  // The conflicts of one request (by id), in rev order.
  virtual Result<std::vector<StoredConflict>> ConflictsOf(const std::string& request_id) = 0;
  virtual Result<std::vector<StoredToken>> ListTokens() = 0;
  // Requests whose NIK has this keyed hash (any service), ordered by receipt.
  virtual Result<std::vector<StoredRequest>> RequestsWithNikHash(ByteView nik_hash) = 0;
  virtual Result<std::vector<DuplicatePair>> ListDuplicates() = 0;
  // Calls fn for every stored envelope in id order; stops at the first Error fn returns.
  virtual Result<void> ForEachEnvelope(
      const std::function<Result<void>(const EnvelopeRecord&)>& fn) = 0;

  // Writes a consistent copy of the whole database to `file` (which must not exist) while the
  // server serves.
  virtual Result<void> BackupTo(const std::string& file) = 0;

  // The catalog the server serves (version and JSON text); version 0 when none is loaded.
  virtual Result<std::pair<int64_t, std::string>> LoadCatalog() = 0;
  virtual Result<void> SaveCatalog(int64_t version, const std::string& json) = 0;
  // Only the version of the stored catalog: cheap, so a running server checks it at every sync
  // and picks up a catalog `mpp-server catalog load` stored meanwhile.
  virtual Result<int64_t> CatalogVersion() = 0;
};

// Opens (creating if needed) the embedded SQLite backend at `path`.
Result<std::unique_ptr<ServerStorage>> OpenSqliteStorage(const std::string& path);

struct PostgresOptions {
  size_t pool_size = 16;  // connections, as many as the server's workers
  std::chrono::milliseconds connect_timeout{5000};
  // How long a caller waits for a free connection before the answer is 503.
  std::chrono::milliseconds acquire_wait{5000};
  // false (serve): a database that cannot be reached now is not an error; the storage answers
  // kUnavailable until it can, and creates or upgrades its schema at the first connection. A
  // malformed URL, a refused login or an unknown database still fail here. true (administrator
  // commands): the database must answer now.
  bool require_connection = true;
};

// True for a PostgreSQL location ("postgresql://..." or "postgres://...").
bool IsPostgresUrl(std::string_view location);
// Opens the PostgreSQL backend at `url` (postgresql://user:password@host:port/db), creating or
// upgrading its schema (versioned migrations, like SQLite's).
Result<std::unique_ptr<ServerStorage>> OpenPostgresStorage(const std::string& url,
                                                           const PostgresOptions& options = {});

}  // namespace mpp::server
