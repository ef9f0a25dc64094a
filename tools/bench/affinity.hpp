// CPU pinning: rmq-bench on one CPU, the process it measures against (rmq-sim, the echo peer)
// on another, so neither steals the other's cycles and the numbers repeat.
#pragma once

#include <optional>
#include <utility>

namespace rmq::bench {

/// Two different CPUs this process may run on (first for rmq-bench, second for its peer), or
/// nullopt when fewer than two are allowed.
[[nodiscard]] std::optional<std::pair<int, int>> pick_cpus();
/// Pins the calling thread and every thread it creates later to `cpu`.
bool pin_this_thread(int cpu);

}  // namespace rmq::bench
