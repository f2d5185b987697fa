// Server storage, behind an interface so the embedded SQLite default and the PostgreSQL
// scale-out backend are interchangeable. The sync logic (sync_service.h) never sees SQL: it
// reads and writes requests, devices, conflicts and envelopes through these calls, and every
// change happens inside a StorageTxn.
//
// Change numbering: every stored change gets a "rev" from one counter that only grows. A
// request's owner_rev is the rev of its last change that its van does not already know (staff
// changes, or a van write that did not apply as written); a van's pull cursor is a rev.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
};

// One unit of work. Destroying it without Commit() rolls everything back.
class StorageTxn {
 public:
  virtual ~StorageTxn() = default;

  virtual Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) = 0;
  virtual Result<void> InsertDevice(const DeviceRecord& device) = 0;
  virtual Result<void> UpdateDeviceSync(const std::string& device_id, uint64_t last_applied_seq,
                                        int64_t now_ms) = 0;
  virtual Result<void> RevokeDevice(const std::string& device_id, int64_t now_ms) = 0;

  virtual Result<std::optional<TokenRecord>> FindToken(ByteView token_hash) = 0;
  virtual Result<void> InsertToken(ByteView token_hash, const TokenRecord& token) = 0;
  virtual Result<void> MarkTokenUsed(ByteView token_hash, const std::string& device_id,
                                     int64_t now_ms) = 0;

  virtual Result<std::optional<sync::Request>> LoadRequest(const std::string& id) = 0;
  // Stores the request's new state; `before` is the state LoadRequest gave in this transaction
  // (nullopt for a new request), so the storage can record which parts changed (sync/patch.h).
  // notify_owner: its van must receive this state at its next pull (someone else changed it, or
  // the van's own write did not apply as written).
  virtual Result<void> SaveRequest(const std::optional<sync::Request>& before,
                                   const sync::Request& request, const std::string& agency,
                                   bool notify_owner, int64_t now_ms) = 0;
  virtual Result<void> AddConflict(const std::string& device_id,
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
  // The server's hybrid clock survives restarts and is shared by processes on one database.
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

class ServerStorage {
 public:
  virtual ~ServerStorage() = default;

  virtual Result<std::unique_ptr<StorageTxn>> Begin() = 0;

  // Ok while the storage can durably accept writes (its files are the ones it opened, writable,
  // with room left); otherwise kUnavailable or kStorageFull, with a reason that names no path.
  virtual Result<void> CheckHealth() { return Ok(); }

  // Reads outside a write transaction (each is one consistent snapshot).
  virtual Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id) = 0;
  virtual Result<std::vector<DeviceRecord>> ListDevices() = 0;
  // The device's changes after query.cursor, at most query.max_items of them.
  virtual Result<PullPage> ReadPull(const std::string& device_id, const PullQuery& query) = 0;
  virtual Result<std::vector<StoredRequest>> ListRequests(const RequestQuery& query) = 0;
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

}  // namespace mpp::server
