// Time and randomness behind small interfaces, so tests and the simulator can drive them.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

namespace mpp::sync {

// Wall time in milliseconds since the Unix epoch, and sleeping. The system clock in production;
// a fake that moves only when told in tests, so backoff never really sleeps there.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMillis() = 0;
  virtual void SleepFor(std::chrono::milliseconds duration) = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMillis() override;
  void SleepFor(std::chrono::milliseconds duration) override;
};

// A test clock: time moves only through Advance/Set or SleepFor (which advances instantly).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMillis() override { return now_ms_; }
  void SleepFor(std::chrono::milliseconds duration) override { now_ms_ += duration.count(); }
  void Advance(int64_t ms) { now_ms_ += ms; }
  void Set(int64_t ms) { now_ms_ = ms; }

 private:
  int64_t now_ms_;
};

// Random bytes. Production uses OpenSSL's CSPRNG; the simulator uses a seeded generator so a
// failing seed replays exactly. Key material is always taken from the system source.
class Rng {
 public:
  virtual ~Rng() = default;
  virtual void Fill(std::span<uint8_t> out) = 0;
  uint64_t NextU64();
  // Uniform in [0, bound). bound must be > 0.
  uint64_t Uniform(uint64_t bound);
};

class SystemRng final : public Rng {
 public:
  void Fill(
      std::span<uint8_t> out) override;  // aborts if the OS has no entropy (never returns junk)
};

// xoshiro256** seeded through splitmix64: fast, good enough for simulation, never for keys.
class SeededRng final : public Rng {
 public:
  explicit SeededRng(uint64_t seed);
  void Fill(std::span<uint8_t> out) override;

 private:
  uint64_t Next();
  uint64_t s_[4];
};

}  // namespace mpp::sync
