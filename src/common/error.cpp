#include "rmq/error.hpp"

namespace rmq {
namespace {

class rmq_category final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "rmq"; }

  [[nodiscard]] std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::queue_selector_failed:
        return "the queue selector threw, is empty or returned an index out of range";
      case errc::io_uring_unavailable:
        return "io_uring is not available (a seccomp profile or kernel.io_uring_disabled blocks "
               "it, or the kernel is too old): allow io_uring_setup/enter/register";
      case errc::frame_too_large:
        return "frame longer than the maximum frame size";
      case errc::frame_length_invalid:
        return "frame length word is negative or too small";
      case errc::header_length_invalid:
        return "header length larger than the frame";
      case errc::unknown_serialize_type:
        return "unknown header serialization type";
      case errc::invalid_json_header:
        return "invalid JSON header";
      case errc::truncated_binary_header:
        return "binary header field runs past the header";
      case errc::overlong_binary_field:
        return "binary header field length out of range";
      case errc::invalid_route_data:
        return "invalid topic route data, or a route beyond producer_config::route_limits";
      case errc::invalid_response:
        return "response header is missing a field or has a bad value";
      case errc::invalid_batch_body:
        return "batch body records do not tile the body";
      case errc::decompression_failed:
        return "message body could not be decompressed";
      case errc::topic_blank:
        return "topic is blank";
      case errc::topic_too_long:
        return "topic is longer than 127 characters";
      case errc::topic_illegal_characters:
        return "topic contains characters outside [%|a-zA-Z0-9_-]";
      case errc::topic_reserved:
        return "topic is a reserved system topic";
      case errc::group_blank:
        return "producer group is blank";
      case errc::group_too_long:
        return "producer group is longer than 255 characters";
      case errc::group_illegal_characters:
        return "producer group contains characters outside [%|a-zA-Z0-9_-]";
      case errc::group_reserved:
        return "producer group is reserved";
      case errc::body_empty:
        return "message body is empty";
      case errc::body_too_large:
        return "message body is larger than the maximum message size";
      case errc::property_name_blank:
        return "property name is blank";
      case errc::property_value_blank:
        return "property value is blank";
      case errc::property_name_reserved:
        return "property name is reserved by RocketMQ";
      case errc::illegal_separator_character:
        return "tags, keys or properties contain 0x01 or 0x02";
      case errc::properties_too_long:
        return "encoded properties are longer than 32767 bytes";
      case errc::delay_level_invalid:
        return "delay level out of range";
      case errc::batch_empty:
        return "batch has no messages";
      case errc::batch_mixed_topics:
        return "batch messages have different topics";
      case errc::batch_mixed_wait_store:
        return "batch messages differ in wait-store-msg-ok";
      case errc::batch_with_delay:
        return "batch messages may not have a delay";
      case errc::batch_retry_topic:
        return "batch messages may not go to a retry topic";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::compression_failed:
        return "message body could not be compressed";
      case errc::timed_out:
        return "timed out";
      case errc::connection_lost:
        return "connection lost";
      case errc::connect_failed:
        return "could not connect";
      case errc::shutting_down:
        return "the producer is shutting down or shut down";
      case errc::protocol_error:
        return "protocol error: peer sent undecodable bytes";
      case errc::no_name_server:
        return "no name server address configured";
      case errc::no_route:
        return "no route info for the topic";
      case errc::no_writable_queue:
        return "the topic has no writable queue on a master broker";
      case errc::backpressure_full:
        return "too many sends in flight";
      case errc::not_started:
        return "producer not started";
      case errc::blocking_call_on_loop_thread:
        return "blocking call on the event loop thread would deadlock";
      case errc::delivery_time_unsupported:
        return "broker older than 5.0 ignores delivery time";
      case errc::name_resolution_failed:
        return "host name could not be resolved";
      case errc::broker_error:
        return "broker answered with an error";
      case errc::configuration_invalid:
        return "invalid producer configuration";
      case errc::invalid_address:
        return "address is not host:port with a valid port";
      case errc::access_denied:
        return "access denied: the server refused the credentials or their permissions";
      case errc::tls_handshake_failed:
        return "TLS handshake failed: certificate not accepted by either side, or the server "
               "closed the connection (the log has the reason)";
    }
    return "unknown rmq error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const rmq_category instance;
  return instance;
}

bool is_retriable(std::error_code ec) noexcept {
  if (ec.category() == broker_category()) return is_retriable_response_code(ec.value());
  if (ec.category() != category()) return false;
  switch (static_cast<errc>(ec.value())) {
    case errc::timed_out:
    case errc::connection_lost:
    case errc::connect_failed:
    case errc::tls_handshake_failed:
    case errc::no_writable_queue:
    // A route entry of one broker that cannot be used, like a missing master: another broker
    // may work. The connection never does I/O for it, so an attempt on it costs nothing, and
    // the queue selection moves away from the broker that just failed.
    case errc::invalid_address:
      return true;
    default:
      return false;
  }
}

}  // namespace rmq
