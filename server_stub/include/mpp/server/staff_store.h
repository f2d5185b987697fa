// Staff accounts, their dashboard sessions and their comments on requests, as stored: persistence
// only, behind an interface both backends implement (the tables live in the server's database, so
// every server process on one PostgreSQL database knows every account and session). What an account
// may do is decided by StaffAccounts (staff_accounts.h) and StaffService, never here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mpp/sync/bytes.h"
#include "mpp/sync/result.h"

namespace mpp::server {

// viewer: reads its own agency's requests; officer: also changes them (status, fields,
// conflicts); admin: every agency, and vans, enrolment tokens and staff accounts.
enum class StaffRole : uint8_t { kViewer, kOfficer, kAdmin };

const char* StaffRoleName(StaffRole role);  // "viewer"
std::optional<StaffRole> ParseStaffRole(std::string_view name);

// An admin's agency: every one.
inline constexpr std::string_view kEveryAgency = "*";

struct StaffAccount {
  std::string user;
  std::string agency;  // a catalog agency id, or kEveryAgency for an admin
  StaffRole role = StaffRole::kViewer;
  std::string password_hash;  // Argon2id, PHC string form
  int64_t created_ms = 0;
  int64_t disabled_ms = 0;  // 0 while the account may log in
  // Sessions started before this ended (the password changed): 0 while never changed.
  int64_t password_changed_ms = 0;

  bool disabled() const { return disabled_ms != 0; }
};

// A dashboard session. The browser holds the random session id; the server keeps only its
// SHA-256, so a copy of the database (a backup) opens no session.
struct StaffSession {
  Bytes id_hash;
  std::string user;
  std::string csrf;  // sent by the page with every state-changing call
  int64_t created_ms = 0;
  int64_t last_seen_ms = 0;
};

// An internal comment of staff on a request: append-only (no call changes or removes one).
struct StaffComment {
  std::string request_id;
  int64_t at_ms = 0;
  std::string by;  // the staff account
  std::string text;
};

class StaffStore {
 public:
  virtual ~StaffStore() = default;

  // kConflict when the user name is taken.
  virtual Result<void> InsertAccount(const StaffAccount& account) = 0;
  virtual Result<std::optional<StaffAccount>> FindAccount(const std::string& user) = 0;
  // Ordered by user name.
  virtual Result<std::vector<StaffAccount>> ListAccounts() = 0;
  // Replaces the stored account of account.user (kNotFound without one).
  virtual Result<void> UpdateAccount(const StaffAccount& account) = 0;

  virtual Result<void> InsertSession(const StaffSession& session) = 0;
  virtual Result<std::optional<StaffSession>> FindSession(ByteView id_hash) = 0;
  virtual Result<void> TouchSession(ByteView id_hash, int64_t now_ms) = 0;
  virtual Result<void> DeleteSession(ByteView id_hash) = 0;
  // Ends every session of `user`; and every session that began before `before_ms` (expired).
  virtual Result<void> DeleteSessionsOf(const std::string& user) = 0;
  virtual Result<void> DeleteSessionsBefore(int64_t before_ms) = 0;

  virtual Result<void> AddComment(const StaffComment& comment) = 0;
  // Oldest first.
  virtual Result<std::vector<StaffComment>> CommentsOf(const std::string& request_id) = 0;
};

}  // namespace mpp::server
