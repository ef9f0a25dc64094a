#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace rmq::bench {

histogram::histogram() : counts_(counts_length(), 0) {}

std::size_t histogram::index_of(std::uint64_t value) noexcept {
  if (value < sub_count) return static_cast<std::size_t>(value);
  constexpr std::uint64_t top = (std::uint64_t{1} << (max_magnitude + 1)) - 1;
  value = std::min(value, top);
  // magnitude m >= sub_bits: the bucket of 2^m..2^(m+1)-1 has unit 2^(m - sub_bits + 1).
  const unsigned magnitude = 63u - static_cast<unsigned>(std::countl_zero(value));
  const unsigned shift = magnitude - sub_bits + 1;
  const std::uint64_t sub = value >> shift;  // in [half_count, sub_count)
  return static_cast<std::size_t>(sub_count + (shift - 1) * half_count + (sub - half_count));
}

std::uint64_t histogram::lowest_equivalent(std::size_t index) noexcept {
  if (index < sub_count) return index;
  const std::size_t rest = index - sub_count;
  const unsigned shift = static_cast<unsigned>(rest / half_count) + 1;
  const std::uint64_t sub = half_count + rest % half_count;
  return sub << shift;
}

std::uint64_t histogram::highest_equivalent(std::size_t index) noexcept {
  if (index < sub_count) return index;
  const unsigned shift = static_cast<unsigned>((index - sub_count) / half_count) + 1;
  return lowest_equivalent(index) + (std::uint64_t{1} << shift) - 1;
}

void histogram::merge(const histogram& other) noexcept {
  if (other.total_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  sum_ += other.sum_;
  sum_sq_ += other.sum_sq_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
  sum_sq_ = 0;
}

double histogram::mean() const noexcept {
  return total_ == 0 ? 0.0 : sum_ / static_cast<double>(total_);
}

double histogram::stddev() const noexcept {
  if (total_ == 0) return 0.0;
  const double m = mean();
  const double variance = sum_sq_ / static_cast<double>(total_) - m * m;
  return variance > 0 ? std::sqrt(variance) : 0.0;
}

std::uint64_t histogram::value_at_percentile(double percentile) const noexcept {
  if (total_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  auto target =
      static_cast<std::uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(total_)));
  target = std::clamp<std::uint64_t>(target, 1, total_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= target) return std::min(highest_equivalent(i), max_);
  }
  return max_;
}

std::uint64_t histogram::count_at_or_below(std::uint64_t value) const noexcept {
  const std::size_t last = index_of(value);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i <= last && i < counts_.size(); ++i) seen += counts_[i];
  return seen;
}

}  // namespace rmq::bench
