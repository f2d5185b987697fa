// Staff accounts and dashboard sessions: who a staff member is, and what the role and agency of
// that account allow (StaffActor). Administrator commands (`mpp-server staff ...`, and `--by U`
// on every staff command) and the dashboard's login both go through here.
//
// Thread-safety: every method may be called concurrently; several server processes share the
// accounts and sessions through the database. The login throttle is per process (see below).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mpp/server/server_core.h"
#include "mpp/server/staff_store.h"
#include "mpp/sync/crypto.h"

namespace mpp::server {

// An authenticated staff member, as the services check it.
struct StaffActor {
  std::string user;
  std::string agency;  // kEveryAgency for an admin
  StaffRole role = StaffRole::kViewer;

  bool admin() const { return role == StaffRole::kAdmin; }
  // Sees requests, conflicts and exports of `agency`.
  bool Sees(std::string_view request_agency) const { return admin() || agency == request_agency; }
  // May change them (status, fields, conflicts).
  bool MayChange(std::string_view request_agency) const {
    return role != StaffRole::kViewer && Sees(request_agency);
  }
  // The trail's name for changes this actor makes ("staff:<user>" is added by StaffService).
  const std::string& by() const { return user; }
};

// A started session: the id goes to the browser (a cookie) and is never stored, the CSRF token
// is sent back by the page with every state-changing call.
struct StaffLogin {
  std::string session_id;
  std::string csrf;
  StaffActor actor;
  int64_t expires_ms = 0;  // the absolute expiry
};

// Failed logins per key (an account, an address) within a window. Past `free_attempts`, each
// further attempt waits twice as long as the one before, from 2 s up to `max_wait`: a guesser
// gets a few tries a minute, the real user waits a minute at most. Memory is bounded: the
// oldest keys are forgotten past max_keys.
class LoginThrottle {
 public:
  LoginThrottle(size_t free_attempts, std::chrono::milliseconds window,
                std::chrono::milliseconds max_wait, size_t max_keys = 10'000)
      : free_attempts_(free_attempts), window_(window), max_wait_(max_wait), max_keys_(max_keys) {}

  // Seconds `key` must still wait before its next attempt (0: may try now).
  int SecondsToWait(const std::string& key, int64_t now_ms);
  void Failed(const std::string& key, int64_t now_ms);
  void Succeeded(const std::string& key);

 private:
  struct Record {
    int64_t first_ms = 0;
    size_t failures = 0;
    int64_t blocked_until_ms = 0;
  };
  const size_t free_attempts_;
  const std::chrono::milliseconds window_;
  const std::chrono::milliseconds max_wait_;
  const size_t max_keys_;
  std::mutex mu_;
  std::map<std::string, Record> records_;
};

class StaffAccounts {
 public:
  static constexpr size_t kMinPasswordChars = 10;
  static constexpr size_t kMaxPasswordChars = 256;
  // A session ends after this long without a call, and this long after login, whatever.
  static constexpr std::chrono::minutes kIdleExpiry{30};
  static constexpr std::chrono::hours kAbsoluteExpiry{12};

  // `password_params`: Argon2id's cost (tests lower it; production keeps the default).
  explicit StaffAccounts(ServerCore& core, crypto::Argon2Params password_params = {});

  // Administrator commands. `by` is the administrator (audit); user names are 2-64 of
  // [a-z0-9._-]; `agency` is a catalog agency id, or "*" with role admin only.
  Result<StaffAccount> Add(const std::string& user, const std::string& agency, StaffRole role,
                           const std::string& password, const std::string& by);
  Result<std::vector<StaffAccount>> List();
  // Disables the account and ends its sessions at once.
  Result<void> Disable(const std::string& user, const std::string& by);
  // Sets a new password and ends the account's sessions (they began under the old one).
  Result<void> SetPassword(const std::string& user, const std::string& password,
                           const std::string& by);

  // The account named by a staff command's `--by`: it must exist and be enabled.
  Result<StaffActor> Actor(const std::string& user);

  // Dashboard sessions. Login answers kUnauthenticated alike (and in about the same time) for an
  // unknown user, a wrong password and a disabled account; kUnavailable with *retry_after_s set
  // while the account or the address is slowed down.
  Result<StaffLogin> Login(const std::string& user, const std::string& password,
                           const std::string& address, int* retry_after_s);
  // The session's actor and CSRF token, or kUnauthenticated when it does not exist, expired, or
  // its account was disabled meanwhile. Keeps it alive (idle expiry).
  Result<StaffLogin> Authenticate(const std::string& session_id);
  Result<void> Logout(const std::string& session_id);

 private:
  Result<void> Audit(const std::string& by, const std::string& action, const std::string& target,
                     const std::string& detail);
  Result<void> CheckPassword(const std::string& password) const;
  std::string RandomToken(size_t bytes);

  ServerCore& core_;
  StaffStore& store_;
  const crypto::Argon2Params password_params_;
  // Verified against for an unknown user, so its answer takes as long as a wrong password's.
  const std::string& DummyHash();
  std::once_flag dummy_once_;
  std::string dummy_hash_;
  LoginThrottle per_account_;
  LoginThrottle per_address_;
};

}  // namespace mpp::server
