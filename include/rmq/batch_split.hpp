/// \file
/// rmq::split_batch: cuts a list of messages into batches that brokers take.
#pragma once

#include "rmq/message.hpp"

#include <cstddef>
#include <span>
#include <vector>

namespace rmq {

/// The broker's default maxMessageSize, producer_config::max_message_size's default: 4 MiB.
inline constexpr std::size_t default_max_batch_bytes = 4u * 1024 * 1024;

/// Cuts `messages`, in their order, into runs to send with send_batch: each run's batch body —
/// what a broker counts against its maxMessageSize, which is also what send_batch checks
/// against producer_config::max_message_size: per message 22 bytes of record header, the body
/// and the properties as the producer writes them, a UNIQ_KEY included — is at most
/// `max_batch_bytes`, and its messages share their topic and wait_store_msg_ok, as a batch
/// must (a change starts a new run). A message too large to share a run is a run of its own:
/// its send then fails with errc::body_too_large, as a lone send would. Nothing else is checked
/// (send_batch validates each run). Properties that send hooks add (producer_config::send_hooks)
/// are not known here: leave them room in `max_batch_bytes`. Returns views into `messages`,
/// valid while it is; an empty list gives no run.
[[nodiscard]] std::vector<std::span<const message>> split_batch(
    std::span<const message> messages, std::size_t max_batch_bytes = default_max_batch_bytes);

}  // namespace rmq
