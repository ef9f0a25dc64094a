#include "hgrm.hpp"

#include <cmath>
#include <cstdio>
#include <string>

namespace rmq::bench {

namespace {

// HdrHistogram's PercentileIterator.incrementIterationLevel.
double next_level(double level, int ticks_per_half) {
  const double halvings = std::floor(std::log2(100.0 / (100.0 - level)));
  const double ticks = ticks_per_half * std::pow(2.0, halvings + 1);
  return level + 100.0 / ticks;
}

}  // namespace

std::vector<percentile_point> percentile_distribution(const histogram& h, int ticks_per_half) {
  std::vector<percentile_point> points;
  const std::uint64_t total = h.count();
  if (total == 0) return points;
  double level = 0;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < histogram::counts_length() && cumulative < total; ++i) {
    const std::uint64_t n = h.count_at_index(i);
    if (n == 0) continue;
    cumulative += n;
    const std::uint64_t value = std::min(histogram::highest_equivalent(i), h.max());
    const double reached = 100.0 * static_cast<double>(cumulative) / static_cast<double>(total);
    // The last bucket reports one level only, as the Java iterator does; then 100 follows.
    while (reached >= level) {
      points.push_back({value, level, cumulative});
      level = next_level(level, ticks_per_half);
      if (cumulative == total) break;
    }
    if (cumulative == total) points.push_back({value, 100.0, cumulative});
  }
  return points;
}

void write_hgrm(std::ostream& out, const histogram& h, double unit_ratio) {
  char line[160];
  std::snprintf(line, sizeof line, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
                "1/(1-Percentile)");
  out << line;
  for (const percentile_point& p : percentile_distribution(h)) {
    const double value = static_cast<double>(p.value) / unit_ratio;
    const double fraction = p.percentile / 100.0;
    if (p.percentile < 100.0) {
      std::snprintf(line, sizeof line, "%12.3f %2.12f %10llu %14.2f\n", value, fraction,
                    static_cast<unsigned long long>(p.total_count), 1.0 / (1.0 - fraction));
    } else {
      std::snprintf(line, sizeof line, "%12.3f %2.12f %10llu\n", value, fraction,
                    static_cast<unsigned long long>(p.total_count));
    }
    out << line;
  }
  std::snprintf(line, sizeof line, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n",
                h.mean() / unit_ratio, h.stddev() / unit_ratio);
  out << line;
  std::snprintf(line, sizeof line, "#[Max     = %12.3f, Total count    = %12llu]\n",
                static_cast<double>(h.max()) / unit_ratio,
                static_cast<unsigned long long>(h.count()));
  out << line;
  std::snprintf(line, sizeof line, "#[Buckets = %12zu, SubBuckets     = %12llu]\n",
                histogram::bucket_count(), static_cast<unsigned long long>(histogram::sub_count));
  out << line;
}

}  // namespace rmq::bench
