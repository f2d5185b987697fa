#include "mpp/server/nik_index.h"

#include <algorithm>

#include "mpp/server/server_core.h"
#include "mpp/sync/crypto.h"

namespace mpp::server {
namespace {

std::string DuplicateReason(const NikMatch& other) {
  return "possible duplicate: NIK has an open request " + other.receipt +
         " for this service (van " + other.van_code + ")";
}

}  // namespace

const sync::FieldSpec* NikFieldOf(const sync::Service& service) {
  for (const auto& f : service.fields) {
    if (f.name == "nik" && f.type == sync::FieldType::kNik) return &f;
  }
  for (const auto& f : service.fields) {
    if (f.required && f.type == sync::FieldType::kNik) return &f;
  }
  return nullptr;
}

Bytes NikIndexHash(ByteView key, std::string_view nik) {
  const auto mac = crypto::HmacSha256(key, ViewOf(nik));
  return Bytes(mac.begin(), mac.end());
}

Result<size_t> IndexNik(StorageTxn& txn, ByteView key, const sync::Catalog& catalog,
                        const std::optional<sync::Request>& before, const sync::Request& request,
                        bool flag, int64_t now_ms) {
  if (key.empty()) return size_t{0};
  const sync::Service* service = catalog.FindService(request.service_id);
  const sync::FieldSpec* spec = service == nullptr ? nullptr : NikFieldOf(*service);
  if (spec == nullptr) return size_t{0};
  auto field = request.fields.find(spec->name);
  if (field == request.fields.end() || field->second.value.empty()) return size_t{0};
  const std::string& nik = field->second.value;
  bool changed = !before || before->service_id != request.service_id;
  if (!changed) {
    auto old = before->fields.find(spec->name);
    changed = old == before->fields.end() || old->second.value != nik;
  }
  if (!changed && !flag) return size_t{0};
  const Bytes hash = NikIndexHash(key, nik);
  MPP_RETURN_IF_ERROR(txn.IndexNik(request.id, hash, request.service_id));
  if (!flag || sync::IsFinal(request.status)) return size_t{0};

  MPP_ASSIGN_OR_RETURN(auto matches, txn.FindByNikHash(hash, request.service_id));
  auto self = std::find_if(matches.begin(), matches.end(),
                           [&](const NikMatch& m) { return m.request_id == request.id; });
  if (self == matches.end()) return Error::Internal("the NIK index lacks the request just saved");
  const NikMatch mine = *self;
  size_t flagged = 0;
  for (const NikMatch& other : matches) {
    // Another van's open request: the same van already warned its officer (use_cases.cc).
    if (other.request_id == request.id || other.van_code == mine.van_code ||
        sync::IsFinal(other.status)) {
      continue;
    }
    MPP_ASSIGN_OR_RETURN(bool fresh, txn.RecordDuplicate(request.id, other.request_id, now_ms));
    if (!fresh) continue;  // a re-sent request: the pair is flagged already
    MPP_ASSIGN_OR_RETURN(auto other_row, txn.LoadRequest(other.request_id));
    if (!other_row) continue;
    const sync::Request* other_request = &other_row->request;
    const sync::Version this_version{request.created, request.device_id};
    const sync::Version other_version{other_request->created, other_request->device_id};
    // Each van's record names its own request, and the other by receipt only (never the NIK).
    sync::ConflictRecord for_this{request.id,    "duplicate",   mine.receipt,          this_version,
                                  other.receipt, other_version, DuplicateReason(other)};
    sync::ConflictRecord for_other{other.request_id,     "duplicate",  other.receipt,
                                   other_version,        mine.receipt, this_version,
                                   DuplicateReason(mine)};
    MPP_RETURN_IF_ERROR(RecordConflict(txn, request.device_id, mine.van_code, for_this, now_ms));
    MPP_RETURN_IF_ERROR(RecordConflict(txn, other.device_id, other.van_code, for_other, now_ms));
    MPP_RETURN_IF_ERROR(txn.AppendAudit("server", "request.duplicate", request.id,
                                        mine.receipt + " and " + other.receipt, now_ms));
    ++flagged;
  }
  return flagged;
}

}  // namespace mpp::server
