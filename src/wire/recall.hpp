// Recall (5.3 RECALL_MESSAGE, 370): the handle a broker gives a timer message's send, and the
// request that recalls the message before its delivery time.
//
// A handle is URL-safe Base64 (padded) of "v1 <topic> <brokerName> <timestamp> <UNIQ_KEY>"
// (RecallMessageHandle.HandleV1): the topic as the broker knows it (namespace included), the
// broker that holds the timer, the timer slot in epoch ms and the message's id.
#pragma once

#include "wire/command.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rmq::wire {

struct recall_handle {
  std::string topic;
  std::string broker_name;
  std::int64_t timestamp_ms = 0;
  std::string message_id;  ///< the message's UNIQ_KEY
};

/// The parts of a handle; nullopt when it is not Base64url of five space-separated fields
/// starting with "v1" and with a numeric timestamp (what the broker calls "recall handle is
/// invalid").
[[nodiscard]] std::optional<recall_handle> decode_recall_handle(std::string_view handle);

/// The handle a 5.3 broker writes for these parts (rmq-sim hands them out).
[[nodiscard]] std::string encode_recall_handle(const recall_handle& parts);

/// RECALL_MESSAGE's header (RecallMessageRequestHeader), in the captured field order.
struct recall_message_request_header {
  std::string_view producer_group;
  std::string_view broker_name;  ///< bname
  std::string_view topic;
  std::string_view recall_handle;

  void write(frame_writer& w) const;
  /// Every field is required.
  [[nodiscard]] std::error_code parse(const command_view& view) noexcept;
};

}  // namespace rmq::wire
