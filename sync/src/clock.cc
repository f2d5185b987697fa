#include "mpp/sync/clock.h"

#include <cassert>
#include <thread>

#include "mpp/sync/crypto.h"

namespace mpp::sync {

namespace {

uint64_t RotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// splitmix64 (Vigna): spreads any seed, including 0, into a well-mixed xoshiro state. xoshiro's
// state must never be all zero, and splitmix64 cannot produce four zero words in a row.
uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

int64_t SystemClock::NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SystemClock::SleepFor(std::chrono::milliseconds duration) {
  std::this_thread::sleep_for(duration);
}

uint64_t Rng::NextU64() {
  uint8_t bytes[8];
  Fill(bytes);
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];  // little-endian
  return value;
}

uint64_t Rng::Uniform(uint64_t bound) {
  assert(bound > 0);
  // 2^64 mod bound. Draws below it are rejected, so the accepted range [threshold, 2^64) holds
  // an exact multiple of bound values and `x % bound` is unbiased. At most half of all draws
  // are rejected (when bound is just over 2^63), so the loop ends quickly.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t x = NextU64();
    if (x >= threshold) return x % bound;
  }
}

void SystemRng::Fill(std::span<uint8_t> out) { crypto::RandomBytes(out); }

SeededRng::SeededRng(uint64_t seed) {
  for (uint64_t& word : s_) word = SplitMix64(seed);
}

uint64_t SeededRng::Next() {
  // xoshiro256** 1.0 (Blackman and Vigna, public domain reference).
  const uint64_t result = RotateLeft(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = RotateLeft(s_[3], 45);
  return result;
}

void SeededRng::Fill(std::span<uint8_t> out) {
  // Each 64-bit output is spent little-endian, 8 bytes at a time; the unused tail of the last
  // word is dropped, so a Fill of n bytes always consumes ceil(n / 8) outputs.
  size_t i = 0;
  while (i < out.size()) {
    uint64_t word = Next();
    for (int b = 0; b < 8 && i < out.size(); ++b, ++i) {
      out[i] = static_cast<uint8_t>(word);
      word >>= 8;
    }
  }
}

}  // namespace mpp::sync
