// A small seeded generator (splitmix64) for the chaos test: the same seed gives the same numbers
// on every platform and standard library, unlike the <random> distributions.
#pragma once

#include <cstdint>

namespace rmq::test::chaos {

class seeded_random {
 public:
  explicit seeded_random(std::uint64_t seed) noexcept : state_(seed) {}

  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// 0..n-1 (n > 0).
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
  /// lo..hi inclusive.
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept {
    return lo + below(hi - lo + 1);
  }
  bool chance(double p) noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

 private:
  std::uint64_t state_;
};

}  // namespace rmq::test::chaos
