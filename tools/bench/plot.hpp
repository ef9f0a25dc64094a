// Latency by percentile as a self-contained SVG, drawn like HdrHistogram's plots: the x axis is
// log-scaled in 1/(1-percentile), ticked at 0 %, 90 %, 99 %, 99.9 %, ...
#pragma once

#include "histogram.hpp"

#include <string>
#include <string_view>

namespace rmq::bench {

/// `h` in nanoseconds; the y axis is in microseconds or milliseconds, whichever reads better.
[[nodiscard]] std::string render_percentile_svg(const histogram& h, std::string_view title);

}  // namespace rmq::bench
