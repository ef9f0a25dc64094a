// A latency histogram cheap enough to record every send: log-linear buckets (HdrHistogram's
// layout with 3 significant bits), exact below 16 µs and 8 per power of two above, so that a
// bucket is at most 1/8 as wide as its values (a quantile within 12.5%). One writer (a loop
// thread) records; any thread reads into a histogram_counts, where snapshots are merged and
// summarised.
#pragma once

#include "metrics/counter.hpp"
#include "rmq/metrics.hpp"

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace rmq::metrics {

/// Values are whole microseconds; anything above 2^40 µs (12.7 days) counts as 2^40 − 1.
inline constexpr unsigned linear_buckets = 16;
inline constexpr unsigned sub_bucket_bits = 3;
inline constexpr unsigned max_octave = 39;
inline constexpr std::size_t bucket_count =
    linear_buckets + (max_octave - 3) * (std::size_t{1} << sub_bucket_bits);

/// The bucket of a value in µs.
[[nodiscard]] constexpr std::size_t bucket_of(std::uint64_t us) noexcept {
  if (us < linear_buckets) return static_cast<std::size_t>(us);
  constexpr std::uint64_t top = (std::uint64_t{1} << (max_octave + 1)) - 1;
  if (us > top) us = top;
  const unsigned octave = 63U - static_cast<unsigned>(std::countl_zero(us));  // 4..max_octave
  const std::uint64_t sub = (us >> (octave - sub_bucket_bits)) & 7U;
  return linear_buckets + (octave - 4) * 8 + static_cast<std::size_t>(sub);
}

/// The highest value (µs) that falls in bucket `b`.
[[nodiscard]] constexpr std::uint64_t bucket_top(std::size_t b) noexcept {
  if (b < linear_buckets) return b;
  const std::size_t octave = 4 + (b - linear_buckets) / 8;
  const std::uint64_t sub = (b - linear_buckets) % 8;
  const unsigned shift = static_cast<unsigned>(octave) - sub_bucket_bits;
  return ((8 + sub + 1) << shift) - 1;
}

class latency_histogram;

/// A plain copy of histograms, summed: what readers merge and summarise.
struct histogram_counts {
  std::array<std::uint64_t, bucket_count> buckets{};
  std::uint64_t sum_us = 0;
  std::uint64_t max_us = 0;

  /// Adds what `h` holds now (any thread).
  void add(const latency_histogram& h) noexcept;
  /// Adds another copy.
  void add(const histogram_counts& other) noexcept;
  /// Count, p50, p99, p99.9 (each its bucket's highest value, never above max), max and sum.
  [[nodiscard]] latency_summary summary() const noexcept;
};

class latency_histogram {
 public:
  /// The writer's thread only. Negative durations count as zero.
  void record(std::chrono::nanoseconds latency) noexcept {
    const auto ns = latency.count();
    const std::uint64_t us = ns > 0 ? static_cast<std::uint64_t>(ns) / 1000 : 0;
    buckets_[bucket_of(us)].bump();
    sum_us_.bump(us);
    if (us > max_us_.get()) max_us_.set(us);
  }

 private:
  friend struct histogram_counts;
  std::array<counter, bucket_count> buckets_;
  counter sum_us_;
  counter max_us_;
};

}  // namespace rmq::metrics
