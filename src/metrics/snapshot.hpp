// Builds producer::metrics() from the loops' tallies: sums each broker, topic and connection
// over the loops, then summarises.
#pragma once

#include "metrics/loop_metrics.hpp"
#include "metrics/send_tally.hpp"
#include "rmq/metrics.hpp"

#include <functional>
#include <map>
#include <string>

namespace rmq::metrics {

class snapshot_builder {
 public:
  /// Any thread: adds what one loop's tallies hold now (under its lock).
  void add(const loop_metrics& loop);
  /// The snapshot, with `totals` (producer::stats()) and the time taken.
  [[nodiscard]] producer_metrics finish(const producer_stats& totals) &&;

 private:
  struct broker_sum {
    std::string address;
    send_figures_sum attempts;
  };
  struct link_sum {
    connection_figures figures;
    bool name_server = false;
    bool seen = false;
  };
  std::map<std::string, broker_sum, std::less<>> brokers_;
  std::map<std::string, send_figures_sum, std::less<>> topics_;
  std::map<std::string, link_sum, std::less<>> links_;
};

}  // namespace rmq::metrics
