#include "mpp/server/device_service.h"

#include <nlohmann/json.hpp>

#include "mpp/sync/crypto.h"
#include "mpp/sync/json_format.h"

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

Result<std::string> DeviceService::CreateEnrollmentToken(const std::string& van_code,
                                                         int64_t ttl_ms) {
  if (van_code.empty() || van_code.size() > 12) {
    return Error::InvalidInput("van code must be 1-12 characters");
  }
  if (ttl_ms <= 0) return Error::InvalidInput("the token's lifetime must be positive");
  const std::string token = "mpp-" + ToHex(crypto::RandomBytes(20));
  const auto hash = crypto::Sha256(ViewOf(token));
  const int64_t now = core_.clock().NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, core_.storage().Begin());
  MPP_RETURN_IF_ERROR(txn->InsertToken(hash, {van_code, now + ttl_ms, 0, "", now, 0}));
  MPP_RETURN_IF_ERROR(txn->AppendAudit("admin", "token.create", van_code,
                                       "expires_ms=" + std::to_string(now + ttl_ms), now));
  MPP_RETURN_IF_ERROR(txn->Commit());
  return token;
}

Result<std::string> DeviceService::Enroll(std::string_view request_json) {
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
  const int64_t now = core_.clock().NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, core_.storage().Begin());
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

  MPP_ASSIGN_OR_RETURN(
      Bytes answer_signature,
      crypto::Ed25519Sign(core_.server_private_key(),
                          sync::EnrollAnswerSignedBytes(device_id, core_.server_public_key(), nonce,
                                                        receipt_series)));
  return json{{"device_id", device_id},
              {"server_public_key", ToHex(core_.server_public_key())},
              {"nonce", ToHex(nonce)},
              {"server_time_ms", now},
              {"receipt_series", receipt_series},
              {"signature", ToHex(answer_signature)}}
      .dump();
}

Result<void> DeviceService::RevokeDevice(const std::string& device_id, const std::string& by) {
  const int64_t now = core_.clock().NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, core_.storage().Begin());
  MPP_ASSIGN_OR_RETURN(auto device, txn->FindDevice(device_id));
  if (!device) return Error::NotFound("no device " + device_id);
  if (device->revoked()) return Error::Conflict("device " + device_id + " is already revoked");
  MPP_RETURN_IF_ERROR(txn->RevokeDevice(device_id, now));
  MPP_RETURN_IF_ERROR(txn->AppendAudit(by, "device.revoke", device_id, device->van_code, now));
  return txn->Commit();
}

Result<void> DeviceService::RevokeToken(const std::string& token_id, const std::string& by) {
  if (by.empty()) return Error::InvalidInput("say who revokes the token (--by NAME)");
  const int64_t now = core_.clock().NowMillis();
  MPP_ASSIGN_OR_RETURN(auto txn, core_.storage().Begin());
  MPP_ASSIGN_OR_RETURN(std::string van_code, txn->RevokeToken(token_id, now));
  MPP_RETURN_IF_ERROR(txn->AppendAudit(by, "token.revoke", token_id, van_code, now));
  return txn->Commit();
}

Result<std::optional<DeviceRecord>> DeviceService::FindDevice(const std::string& device_id) {
  return core_.storage().FindDevice(device_id);
}

Result<std::vector<DeviceRecord>> DeviceService::ListDevices() {
  return core_.storage().ListDevices();
}

Result<std::vector<StoredToken>> DeviceService::ListTokens() {
  return core_.storage().ListTokens();
}

}  // namespace mpp::server
