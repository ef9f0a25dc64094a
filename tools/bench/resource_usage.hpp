// The client's own CPU time and peak memory (getrusage of this process: the embedded rmq-sim is
// another process, so none of its CPU is counted).
#pragma once

#include <sys/resource.h>

#include <cstdint>

namespace rmq::bench {

struct resource_sample {
  double cpu_s = 0;  ///< user + system
  std::int64_t peak_rss_kib = 0;
};

[[nodiscard]] inline resource_sample sample_resources() noexcept {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return {seconds(usage.ru_utime) + seconds(usage.ru_stime),
          static_cast<std::int64_t>(usage.ru_maxrss)};
}

}  // namespace rmq::bench
