// The van's store as the web app holds it: locked until the officer gives the passphrase, locked
// again after idle time. While unlocked it keeps the passphrase (to open the sync thread's own
// store, VanStore being one per thread) and wipes it when it locks.
//
// Invariant: unlocked() == (the passphrase is held) == (store_ is unlocked). Thread-safe: one
// mutex around the store, so the server's threads take turns at it.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "mpp/store/van_store.h"
#include "mpp/sync/bytes.h"
#include "mpp/sync/clock.h"
#include "mpp/sync/result.h"

namespace mpp::field_web {

class VanLock {
 public:
  // Wrong passphrases in a row before unlocking is refused for kUnlockPause. Each try already
  // costs one Argon2id derivation; this bounds a browser script guessing from the laptop.
  static constexpr int kMaxUnlockFailures = 5;
  static constexpr int64_t kUnlockPauseMs = 30'000;

  static Result<std::unique_ptr<VanLock>> Open(const std::string& data_dir, sync::Clock& clock,
                                               sync::Rng& rng, std::chrono::milliseconds idle_lock);

  // Unlocks the store, or, when it is unlocked already, checks the passphrase against the one it
  // was unlocked with (another browser joining). kUnauthenticated for a wrong one, kUnavailable
  // with the seconds to wait after kMaxUnlockFailures; nothing changes either way.
  Result<void> Unlock(std::string_view passphrase);
  void Lock();
  bool unlocked();
  // Locks when no Touch() came for idle_lock; true when it did.
  bool LockIfIdle();
  // The officer did something: the idle time starts again.
  void Touch();

  // Runs fn(store) under the mutex. The store may be locked: fn decides what that means. fn
  // returns a Result; a store that could not be opened again after a lock is its error.
  template <class Fn>
  auto With(Fn&& fn) -> decltype(fn(std::declval<store::VanStore&>())) {
    std::lock_guard lock(mutex_);
    if (!store_) {
      auto reopened = store::VanStore::Open(data_dir_, clock_, rng_);
      if (!reopened) return reopened.error();
      store_ = std::move(*reopened);
    }
    return fn(*store_);
  }

  // Another instance of the store, unlocked with the held passphrase, for a thread of its own
  // (the sync). kUnauthenticated when the store is locked.
  Result<std::unique_ptr<store::VanStore>> OpenUnlockedCopy();

 private:
  VanLock(std::string data_dir, sync::Clock& clock, sync::Rng& rng,
          std::chrono::milliseconds idle_lock, std::unique_ptr<store::VanStore> store);
  void LockHeld();  // with mutex_ held
  std::string_view HeldPassphrase() const {
    return {reinterpret_cast<const char*>(passphrase_.data()), passphrase_.size()};
  }

  const std::string data_dir_;
  sync::Clock& clock_;
  sync::Rng& rng_;
  const std::chrono::milliseconds idle_lock_;
  std::mutex mutex_;
  std::unique_ptr<store::VanStore> store_;  // null only when reopening after a lock failed
  Bytes passphrase_;                        // empty while locked
  int64_t last_touch_ms_ = 0;
  int failures_ = 0;
  int64_t paused_until_ms_ = 0;
};

}  // namespace mpp::field_web
