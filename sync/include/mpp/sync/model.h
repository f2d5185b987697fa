// The domain model both ends share: a citizen's request (permohonan), its status state machine
// with roles, and the mutation, the unit of change that vans and staff make and sync applies.
//
// Words of the MPP: NIK is the 16-digit national identity number (see nik.h); KK the family card;
// instansi an agency; layanan a service; "van" the mobile service vehicle of an officer (petugas).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mpp/sync/hlc.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

// submitted -> received -> in_review -> needs_info <-> in_review -> completed -> delivered;
// rejected by staff and cancelled by either side before completion; rejected, cancelled and
// delivered are final.
enum class RequestStatus : uint8_t {
  kSubmitted,
  kReceived,
  kInReview,
  kNeedsInfo,
  kCompleted,
  kDelivered,
  kRejected,
  kCancelled,
};

// Who makes a change: a van (officer in the field) or central staff (or the administrator).
enum class Role : uint8_t { kVan, kStaff };

const char* StatusName(RequestStatus status);  // "in_review"
std::optional<RequestStatus> ParseStatus(std::string_view name);
bool IsFinal(RequestStatus status);
// The status in words for people ("waiting for information" for needs_info).
const char* StatusWords(RequestStatus status);
// The statuses `role` may move a request to from `from`, in the order of the state machine.
std::vector<RequestStatus> AllowedTransitions(RequestStatus from, Role role);
// Ok when `role` may move a request from `from` to `to`; otherwise the message says why in the
// terms of who tried: an officer hears what the request is now ("only a request that needs
// information can be answered; this one is in review"), staff hear the statuses they may set
// from the current one; a final request says it is final.
Result<void> CheckTransition(RequestStatus from, RequestStatus to, Role role);

struct FieldValue {
  std::string value;
  Version version;  // the write that set this value

  bool operator==(const FieldValue&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(value, version);
  }
};

// One entry of a request's history, shown to officers and staff.
struct HistoryEntry {
  HlcTimestamp at;
  std::string actor;  // officer name or "staff:NAME"
  std::string text;   // "status submitted -> received: berkas diterima"

  bool operator==(const HistoryEntry&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(at, actor, text);
  }
};

struct Request {
  std::string id;       // UUIDv7 made offline by the van
  std::string receipt;  // the citizen's receipt number: VANCODE-YYYYMMDD-NNNN
  std::string service_id;
  std::string device_id;  // the van that created it (its scope)
  std::string officer;    // who registered it
  RequestStatus status = RequestStatus::kSubmitted;
  Version status_version;
  std::string status_note;
  HlcTimestamp created;
  std::map<std::string, FieldValue> fields;
  std::vector<HistoryEntry> history;

  bool operator==(const Request&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, receipt, service_id, device_id, officer, status, status_version, status_note, created,
       fields, history);
  }
};

// kRestore re-sends, after the server was restored from an older backup, the state a van holds
// of a request whose acknowledged changes the server lost; `note` carries that state
// (EncodeRequest). The server merges it field by field (the higher version wins) and takes it
// only from a device it marked as recovering (merge.h).
enum class MutationKind : uint8_t { kCreate, kSetFields, kSetStatus, kRestore };

// A field write and the version the writer saw before it (zero for a new request). The server
// fast-forwards when `base` still equals the current version; otherwise the writes were
// concurrent and the higher version wins, with a conflict record.
struct FieldWrite {
  std::string name;
  std::string value;
  Version base;

  bool operator==(const FieldWrite&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, value, base);
  }
};

// The unit of change. Van mutations carry (device_id, seq), gap-free and increasing per device.
// A staff change is a mutation with origin "staff:NAME" and seq 0, applied by the same merge.
struct Mutation {
  std::string origin;  // device id of the van, or "staff:NAME"
  uint64_t seq = 0;
  HlcTimestamp hlc;
  std::string actor;  // officer or staff member, for the audit trail
  MutationKind kind = MutationKind::kCreate;
  std::string request_id;
  // kCreate only:
  std::string service_id;
  std::string receipt;
  // kCreate and kSetFields:
  std::vector<FieldWrite> writes;
  // kSetStatus only:
  RequestStatus status_to = RequestStatus::kSubmitted;
  Version status_base;
  std::string note;

  Version version() const { return {hlc, origin}; }
  bool operator==(const Mutation&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(origin, seq, hlc, actor, kind, request_id, service_id, receipt, writes, status_to,
       status_base, note);
  }
};

// A concurrent write that lost, or a status change the state machine refused. Both sides see it.
struct ConflictRecord {
  std::string request_id;
  std::string field;  // a field name, or "status"
  std::string kept_value;
  Version kept_version;
  std::string lost_value;
  Version lost_version;
  std::string reason;

  bool operator==(const ConflictRecord&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(request_id, field, kept_value, kept_version, lost_value, lost_version, reason);
  }
};

}  // namespace mpp::sync
