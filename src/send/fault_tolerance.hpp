// Latency fault tolerance: brokers that answered slowly or failed are avoided for a while.
// The rules are those of the Java 5.x client (MQFaultStrategy, LatencyFaultToleranceImpl); the
// tables are configurable (5.x defaults, or the harsher 4.9 ones). Time is passed in, so tests
// run millisecond tables without waiting.
#pragma once

#include "route/broker_registry.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

namespace rmq::send {

using fault_clock = std::chrono::steady_clock;
using route::broker_id;

/// latency_max[i] → not_available[i]: a latency of at least latency_max[i] isolates the broker
/// for not_available[i]. An isolating failure counts as `isolation_latency`.
struct fault_tables {
  std::vector<std::chrono::milliseconds> latency_max;
  std::vector<std::chrono::milliseconds> not_available;
  std::chrono::milliseconds isolation_latency;

  [[nodiscard]] static fault_tables v5();    ///< 50…15000 ms → 0…30 s; isolation 10 s
  [[nodiscard]] static fault_tables v4_9();  ///< 50…15000 ms → 0…600 s; isolation 30 s
  [[nodiscard]] bool valid() const noexcept;
};

/// How one attempt counts for its broker.
struct fault_report {
  /// A failure that isolates the broker: it counts as `isolation_latency`, not its latency.
  bool isolating = false;
  /// False: the outcome says the broker cannot serve sends now (queue selection then avoids it
  /// even when every broker is inside its not-available window).
  bool reachable = true;
};

/// What an attempt changed in its broker's standing (what the producer logs).
enum class fault_change : std::uint8_t {
  none,      ///< still available, or still isolated (an attempt in flight when it was isolated)
  isolated,  ///< it was available, and this outcome opened a not-available window
  back,      ///< it was isolated, its window has passed, and this outcome opened none
};

class fault_tolerance {
 public:
  explicit fault_tolerance(fault_tables tables = fault_tables::v5()) : tables_(std::move(tables)) {}

  /// After an attempt on `broker`: its latency and what the outcome says of the broker. A
  /// broker failing for good is isolated once, and back once it answers again.
  fault_change update(broker_id broker, std::chrono::milliseconds latency, fault_report report,
                      fault_clock::time_point now);
  /// When `broker` becomes available again (the past when it is).
  [[nodiscard]] fault_clock::time_point available_from(broker_id broker) const noexcept {
    return broker < items_.size() ? items_[broker].available_from : fault_clock::time_point{};
  }

  /// Not inside a not-available window. Unknown brokers are available.
  [[nodiscard]] bool available(broker_id broker, fault_clock::time_point now) const noexcept;
  /// Last outcome did not say unreachable. Unknown brokers are reachable.
  [[nodiscard]] bool reachable(broker_id broker) const noexcept;
  /// How long a latency isolates a broker under the tables.
  [[nodiscard]] std::chrono::milliseconds not_available_for(
      std::chrono::milliseconds latency) const;

  [[nodiscard]] const fault_tables& tables() const noexcept { return tables_; }

 private:
  struct item {
    bool known = false;
    bool reachable = true;
    bool isolated = false;  ///< as of its last update (fault_change)
    std::chrono::milliseconds latency{0};
    fault_clock::time_point available_from{};
  };

  fault_tables tables_;
  std::vector<item> items_;  // indexed by broker_id
};

}  // namespace rmq::send
