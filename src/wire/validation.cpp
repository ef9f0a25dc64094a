#include "wire/validation.hpp"

#include "rmq/batch_split.hpp"
#include "rmq/error.hpp"
#include "wire/batch.hpp"
#include "wire/command.hpp"
#include "wire/compression.hpp"
#include "wire/namespace.hpp"
#include "wire/properties.hpp"
#include "wire/uniq_key.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <iterator>

namespace rmq::wire {
namespace {

// MessageConst.STRING_HASH_SET of the 5.3.3 client, complete (51 names, in the order Java adds
// them). Names outside it (e.g. __SHARDINGKEY, TRACE_CONTEXT) stay usable, as in Java.
// clang-format off
constexpr std::string_view reserved_property_names[] = {
    "TRACE_ON", "MSG_REGION", "KEYS", "TAGS", "WAIT", "DELAY", "RETRY_TOPIC", "REAL_TOPIC",
    "REAL_QID", "TRAN_MSG", "PGROUP", "MIN_OFFSET", "MAX_OFFSET", "BUYER_ID", "ORIGIN_MESSAGE_ID",
    "TRANSFER_FLAG", "CORRECTION_FLAG", "MQ2_FLAG", "RECONSUME_TIME", "UNIQ_KEY",
    "MAX_RECONSUME_TIMES", "CONSUME_START_TIME", "POP_CK", "POP_CK_OFFSET", "1ST_POP_TIME",
    "TRAN_PREPARED_QUEUE_OFFSET", "DUP_INFO", "EXTEND_UNIQ_INFO", "INSTANCE_ID", "CORRELATION_ID",
    "REPLY_TO_CLIENT", "TTL", "ARRIVE_TIME", "PUSH_REPLY_TIME", "CLUSTER", "MSG_TYPE",
    "INNER_MULTI_QUEUE_OFFSET", "TIMER_DELAY_MS", "TIMER_DELAY_SEC", "TIMER_DELIVER_MS",
    "TIMER_ENQUEUE_MS", "TIMER_DEQUEUE_MS", "TIMER_ROLL_TIMES", "TIMER_OUT_MS",
    "TIMER_DEL_UNIQKEY", "TIMER_DELAY_LEVEL", "__BORNHOST", "BORN_TIMESTAMP", "DLQ_ORIGIN_TOPIC",
    "DLQ_ORIGIN_MESSAGE_ID", "__CRC32#",
};
// clang-format on

// TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET.
constexpr std::string_view not_allowed_send_topics[] = {
    "SCHEDULE_TOPIC_XXXX",        "RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC", "SELF_TEST_TOPIC",          "OFFSET_MOVED_EVENT",
};

constexpr std::string_view reserved_groups[] = {"DEFAULT_PRODUCER", "CLIENT_INNER_PRODUCER"};

template <std::size_t N>
[[nodiscard]] bool contains(const std::string_view (&set)[N], std::string_view s) noexcept {
  return std::find(std::begin(set), std::end(set), s) != std::end(set);
}
static_assert(std::size(reserved_property_names) == 51);
static_assert(max_message_size_limit + 1024 * 1024 == default_max_frame);

// Java Character.isWhitespace for ASCII (UtilAll.isBlank).
[[nodiscard]] bool is_java_whitespace(char c) noexcept {
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
}

[[nodiscard]] bool is_blank(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), is_java_whitespace);
}

// Java String.trim().isEmpty(): every char <= U+0020.
[[nodiscard]] bool is_trim_blank(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) <= 0x20; });
}

[[nodiscard]] bool has_separator(std::string_view s) noexcept {
  return s.find_first_of(std::string_view("\x01\x02", 2)) != std::string_view::npos;
}

[[nodiscard]] std::error_code make(errc e) noexcept {
  return make_error_code(e);
}

}  // namespace

std::size_t sent_properties_size(const rmq::message& msg) {
  static constexpr char placeholder[uniq_key_max_size] = {};
  send_properties per_send;
  if (msg.uniq_key().empty()) {
    per_send.uniq_key = std::string_view(placeholder, default_uniq_key_generator().size());
  }
  return encoded_properties_size(msg, per_send);
}

bool is_valid_compression_level(compression_type type, int level) noexcept {
  // The same ranges body_codec::compress checks, so a level that passes here never fails there.
  switch (type) {
    case compression_type::zlib:
      return level >= Z_DEFAULT_COMPRESSION && level <= Z_BEST_COMPRESSION;
    case compression_type::zstd:
      return level >= ZSTD_minCLevel() && level <= ZSTD_maxCLevel();
    case compression_type::lz4:
      return true;
  }
  return false;
}

bool is_reserved_property_name(std::string_view name) noexcept {
  return contains(reserved_property_names, name);
}

bool has_illegal_name_char(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '%' || c == '|' || c == '_' || c == '-';
    return !ok;
  });
}

std::error_code validate_topic(std::string_view topic) noexcept {
  if (is_blank(topic)) return make(errc::topic_blank);
  if (topic.size() > max_topic_length) return make(errc::topic_too_long);
  if (has_illegal_name_char(topic)) return make(errc::topic_illegal_characters);
  if (contains(not_allowed_send_topics, topic)) return make(errc::topic_reserved);
  return {};
}

std::error_code validate_group(std::string_view group) noexcept {
  if (is_blank(group)) return make(errc::group_blank);
  if (group.size() > max_group_length) return make(errc::group_too_long);
  if (has_illegal_name_char(group)) return make(errc::group_illegal_characters);
  if (contains(reserved_groups, group)) return make(errc::group_reserved);
  return {};
}

std::error_code validate_user_property(std::string_view name, std::string_view value) noexcept {
  if (is_reserved_property_name(name)) return make(errc::property_name_reserved);
  if (is_trim_blank(name)) return make(errc::property_name_blank);
  if (is_trim_blank(value)) return make(errc::property_value_blank);
  if (has_separator(name) || has_separator(value)) return make(errc::illegal_separator_character);
  return {};
}

std::error_code validate_message(const rmq::message& msg, const validation_limits& limits) {
  if (auto ec = validate_topic(msg.topic())) return ec;
  // The exact wrapped size (system topics and names already in the namespace stay as they are)
  // only when the simple bound says the topic might not fit: most sends pay one comparison.
  if (!limits.name_space.empty() &&
      msg.topic().size() + limits.name_space.size() + 1 > max_topic_length &&
      wrapped_size(limits.name_space, msg.topic()) > max_topic_length) {
    return make(errc::topic_too_long);
  }
  if (msg.body().empty()) return make(errc::body_empty);
  if (msg.body().size() > limits.max_message_size) return make(errc::body_too_large);
  if (msg.delay_level() < 0 || msg.delay_level() > limits.max_delay_level) {
    return make(errc::delay_level_invalid);
  }
  if (msg.has_timer()) {
    const auto negative = [](std::optional<std::int64_t> v) { return v && *v < 0; };
    if (msg.delay_level() != 0 || negative(msg.delivery_time_ms()) ||
        negative(msg.delay_time_sec()) || negative(msg.delay_time_ms())) {
      return make(errc::invalid_argument);
    }
  }
  if (has_separator(msg.tags()) || has_separator(msg.keys()) || has_separator(msg.uniq_key())) {
    return make(errc::illegal_separator_character);
  }
  for (const auto& [name, value] : msg.properties()) {
    if (auto ec = validate_user_property(name, value)) return ec;
  }
  const std::size_t instance_id_bytes =
      limits.name_space.empty() ? 0
                                : property_names::instance_id.size() + limits.name_space.size() + 2;
  // Without user properties, the pairs are the free-form values (tags, keys, the user's key)
  // plus pairs of fixed names and bounded values (WAIT, a delay or timer number, a generated
  // key): within fixed_pairs_bound. The exact size only when that bound might not fit.
  constexpr std::size_t fixed_pairs_bound = 512;
  static_assert(uniq_key_max_size + 8 * (20 + 20 + 2) < fixed_pairs_bound);
  const std::size_t bound = msg.tags().size() + msg.keys().size() + msg.uniq_key().size() +
                            fixed_pairs_bound + limits.extra_property_bytes + instance_id_bytes;
  if ((!msg.properties().empty() || bound > max_properties_size) &&
      sent_properties_size(msg) + limits.extra_property_bytes + instance_id_bytes >
          max_properties_size) {
    return make(errc::properties_too_long);
  }
  return {};
}

std::error_code validate_batch(std::span<const rmq::message> messages,
                               const validation_limits& limits) {
  if (messages.empty()) return make(errc::batch_empty);
  const rmq::message& first = messages.front();
  for (const auto& msg : messages) {
    if (msg.delay_level() > 0 || msg.has_timer()) return make(errc::batch_with_delay);
    if (msg.topic().starts_with(retry_topic_prefix)) return make(errc::batch_retry_topic);
    if (msg.topic() != first.topic()) return make(errc::batch_mixed_topics);
    if (msg.wait_store_msg_ok() != first.wait_store_msg_ok()) {
      return make(errc::batch_mixed_wait_store);
    }
  }
  std::size_t total = 0;
  for (const auto& msg : messages) {
    if (auto ec = validate_message(msg, limits)) return ec;
    total += batch_record_size(msg.body().size(), sent_properties_size(msg));
  }
  if (total > limits.max_message_size) return make(errc::body_too_large);
  return {};
}

}  // namespace rmq::wire

namespace rmq {

std::vector<std::span<const message>> split_batch(std::span<const message> messages,
                                                  std::size_t max_batch_bytes) {
  std::vector<std::span<const message>> runs;
  std::size_t start = 0;
  std::size_t run_bytes = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const message& msg = messages[i];
    const std::size_t bytes =
        wire::batch_record_size(msg.body().size(), wire::sent_properties_size(msg));
    const bool fits = run_bytes + bytes <= max_batch_bytes;
    const bool same_kind =
        i == start || (msg.topic() == messages[start].topic() &&
                       msg.wait_store_msg_ok() == messages[start].wait_store_msg_ok());
    if (i > start && (!fits || !same_kind)) {
      runs.push_back(messages.subspan(start, i - start));
      start = i;
      run_bytes = 0;
    }
    run_bytes += bytes;
  }
  if (start < messages.size()) runs.push_back(messages.subspan(start));
  return runs;
}

}  // namespace rmq
