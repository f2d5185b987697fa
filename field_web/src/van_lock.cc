#include "van_lock.h"

#include <openssl/crypto.h>

#include "mpp/sync/crypto.h"

namespace mpp::field_web {

Result<std::unique_ptr<VanLock>> VanLock::Open(const std::string& data_dir, sync::Clock& clock,
                                               sync::Rng& rng,
                                               std::chrono::milliseconds idle_lock) {
  MPP_ASSIGN_OR_RETURN(auto store, store::VanStore::Open(data_dir, clock, rng));
  return std::unique_ptr<VanLock>(new VanLock(data_dir, clock, rng, idle_lock, std::move(store)));
}

VanLock::VanLock(std::string data_dir, sync::Clock& clock, sync::Rng& rng,
                 std::chrono::milliseconds idle_lock, std::unique_ptr<store::VanStore> store)
    : data_dir_(std::move(data_dir)),
      clock_(clock),
      rng_(rng),
      idle_lock_(idle_lock),
      store_(std::move(store)) {}

Result<void> VanLock::Unlock(std::string_view passphrase) {
  std::lock_guard lock(mutex_);
  const int64_t now = clock_.NowMillis();
  if (now < paused_until_ms_) {
    return Error::Unavailable("too many wrong passphrases: try again in " +
                              std::to_string((paused_until_ms_ - now + 999) / 1000) + " seconds");
  }
  Result<void> checked = Ok();
  if (!passphrase_.empty()) {
    const std::string_view held = HeldPassphrase();
    const bool same = passphrase.size() == held.size() &&
                      CRYPTO_memcmp(passphrase.data(), held.data(), held.size()) == 0;
    if (!same) checked = Error::Unauthenticated("the passphrase is wrong");
  } else {
    if (!store_) {
      MPP_ASSIGN_OR_RETURN(store_, store::VanStore::Open(data_dir_, clock_, rng_));
    }
    checked = store_->Unlock(passphrase);
    if (checked) passphrase_ = BytesOf(passphrase);
  }
  if (!checked) {
    if (checked.error().code() == ErrorCode::kUnauthenticated &&
        ++failures_ >= kMaxUnlockFailures) {
      failures_ = 0;
      paused_until_ms_ = now + kUnlockPauseMs;
    }
    return checked.error();
  }
  failures_ = 0;
  last_touch_ms_ = now;
  return Ok();
}

void VanLock::Lock() {
  std::lock_guard lock(mutex_);
  LockHeld();
}

void VanLock::LockHeld() {
  if (passphrase_.empty()) return;
  crypto::Cleanse(passphrase_);
  // A store instance cannot forget its keys: a new, locked one takes its place and the old one
  // (with its unsealed data key) is destroyed. Should opening fail (the disk went away), the old
  // one goes all the same and With() tries again.
  store_.reset();
  auto reopened = store::VanStore::Open(data_dir_, clock_, rng_);
  if (reopened) store_ = std::move(*reopened);
}

bool VanLock::unlocked() {
  std::lock_guard lock(mutex_);
  return !passphrase_.empty();
}

bool VanLock::LockIfIdle() {
  std::lock_guard lock(mutex_);
  if (passphrase_.empty() || clock_.NowMillis() - last_touch_ms_ < idle_lock_.count()) {
    return false;
  }
  LockHeld();
  return true;
}

void VanLock::Touch() {
  std::lock_guard lock(mutex_);
  last_touch_ms_ = clock_.NowMillis();
}

Result<std::unique_ptr<store::VanStore>> VanLock::OpenUnlockedCopy() {
  std::lock_guard lock(mutex_);
  if (passphrase_.empty()) return Error::Unauthenticated("the van's data is locked");
  MPP_ASSIGN_OR_RETURN(auto copy, store::VanStore::Open(data_dir_, clock_, rng_));
  MPP_RETURN_IF_ERROR(copy->Unlock(HeldPassphrase()));
  return copy;
}

}  // namespace mpp::field_web
