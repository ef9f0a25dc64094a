#include "metrics/latency_histogram.hpp"

#include <algorithm>

namespace rmq::metrics {

void histogram_counts::add(const latency_histogram& h) noexcept {
  for (std::size_t b = 0; b < bucket_count; ++b) buckets[b] += h.buckets_[b].get();
  sum_us += h.sum_us_.get();
  max_us = std::max(max_us, h.max_us_.get());
}

void histogram_counts::add(const histogram_counts& other) noexcept {
  for (std::size_t b = 0; b < bucket_count; ++b) buckets[b] += other.buckets[b];
  sum_us += other.sum_us;
  max_us = std::max(max_us, other.max_us);
}

latency_summary histogram_counts::summary() const noexcept {
  latency_summary s;
  for (const std::uint64_t n : buckets) s.count += n;
  s.sum = std::chrono::microseconds(sum_us);
  s.max = std::chrono::microseconds(max_us);
  if (s.count == 0) return s;
  // The value at rank ceil(q × count), 1-based: the first bucket whose running total reaches it.
  const auto at = [&](std::uint64_t per_thousand) {
    const std::uint64_t rank = std::max<std::uint64_t>(1, (s.count * per_thousand + 999) / 1000);
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < bucket_count; ++b) {
      seen += buckets[b];
      if (seen >= rank) return std::chrono::microseconds(std::min(bucket_top(b), max_us));
    }
    return s.max;
  };
  s.p50 = at(500);
  s.p99 = at(990);
  s.p999 = at(999);
  return s;
}

}  // namespace rmq::metrics
