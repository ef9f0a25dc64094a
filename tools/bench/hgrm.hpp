// Percentile distribution of a histogram, and HdrHistogram's .hgrm text form of it (the form
// that HdrHistogram's online plotter and its tools read).
#pragma once

#include "histogram.hpp"

#include <cstdint>
#include <ostream>
#include <vector>

namespace rmq::bench {

struct percentile_point {
  std::uint64_t value = 0;        ///< highest equivalent value of the bucket (histogram unit)
  double percentile = 0;          ///< 0..100
  std::uint64_t total_count = 0;  ///< values at or below `value`
};

/// The points HdrHistogram's percentile iterator reports: levels 0, 50, 75, 87.5, ... with
/// `ticks_per_half` steps per halving of the remaining distance, then one last point at 100.
[[nodiscard]] std::vector<percentile_point> percentile_distribution(const histogram& h,
                                                                    int ticks_per_half = 5);

/// Writes `h` as HdrHistogram's outputPercentileDistribution does: values divided by
/// `unit_ratio` (1e6: nanoseconds shown as milliseconds), three decimals.
void write_hgrm(std::ostream& out, const histogram& h, double unit_ratio = 1e6);

}  // namespace rmq::bench
