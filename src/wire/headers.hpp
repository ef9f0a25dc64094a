// Typed custom headers: the extFields of the requests and responses a producer exchanges.
//
// Strings are views: into the caller's data for write(), into the decoded command for parse()
// (valid as long as that command_view is). parse() never throws and never allocates; a missing
// required field or a malformed number is errc::invalid_response. Integers are read like Java's
// Integer/Long.parseLong (optional sign, decimal digits only), booleans like
// Boolean.parseBoolean ("true" in any case is true, anything else false).
#pragma once

#include "wire/command.hpp"

#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

namespace rmq::wire {

/// Java Integer.parseInt / Long.parseLong on an extFields value; false on any malformed text.
[[nodiscard]] bool parse_decimal(std::string_view text, std::int32_t& value) noexcept;
[[nodiscard]] bool parse_decimal(std::string_view text, std::int64_t& value) noexcept;
/// Java Boolean.parseBoolean.
[[nodiscard]] bool parse_java_bool(std::string_view text) noexcept;

/// How a send header names its fields on the wire: SendMessageRequestHeaderV2 uses the letters
/// a..n (codes 310/320/325), SendMessageRequestHeader the Java field names (codes 10/324).
enum class send_header_names : std::uint8_t { letters, long_names };

/// SEND_MESSAGE (10, long names) / SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320),
/// SEND_REPLY_MESSAGE(_V2) (324/325): SendMessageRequestHeader(V2).
struct send_message_request_header {
  std::string_view producer_group;                     ///< a  producerGroup
  std::string_view topic;                              ///< b  topic
  std::string_view default_topic = auto_create_topic;  ///< c  defaultTopic
  std::int32_t default_topic_queue_nums = 4;           ///< d  defaultTopicQueueNums
  std::int32_t queue_id = 0;                           ///< e  queueId
  std::int32_t sys_flag = 0;                           ///< f  sysFlag
  std::int64_t born_timestamp = 0;                     ///< g  bornTimestamp
  std::int32_t flag = 0;                               ///< h  flag
  std::optional<std::string_view> properties;          ///< i  properties
  std::optional<std::int32_t> reconsume_times;         ///< j  reconsumeTimes
  std::optional<bool> unit_mode;                       ///< k  unitMode
  std::optional<std::int32_t> max_reconsume_times;     ///< l  maxReconsumeTimes
  std::optional<bool> batch;                           ///< m  batch
  std::optional<std::string_view> broker_name;         ///< n  (v1: bname)

  /// Writes the fields that are set, in the order a..n: as letters (codes 310/320/325) or as
  /// long names with `bname` for the broker name (codes 10/324).
  void write(frame_writer& w, send_header_names names) const;
  /// Reads either form: letters for codes 310/320/325, long names for 10/324, and for any other
  /// code whichever form the fields use.
  [[nodiscard]] std::error_code parse(const command_view& view) noexcept;
};

/// SendMessageResponseHeader plus the broker-added MSG_REGION and TRACE_ON.
struct send_message_response_header {
  std::string_view msg_id;  ///< offsetMsgId (comma-joined list for a batch)
  std::int32_t queue_id = 0;
  std::int64_t queue_offset = 0;
  std::optional<std::string_view> transaction_id;  ///< 5.x brokers
  std::optional<std::string_view> batch_uniq_id;
  std::optional<std::string_view> msg_region;     ///< MSG_REGION
  std::optional<bool> trace_on;                   ///< TRACE_ON: anything but "false" is on
  std::optional<std::string_view> recall_handle;  ///< 5.x timer messages

  void write(frame_writer& w) const;
  /// msgId, queueId and queueOffset are required.
  [[nodiscard]] std::error_code parse(const command_view& view) noexcept;
};

/// GET_ROUTEINFO_BY_TOPIC (105).
struct get_route_info_request_header {
  std::string_view topic;
  std::optional<bool> accept_standard_json_only;

  void write(frame_writer& w) const;
  [[nodiscard]] std::error_code parse(const command_view& view) noexcept;
};

// The headers below are written in the order the Java sender's extFields HashMap iterates
// them, which is the order of the captured frames: a frame we write then matches a Java one
// byte for byte (receivers accept any order).

/// END_TRANSACTION (37), sent oneway.
struct end_transaction_request_header {
  std::string_view producer_group;
  std::int64_t tran_state_table_offset = 0;
  std::int64_t commit_log_offset = 0;
  std::int32_t commit_or_rollback = 0;  ///< 0 unknown, 8 commit, 12 rollback
  bool from_transaction_check = false;
  std::string_view msg_id;
  std::optional<std::string_view> transaction_id;
  std::optional<std::string_view> topic;
  std::optional<std::string_view> broker_name;  ///< bname (5.x)

  void write(frame_writer& w) const;
  [[nodiscard]] std::error_code parse(const command_view& view) noexcept;
};

/// UNREGISTER_CLIENT (35).
struct unregister_client_request_header {
  std::string_view client_id;  ///< clientID
  std::optional<std::string_view> producer_group;
  std::optional<std::string_view> consumer_group;

  void write(frame_writer& w) const;
  [[nodiscard]] std::error_code parse(const command_view& view) noexcept;
};

/// CHECK_TRANSACTION_STATE (39), broker to client.
struct check_transaction_state_request_header {
  std::int64_t tran_state_table_offset = 0;
  std::int64_t commit_log_offset = 0;
  std::optional<std::string_view> msg_id;
  std::optional<std::string_view> transaction_id;
  std::optional<std::string_view> offset_msg_id;
  std::optional<std::string_view> topic;
  std::optional<std::string_view> broker_name;  ///< bname (5.x)

  void write(frame_writer& w) const;
  [[nodiscard]] std::error_code parse(const command_view& view) noexcept;
};

/// PUSH_REPLY_MESSAGE_TO_CLIENT (326), broker to the requesting client of request-reply
/// (ReplyMessageRequestHeader); the body is the reply's body. Required as in Java (@CFNotNull):
/// everything but properties, reconsumeTimes and unitMode.
struct reply_message_request_header {
  std::string_view producer_group;  ///< the responder's group
  std::string_view topic;           ///< the reply topic, <cluster>_REPLY_TOPIC
  std::string_view default_topic;
  std::int32_t default_topic_queue_nums = 0;
  std::int32_t queue_id = 0;
  std::int32_t sys_flag = 0;
  std::int64_t born_timestamp = 0;
  std::int32_t flag = 0;
  std::optional<std::string_view> properties;  ///< with PUSH_REPLY_TIME added by the broker
  std::optional<std::int32_t> reconsume_times;
  bool unit_mode = false;       ///< a Java primitive: always written
  std::string_view born_host;   ///< "ip:port" of the responder's connection
  std::string_view store_host;  ///< "ip:port" of the broker
  std::int64_t store_timestamp = 0;

  void write(frame_writer& w) const;
  [[nodiscard]] std::error_code parse(const command_view& view) noexcept;
};

}  // namespace rmq::wire
