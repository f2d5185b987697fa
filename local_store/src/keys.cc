// Key wrapping and sealing: the passphrase key that wraps the data key, the data key that seals
// every row holding personal data, the NIK index key derived from it, and the device's signing
// key sealed under it.
//
// Invariants: the data key and the device's private key are never stored in the clear, and
// clear copies in memory are cleansed as soon as they are no longer needed; a store is unlocked
// exactly when data_key_ is non-empty. Changing the passphrase re-wraps the data key only: no
// row is re-encrypted.
#include "keys.h"

#include "mpp/sync/codec.h"
#include "van_store_impl.h"

namespace mpp::store {

Result<NewStoreKeys> MakeNewStoreKeys(std::string_view passphrase,
                                      const crypto::Argon2Params& kdf) {
  NewStoreKeys keys;
  keys.salt = crypto::RandomBytes(crypto::kArgon2SaltBytes);
  MPP_ASSIGN_OR_RETURN(Bytes kek, crypto::Argon2idDeriveKey(passphrase, keys.salt, kdf));
  keys.data_key = crypto::RandomBytes(crypto::kAesKeyBytes);
  MPP_ASSIGN_OR_RETURN(keys.wrapped_data_key,
                       crypto::AesGcmSeal(kek, keys.data_key, ViewOf(kDataKeyAad)));
  crypto::Cleanse(kek);
  MPP_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair pair, crypto::GenerateEd25519KeyPair());
  MPP_ASSIGN_OR_RETURN(keys.sealed_private_key,
                       crypto::AesGcmSeal(keys.data_key, pair.private_key, ViewOf(kPrivateKeyAad)));
  crypto::Cleanse(pair.private_key);
  keys.public_key = std::move(pair.public_key);
  return keys;
}

Result<Bytes> UnwrapDataKey(Database& db, std::string_view passphrase,
                            crypto::Argon2Params& params) {
  MPP_ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT kdf_salt, kdf_time_cost, kdf_memory_kib, "
                                             "kdf_parallelism, wrapped_data_key FROM device"));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::Corrupt("the store has no device identity");
  params.time_cost = static_cast<uint32_t>(stmt.ColumnInt(1));
  params.memory_kib = static_cast<uint32_t>(stmt.ColumnInt(2));
  params.parallelism = static_cast<uint32_t>(stmt.ColumnInt(3));
  MPP_ASSIGN_OR_RETURN(Bytes kek,
                       crypto::Argon2idDeriveKey(passphrase, stmt.ColumnBlob(0), params));
  auto data_key = crypto::AesGcmOpen(kek, stmt.ColumnBlob(4), ViewOf(kDataKeyAad));
  crypto::Cleanse(kek);
  if (!data_key) return Error::Unauthenticated("wrong passphrase");
  return std::move(data_key).value();
}

VanStore::Impl::~Impl() {
  crypto::Cleanse(data_key_);
  crypto::Cleanse(index_key_);
}

void VanStore::Impl::AdoptDataKey(Bytes data_key) {
  data_key_ = std::move(data_key);
  const auto index_key = crypto::HmacSha256(data_key_, ViewOf(kNikIndexLabel));
  index_key_.assign(index_key.begin(), index_key.end());
}

Result<void> VanStore::Impl::RequireUnlocked() const {
  if (data_key_.empty()) return Error::Unauthenticated("the store is locked: passphrase needed");
  return Ok();
}

Bytes VanStore::Impl::NikIndex(std::string_view nik) {
  if (!nik_mac_) nik_mac_.emplace(index_key_);
  const auto mac = nik_mac_->Mac(ViewOf(nik));
  return Bytes(mac.begin(), mac.begin() + 16);
}

Result<Bytes> VanStore::Impl::Seal(const Bytes& plaintext, const std::string& aad) {
  MPP_RETURN_IF_ERROR(RequireUnlocked());
  if (!sealer_) {
    MPP_ASSIGN_OR_RETURN(auto sealer, crypto::AesGcmSealer::Create(data_key_));
    sealer_.emplace(std::move(sealer));
  }
  return sealer_->Seal(plaintext, ViewOf(aad));
}

Result<sync::Request> VanStore::Impl::OpenRequest(const Bytes& sealed,
                                                  const std::string& aad) const {
  auto plain = crypto::AesGcmOpen(data_key_, sealed, ViewOf(aad));
  if (!plain) return plain.error().WithContext("request row " + aad);
  return sync::DecodeRequest(*plain);
}

Result<sync::Mutation> VanStore::Impl::OpenMutation(const Bytes& sealed, uint64_t seq) const {
  auto plain = crypto::AesGcmOpen(data_key_, sealed, ViewOf(OutboxAad(seq)));
  if (!plain) return plain.error().WithContext("outbox entry " + std::to_string(seq));
  return sync::DecodeMutation(*plain);
}

Result<void> VanStore::Unlock(std::string_view passphrase) {
  crypto::Argon2Params params;
  MPP_ASSIGN_OR_RETURN(Bytes data_key, UnwrapDataKey(impl_->db_, passphrase, params));
  impl_->AdoptDataKey(std::move(data_key));
  return Ok();
}

bool VanStore::unlocked() const { return !impl_->data_key_.empty(); }

Result<void> VanStore::ChangePassphrase(std::string_view old_passphrase,
                                        std::string_view new_passphrase) {
  if (new_passphrase.size() < 8) {
    return Error::InvalidInput("the passphrase must be at least 8 characters");
  }
  Impl& s = *impl_;
  // BEGIN IMMEDIATE before reading the wrapped key: another process changing the passphrase at
  // the same time waits, so it cannot wrap a key this call then overwrites with a stale salt.
  MPP_ASSIGN_OR_RETURN(auto txn, Transaction::Begin(s.db_));
  crypto::Argon2Params params;
  MPP_ASSIGN_OR_RETURN(Bytes data_key, UnwrapDataKey(s.db_, old_passphrase, params));
  const Bytes salt = crypto::RandomBytes(crypto::kArgon2SaltBytes);
  auto new_kek = crypto::Argon2idDeriveKey(new_passphrase, salt, params);
  if (!new_kek) {
    crypto::Cleanse(data_key);
    return new_kek.error();
  }
  auto wrapped = crypto::AesGcmSeal(*new_kek, data_key, ViewOf(kDataKeyAad));
  crypto::Cleanse(*new_kek);
  crypto::Cleanse(data_key);
  if (!wrapped) return wrapped.error();
  MPP_ASSIGN_OR_RETURN(auto update,
                       s.db_.Prepare("UPDATE device SET kdf_salt = ?, wrapped_data_key = ?"));
  update.Bind(1, salt).Bind(2, *wrapped);
  MPP_RETURN_IF_ERROR(update.Run());
  return txn.Commit();
}

Result<Bytes> VanStore::SignWithDeviceKey(ByteView message) {
  MPP_RETURN_IF_ERROR(impl_->RequireUnlocked());
  MPP_ASSIGN_OR_RETURN(auto stmt, impl_->db_.Prepare("SELECT sealed_private_key FROM device"));
  MPP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error::Corrupt("the store has no device key");
  MPP_ASSIGN_OR_RETURN(Bytes private_key, crypto::AesGcmOpen(impl_->data_key_, stmt.ColumnBlob(0),
                                                             ViewOf(kPrivateKeyAad)));
  auto signature = crypto::Ed25519Sign(private_key, message);
  crypto::Cleanse(private_key);
  return signature;
}

}  // namespace mpp::store
