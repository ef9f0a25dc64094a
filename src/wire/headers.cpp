#include "wire/headers.hpp"

#include "rmq/error.hpp"
#include "wire/codes.hpp"

#include <charconv>

namespace rmq::wire {
namespace {

template <class Int>
[[nodiscard]] bool parse_java_integer(std::string_view text, Int& value) noexcept {
  // Java accepts one leading '+' that std::from_chars does not.
  if (text.size() > 1 && text.front() == '+' && text[1] != '-') text.remove_prefix(1);
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

[[nodiscard]] std::error_code bad() noexcept {
  return make_error_code(errc::invalid_response);
}

// Field readers over a command_view. Each returns false when the header is unusable.
class fields_reader {
 public:
  explicit fields_reader(const command_view& view) noexcept : view_(view) {}

  [[nodiscard]] bool has(std::string_view name) const noexcept {
    return view_.field(name).has_value();
  }

  [[nodiscard]] bool required(std::string_view name, std::string_view& out) const noexcept {
    const auto v = view_.field(name);
    if (!v) return false;
    out = *v;
    return true;
  }
  template <class Int>
  [[nodiscard]] bool required(std::string_view name, Int& out) const noexcept {
    const auto v = view_.field(name);
    return v && parse_java_integer(*v, out);
  }

  void optional(std::string_view name, std::optional<std::string_view>& out) const noexcept {
    out = view_.field(name);
  }
  void optional(std::string_view name, std::optional<bool>& out) const noexcept {
    out.reset();
    if (const auto v = view_.field(name)) out = parse_java_bool(*v);
  }
  void optional(std::string_view name, bool& out) const noexcept {
    if (const auto v = view_.field(name)) out = parse_java_bool(*v);
  }
  template <class Int>
  [[nodiscard]] bool optional(std::string_view name, std::optional<Int>& out) const noexcept {
    out.reset();
    const auto v = view_.field(name);
    if (!v) return true;
    Int value{};
    if (!parse_java_integer(*v, value)) return false;
    out = value;
    return true;
  }

 private:
  const command_view& view_;
};

template <class T>
void write_if(frame_writer& w, std::string_view name, const std::optional<T>& value) {
  if (value) w.field(name, *value);
}

// Field names of the two SEND_MESSAGE header forms, index-aligned.
struct send_names {
  std::string_view group, topic, default_topic, default_topic_queue_nums, queue_id, sys_flag,
      born_timestamp, flag, properties, reconsume_times, unit_mode, max_reconsume_times, batch,
      broker_name;
};
constexpr send_names v2_names{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"};
constexpr send_names v1_names{
    "producerGroup", "topic",          "defaultTopic",  "defaultTopicQueueNums",
    "queueId",       "sysFlag",        "bornTimestamp", "flag",
    "properties",    "reconsumeTimes", "unitMode",      "maxReconsumeTimes",
    "batch",         "bname"};

}  // namespace

bool parse_decimal(std::string_view text, std::int32_t& value) noexcept {
  return parse_java_integer(text, value);
}
bool parse_decimal(std::string_view text, std::int64_t& value) noexcept {
  return parse_java_integer(text, value);
}

bool parse_java_bool(std::string_view text) noexcept {
  if (text.size() != 4) return false;
  constexpr std::string_view word = "true";
  for (std::size_t i = 0; i < 4; ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != word[i]) return false;
  }
  return true;
}

// --- send_message_request_header ------------------------------------------------------------

void send_message_request_header::write(frame_writer& w, bool v2) const {
  const send_names& n = v2 ? v2_names : v1_names;
  w.field(n.group, producer_group);
  w.field(n.topic, topic);
  w.field(n.default_topic, default_topic);
  w.field(n.default_topic_queue_nums, default_topic_queue_nums);
  w.field(n.queue_id, queue_id);
  w.field(n.sys_flag, sys_flag);
  w.field(n.born_timestamp, born_timestamp);
  w.field(n.flag, flag);
  write_if(w, n.properties, properties);
  write_if(w, n.reconsume_times, reconsume_times);
  write_if(w, n.unit_mode, unit_mode);
  write_if(w, n.max_reconsume_times, max_reconsume_times);
  write_if(w, n.batch, batch);
  write_if(w, n.broker_name, broker_name);
}

std::error_code send_message_request_header::parse(const command_view& view) noexcept {
  const fields_reader r(view);
  bool v2 = false;
  switch (view.fields.code) {
    case request_code::send_message_v2:
    case request_code::send_batch_message:
    case request_code::send_reply_message_v2:
      v2 = true;
      break;
    case request_code::send_message:
    case request_code::send_reply_message:
      v2 = false;
      break;
    default:
      v2 = !r.has(v1_names.group) && r.has(v2_names.group);
  }
  const send_names& n = v2 ? v2_names : v1_names;
  *this = send_message_request_header{};
  if (!r.required(n.group, producer_group) || !r.required(n.topic, topic) ||
      !r.required(n.default_topic, default_topic) ||
      !r.required(n.default_topic_queue_nums, default_topic_queue_nums) ||
      !r.required(n.queue_id, queue_id) || !r.required(n.sys_flag, sys_flag) ||
      !r.required(n.born_timestamp, born_timestamp) || !r.required(n.flag, flag) ||
      !r.optional(n.reconsume_times, reconsume_times) ||
      !r.optional(n.max_reconsume_times, max_reconsume_times))
    return bad();
  r.optional(n.properties, properties);
  r.optional(n.unit_mode, unit_mode);
  r.optional(n.batch, batch);
  r.optional(n.broker_name, broker_name);
  return {};
}

// --- send_message_response_header -----------------------------------------------------------

void send_message_response_header::write(frame_writer& w) const {
  w.field("msgId", msg_id);
  w.field("queueId", queue_id);
  w.field("queueOffset", queue_offset);
  write_if(w, "transactionId", transaction_id);
  write_if(w, "batchUniqId", batch_uniq_id);
  write_if(w, "recallHandle", recall_handle);
  write_if(w, "MSG_REGION", msg_region);
  if (trace_on) w.field("TRACE_ON", *trace_on);
}

std::error_code send_message_response_header::parse(const command_view& view) noexcept {
  const fields_reader r(view);
  *this = send_message_response_header{};
  if (!r.required("msgId", msg_id) || !r.required("queueId", queue_id) ||
      !r.required("queueOffset", queue_offset))
    return bad();
  r.optional("transactionId", transaction_id);
  r.optional("batchUniqId", batch_uniq_id);
  r.optional("MSG_REGION", msg_region);
  r.optional("recallHandle", recall_handle);
  // Java: traceOn unless the broker says exactly "false".
  if (const auto v = view.field("TRACE_ON")) trace_on = *v != "false";
  return {};
}

// --- get_route_info_request_header ----------------------------------------------------------

void get_route_info_request_header::write(frame_writer& w) const {
  w.field("topic", topic);
  write_if(w, "acceptStandardJsonOnly", accept_standard_json_only);
}

std::error_code get_route_info_request_header::parse(const command_view& view) noexcept {
  const fields_reader r(view);
  *this = get_route_info_request_header{};
  if (!r.required("topic", topic)) return bad();
  r.optional("acceptStandardJsonOnly", accept_standard_json_only);
  return {};
}

// --- end_transaction_request_header ---------------------------------------------------------

void end_transaction_request_header::write(frame_writer& w) const {
  w.field("producerGroup", producer_group);
  w.field("tranStateTableOffset", tran_state_table_offset);
  w.field("commitLogOffset", commit_log_offset);
  w.field("commitOrRollback", commit_or_rollback);
  w.field("fromTransactionCheck", from_transaction_check);
  w.field("msgId", msg_id);
  write_if(w, "transactionId", transaction_id);
  write_if(w, "topic", topic);
  write_if(w, "bname", broker_name);
}

std::error_code end_transaction_request_header::parse(const command_view& view) noexcept {
  const fields_reader r(view);
  *this = end_transaction_request_header{};
  if (!r.required("producerGroup", producer_group) ||
      !r.required("tranStateTableOffset", tran_state_table_offset) ||
      !r.required("commitLogOffset", commit_log_offset) ||
      !r.required("commitOrRollback", commit_or_rollback) || !r.required("msgId", msg_id))
    return bad();
  r.optional("fromTransactionCheck", from_transaction_check);
  r.optional("transactionId", transaction_id);
  r.optional("topic", topic);
  r.optional("bname", broker_name);
  return {};
}

// --- unregister_client_request_header -------------------------------------------------------

void unregister_client_request_header::write(frame_writer& w) const {
  w.field("clientID", client_id);
  write_if(w, "producerGroup", producer_group);
  write_if(w, "consumerGroup", consumer_group);
}

std::error_code unregister_client_request_header::parse(const command_view& view) noexcept {
  const fields_reader r(view);
  *this = unregister_client_request_header{};
  if (!r.required("clientID", client_id)) return bad();
  r.optional("producerGroup", producer_group);
  r.optional("consumerGroup", consumer_group);
  return {};
}

// --- check_transaction_state_request_header -------------------------------------------------

void check_transaction_state_request_header::write(frame_writer& w) const {
  w.field("tranStateTableOffset", tran_state_table_offset);
  w.field("commitLogOffset", commit_log_offset);
  write_if(w, "msgId", msg_id);
  write_if(w, "transactionId", transaction_id);
  write_if(w, "offsetMsgId", offset_msg_id);
  write_if(w, "topic", topic);
  write_if(w, "bname", broker_name);
}

std::error_code check_transaction_state_request_header::parse(const command_view& view) noexcept {
  const fields_reader r(view);
  *this = check_transaction_state_request_header{};
  if (!r.required("tranStateTableOffset", tran_state_table_offset) ||
      !r.required("commitLogOffset", commit_log_offset))
    return bad();
  r.optional("msgId", msg_id);
  r.optional("transactionId", transaction_id);
  r.optional("offsetMsgId", offset_msg_id);
  r.optional("topic", topic);
  r.optional("bname", broker_name);
  return {};
}

}  // namespace rmq::wire
