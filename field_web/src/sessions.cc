#include "sessions.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>

#include "mpp/sync/bytes.h"
#include "mpp/sync/crypto.h"

namespace mpp::field_web {
namespace {

std::string RandomToken() { return ToHex(crypto::RandomBytes(32)); }

std::string HashOf(const std::string& cookie_id) {
  const crypto::Sha256Digest digest = crypto::Sha256(ViewOf(cookie_id));
  return ToHex(digest);
}

}  // namespace

Sessions::Sessions() { NewPairingCode(); }

void Sessions::NewPairingCode() {
  // Uniform over 000000-999999: rejection sampling of 20 random bits.
  uint32_t value = 0;
  do {
    std::array<uint8_t, 4> bytes{};
    crypto::RandomBytes(bytes);
    value = (uint32_t{bytes[0]} << 16 | uint32_t{bytes[1]} << 8 | bytes[2]) & 0xFFFFF;
  } while (value >= 1'000'000);
  std::string code = std::to_string(value);
  pairing_code_ = std::string(6 - code.size(), '0') + code;
  pairing_failures_ = 0;
}

Sessions::NewSession Sessions::Create(bool paired, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  Evict(now_ms);
  NewSession created{RandomToken(), SessionView{RandomToken(), paired, false}};
  by_hash_[HashOf(created.cookie_id)] = Entry{created.view, now_ms};
  return created;
}

std::optional<SessionView> Sessions::Find(const std::string& cookie_id, int64_t now_ms) {
  if (cookie_id.size() != 64) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto it = by_hash_.find(HashOf(cookie_id));
  if (it == by_hash_.end()) return std::nullopt;
  if (now_ms - it->second.last_used_ms > kSessionIdleMs) {
    by_hash_.erase(it);
    return std::nullopt;
  }
  it->second.last_used_ms = now_ms;
  return it->second.view;
}

Result<void> Sessions::Pair(const std::string& cookie_id, const std::string& code) {
  std::lock_guard lock(mutex_);
  auto it = by_hash_.find(HashOf(cookie_id));
  if (it == by_hash_.end()) return Error::NotFound("the session ended; reload the page");
  // Equal lengths are compared in constant time; a code of another length is simply wrong.
  const bool right = code.size() == pairing_code_.size() &&
                     CRYPTO_memcmp(code.data(), pairing_code_.data(), code.size()) == 0;
  if (!right) {
    if (++pairing_failures_ >= kMaxPairingFailures) {
      NewPairingCode();
      return Error::Unauthenticated(
          "the pairing code is wrong; after five wrong tries the laptop shows a new code");
    }
    return Error::Unauthenticated("the pairing code is wrong; type the code the laptop shows");
  }
  it->second.view.paired = true;
  NewPairingCode();  // one code, one tablet
  return Ok();
}

void Sessions::MarkUnlocked(const std::string& cookie_id) {
  std::lock_guard lock(mutex_);
  auto it = by_hash_.find(HashOf(cookie_id));
  if (it != by_hash_.end()) it->second.view.unlocked = true;
}

void Sessions::LockAll() {
  std::lock_guard lock(mutex_);
  for (auto& [hash, entry] : by_hash_) entry.view.unlocked = false;
}

std::string Sessions::PairingCode() const {
  std::lock_guard lock(mutex_);
  return pairing_code_;
}

void Sessions::Evict(int64_t now_ms) {
  std::erase_if(by_hash_, [&](const auto& item) {
    return now_ms - item.second.last_used_ms > kSessionIdleMs;
  });
  // Unpaired sessions go first, so a LAN client opening many cannot push the laptop's out.
  while (by_hash_.size() >= kMaxSessions) {
    auto first_to_go =
        std::min_element(by_hash_.begin(), by_hash_.end(), [](const auto& a, const auto& b) {
          return std::pair(a.second.view.paired, a.second.last_used_ms) <
                 std::pair(b.second.view.paired, b.second.last_used_ms);
        });
    by_hash_.erase(first_to_go);
  }
}

}  // namespace mpp::field_web
