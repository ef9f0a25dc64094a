// The latency histogram: bucket bounds, quantiles, merging.
#include "metrics/latency_histogram.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>

using namespace std::chrono_literals;
namespace m = rmq::metrics;

TEST_CASE("every value falls in a bucket whose top is at most 1/8 above it") {
  std::uint64_t previous_top = 0;
  for (std::size_t b = 0; b < m::bucket_count; ++b) {
    const std::uint64_t top = m::bucket_top(b);
    if (b > 0) CHECK(top > previous_top);  // buckets are ordered and disjoint
    CHECK(m::bucket_of(top) == b);
    CHECK(m::bucket_of(previous_top + (b > 0 ? 1 : 0)) == b);
    previous_top = top;
  }
  for (std::uint64_t v : {0ULL, 1ULL, 15ULL, 16ULL, 17ULL, 100ULL, 1000ULL, 123'456ULL,
                          (1ULL << 39) + 5, (1ULL << 40) - 1}) {
    CAPTURE(v);
    const std::uint64_t top = m::bucket_top(m::bucket_of(v));
    CHECK(top >= v);
    CHECK(top - v <= v / 8);
  }
  // Beyond the range: the last bucket.
  CHECK(m::bucket_of(1ULL << 50) == m::bucket_count - 1);
}

TEST_CASE("quantiles, max and sum of a known distribution") {
  m::latency_histogram h;
  // 1..1000 µs, once each.
  for (int us = 1; us <= 1000; ++us) h.record(std::chrono::microseconds(us));
  m::histogram_counts counts;
  counts.add(h);
  const rmq::latency_summary s = counts.summary();
  CHECK(s.count == 1000);
  CHECK(s.max == 1000us);
  CHECK(s.sum == std::chrono::microseconds(500'500));
  // Each within its bucket (≤ 12.5% above the exact value), never below it.
  CHECK(s.p50 >= 500us);
  CHECK(s.p50 <= 563us);
  CHECK(s.p99 >= 990us);
  CHECK(s.p99 <= 1000us);  // capped by max
  CHECK(s.p999 >= 999us);
  CHECK(s.p999 <= 1000us);
}

TEST_CASE("an empty histogram summarises to zeros; sub-microsecond and negative samples are 0") {
  m::histogram_counts empty;
  const rmq::latency_summary s = empty.summary();
  CHECK(s.count == 0);
  CHECK(s.p50 == 0us);
  CHECK(s.max == 0us);

  m::latency_histogram h;
  h.record(500ns);
  h.record(-3ms);
  m::histogram_counts counts;
  counts.add(h);
  CHECK(counts.summary().count == 2);
  CHECK(counts.summary().max == 0us);
}

TEST_CASE("merged histograms summarise as one") {
  m::latency_histogram fast;
  m::latency_histogram slow;
  for (int i = 0; i < 990; ++i) fast.record(100us);
  for (int i = 0; i < 10; ++i) slow.record(50ms);
  m::histogram_counts a;
  a.add(fast);
  m::histogram_counts b;
  b.add(slow);
  m::histogram_counts all;
  all.add(a);
  all.add(b);
  const rmq::latency_summary s = all.summary();
  CHECK(s.count == 1000);
  CHECK(s.p50 >= 100us);
  CHECK(s.p50 <= 113us);
  CHECK(s.p99 <= 113us);  // the 990th sample is still a fast one
  CHECK(s.p999 >= 50ms);
  CHECK(s.max == 50ms);
}
