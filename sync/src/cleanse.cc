#include <openssl/crypto.h>

#include "mpp/sync/crypto.h"

namespace mpp::crypto {

void Cleanse(Bytes& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace mpp::crypto
