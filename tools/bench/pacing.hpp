// Open-loop pacing: the i-th message of a run at R messages/s is due at start + i/R, whatever
// happened to the messages before it. Latency is measured from that intended time, so a stall
// counts against every message it delayed (coordinated omission corrected, as wrk2 does).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>

namespace rmq::bench {

using clock = std::chrono::steady_clock;

class pacer {
 public:
  pacer(clock::time_point start, double rate_per_s) noexcept : start_(start), rate_(rate_per_s) {}

  /// When message `index` (0-based, over all senders) is due.
  [[nodiscard]] clock::time_point intended(std::uint64_t index) const noexcept {
    // long double keeps whole nanoseconds exact over any realistic run (no accumulated drift).
    const long double offset_ns = static_cast<long double>(index) * 1e9L / rate_;
    return start_ + std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(offset_ns)));
  }
  /// How many messages are due by `now` (the next index to send if the sender is on time).
  [[nodiscard]] std::uint64_t due_by(clock::time_point now) const noexcept {
    if (now < start_) return 0;
    const auto elapsed = std::chrono::duration<long double>(now - start_).count();
    return static_cast<std::uint64_t>(std::floor(elapsed * rate_)) + 1;
  }
  [[nodiscard]] clock::time_point start() const noexcept { return start_; }
  [[nodiscard]] double rate() const noexcept { return rate_; }

 private:
  clock::time_point start_;
  double rate_;
};

}  // namespace rmq::bench
