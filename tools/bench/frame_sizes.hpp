// Sizes on the wire of one send, for the raw-echo baseline: a SEND_MESSAGE_V2 request as the
// producer writes it (JSON or binary header), and a broker's SUCCESS response to it (a broker
// answers in the request's serialization).
#pragma once

#include "rmq/message.hpp"

#include <cstddef>
#include <string_view>

namespace rmq::bench {

/// Bytes of the SEND_MESSAGE_V2 request a producer of `group` in `name_space` (empty: none)
/// writes for `msg`.
[[nodiscard]] std::size_t send_request_frame_size(const rmq::message& msg, std::string_view group,
                                                  std::string_view name_space, bool binary_headers);
[[nodiscard]] std::size_t send_response_frame_size(bool binary_headers);

}  // namespace rmq::bench
