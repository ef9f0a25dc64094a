/// \file
/// Error codes of rmq-coro: one enum, one category, std::error_code everywhere.
#pragma once

#include <string>
#include <system_error>

namespace rmq {

/// Client-side failures. Broker failures carry the broker's response code separately
/// (see rmq::broker_error in send_result.hpp); errc::broker_error is their generic code.
enum class errc {
  // 1xx: malformed bytes from the network (wire layer).
  frame_too_large = 100,    ///< length word above the configured maximum frame
  frame_length_invalid,     ///< length word negative or too small for the header word
  header_length_invalid,    ///< header length larger than the frame
  unknown_serialize_type,   ///< type byte neither 0 (JSON) nor 1 (ROCKETMQ binary)
  invalid_json_header,      ///< JSON header is not valid JSON or has the wrong shape
  truncated_binary_header,  ///< a binary header field runs past the header's end
  overlong_binary_field,    ///< a binary length field is negative or past the limit
  invalid_route_data,       ///< TopicRouteData body unparsable, or beyond route_limits
  invalid_response,         ///< a response lacks a field it must have, or has a bad value
  invalid_batch_body,       ///< batch body records do not tile the body exactly
  decompression_failed,     ///< compressed body could not be decompressed

  // 2xx: user input rejected before any I/O (validation).
  topic_blank = 200,            ///< the topic is empty or only whitespace
  topic_too_long,               ///< the topic is longer than 127 characters
  topic_illegal_characters,     ///< the topic has a character outside [%|a-zA-Z0-9_-]
  topic_reserved,               ///< the topic is one the broker refuses (SCHEDULE_TOPIC_XXXX, ...)
  group_blank,                  ///< the producer group is empty or only whitespace
  group_too_long,               ///< the producer group is longer than 255 characters
  group_illegal_characters,     ///< the group has a character outside [%|a-zA-Z0-9_-]
  group_reserved,               ///< DEFAULT_PRODUCER or CLIENT_INNER_PRODUCER
  body_empty,                   ///< the message has no body
  body_too_large,               ///< the body (or encoded batch body) exceeds max_message_size
  property_name_blank,          ///< a user property's name is empty or only whitespace
  property_value_blank,         ///< a user property's value is empty or only whitespace
  property_name_reserved,       ///< a user property has a system property's name
  illegal_separator_character,  ///< 0x01/0x02 inside tags, keys, a property name or value
  properties_too_long,          ///< encoded properties string above 32767 bytes
  delay_level_invalid,          ///< the delay level is negative or above the highest level
  batch_empty,                  ///< a batch has no message
  batch_mixed_topics,           ///< a batch's messages are not all of one topic
  batch_mixed_wait_store,       ///< a batch's messages differ in wait_store_msg_ok
  batch_with_delay,             ///< a batch message has a delay level or delivery time
  batch_retry_topic,            ///< a batch is sent to a retry topic (%RETRY%...)
  invalid_argument,             ///< any other bad argument (configuration, queue, ...)
  compression_failed,           ///< the compressor reported an error

  // 3xx: the client's own state and the transport.
  timed_out = 300,               ///< the send's deadline passed
  connection_lost,               ///< the connection failed or was closed by the peer
  connect_failed,                ///< could not connect to the remote address
  shutting_down,                 ///< the producer or loop is stopping
  protocol_error,                ///< the peer sent bytes that do not decode
  no_name_server,                ///< no NameServer address configured
  no_route,                      ///< the NameServer has no route for the topic
  no_writable_queue,             ///< the route has no writable queue on a master
  backpressure_full,             ///< in-flight limit reached and fail-fast configured
  not_started,                   ///< the producer has not been started
  blocking_call_on_loop_thread,  ///< a blocking call would deadlock the loop
  delivery_time_unsupported,  ///< the broker is older than 5.0 and would ignore the delivery time
  name_resolution_failed,     ///< a broker's or NameServer's host name could not be resolved
  broker_error,               ///< the broker answered with a non-success response code
  configuration_invalid,      ///< producer_config::validate() found a bad setting
  invalid_address,            ///< an address (e.g. a route's broker) is not host:port
  access_denied,  ///< the server refused the credentials or their permissions (ACL); not retried
  /// The TLS handshake failed: the server's certificate was not trusted or did not name the
  /// server, the server refused ours, or it closed the connection (the log tells which).
  /// Retried on another broker, as connect_failed.
  tls_handshake_failed,

  // 4xx: user code and the environment.
  queue_selector_failed = 400,  ///< a queue selector threw, was empty or returned a bad index
  io_uring_unavailable,         ///< the kernel or a seccomp profile refuses io_uring
};

/// The category of rmq::errc (name "rmq").
[[nodiscard]] const std::error_category& category() noexcept;

/// An error_code of rmq::category(); lets an rmq::errc compare with and convert to
/// std::error_code.
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// The broker's own failures: the value is the remoting response code (e.g. 2 SYSTEM_BUSY,
/// 14 SERVICE_NOT_AVAILABLE, 17 TOPIC_NOT_EXIST); the broker's remark travels in
/// send_result::diagnostics.
[[nodiscard]] const std::error_category& broker_category() noexcept;

/// An error_code of broker_category() for the broker's `response_code`.
[[nodiscard]] inline std::error_code make_broker_error(int response_code) noexcept {
  return {response_code, broker_category()};
}

/// Broker response codes the 5.x Java client retries on another broker: TOPIC_NOT_EXIST,
/// SERVICE_NOT_AVAILABLE, SYSTEM_ERROR, SYSTEM_BUSY, NO_PERMISSION, NO_BUYER_ID,
/// NOT_IN_CURRENT_UNIT, GO_AWAY.
[[nodiscard]] bool is_retriable_response_code(int response_code) noexcept;

/// Errors the send pipeline may retry on another broker: transport failures, the timeout of
/// one attempt, a broker the route names but that cannot be used (no writable master, an
/// invalid address), and the retriable broker response codes.
[[nodiscard]] bool is_retriable(std::error_code ec) noexcept;

}  // namespace rmq

/// rmq::errc converts to std::error_code implicitly.
template <>
struct std::is_error_code_enum<rmq::errc> : std::true_type {};
