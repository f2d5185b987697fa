// Cryptography through OpenSSL 3 EVP (Ed25519, SHA-256, HMAC-SHA-256, AES-256-GCM) and
// libargon2 (Argon2id). Every OpenSSL handle is owned by an RAII type inside crypto.cc; no
// OpenSSL header leaks out of this file. OpenSSL failures become Errors carrying the first
// reason from OpenSSL's error queue (the queue is drained so it never leaks into a later call).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "mpp/sync/bytes.h"
#include "mpp/sync/result.h"

namespace mpp::crypto {

inline constexpr size_t kSha256Bytes = 32;
inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519PrivateKeyBytes = 32;  // the RFC 8032 seed
inline constexpr size_t kEd25519SignatureBytes = 64;
inline constexpr size_t kAesKeyBytes = 32;
inline constexpr size_t kAesNonceBytes = 12;
inline constexpr size_t kAesTagBytes = 16;

using Sha256Digest = std::array<uint8_t, kSha256Bytes>;

Sha256Digest Sha256(ByteView data);
Sha256Digest HmacSha256(ByteView key, ByteView data);

// Fills out with bytes from OpenSSL's CSPRNG. Aborts the process if the CSPRNG fails: no caller
// could do anything safe with predictable key material.
void RandomBytes(std::span<uint8_t> out);
Bytes RandomBytes(size_t n);

// Overwrites key material before it is freed (the compiler may not elide it), then clears.
void Cleanse(Bytes& secret);

struct Ed25519KeyPair {
  Bytes public_key;   // 32 bytes
  Bytes private_key;  // 32-byte seed; keep encrypted at rest
};

Result<Ed25519KeyPair> GenerateEd25519KeyPair();
// Recomputes the public key of a 32-byte private seed.
Result<Bytes> Ed25519PublicKeyOf(ByteView private_key);
Result<Bytes> Ed25519Sign(ByteView private_key, ByteView message);
// True only for a valid signature of message under public_key. Malformed keys or signatures
// (wrong length, non-canonical encodings OpenSSL rejects) verify as false, never crash.
bool Ed25519Verify(ByteView public_key, ByteView message, ByteView signature);

// Short human fingerprint of a public key: "SHA256:" + first 16 bytes of SHA-256, hex in groups
// of four ("SHA256:1a2b-3c4d-...") so an administrator can read it out over a phone.
std::string KeyFingerprint(ByteView public_key);

// AES-256-GCM. Seal returns nonce || ciphertext || tag with a fresh random 96-bit nonce and a
// 128-bit tag. aad is authenticated but not encrypted (bind a ciphertext to its row id with it).
// Both take only a 32-byte key (kInvalidInput otherwise).
Result<Bytes> AesGcmSeal(ByteView key, ByteView plaintext, ByteView aad);
// Open fails with kUnauthenticated when the key is wrong or the bytes were changed (including
// input too short to hold a nonce and tag). Plaintext that fails authentication is never returned.
Result<Bytes> AesGcmOpen(ByteView key, ByteView sealed, ByteView aad);

// AES-256-GCM sealing of many messages under one key (the van store seals every row with its
// data key): the cipher context and key schedule are set up once, not per message. Seal has the
// contract and output format of AesGcmSeal (nonce || ciphertext || tag); AesGcmOpen opens it.
//
// Nonce invariant: a sealer draws a random 96-bit first nonce from the CSPRNG when it is made and
// adds 1 (mod 2^96) for every seal, failed ones included, so one sealer never gives a nonce twice.
// Sealers under the same key (later runs, other processes) can only repeat a nonce if their runs
// of nonces overlap: for k sealers sealing n messages in all that chance is below k*n / 2^96, no
// higher than for n independent random nonces. The 2^32-messages-per-key limit of random nonces
// (NIST SP 800-38D section 8.3) still applies.
//
// Not thread-safe: one sealer per thread. Move-only; a moved-from sealer must not be used. Do not
// carry one across fork(): parent and child would continue the same nonce sequence.
class AesGcmSealer {
 public:
  // kInvalidInput unless the key is 32 bytes. The sealer keeps no copy of the key besides
  // OpenSSL's key schedule, which OpenSSL wipes when the sealer is destroyed.
  static Result<AesGcmSealer> Create(ByteView key);
  // The same, starting from a chosen nonce, so tests can reach the carry and wrap-around cases.
  static Result<AesGcmSealer> CreateWithFirstNonceForTesting(ByteView key, ByteView first_nonce);

  AesGcmSealer(AesGcmSealer&& other) noexcept;
  AesGcmSealer& operator=(AesGcmSealer&& other) noexcept;
  ~AesGcmSealer();

  Result<Bytes> Seal(ByteView plaintext, ByteView aad);

 private:
  struct State;
  explicit AesGcmSealer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// HMAC-SHA-256 of many messages under one key (the NIK index key): the key is set up once.
// Mac(data) equals HmacSha256(key, data). Aborts like HmacSha256 if OpenSSL itself is broken.
// Not thread-safe: one per thread. Move-only; a moved-from object must not be used.
class HmacSha256Keyed {
 public:
  explicit HmacSha256Keyed(ByteView key);
  HmacSha256Keyed(HmacSha256Keyed&& other) noexcept;
  HmacSha256Keyed& operator=(HmacSha256Keyed&& other) noexcept;
  ~HmacSha256Keyed();

  Sha256Digest Mac(ByteView data);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Explicit-nonce forms, for test vectors: ciphertext || tag. Unlike Seal/Open these accept
// 16-, 24- or 32-byte keys (AES-128/192/256-GCM), nonces of 1 to 128 bytes (the limit of
// OpenSSL 3's GCM; an empty or longer nonce is kInvalidInput, "unsupported") and tags of 4 to
// 16 bytes. Never reuse a (key, nonce) pair. Decrypt fails with kUnauthenticated on a tag
// mismatch or input shorter than the tag; inputs over 2 GiB are kTooLarge.
Result<Bytes> AesGcmEncrypt(ByteView key, ByteView nonce, ByteView plaintext, ByteView aad,
                            size_t tag_bytes = kAesTagBytes);
Result<Bytes> AesGcmDecrypt(ByteView key, ByteView nonce, ByteView ciphertext_and_tag, ByteView aad,
                            size_t tag_bytes = kAesTagBytes);

// Argon2id parameters; stored beside each wrapped key so they can be raised later.
struct Argon2Params {
  uint32_t time_cost = 3;
  uint32_t memory_kib = 64 * 1024;
  uint32_t parallelism = 1;
};

inline constexpr size_t kArgon2SaltBytes = 16;

// Derives a 32-byte key from a passphrase (Argon2id, RFC 9106).
Result<Bytes> Argon2idDeriveKey(std::string_view passphrase, ByteView salt,
                                const Argon2Params& params);
// The PHC-string form for stored password hashes (staff accounts) and its check.
Result<std::string> Argon2idHashPassword(std::string_view password, const Argon2Params& params);
bool Argon2idVerifyPassword(std::string_view password, const std::string& encoded);

}  // namespace mpp::crypto
