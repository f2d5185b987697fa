#include "mpp/server/staff_accounts.h"

#include <algorithm>

namespace mpp::server {
namespace {

constexpr int64_t kTouchEveryMs = 60'000;  // a session's last_seen is written at most this often

int64_t Ms(std::chrono::milliseconds d) { return d.count(); }

bool ValidUserName(std::string_view user) {
  if (user.size() < 2 || user.size() > 64) return false;
  return std::all_of(user.begin(), user.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

Bytes HashOfSessionId(const std::string& session_id) {
  const auto digest = crypto::Sha256(
      ByteView(reinterpret_cast<const uint8_t*>(session_id.data()), session_id.size()));
  return Bytes(digest.begin(), digest.end());
}

Error WrongLogin() { return Error::Unauthenticated("wrong user name or password"); }
Error SessionEnded() { return Error::Unauthenticated("the session has ended; log in again"); }

}  // namespace

// --- LoginThrottle ---------------------------------------------------------------------------

int LoginThrottle::SecondsToWait(const std::string& key, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(key);
  if (it == records_.end() || it->second.blocked_until_ms <= now_ms) return 0;
  return static_cast<int>((it->second.blocked_until_ms - now_ms + 999) / 1000);
}

void LoginThrottle::Failed(const std::string& key, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (records_.size() >= max_keys_ && records_.find(key) == records_.end()) {
    // Forget the record whose window began first: the oldest guesser.
    auto oldest = std::min_element(records_.begin(), records_.end(), [](auto& a, auto& b) {
      return a.second.first_ms < b.second.first_ms;
    });
    records_.erase(oldest);
  }
  Record& r = records_[key];
  if (r.failures == 0 || now_ms - r.first_ms > Ms(window_)) r = Record{now_ms, 0, 0};
  ++r.failures;
  if (r.failures <= free_attempts_) return;
  const size_t doublings = std::min<size_t>(r.failures - free_attempts_ - 1, 20);
  const int64_t wait_ms = std::min<int64_t>(int64_t{2000} << doublings, Ms(max_wait_));
  r.blocked_until_ms = now_ms + wait_ms;
}

void LoginThrottle::Succeeded(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  records_.erase(key);
}

// --- StaffAccounts ---------------------------------------------------------------------------

StaffAccounts::StaffAccounts(ServerCore& core, crypto::Argon2Params password_params)
    : core_(core),
      store_(core.storage().staff_store()),
      password_params_(password_params),
      // 5 failures per account, 20 per address (an office NAT) within 15 minutes, then slowed.
      per_account_(5, std::chrono::minutes(15), std::chrono::seconds(60)),
      per_address_(20, std::chrono::minutes(15), std::chrono::seconds(60)) {}

const std::string& StaffAccounts::DummyHash() {
  // Made at the first login, not at construction: every administrator command builds a
  // StaffAccounts, and an Argon2id hash costs a fifth of a second.
  std::call_once(dummy_once_, [this] {
    auto dummy = crypto::Argon2idHashPassword(RandomToken(16), password_params_);
    if (dummy.ok()) dummy_hash_ = *dummy;
  });
  return dummy_hash_;
}

std::string StaffAccounts::RandomToken(size_t bytes) {
  Bytes b(bytes);
  core_.rng().Fill(b);
  return ToHex(b);
}

Result<void> StaffAccounts::CheckPassword(const std::string& password) const {
  if (password.size() < kMinPasswordChars) {
    return Error::InvalidInput("the password must have at least " +
                               std::to_string(kMinPasswordChars) + " characters");
  }
  if (password.size() > kMaxPasswordChars) {
    return Error::InvalidInput("the password must have at most " +
                               std::to_string(kMaxPasswordChars) + " characters");
  }
  return Ok();
}

Result<void> StaffAccounts::Audit(const std::string& by, const std::string& action,
                                  const std::string& target, const std::string& detail) {
  return core_.Audit("staff:" + by, action, target, detail);
}

Result<StaffAccount> StaffAccounts::Add(const std::string& user, const std::string& agency,
                                        StaffRole role, const std::string& password,
                                        const std::string& by) {
  if (!ValidUserName(user)) {
    return Error::InvalidInput("a user name has 2-64 characters of a-z, 0-9, '.', '_' and '-'");
  }
  if (role == StaffRole::kAdmin) {
    if (agency != kEveryAgency) {
      return Error::InvalidInput("an admin account sees every agency: use --agency '*'");
    }
  } else if (core_.catalog().FindAgency(agency) == nullptr) {
    std::string ids;
    for (const auto& a : core_.catalog().agencies()) ids += (ids.empty() ? "" : ", ") + a.id;
    return Error::InvalidInput("unknown agency; the catalog's agencies are " + ids);
  }
  MPP_RETURN_IF_ERROR(CheckPassword(password));
  MPP_ASSIGN_OR_RETURN(std::string hash, crypto::Argon2idHashPassword(password, password_params_));
  StaffAccount account;
  account.user = user;
  account.agency = agency;
  account.role = role;
  account.password_hash = std::move(hash);
  account.created_ms = core_.clock().NowMillis();
  MPP_RETURN_IF_ERROR(store_.InsertAccount(account));
  MPP_RETURN_IF_ERROR(Audit(by, "staff add", user,
                            std::string("role ") + StaffRoleName(role) + ", agency " + agency));
  return account;
}

Result<std::vector<StaffAccount>> StaffAccounts::List() { return store_.ListAccounts(); }

Result<void> StaffAccounts::Disable(const std::string& user, const std::string& by) {
  MPP_ASSIGN_OR_RETURN(auto account, store_.FindAccount(user));
  if (!account) return Error::NotFound("no staff account " + user);
  if (!account->disabled()) {
    account->disabled_ms = core_.clock().NowMillis();
    MPP_RETURN_IF_ERROR(store_.UpdateAccount(*account));
  }
  MPP_RETURN_IF_ERROR(store_.DeleteSessionsOf(user));
  return Audit(by, "staff disable", user, "");
}

Result<void> StaffAccounts::SetPassword(const std::string& user, const std::string& password,
                                        const std::string& by) {
  MPP_RETURN_IF_ERROR(CheckPassword(password));
  MPP_ASSIGN_OR_RETURN(auto account, store_.FindAccount(user));
  if (!account) return Error::NotFound("no staff account " + user);
  MPP_ASSIGN_OR_RETURN(account->password_hash,
                       crypto::Argon2idHashPassword(password, password_params_));
  account->password_changed_ms = core_.clock().NowMillis();
  MPP_RETURN_IF_ERROR(store_.UpdateAccount(*account));
  MPP_RETURN_IF_ERROR(store_.DeleteSessionsOf(user));
  return Audit(by, "staff passwd", user, "");
}

Result<StaffActor> StaffAccounts::Actor(const std::string& user) {
  MPP_ASSIGN_OR_RETURN(auto account, store_.FindAccount(user));
  if (!account) {
    return Error::NotFound("no staff account " + user +
                           " (mpp-server staff list shows them; staff add makes one)");
  }
  if (account->disabled()) {
    return Error::PermissionDenied("staff account " + user + " is disabled");
  }
  return StaffActor{account->user, account->agency, account->role};
}

Result<StaffLogin> StaffAccounts::Login(const std::string& user, const std::string& password,
                                        const std::string& address, int* retry_after_s) {
  const int64_t now = core_.clock().NowMillis();
  const std::string account_key = "user:" + user;
  const std::string address_key = "addr:" + address;
  const int wait = std::max(per_account_.SecondsToWait(account_key, now),
                            per_address_.SecondsToWait(address_key, now));
  if (wait > 0) {
    if (retry_after_s != nullptr) *retry_after_s = wait;
    return Error::Unavailable("too many failed logins; try again in " + std::to_string(wait) +
                              " seconds");
  }
  if (password.size() > kMaxPasswordChars || user.size() > 64) return WrongLogin();
  MPP_ASSIGN_OR_RETURN(auto account, store_.FindAccount(user));
  // Always one Argon2id verification, so an unknown user costs the same time as a known one.
  const bool password_ok =
      crypto::Argon2idVerifyPassword(password, account ? account->password_hash : DummyHash());
  if (!account || !password_ok || account->disabled()) {
    per_account_.Failed(account_key, now);
    per_address_.Failed(address_key, now);
    return WrongLogin();
  }
  per_account_.Succeeded(account_key);
  // Sessions past their absolute expiry are removed now and then: at each login.
  MPP_RETURN_IF_ERROR(store_.DeleteSessionsBefore(now - Ms(kAbsoluteExpiry)));
  StaffLogin login;
  login.session_id = RandomToken(32);
  login.csrf = RandomToken(32);
  login.actor = StaffActor{account->user, account->agency, account->role};
  login.expires_ms = now + Ms(kAbsoluteExpiry);
  MPP_RETURN_IF_ERROR(store_.InsertSession(
      StaffSession{HashOfSessionId(login.session_id), account->user, login.csrf, now, now}));
  MPP_RETURN_IF_ERROR(Audit(user, "login", user, "from " + address));
  return login;
}

Result<StaffLogin> StaffAccounts::Authenticate(const std::string& session_id) {
  if (session_id.empty() || session_id.size() > 128) return SessionEnded();
  const Bytes id_hash = HashOfSessionId(session_id);
  MPP_ASSIGN_OR_RETURN(auto session, store_.FindSession(id_hash));
  if (!session) return SessionEnded();
  const int64_t now = core_.clock().NowMillis();
  MPP_ASSIGN_OR_RETURN(auto account, store_.FindAccount(session->user));
  const bool expired = now - session->last_seen_ms > Ms(kIdleExpiry) ||
                       now - session->created_ms > Ms(kAbsoluteExpiry);
  if (!account || account->disabled() || expired ||
      account->password_changed_ms > session->created_ms) {
    MPP_RETURN_IF_ERROR(store_.DeleteSession(id_hash));
    return SessionEnded();
  }
  if (now - session->last_seen_ms >= kTouchEveryMs) {
    MPP_RETURN_IF_ERROR(store_.TouchSession(id_hash, now));
  }
  StaffLogin login;
  login.session_id = session_id;
  login.csrf = session->csrf;
  login.actor = StaffActor{account->user, account->agency, account->role};
  login.expires_ms = session->created_ms + Ms(kAbsoluteExpiry);
  return login;
}

Result<void> StaffAccounts::Logout(const std::string& session_id) {
  return store_.DeleteSession(HashOfSessionId(session_id));
}

}  // namespace mpp::server
