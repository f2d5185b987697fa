// OpenSSL 3 EVP and libargon2 behind mpp::crypto. Every OpenSSL handle lives in a unique_ptr
// with its free function; every OpenSSL failure becomes an Error through OpenSslError(), which
// keeps the first reason and drains the thread's error queue so it never leaks into later calls.
#include "mpp/sync/crypto.h"

#include <argon2.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace mpp::crypto {

namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct MacDeleter {
  void operator()(EVP_MAC* p) const { EVP_MAC_free(p); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;
using MacPtr = std::unique_ptr<EVP_MAC, MacDeleter>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;

// GCM nonces longer than this are refused as unsupported: OpenSSL 3's GCM provider keeps the IV
// in a fixed 128-byte buffer and rejects longer ones. 96 bits is the only size we use ourselves.
constexpr size_t kMaxGcmNonceBytes = 128;
constexpr size_t kMinGcmTagBytes = 4;
// OpenSSL's EVP lengths are ints.
constexpr size_t kMaxEvpInputBytes = INT_MAX;
constexpr size_t kArgon2KeyBytes = 32;
constexpr size_t kArgon2PasswordHashBytes = 32;

// Converts the current OpenSSL failure into an Error "<what>: <first queued reason>" and drains
// the queue.
Error OpenSslError(ErrorCode code, std::string_view what) {
  std::string message(what);
  const unsigned long first = ERR_get_error();
  if (first != 0) {
    char reason[256];
    ERR_error_string_n(first, reason, sizeof(reason));
    message += ": ";
    message += reason;
  } else {
    message += ": OpenSSL gave no reason";
  }
  ERR_clear_error();
  return Error(code, std::move(message));
}

Error OpenSslInternal(std::string_view what) { return OpenSslError(ErrorCode::kInternal, what); }

// For the few calls whose signature has no room for an Error (hashing, the CSPRNG): they only
// fail when OpenSSL itself is broken (no memory, no provider), and carrying on would hand out
// wrong digests or predictable bytes.
[[noreturn]] void Die(const char* what) {
  char reason[256] = "OpenSSL gave no reason";
  if (const unsigned long first = ERR_get_error(); first != 0) {
    ERR_error_string_n(first, reason, sizeof(reason));
  }
  std::fprintf(stderr, "mpp::crypto: %s failed: %s\n", what, reason);
  std::abort();
}

// A non-null pointer for possibly empty input: an empty span may hold nullptr, which some
// OpenSSL entry points reject even with a zero length.
const unsigned char* DataOrEmpty(ByteView bytes) {
  static const unsigned char kNothing = 0;
  return bytes.empty() ? &kNothing : bytes.data();
}

std::string SizeText(size_t n) { return std::to_string(n) + " bytes"; }

const EVP_CIPHER* GcmCipherForKey(size_t key_bytes) {
  switch (key_bytes) {
    case 16:
      return EVP_aes_128_gcm();
    case 24:
      return EVP_aes_192_gcm();
    case 32:
      return EVP_aes_256_gcm();
    default:
      return nullptr;
  }
}

// A GCM context with key, nonce and aad loaded, ready for the payload.
Result<CipherCtxPtr> StartGcm(bool encrypt, ByteView key, ByteView nonce, ByteView aad,
                              size_t tag_bytes) {
  const EVP_CIPHER* cipher = GcmCipherForKey(key.size());
  if (cipher == nullptr) {
    return Error::InvalidInput("AES-GCM key is " + SizeText(key.size()) +
                               ", expected 16, 24 or 32");
  }
  if (nonce.empty() || nonce.size() > kMaxGcmNonceBytes) {
    return Error::InvalidInput("AES-GCM nonce is " + SizeText(nonce.size()) +
                               ", unsupported (must be 1 to " + SizeText(kMaxGcmNonceBytes) + ")");
  }
  if (tag_bytes < kMinGcmTagBytes || tag_bytes > kAesTagBytes) {
    return Error::InvalidInput("AES-GCM tag size " + SizeText(tag_bytes) +
                               " is unsupported (must be 4 to 16 bytes)");
  }
  if (aad.size() > kMaxEvpInputBytes) {
    return Error::TooLarge("AES-GCM aad is " + SizeText(aad.size()) + ", over the 2 GiB limit");
  }
  const int enc = encrypt ? 1 : 0;
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OpenSslInternal("AES-GCM: EVP_CIPHER_CTX_new");
  if (EVP_CipherInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr, enc) != 1) {
    return OpenSslInternal("AES-GCM: selecting the cipher");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1) {
    return OpenSslError(ErrorCode::kInvalidInput,
                        "AES-GCM: setting a " + SizeText(nonce.size()) + " nonce");
  }
  if (EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data(), enc) != 1) {
    return OpenSslInternal("AES-GCM: loading key and nonce");
  }
  if (!aad.empty()) {
    int aad_len = 0;
    if (EVP_CipherUpdate(ctx.get(), nullptr, &aad_len, aad.data(), static_cast<int>(aad.size())) !=
        1) {
      return OpenSslInternal("AES-GCM: adding aad");
    }
  }
  return ctx;
}

Error Argon2Error(int rc, std::string_view what) {
  const ErrorCode code = (rc == ARGON2_MEMORY_ALLOCATION_ERROR || rc == ARGON2_THREAD_FAIL)
                             ? ErrorCode::kInternal
                             : ErrorCode::kInvalidInput;
  return Error(code, std::string(what) + ": " + argon2_error_message(rc));
}

Result<void> CheckArgon2Salt(ByteView salt) {
  if (salt.size() < ARGON2_MIN_SALT_LENGTH) {
    return Error::InvalidInput("Argon2id salt is " + SizeText(salt.size()) + ", need at least " +
                               std::to_string(ARGON2_MIN_SALT_LENGTH) + " (16 recommended)");
  }
  return Ok();
}

}  // namespace

Sha256Digest Sha256(ByteView data) {
  Sha256Digest digest;
  unsigned int len = 0;
  if (EVP_Digest(DataOrEmpty(data), data.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != digest.size()) {
    Die("SHA-256");
  }
  return digest;
}

Sha256Digest HmacSha256(ByteView key, ByteView data) {
  MacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) Die("HMAC-SHA-256: EVP_MAC_fetch");
  MacCtxPtr ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) Die("HMAC-SHA-256: EVP_MAC_CTX_new");
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(ctx.get(), DataOrEmpty(key), key.size(), params) != 1) {
    Die("HMAC-SHA-256: EVP_MAC_init");
  }
  if (EVP_MAC_update(ctx.get(), DataOrEmpty(data), data.size()) != 1) {
    Die("HMAC-SHA-256: EVP_MAC_update");
  }
  Sha256Digest mac_value;
  size_t len = 0;
  if (EVP_MAC_final(ctx.get(), mac_value.data(), &len, mac_value.size()) != 1 ||
      len != mac_value.size()) {
    Die("HMAC-SHA-256: EVP_MAC_final");
  }
  return mac_value;
}

void RandomBytes(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    const size_t chunk = std::min(out.size() - done, kMaxEvpInputBytes);
    if (RAND_bytes(out.data() + done, static_cast<int>(chunk)) != 1) Die("RAND_bytes");
    done += chunk;
  }
}

Bytes RandomBytes(size_t n) {
  Bytes bytes(n);
  RandomBytes(std::span<uint8_t>(bytes));
  return bytes;
}

Result<Ed25519KeyPair> GenerateEd25519KeyPair() {
  // An RFC 8032 private key is just 32 random bytes; deriving the public key from it keeps one
  // code path for fresh and restored keys.
  Ed25519KeyPair pair;
  pair.private_key = RandomBytes(kEd25519PrivateKeyBytes);
  Result<Bytes> public_key = Ed25519PublicKeyOf(pair.private_key);
  if (!public_key.ok()) {
    OPENSSL_cleanse(pair.private_key.data(), pair.private_key.size());
    return public_key.error();
  }
  pair.public_key = std::move(public_key).value();
  return pair;
}

namespace {

// The OpenSSL key of a 32-byte Ed25519 seed.
Result<PkeyPtr> LoadEd25519PrivateKey(ByteView private_key) {
  if (private_key.size() != kEd25519PrivateKeyBytes) {
    return Error::InvalidInput("Ed25519 private key is " + SizeText(private_key.size()) +
                               ", expected 32");
  }
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, private_key.data(),
                                            private_key.size()));
  if (!pkey) return OpenSslInternal("Ed25519: loading the private key");
  return pkey;
}

}  // namespace

Result<Bytes> Ed25519PublicKeyOf(ByteView private_key) {
  MPP_ASSIGN_OR_RETURN(PkeyPtr pkey, LoadEd25519PrivateKey(private_key));
  Bytes public_key(kEd25519PublicKeyBytes);
  size_t len = public_key.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), public_key.data(), &len) != 1 ||
      len != kEd25519PublicKeyBytes) {
    return OpenSslInternal("Ed25519: reading the public key");
  }
  return public_key;
}

Result<Bytes> Ed25519Sign(ByteView private_key, ByteView message) {
  MPP_ASSIGN_OR_RETURN(PkeyPtr pkey, LoadEd25519PrivateKey(private_key));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return OpenSslInternal("Ed25519: EVP_MD_CTX_new");
  // Ed25519 hashes internally (PureEdDSA), so no digest is named here.
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return OpenSslInternal("Ed25519: starting to sign");
  }
  Bytes signature(kEd25519SignatureBytes);
  size_t len = signature.size();
  if (EVP_DigestSign(ctx.get(), signature.data(), &len, DataOrEmpty(message), message.size()) !=
          1 ||
      len != kEd25519SignatureBytes) {
    return OpenSslInternal("Ed25519: signing");
  }
  return signature;
}

bool Ed25519Verify(ByteView public_key, ByteView message, ByteView signature) {
  if (public_key.size() != kEd25519PublicKeyBytes || signature.size() != kEd25519SignatureBytes) {
    return false;
  }
  bool valid = false;
  PkeyPtr pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  if (pkey) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    valid = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), DataOrEmpty(message),
                             message.size()) == 1;
  }
  // A rejected signature leaves reasons on the queue; the answer is the bool, so drop them.
  ERR_clear_error();
  return valid;
}

std::string KeyFingerprint(ByteView public_key) {
  constexpr size_t kFingerprintBytes = 16;
  constexpr size_t kHexGroup = 4;
  const Sha256Digest digest = Sha256(public_key);
  const std::string hex = ToHex(ByteView(digest.data(), kFingerprintBytes));
  std::string fingerprint = "SHA256:";
  for (size_t i = 0; i < hex.size(); i += kHexGroup) {
    if (i > 0) fingerprint += '-';
    fingerprint.append(hex, i, kHexGroup);
  }
  return fingerprint;
}

Result<Bytes> AesGcmSeal(ByteView key, ByteView plaintext, ByteView aad) {
  if (key.size() != kAesKeyBytes) {
    return Error::InvalidInput("AES-256-GCM key is " + SizeText(key.size()) + ", expected 32");
  }
  const Bytes nonce = RandomBytes(kAesNonceBytes);
  MPP_ASSIGN_OR_RETURN(Bytes body, AesGcmEncrypt(key, nonce, plaintext, aad));
  Bytes sealed;
  sealed.reserve(nonce.size() + body.size());
  sealed.insert(sealed.end(), nonce.begin(), nonce.end());
  sealed.insert(sealed.end(), body.begin(), body.end());
  return sealed;
}

Result<Bytes> AesGcmOpen(ByteView key, ByteView sealed, ByteView aad) {
  if (key.size() != kAesKeyBytes) {
    return Error::InvalidInput("AES-256-GCM key is " + SizeText(key.size()) + ", expected 32");
  }
  if (sealed.size() < kAesNonceBytes + kAesTagBytes) {
    // Too short to hold nonce and tag: the bytes were cut, which is a kind of tampering.
    return Error::Unauthenticated("AES-GCM sealed data is " + SizeText(sealed.size()) +
                                  ", shorter than nonce + tag (" +
                                  SizeText(kAesNonceBytes + kAesTagBytes) + ")");
  }
  return AesGcmDecrypt(key, sealed.first(kAesNonceBytes), sealed.subspan(kAesNonceBytes), aad);
}

Result<Bytes> AesGcmEncrypt(ByteView key, ByteView nonce, ByteView plaintext, ByteView aad,
                            size_t tag_bytes) {
  if (plaintext.size() > kMaxEvpInputBytes) {
    return Error::TooLarge("AES-GCM plaintext is " + SizeText(plaintext.size()) +
                           ", over the 2 GiB limit");
  }
  MPP_ASSIGN_OR_RETURN(CipherCtxPtr ctx, StartGcm(/*encrypt=*/true, key, nonce, aad, tag_bytes));
  Bytes out(plaintext.size() + tag_bytes);
  int len = 0;
  if (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(),
                                              static_cast<int>(plaintext.size())) != 1) {
    return OpenSslInternal("AES-GCM: encrypting");
  }
  // GCM is a stream mode: Update produced all the ciphertext and Final only computes the tag.
  unsigned char no_output[16];
  int final_len = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), no_output, &final_len) != 1 || final_len != 0 ||
      static_cast<size_t>(len) != plaintext.size()) {
    return OpenSslInternal("AES-GCM: finishing encryption");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_bytes),
                          out.data() + plaintext.size()) != 1) {
    return OpenSslInternal("AES-GCM: reading the tag");
  }
  return out;
}

Result<Bytes> AesGcmDecrypt(ByteView key, ByteView nonce, ByteView ciphertext_and_tag, ByteView aad,
                            size_t tag_bytes) {
  if (ciphertext_and_tag.size() > kMaxEvpInputBytes) {
    return Error::TooLarge("AES-GCM ciphertext is " + SizeText(ciphertext_and_tag.size()) +
                           ", over the 2 GiB limit");
  }
  MPP_ASSIGN_OR_RETURN(CipherCtxPtr ctx, StartGcm(/*encrypt=*/false, key, nonce, aad, tag_bytes));
  if (ciphertext_and_tag.size() < tag_bytes) {
    return Error::Unauthenticated("AES-GCM input is " + SizeText(ciphertext_and_tag.size()) +
                                  ", shorter than its " + SizeText(tag_bytes) + " tag");
  }
  const ByteView ciphertext = ciphertext_and_tag.first(ciphertext_and_tag.size() - tag_bytes);
  const ByteView tag = ciphertext_and_tag.last(tag_bytes);
  Bytes plaintext(ciphertext.size());
  int len = 0;
  if (!ciphertext.empty() && EVP_DecryptUpdate(ctx.get(), plaintext.data(), &len, ciphertext.data(),
                                               static_cast<int>(ciphertext.size())) != 1) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return OpenSslInternal("AES-GCM: decrypting");
  }
  unsigned char expected_tag[kAesTagBytes];
  std::memcpy(expected_tag, tag.data(), tag.size());
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()),
                          expected_tag) != 1) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return OpenSslInternal("AES-GCM: setting the tag");
  }
  unsigned char no_output[16];
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), no_output, &final_len) != 1) {
    // Never release plaintext that failed authentication, not even in a buffer being freed.
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    ERR_clear_error();
    return Error::Unauthenticated(
        "AES-GCM: authentication tag mismatch (wrong key or aad, or the ciphertext, nonce or tag "
        "was modified)");
  }
  return plaintext;
}

struct AesGcmSealer::State {
  CipherCtxPtr ctx;  // AES-256-GCM, encrypting, key loaded; each seal only sets a new nonce
  std::array<uint8_t, kAesNonceBytes> next_nonce{};
};

AesGcmSealer::AesGcmSealer(std::unique_ptr<State> state) : state_(std::move(state)) {}
AesGcmSealer::AesGcmSealer(AesGcmSealer&& other) noexcept = default;
AesGcmSealer& AesGcmSealer::operator=(AesGcmSealer&& other) noexcept = default;
AesGcmSealer::~AesGcmSealer() = default;

Result<AesGcmSealer> AesGcmSealer::Create(ByteView key) {
  std::array<uint8_t, kAesNonceBytes> first{};
  RandomBytes(first);
  return CreateWithFirstNonceForTesting(key, first);
}

Result<AesGcmSealer> AesGcmSealer::CreateWithFirstNonceForTesting(ByteView key,
                                                                  ByteView first_nonce) {
  if (key.size() != kAesKeyBytes) {
    return Error::InvalidInput("AES-256-GCM key is " + SizeText(key.size()) + ", expected 32");
  }
  if (first_nonce.size() != kAesNonceBytes) {
    return Error::InvalidInput("AES-256-GCM nonce is " + SizeText(first_nonce.size()) +
                               ", expected 12");
  }
  auto state = std::make_unique<State>();
  state->ctx.reset(EVP_CIPHER_CTX_new());
  if (!state->ctx) return OpenSslInternal("AES-GCM: EVP_CIPHER_CTX_new");
  // GCM's default nonce length is the 96 bits we use, so it need not be set.
  if (EVP_EncryptInit_ex(state->ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr) != 1) {
    return OpenSslInternal("AES-GCM: loading the key");
  }
  std::copy(first_nonce.begin(), first_nonce.end(), state->next_nonce.begin());
  return AesGcmSealer(std::move(state));
}

Result<Bytes> AesGcmSealer::Seal(ByteView plaintext, ByteView aad) {
  assert(state_ && "AesGcmSealer used after a move");
  if (plaintext.size() > kMaxEvpInputBytes - kAesNonceBytes - kAesTagBytes) {
    return Error::TooLarge("AES-GCM plaintext is " + SizeText(plaintext.size()) +
                           ", over the 2 GiB limit");
  }
  if (aad.size() > kMaxEvpInputBytes) {
    return Error::TooLarge("AES-GCM aad is " + SizeText(aad.size()) + ", over the 2 GiB limit");
  }
  Bytes sealed(kAesNonceBytes + plaintext.size() + kAesTagBytes);
  std::copy(state_->next_nonce.begin(), state_->next_nonce.end(), sealed.begin());
  // The nonce is spent before it is used, so a seal that fails halfway cannot leave it for the
  // next one. Big-endian +1 over all 96 bits.
  for (size_t i = kAesNonceBytes; i-- > 0;) {
    if (++state_->next_nonce[i] != 0) break;
  }
  EVP_CIPHER_CTX* ctx = state_->ctx.get();
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, sealed.data()) != 1) {
    return OpenSslInternal("AES-GCM: loading the nonce");
  }
  int len = 0;
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return OpenSslInternal("AES-GCM: adding aad");
  }
  uint8_t* const body = sealed.data() + kAesNonceBytes;
  len = 0;
  if (!plaintext.empty() && EVP_EncryptUpdate(ctx, body, &len, plaintext.data(),
                                              static_cast<int>(plaintext.size())) != 1) {
    return OpenSslInternal("AES-GCM: encrypting");
  }
  unsigned char no_output[16];
  int final_len = 0;
  if (EVP_EncryptFinal_ex(ctx, no_output, &final_len) != 1 || final_len != 0 ||
      static_cast<size_t>(len) != plaintext.size()) {
    return OpenSslInternal("AES-GCM: finishing encryption");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kAesTagBytes),
                          body + plaintext.size()) != 1) {
    return OpenSslInternal("AES-GCM: reading the tag");
  }
  return sealed;
}

struct HmacSha256Keyed::State {
  MacPtr mac;
  MacCtxPtr ctx;  // keyed once; EVP_MAC_init with no key restarts it under the same key
};

HmacSha256Keyed::HmacSha256Keyed(ByteView key) : state_(std::make_unique<State>()) {
  state_->mac.reset(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!state_->mac) Die("HMAC-SHA-256: EVP_MAC_fetch");
  state_->ctx.reset(EVP_MAC_CTX_new(state_->mac.get()));
  if (!state_->ctx) Die("HMAC-SHA-256: EVP_MAC_CTX_new");
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(state_->ctx.get(), DataOrEmpty(key), key.size(), params) != 1) {
    Die("HMAC-SHA-256: EVP_MAC_init");
  }
}

HmacSha256Keyed::HmacSha256Keyed(HmacSha256Keyed&& other) noexcept = default;
HmacSha256Keyed& HmacSha256Keyed::operator=(HmacSha256Keyed&& other) noexcept = default;
HmacSha256Keyed::~HmacSha256Keyed() = default;

Sha256Digest HmacSha256Keyed::Mac(ByteView data) {
  assert(state_ && "HmacSha256Keyed used after a move");
  EVP_MAC_CTX* ctx = state_->ctx.get();
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1) Die("HMAC-SHA-256: EVP_MAC_init");
  if (EVP_MAC_update(ctx, DataOrEmpty(data), data.size()) != 1) {
    Die("HMAC-SHA-256: EVP_MAC_update");
  }
  Sha256Digest mac_value;
  size_t len = 0;
  if (EVP_MAC_final(ctx, mac_value.data(), &len, mac_value.size()) != 1 ||
      len != mac_value.size()) {
    Die("HMAC-SHA-256: EVP_MAC_final");
  }
  return mac_value;
}

Result<Bytes> Argon2idDeriveKey(std::string_view passphrase, ByteView salt,
                                const Argon2Params& params) {
  MPP_RETURN_IF_ERROR(CheckArgon2Salt(salt));
  Bytes key(kArgon2KeyBytes);
  const int rc =
      argon2id_hash_raw(params.time_cost, params.memory_kib, params.parallelism, passphrase.data(),
                        passphrase.size(), salt.data(), salt.size(), key.data(), key.size());
  if (rc != ARGON2_OK) {
    OPENSSL_cleanse(key.data(), key.size());
    return Argon2Error(rc, "Argon2id key derivation");
  }
  return key;
}

Result<std::string> Argon2idHashPassword(std::string_view password, const Argon2Params& params) {
  const Bytes salt = RandomBytes(kArgon2SaltBytes);
  // argon2_encodedlen counts the terminating NUL.
  const size_t capacity =
      argon2_encodedlen(params.time_cost, params.memory_kib, params.parallelism,
                        static_cast<uint32_t>(salt.size()), kArgon2PasswordHashBytes, Argon2_id);
  std::string encoded(capacity, '\0');
  const int rc = argon2id_hash_encoded(params.time_cost, params.memory_kib, params.parallelism,
                                       password.data(), password.size(), salt.data(), salt.size(),
                                       kArgon2PasswordHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return Argon2Error(rc, "Argon2id password hash");
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

bool Argon2idVerifyPassword(std::string_view password, const std::string& encoded) {
  // Any malformed, non-Argon2id or mismatching string is simply "no".
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace mpp::crypto
