// The app's sessions: the laptop's browser is paired by being there, a LAN browser by the code
// the laptop shows; a wrong code five times in a row, or a pairing, makes a new code; locking
// takes every session's unlocked flag away; unpaired sessions are the first to go when full.
#include "sessions.h"

#include <gtest/gtest.h>

#include <set>

namespace mpp::field_web {
namespace {

constexpr int64_t kNow = 1'764'300'000'000;

TEST(Sessions, ALanBrowserPairsWithTheCodeAndTheCodeChangesAfterward) {
  Sessions sessions;
  const std::string code = sessions.PairingCode();
  ASSERT_EQ(code.size(), 6u);
  auto tablet = sessions.Create(/*paired=*/false, kNow);
  EXPECT_FALSE(tablet.view.paired);
  EXPECT_EQ(tablet.cookie_id.size(), 64u);
  EXPECT_NE(tablet.view.csrf, tablet.cookie_id);
  ASSERT_TRUE(sessions.Pair(tablet.cookie_id, code).ok());
  EXPECT_TRUE(sessions.Find(tablet.cookie_id, kNow)->paired);
  EXPECT_NE(sessions.PairingCode(), code) << "one code pairs one tablet";
  auto other = sessions.Create(false, kNow);
  EXPECT_FALSE(sessions.Pair(other.cookie_id, code).ok()) << "a used code pairs no other";
}

TEST(Sessions, FiveWrongCodesInARowMakeANewCode) {
  Sessions sessions;
  const std::string code = sessions.PairingCode();
  auto tablet = sessions.Create(false, kNow);
  const std::string wrong = code == "000000" ? "000001" : "000000";
  for (int i = 1; i < Sessions::kMaxPairingFailures; ++i) {
    auto refused = sessions.Pair(tablet.cookie_id, wrong);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kUnauthenticated);
    EXPECT_EQ(sessions.PairingCode(), code) << "after " << i << " wrong tries";
  }
  auto fifth = sessions.Pair(tablet.cookie_id, wrong);
  ASSERT_FALSE(fifth.ok());
  EXPECT_NE(fifth.error().message().find("new code"), std::string::npos);
  EXPECT_NE(sessions.PairingCode(), code);
  EXPECT_FALSE(sessions.Pair(tablet.cookie_id, code).ok()) << "the old code is dead";
  EXPECT_FALSE(sessions.Find(tablet.cookie_id, kNow)->paired);
  EXPECT_FALSE(sessions.Pair(tablet.cookie_id, "12345").ok()) << "another length";
}

TEST(Sessions, CodesAreSixDigitsAndVary) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    Sessions sessions;
    const std::string code = sessions.PairingCode();
    ASSERT_EQ(code.find_first_not_of("0123456789"), std::string::npos) << code;
    seen.insert(code);
  }
  EXPECT_GT(seen.size(), 45u);
}

TEST(Sessions, LockingTakesEveryUnlockAwayAndUnknownCookiesFindNothing) {
  Sessions sessions;
  auto laptop = sessions.Create(true, kNow);
  sessions.MarkUnlocked(laptop.cookie_id);
  EXPECT_TRUE(sessions.Find(laptop.cookie_id, kNow)->unlocked);
  sessions.LockAll();
  EXPECT_FALSE(sessions.Find(laptop.cookie_id, kNow)->unlocked);
  EXPECT_FALSE(sessions.Find(std::string(64, 'a'), kNow).has_value());
  EXPECT_FALSE(sessions.Find("", kNow).has_value());
}

TEST(Sessions, IdleSessionsExpireAndUnpairedOnesGoFirstWhenFull) {
  Sessions sessions;
  auto laptop = sessions.Create(true, kNow);
  for (size_t i = 0; i < 2 * Sessions::kMaxSessions; ++i) sessions.Create(false, kNow + 1 + i);
  EXPECT_TRUE(sessions.Find(laptop.cookie_id, kNow + 1000).has_value())
      << "a LAN client opening many sessions pushed the laptop's out";
  EXPECT_FALSE(sessions.Find(laptop.cookie_id, kNow + 1000 + Sessions::kSessionIdleMs + 1));
}

}  // namespace
}  // namespace mpp::field_web
