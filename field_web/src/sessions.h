// The browsers the officer's app serves: a session per browser, known by a cookie whose id only
// its holder has (the server keeps its SHA-256), with a CSRF token the page sends on every POST.
//
// Two steps open a session's access to the store:
//  - paired: the browser is the laptop's own (loopback), or one on the LAN that typed the
//    pairing code the laptop shows. The code is 6 random digits; after kMaxPairingFailures wrong
//    tries in a row, and after each pairing, a new one is made, so guessing one needs on average
//    100,000 tries, each of which the laptop's screen shows as a new code after five.
//  - unlocked: the browser gave the store's passphrase (VanLock checks it). Locking the store
//    (the officer's button, or idle time) takes every session's unlocked flag away.
//
// Thread-safe: every method takes the one mutex.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "mpp/sync/result.h"

namespace mpp::field_web {

struct SessionView {
  std::string csrf;
  bool paired = false;
  bool unlocked = false;
};

class Sessions {
 public:
  static constexpr int kMaxPairingFailures = 5;
  // Sessions unused for this long are forgotten (a browser left open over a weekend).
  static constexpr int64_t kSessionIdleMs = 12ll * 60 * 60 * 1000;
  // At most this many sessions: the oldest unused go first (a LAN client opening many).
  static constexpr size_t kMaxSessions = 64;

  Sessions();

  // A new session (the browser had none, or an unknown one); its cookie id is returned once.
  struct NewSession {
    std::string cookie_id;
    SessionView view;
  };
  NewSession Create(bool paired, int64_t now_ms);
  // The session of a cookie id; nullopt for an unknown or expired one. Counts as use.
  std::optional<SessionView> Find(const std::string& cookie_id, int64_t now_ms);

  // Pairs the session with `code`. kUnauthenticated for a wrong code (after the fifth wrong
  // try in a row the code changes: the message says to read the new one), kNotFound for an
  // unknown session.
  Result<void> Pair(const std::string& cookie_id, const std::string& code);
  void MarkUnlocked(const std::string& cookie_id);
  // Every session loses its unlocked flag (the store locked).
  void LockAll();

  std::string PairingCode() const;

 private:
  struct Entry {
    SessionView view;
    int64_t last_used_ms = 0;
  };
  void NewPairingCode();  // with mutex_ held
  void Evict(int64_t now_ms);

  mutable std::mutex mutex_;
  std::map<std::string, Entry> by_hash_;  // hex SHA-256 of the cookie id -> session
  std::string pairing_code_;
  int pairing_failures_ = 0;
};

}  // namespace mpp::field_web
