#include "wire/headers.hpp"

#include "rmq/error.hpp"
#include "wire/codes.hpp"

#include <array>
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

// Readers of one extFields value (nullopt = absent). Each returns false when the header is
// unusable: a required field is missing or a number is malformed.
[[nodiscard]] bool read_required(std::optional<std::string_view> v,
                                 std::string_view& out) noexcept {
  if (!v) return false;
  out = *v;
  return true;
}

template <class Int>
[[nodiscard]] bool read_required(std::optional<std::string_view> v, Int& out) noexcept {
  return v && parse_java_integer(*v, out);
}

void read_optional(std::optional<std::string_view> v,
                   std::optional<std::string_view>& out) noexcept {
  out = v;
}

void read_optional(std::optional<std::string_view> v, std::optional<bool>& out) noexcept {
  out.reset();
  if (v) out = parse_java_bool(*v);
}

void read_optional(std::optional<std::string_view> v, bool& out) noexcept {
  if (v) out = parse_java_bool(*v);
}

template <class Int>
[[nodiscard]] bool read_optional(std::optional<std::string_view> v,
                                 std::optional<Int>& out) noexcept {
  out.reset();
  if (!v) return true;
  Int value{};
  if (!parse_java_integer(*v, value)) return false;
  out = value;
  return true;
}

// The same readers looking a field up by name; for the headers that are not on a hot path.
class fields_reader {
 public:
  explicit fields_reader(const command_view& view) noexcept : view_(view) {}

  [[nodiscard]] bool has(std::string_view name) const noexcept {
    return view_.field(name).has_value();
  }
  template <class Out>
  [[nodiscard]] bool required(std::string_view name, Out& out) const noexcept {
    return read_required(view_.field(name), out);
  }
  template <class Out>
  auto optional(std::string_view name, Out& out) const noexcept {
    return read_optional(view_.field(name), out);
  }

 private:
  const command_view& view_;
};

template <class T>
void write_if(frame_writer& w, std::string_view name, const std::optional<T>& value) {
  if (value) w.field(name, *value);
}

// Field names of the two SEND_MESSAGE header forms, indexed by send_field.
namespace send_field {
enum : std::size_t {
  group,
  topic,
  default_topic,
  default_topic_queue_nums,
  queue_id,
  sys_flag,
  born_timestamp,
  flag,
  properties,
  reconsume_times,
  unit_mode,
  max_reconsume_times,
  batch,
  broker_name,
  count
};
}  // namespace send_field

using send_names = std::array<std::string_view, send_field::count>;
constexpr send_names v2_names{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"};
constexpr send_names v1_names{
    "producerGroup", "topic",          "defaultTopic",  "defaultTopicQueueNums",
    "queueId",       "sysFlag",        "bornTimestamp", "flag",
    "properties",    "reconsumeTimes", "unitMode",      "maxReconsumeTimes",
    "batch",         "bname"};

// Index of a SEND_MESSAGE field name in its form, or send_field::count for any other key.
[[nodiscard]] std::size_t send_field_index(std::string_view name, bool v2) noexcept {
  if (v2) {
    return name.size() == 1 && name[0] >= 'a' && name[0] <= 'n'
               ? static_cast<std::size_t>(name[0] - 'a')
               : send_field::count;
  }
  for (std::size_t i = 0; i < send_field::count; ++i) {
    if (v1_names[i] == name) return i;
  }
  return send_field::count;
}

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

void send_message_request_header::write(frame_writer& w, send_header_names names) const {
  namespace f = send_field;
  const send_names& n = names == send_header_names::letters ? v2_names : v1_names;
  w.field(n[f::group], producer_group);
  w.field(n[f::topic], topic);
  w.field(n[f::default_topic], default_topic);
  w.field(n[f::default_topic_queue_nums], default_topic_queue_nums);
  w.field(n[f::queue_id], queue_id);
  w.field(n[f::sys_flag], sys_flag);
  w.field(n[f::born_timestamp], born_timestamp);
  w.field(n[f::flag], flag);
  write_if(w, n[f::properties], properties);
  write_if(w, n[f::reconsume_times], reconsume_times);
  write_if(w, n[f::unit_mode], unit_mode);
  write_if(w, n[f::max_reconsume_times], max_reconsume_times);
  write_if(w, n[f::batch], batch);
  write_if(w, n[f::broker_name], broker_name);
}

std::error_code send_message_request_header::parse(const command_view& view) noexcept {
  namespace f = send_field;
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
      v2 = !view.field(v1_names[f::group]) && view.field(v2_names[f::group]);
  }
  // One pass over the fields (this header is every broker's hottest decode); a later entry
  // overwrites an earlier one, so with repeated keys the last wins as in a Java HashMap.
  std::array<std::optional<std::string_view>, f::count> v;
  for (const ext_field& field : view.ext_fields) {
    const std::size_t i = send_field_index(field.name, v2);
    if (i != f::count) v[i] = field.value;
  }
  *this = send_message_request_header{};
  if (!read_required(v[f::group], producer_group) || !read_required(v[f::topic], topic) ||
      !read_required(v[f::default_topic], default_topic) ||
      !read_required(v[f::default_topic_queue_nums], default_topic_queue_nums) ||
      !read_required(v[f::queue_id], queue_id) || !read_required(v[f::sys_flag], sys_flag) ||
      !read_required(v[f::born_timestamp], born_timestamp) || !read_required(v[f::flag], flag) ||
      !read_optional(v[f::reconsume_times], reconsume_times) ||
      !read_optional(v[f::max_reconsume_times], max_reconsume_times))
    return bad();
  read_optional(v[f::properties], properties);
  read_optional(v[f::unit_mode], unit_mode);
  read_optional(v[f::batch], batch);
  read_optional(v[f::broker_name], broker_name);
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
  // One pass, as for the request header: every send result decodes one of these.
  enum : std::size_t {
    msg_id_field,
    queue_id_field,
    queue_offset_field,
    transaction_id_field,
    batch_uniq_id_field,
    msg_region_field,
    recall_handle_field,
    trace_on_field,
    field_count
  };
  static constexpr std::array<std::string_view, field_count> names{
      "msgId",       "queueId",    "queueOffset",  "transactionId",
      "batchUniqId", "MSG_REGION", "recallHandle", "TRACE_ON"};
  std::array<std::optional<std::string_view>, field_count> v;
  for (const ext_field& field : view.ext_fields) {
    for (std::size_t i = 0; i < field_count; ++i) {
      if (field.name == names[i]) {
        v[i] = field.value;  // a repeated key: the last wins
        break;
      }
    }
  }
  *this = send_message_response_header{};
  if (!read_required(v[msg_id_field], msg_id) || !read_required(v[queue_id_field], queue_id) ||
      !read_required(v[queue_offset_field], queue_offset))
    return bad();
  read_optional(v[transaction_id_field], transaction_id);
  read_optional(v[batch_uniq_id_field], batch_uniq_id);
  read_optional(v[msg_region_field], msg_region);
  read_optional(v[recall_handle_field], recall_handle);
  // Java: traceOn unless the broker says exactly "false".
  if (v[trace_on_field]) trace_on = *v[trace_on_field] != "false";
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
  // Java's HashMap order (headers.hpp), as in the captured 4.9.8 and 5.3.3 frames.
  w.field("producerGroup", producer_group);
  write_if(w, "bname", broker_name);
  w.field("commitLogOffset", commit_log_offset);
  write_if(w, "topic", topic);
  w.field("msgId", msg_id);
  w.field("tranStateTableOffset", tran_state_table_offset);
  w.field("commitOrRollback", commit_or_rollback);
  write_if(w, "transactionId", transaction_id);
  w.field("fromTransactionCheck", from_transaction_check);
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
  // Java's HashMap order (headers.hpp), as in the captured 4.9.8 frames.
  write_if(w, "producerGroup", producer_group);
  w.field("clientID", client_id);
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
  // Java's HashMap order (headers.hpp), as in the captured 4.9.8 and 5.3.3 frames.
  write_if(w, "bname", broker_name);
  w.field("commitLogOffset", commit_log_offset);
  write_if(w, "topic", topic);
  write_if(w, "msgId", msg_id);
  w.field("tranStateTableOffset", tran_state_table_offset);
  write_if(w, "offsetMsgId", offset_msg_id);
  write_if(w, "transactionId", transaction_id);
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

// --- reply_message_request_header -----------------------------------------------------------

void reply_message_request_header::write(frame_writer& w) const {
  // Java's HashMap order (headers.hpp): with 14 entries the map has 32 buckets, which is the
  // order of the captured 4.9.8 and 5.3.3 pushes.
  w.field("queueId", queue_id);
  w.field("flag", flag);
  w.field("sysFlag", sys_flag);
  write_if(w, "reconsumeTimes", reconsume_times);
  w.field("storeTimestamp", store_timestamp);
  w.field("unitMode", unit_mode);
  w.field("defaultTopic", default_topic);
  w.field("bornHost", born_host);
  w.field("defaultTopicQueueNums", default_topic_queue_nums);
  w.field("producerGroup", producer_group);
  w.field("topic", topic);
  w.field("bornTimestamp", born_timestamp);
  w.field("storeHost", store_host);
  write_if(w, "properties", properties);
}

std::error_code reply_message_request_header::parse(const command_view& view) noexcept {
  const fields_reader r(view);
  *this = reply_message_request_header{};
  if (!r.required("producerGroup", producer_group) || !r.required("topic", topic) ||
      !r.required("defaultTopic", default_topic) ||
      !r.required("defaultTopicQueueNums", default_topic_queue_nums) ||
      !r.required("queueId", queue_id) || !r.required("sysFlag", sys_flag) ||
      !r.required("bornTimestamp", born_timestamp) || !r.required("flag", flag) ||
      !r.required("bornHost", born_host) || !r.required("storeHost", store_host) ||
      !r.required("storeTimestamp", store_timestamp) ||
      !r.optional("reconsumeTimes", reconsume_times))
    return bad();
  r.optional("properties", properties);
  r.optional("unitMode", unit_mode);
  return {};
}

}  // namespace rmq::wire
