// A log-linear latency histogram in the manner of HdrHistogram: values below 2^sub_bits are
// counted exactly; above, every power-of-two range is split into 2^(sub_bits-1) equal buckets,
// so a bucket is never wider than 1/128 of its values (< 0.79 % value error). record() is a
// count-leading-zeros, a shift and an increment, with no allocation; histograms of several
// threads merge by adding counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rmq::bench {

class histogram {
 public:
  /// Bits of the sub-bucket index: 2^8 exact values, then 128 buckets per power of two.
  static constexpr unsigned sub_bits = 8;
  static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;
  static constexpr std::uint64_t half_count = sub_count / 2;
  /// Largest value kept in its own bucket; larger values count in the last bucket (their exact
  /// maximum is still kept by max()). 2^42 ns is about 73 minutes.
  static constexpr unsigned max_magnitude = 42;

  histogram();

  /// Counts one value (in the caller's unit, nanoseconds in rmq-bench).
  void record(std::uint64_t value) noexcept { record_n(value, 1); }
  void record_n(std::uint64_t value, std::uint64_t n) noexcept {
    counts_[index_of(value)] += n;
    total_ += n;
    sum_ += static_cast<double>(value) * static_cast<double>(n);
    sum_sq_ += static_cast<double>(value) * static_cast<double>(value) * static_cast<double>(n);
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }

  /// Adds every count of `other` (the histograms of several threads make one).
  void merge(const histogram& other) noexcept;
  /// Forgets every value, keeping the storage.
  void reset() noexcept;

  [[nodiscard]] std::uint64_t count() const noexcept { return total_; }
  [[nodiscard]] std::uint64_t count_at_index(std::size_t index) const noexcept {
    return counts_[index];
  }
  [[nodiscard]] std::uint64_t min() const noexcept { return total_ == 0 ? 0 : min_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept;
  [[nodiscard]] double stddev() const noexcept;

  /// The value below or at which `percentile` % of the values lie: the highest value of the
  /// bucket holding the ceil(p/100 × count)-th value, never above the exact maximum. 0 when empty.
  [[nodiscard]] std::uint64_t value_at_percentile(double percentile) const noexcept;
  /// How many values lie in buckets up to the one holding value_at_percentile(percentile).
  [[nodiscard]] std::uint64_t count_at_or_below(std::uint64_t value) const noexcept;

  /// Bucket geometry, exposed for tests and the .hgrm footer.
  [[nodiscard]] static std::size_t index_of(std::uint64_t value) noexcept;
  [[nodiscard]] static std::uint64_t lowest_equivalent(std::size_t index) noexcept;
  [[nodiscard]] static std::uint64_t highest_equivalent(std::size_t index) noexcept;
  [[nodiscard]] static constexpr std::size_t bucket_count() noexcept {
    return max_magnitude - sub_bits + 2;
  }
  [[nodiscard]] static constexpr std::size_t counts_length() noexcept {
    return sub_count + (bucket_count() - 1) * half_count;
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  double sum_ = 0;
  double sum_sq_ = 0;
};

}  // namespace rmq::bench
