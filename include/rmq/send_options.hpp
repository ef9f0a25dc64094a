/// \file
/// rmq::send_options: what one send may set for itself — its own timeout and, for an ordered
/// send, its queue or the selector that picks it. Every send form takes it.
#pragma once

#include "rmq/message_queue.hpp"
#include "rmq/queue_selector.hpp"

#include <chrono>
#include <optional>

namespace rmq {

/// Per-send settings (Java's send(msg, timeout), send(msg, mq), send(msg, selector, arg)). A
/// default-constructed value changes nothing. Taken over by the send: the caller's object may
/// die as soon as the initiating call returns.
struct send_options {
  /// This send's whole budget, replacing producer_config::send_timeout for it (retries, route
  /// lookup, back-pressure wait and connection included), 1 ms..1 h. Zero: the configured one.
  /// Anything else fails the send with errc::invalid_argument.
  std::chrono::milliseconds timeout{0};
  /// Ordered send to this queue of the message's topic: never changes queue (a queue of another
  /// topic fails with invalid_argument).
  std::optional<message_queue> queue;
  /// Ordered send to the queue this selector picks (called once, on a loop thread, and destroyed
  /// when the send completes). Setting both `queue` and `selector` fails with invalid_argument.
  queue_selector selector;
};

}  // namespace rmq
