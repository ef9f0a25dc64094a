// Sizes on the wire of one send, for the raw-echo baseline: a SEND_MESSAGE_V2 request with a
// JSON header as the producer writes it, and a broker's SUCCESS response to it.
#pragma once

#include "rmq/message.hpp"

#include <cstddef>
#include <string_view>

namespace rmq::bench {

[[nodiscard]] std::size_t send_request_frame_size(const rmq::message& msg, std::string_view group);
[[nodiscard]] std::size_t send_response_frame_size();

}  // namespace rmq::bench
