// Enrolment and devices: one-time enrolment tokens, a van's enrolment (its key, its receipt
// series), revoking a device or an unused token, and listing them. Audited.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mpp/server/server_core.h"

namespace mpp::server {

class DeviceService {
 public:
  explicit DeviceService(ServerCore& core) : core_(core) {}

  // Administrator: a one-time enrolment token for a van, valid for ttl_ms.
  Result<std::string> CreateEnrollmentToken(const std::string& van_code, int64_t ttl_ms);
  // Van enrolment. request_json: {"token", "device_id", "van_code", "public_key" (hex),
  // "nonce" (hex), "signature" (hex, Ed25519 over "mpp-enroll-v1" 0 token device_id public_key
  // nonce)}. Answer JSON is signed by the server over the nonce (see PROTOCOL.md).
  Result<std::string> Enroll(std::string_view request_json);
  Result<void> RevokeDevice(const std::string& device_id, const std::string& by);
  // Revokes an unused enrolment token by its id (storage.h, kTokenIdChars); audited.
  Result<void> RevokeToken(const std::string& token_id, const std::string& by);

  Result<std::optional<DeviceRecord>> FindDevice(const std::string& device_id);
  Result<std::vector<DeviceRecord>> ListDevices();
  Result<std::vector<StoredToken>> ListTokens();

 private:
  ServerCore& core_;
};

}  // namespace mpp::server
