#include "histogram.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using rmq::bench::histogram;

namespace {

/// The value of rank ceil(p/100 × n) in sorted data, as value_at_percentile defines it.
std::uint64_t reference_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

}  // namespace

TEST_CASE("every value from 1 us to 60 s is kept within 1 %") {
  // Walk the range geometrically, 0.1 % apart, and check each value's bucket bounds.
  for (double v = 1e3; v <= 60e9; v *= 1.001) {
    const auto value = static_cast<std::uint64_t>(v);
    const std::size_t index = histogram::index_of(value);
    const std::uint64_t low = histogram::lowest_equivalent(index);
    const std::uint64_t high = histogram::highest_equivalent(index);
    REQUIRE(low <= value);
    REQUIRE(value <= high);
    REQUIRE(static_cast<double>(high - low) <= 0.01 * static_cast<double>(value));
  }
}

TEST_CASE("bucket indices are contiguous and monotonic") {
  for (std::size_t i = 1; i < histogram::counts_length(); ++i) {
    REQUIRE(histogram::lowest_equivalent(i) == histogram::highest_equivalent(i - 1) + 1);
    REQUIRE(histogram::index_of(histogram::lowest_equivalent(i)) == i);
    REQUIRE(histogram::index_of(histogram::highest_equivalent(i)) == i);
  }
  // Values beyond the range count in the last bucket.
  CHECK(histogram::index_of(UINT64_MAX) == histogram::counts_length() - 1);
}

TEST_CASE("small values are exact") {
  histogram h;
  for (std::uint64_t v = 0; v < 256; ++v) h.record(v);
  CHECK(h.count() == 256);
  CHECK(h.min() == 0);
  CHECK(h.max() == 255);
  CHECK(h.value_at_percentile(50) == 127);
  CHECK(h.value_at_percentile(100) == 255);
}

TEST_CASE("percentiles match a sorted reference within 1 % on random data") {
  std::mt19937_64 rng(42);
  // Log-uniform over 1 us .. 60 s, plus a lognormal body: both shapes latency data takes.
  std::uniform_real_distribution<double> log_uniform(std::log(1e3), std::log(60e9));
  std::lognormal_distribution<double> body(std::log(80e3), 0.6);
  for (int shape = 0; shape < 2; ++shape) {
    histogram h;
    std::vector<std::uint64_t> values;
    for (int i = 0; i < 200000; ++i) {
      const double v = shape == 0 ? std::exp(log_uniform(rng)) : body(rng);
      const auto value = std::max<std::uint64_t>(1000, static_cast<std::uint64_t>(v));
      values.push_back(value);
      h.record(value);
    }
    std::sort(values.begin(), values.end());
    for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0}) {
      const double expected = static_cast<double>(reference_percentile(values, p));
      const double got = static_cast<double>(h.value_at_percentile(p));
      INFO("shape " << shape << " p" << p << " expected " << expected << " got " << got);
      CHECK(std::abs(got - expected) <= 0.01 * expected);
    }
    CHECK(h.max() == values.back());
    CHECK(h.min() == values.front());
  }
}

TEST_CASE("merging equals recording everything in one histogram") {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> dist(1000, 5'000'000);
  histogram a, b, all;
  for (int i = 0; i < 50000; ++i) {
    const std::uint64_t v = dist(rng);
    (i % 3 == 0 ? a : b).record(v);
    all.record(v);
  }
  histogram merged;
  merged.merge(a);
  merged.merge(b);
  CHECK(merged.count() == all.count());
  CHECK(merged.min() == all.min());
  CHECK(merged.max() == all.max());
  for (std::size_t i = 0; i < histogram::counts_length(); ++i) {
    REQUIRE(merged.count_at_index(i) == all.count_at_index(i));
  }
  CHECK(merged.mean() == doctest::Approx(all.mean()));
  merged.reset();
  CHECK(merged.count() == 0);
  CHECK(merged.value_at_percentile(99) == 0);
}
