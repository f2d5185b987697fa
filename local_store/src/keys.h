// Key wrapping and sealing: the associated data each sealed blob is bound to, and the keys
// made at Create. Private to local_store (keys.cc).
//
// Invariants: the data key never reaches the disk in the clear; it is sealed under a key
// derived (Argon2id) from the passphrase, and the device's private key is sealed under the data
// key. Every sealed blob carries the associated data of its place, so a blob copied to another
// row or column fails to open instead of showing the wrong citizen's data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mpp/sqlite/sqlite.h"
#include "mpp/sync/bytes.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/result.h"

namespace mpp::store {

constexpr std::string_view kDataKeyAad = "mpp-van-data-key-v1";
constexpr std::string_view kPrivateKeyAad = "mpp-van-device-key-v1";
constexpr std::string_view kNikIndexLabel = "mpp-van-nik-index-v1";

inline std::string ViewAad(std::string_view id) { return "view:" + std::string(id); }
inline std::string BaseAad(std::string_view id) { return "base:" + std::string(id); }
inline std::string OutboxAad(uint64_t seq) { return "outbox:" + std::to_string(seq); }
inline std::string ConflictAad(std::string_view request_id) {
  return "conflict:" + std::string(request_id);
}

// The keys of a new store: a random data key seals personal data; the passphrase key only
// wraps the data key, so changing the passphrase never re-encrypts the requests.
struct NewStoreKeys {
  Bytes salt;                // the KDF salt of the passphrase key
  Bytes wrapped_data_key;    // the data key sealed under the passphrase key
  Bytes data_key;            // in the clear: the caller keeps it (unlocked) or cleanses it
  Bytes public_key;          // the device's Ed25519 public key
  Bytes sealed_private_key;  // its private key, sealed under the data key
};
Result<NewStoreKeys> MakeNewStoreKeys(std::string_view passphrase, const crypto::Argon2Params& kdf);

// The data key, unsealed under the key derived from `passphrase` (kUnauthenticated when it is
// not the store's passphrase), and the store's KDF cost in `params`.
Result<Bytes> UnwrapDataKey(sqlite::Database& db, std::string_view passphrase,
                            crypto::Argon2Params& params);

}  // namespace mpp::store
