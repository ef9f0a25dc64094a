// One message trace record in the Java client's format (TraceDataEncoder, type Pub): what the
// dashboard and the tools decode from RMQ_SYS_TRACE_TOPIC. Pure functions, tested alone.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rmq::trace {

/// Java's MessageType ordinals, as written in the record.
enum class message_type : std::uint8_t {
  normal = 0,            ///< Normal_Msg
  transaction_half = 1,  ///< Trans_Msg_Half
  delay = 3,             ///< Delay_Msg (a delay level or a delivery time)
};

/// One traced send, as the record names its fields. Strings are reused from record to record
/// (assigned, never rebuilt), so that a buffer of them stops allocating once warm.
struct trace_record {
  std::int64_t timestamp_ms = 0;  ///< when the send started (epoch ms)
  std::string region_id;          ///< MSG_REGION of the result
  std::string group;              ///< the producer group, without namespace
  std::string topic;              ///< the topic, without namespace
  std::string msg_id;             ///< the client's id (UNIQ_KEY)
  std::string tags;               ///< empty: written "null", as Java writes a message without
  std::string keys;               ///< empty: written "null"
  std::string store_host;         ///< the broker address used, "host:port"
  std::int64_t body_length = 0;
  std::int64_t cost_ms = 0;  ///< from the send's start to its result
  message_type type = message_type::normal;
  std::string offset_msg_id;  ///< the broker's id
  bool success = false;       ///< SEND_OK
};

/// Field and record separators of the trace data (TraceConstants CONTENT_SPLITOR and
/// FIELD_SPLITOR).
inline constexpr char field_separator = '\x01';
inline constexpr char record_separator = '\x02';

/// Appends `record` to `out`: "Pub" and the 13 fields separated by 0x01, ended by 0x02.
void append_record(std::string& out, const trace_record& record);

/// Appends the record's keys to the trace message's KEYS (space-separated): its msg_id, then
/// each of its own keys (split on spaces, as 5.x does; 4.9 adds them whole).
void append_keys(std::string& out, const trace_record& record);

}  // namespace rmq::trace
