/// \file
/// rmq::queue_selector: how an ordered send chooses its queue.
#pragma once

#include "rmq/message.hpp"
#include "rmq/message_queue.hpp"

#include <cstddef>
#include <functional>
#include <span>

namespace rmq {

/// Chooses the queue of an ordered send from the topic's queues (sorted as the Java client
/// sorts them). Must return an index below queues.size(); a selector that throws, is empty or
/// returns an index out of range fails that send (errc::queue_selector_failed).
using queue_selector =
    std::function<std::size_t(std::span<const message_queue> queues, const message& msg)>;

}  // namespace rmq
