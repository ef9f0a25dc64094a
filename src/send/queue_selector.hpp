// Picks the message queue for one send attempt: round robin per topic, avoiding the broker of
// the previous failed attempt, and with fault tolerance on, brokers in a not-available window
// (Java 5.x MQFaultStrategy.selectOneMessageQueue).
#pragma once

#include "route/broker_registry.hpp"
#include "send/fault_tolerance.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace rmq::send {

using route::publish_queue;

inline constexpr std::size_t no_queue = static_cast<std::size_t>(-1);

struct selection_input {
  std::span<const publish_queue> queues;
  std::optional<broker_id> last_broker;     ///< broker of the previous attempt of this send
  const fault_tolerance* faults = nullptr;  ///< nullptr: fault tolerance off
  fault_clock::time_point now{};
};

/// Advances `round_robin` (the topic's position) and returns an index into `queues`, or
/// no_queue when there are none. Preference, as in the Java client: a queue that is available
/// and not on the last broker; else reachable and not on the last broker; else (fault tolerance
/// off: else) the next queue in plain round robin. Each scan looks at most queues.size() queues.
[[nodiscard]] std::size_t select_queue(const selection_input& in, std::uint32_t& round_robin);

}  // namespace rmq::send
