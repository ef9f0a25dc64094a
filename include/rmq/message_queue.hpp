/// \file
/// rmq::message_queue: one queue of a topic on one broker.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace rmq {

/// Identifies one queue: (topic, broker name, queue id). Ordered like Java's MessageQueue
/// (topic, then broker name, then queue id), so sorted lists match the Java client's order.
struct message_queue {
  std::string topic;          ///< topic without namespace, as the user named it
  std::string broker_name;    ///< broker group name from the route (e.g. "broker-a")
  std::int32_t queue_id = 0;  ///< index of the queue on that broker (0-based)

  /// Same topic, broker name and queue id.
  friend bool operator==(const message_queue&, const message_queue&) = default;
  /// Topic, then broker name, then queue id.
  friend std::strong_ordering operator<=>(const message_queue&, const message_queue&) = default;
};

}  // namespace rmq

/// Lets rmq::message_queue key unordered containers.
template <>
struct std::hash<rmq::message_queue> {
  /// Combines the hashes of the topic, the broker name and the queue id.
  [[nodiscard]] std::size_t operator()(const rmq::message_queue& q) const noexcept {
    std::size_t h = std::hash<std::string_view>{}(q.topic);
    h ^= std::hash<std::string_view>{}(q.broker_name) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= std::hash<std::int32_t>{}(q.queue_id) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
  }
};
