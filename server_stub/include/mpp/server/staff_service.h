// Staff and administrators: what they look up and what they change. A change goes through the
// same merge path as van mutations (Role::kStaff, origin "staff:<by>"), is audited, and reaches
// the request's van at its next pull. The CLI (mpp-server) and the staff's JSON API share it.
#pragma once

#include <string>
#include <vector>

#include "mpp/server/server_core.h"

namespace mpp::server {

// How staff settle a conflict (`mpp-server conflicts resolve`).
enum class Resolution : uint8_t {
  kKeepVan,     // the value the van wrote
  kKeepServer,  // the value the server holds now: nothing changes but the record
  kValue,       // a value staff give
};

struct AuditReport {
  size_t checked = 0;
  std::vector<std::string> failures;  // "envelope 12 from <device>: bad signature"
};

class StaffService {
 public:
  explicit StaffService(ServerCore& core) : core_(core) {}

  Result<sync::Request> SetStatus(const std::string& id_or_receipt, sync::RequestStatus to,
                                  const std::string& by, const std::string& note);
  Result<sync::Request> SetFields(const std::string& id_or_receipt, const sync::FieldMap& fields,
                                  const std::string& by);
  // Settles an open conflict (its rev, StoredConflict::rev). The new value goes through the
  // same path as SetFields (or SetStatus for a "status" conflict), in the same transaction that
  // marks the conflict resolved, so the van receives it as any staff change; kKeepServer only
  // marks it. A "duplicate" flag is settled with kKeepServer (both requests stay). `value` is
  // used with kValue only. Audited.
  Result<StoredConflict> ResolveConflict(uint64_t rev, Resolution how, const std::string& value,
                                         const std::string& by);

  // Replaces the catalog. The text must pass Catalog::FromJson; it is stored with version
  // max(its own, current + 1), and vans receive it at their next pull (every running server
  // process notices the stored version at its next sync). Refused, changing nothing, when a
  // request that is not final would no longer be valid under it (its service removed, a field
  // it holds removed or its value no longer valid, a required field added that it lacks): the
  // message names the receipts and fields. Returns the stored version.
  Result<int64_t> LoadCatalog(const std::string& catalog_json, const std::string& by);

  // Look-ups (storage.h has what each returns).
  Result<std::optional<StoredRequest>> FindRequest(const std::string& id_or_receipt);
  Result<std::vector<StoredRequest>> ListRequests(const RequestQuery& query);
  // The requests whose NIK is `nik` (through the NIK index; needs options.nik_index_key).
  Result<std::vector<StoredRequest>> RequestsWithNik(const std::string& nik);
  Result<std::vector<StoredConflict>> ConflictsOf(const std::string& request_id);
  Result<std::vector<StoredConflict>> ListConflicts();
  Result<std::vector<DuplicatePair>> ListDuplicates();
  Result<std::vector<DeviceRecord>> ListDevices();
  Result<RequestPageRows> PageRequests(const RequestPageQuery& query);

  // Internal comments (append-only) and the audit trail of what staff looked at or exported.
  Result<void> AddComment(const std::string& request_id, const std::string& text,
                          const std::string& by);
  Result<std::vector<StaffComment>> CommentsOf(const std::string& request_id);
  Result<void> Audit(const std::string& by, const std::string& action, const std::string& target,
                     const std::string& detail);

  // Re-verifies the signature and body hash of every stored envelope.
  Result<AuditReport> VerifyEnvelopes();

  const sync::Catalog& catalog() const { return core_.catalog(); }

 private:
  // `also` runs inside the change's transaction, after it was applied (nullptr: nothing).
  Result<sync::Request> ApplyStaff(
      const std::string& id_or_receipt, sync::Mutation mutation,
      const std::function<Result<void>(StorageTxn&, const sync::Request&)>& also = nullptr);
  // One attempt, in one transaction (ServerCore::RunTransaction); m.request_id is set.
  Result<sync::Request> ApplyStaffOnce(
      const sync::Catalog& catalog, sync::Mutation m,
      const std::function<Result<void>(StorageTxn&, const sync::Request&)>& also);

  ServerCore& core_;
};

}  // namespace mpp::server
