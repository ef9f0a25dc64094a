// Steal time: how long the hypervisor ran something else while a CPU of this VM wanted to run
// ("steal" in /proc/stat). Nothing on the guest can avoid those stalls, and on a VM they set the
// tail of every latency measured there, so rmq-bench reports them beside its percentiles.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace rmq::bench {

struct steal_sample {
  std::int64_t total_ms = 0;            ///< all CPUs (the "cpu" line)
  std::vector<std::int64_t> ms_by_cpu;  ///< index: CPU number ("cpuN" lines)
};

/// Parses /proc/stat text with clock ticks of `tick_ms`; nullopt when it has no steal column
/// (kernels before 2.6.11) or no aggregate line.
[[nodiscard]] std::optional<steal_sample> parse_steal(std::string_view proc_stat, double tick_ms);

/// Reads /proc/stat now; nullopt where there is none.
[[nodiscard]] std::optional<steal_sample> sample_steal();

}  // namespace rmq::bench
