// The message properties string of SEND_MESSAGE headers and batch records.
//
// Wire form: for each pair `name 0x01 value 0x02`. Whether a 0x02 follows the last pair depends
// on the Java version (<= 4.9.0 and >= 5.2: yes; 4.9.1 - 5.1.4: no); every broker accepts both.
// We keep it by default: it is what the current Java client sends, every pair is then
// self-terminated (the 5.x broker checks the last byte before appending batch-level properties
// to inner batch messages, and anything appended later needs no look-back), and it costs one byte.
#pragma once

#include "rmq/message.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rmq::wire {

inline constexpr char name_value_separator = '\x01';
inline constexpr char property_separator = '\x02';
/// The broker rejects a properties string longer than Short.MAX_VALUE bytes.
inline constexpr std::size_t max_properties_size = 32767;

/// Wire names of the system properties a producer writes (Java MessageConst).
namespace property_names {
inline constexpr std::string_view keys = "KEYS";
inline constexpr std::string_view tags = "TAGS";
inline constexpr std::string_view wait_store_msg_ok = "WAIT";
inline constexpr std::string_view delay_level = "DELAY";
inline constexpr std::string_view timer_deliver_ms = "TIMER_DELIVER_MS";
inline constexpr std::string_view timer_delay_sec = "TIMER_DELAY_SEC";
inline constexpr std::string_view timer_delay_ms = "TIMER_DELAY_MS";
inline constexpr std::string_view uniq_key = "UNIQ_KEY";
inline constexpr std::string_view transaction_prepared = "TRAN_MSG";
inline constexpr std::string_view producer_group = "PGROUP";
inline constexpr std::string_view instance_id = "INSTANCE_ID";
inline constexpr std::string_view sharding_key = "__SHARDINGKEY";
inline constexpr std::string_view correlation_id = "CORRELATION_ID";
inline constexpr std::string_view reply_to_client = "REPLY_TO_CLIENT";
inline constexpr std::string_view ttl = "TTL";
inline constexpr std::string_view message_type = "MSG_TYPE";
}  // namespace property_names

enum class trailing_separator : bool { omit = false, keep = true };

/// One decoded or extra property; views only.
struct property_ref {
  std::string_view name;
  std::string_view value;

  friend bool operator==(const property_ref&, const property_ref&) = default;
};

/// Per-send properties that are not part of rmq::message.
struct send_properties {
  /// UNIQ_KEY for this send, used only when the message has none of its own. Generate it once
  /// per send and reuse it for every retry (the Java client sets it once, before its retry
  /// loop), so a retried message keeps its id. Empty = no UNIQ_KEY.
  std::string_view uniq_key;
  /// Further system properties of this send (TRAN_MSG, PGROUP, INSTANCE_ID, ...), written in
  /// this order after the message's system properties and before its user properties.
  std::span<const property_ref> extra;
  /// INSTANCE_ID: the namespace of a namespaced producer, written after `extra` (Java sets it on
  /// every message such a producer sends). Empty = no INSTANCE_ID.
  std::string_view instance_id;
  /// Properties send hooks added to this message (rmq/send_hook.hpp), written last: after the
  /// message's user properties, so that brokers keep these of duplicate names. Validated when
  /// added.
  std::span<const property_ref> added;
};

/// Appends pairs to a caller-owned string. Allocation-free once `out` has the capacity.
class properties_writer {
 public:
  properties_writer(std::string& out, trailing_separator trailing) noexcept
      : out_(out), start_(out.size()), trailing_(trailing) {}

  void add(std::string_view name, std::string_view value);
  void add(std::string_view name, std::int64_t value);
  /// Drops the separator after the last pair when `trailing_separator::omit`. Call once.
  void finish() noexcept;
  /// Bytes written by this writer so far.
  [[nodiscard]] std::size_t size() const noexcept { return out_.size() - start_; }

 private:
  std::string& out_;
  std::size_t start_;
  trailing_separator trailing_;
  bool any_ = false;
};

/// Appends the wire properties of `msg` (+ `per_send`) to `out`; returns the bytes appended.
/// Order: TAGS, KEYS, WAIT, DELAY, TIMER_DELIVER_MS, UNIQ_KEY, `per_send.extra`, INSTANCE_ID,
/// user properties, `per_send.added`.
/// Empty tags/keys, delay level 0 and no delivery time are left out; WAIT is always written (as
/// Java does). Nothing is validated here: see validation.hpp.
std::size_t append_properties(std::string& out, const rmq::message& msg,
                              const send_properties& per_send = {},
                              trailing_separator trailing = trailing_separator::keep);

/// What append_properties would append, written to [out, out + capacity) instead: the size
/// written, or std::nullopt (and anything in the buffer) when it would not fit. For short
/// properties, a stack buffer and one append instead of four appends a pair.
[[nodiscard]] std::optional<std::size_t> write_properties(
    char* out, std::size_t capacity, const rmq::message& msg, const send_properties& per_send = {},
    trailing_separator trailing = trailing_separator::keep) noexcept;

/// Exactly the number of bytes append_properties would append.
[[nodiscard]] std::size_t encoded_properties_size(
    const rmq::message& msg, const send_properties& per_send = {},
    trailing_separator trailing = trailing_separator::keep) noexcept;

/// The UNIQ_KEY a send of `msg` carries: the message's own, else `generated`.
[[nodiscard]] inline std::string_view effective_uniq_key(const rmq::message& msg,
                                                         std::string_view generated) noexcept {
  return msg.uniq_key().empty() ? generated : std::string_view(msg.uniq_key());
}

/// Decodes a properties string as the Java broker does (MessageDecoder.string2messageProperties):
/// segments are split at 0x02; a segment is kept only if it has a 0x01 after at least one name
/// byte and before at least one value byte (so empty names and empty values are dropped, and a
/// trailing 0x02 or none makes no difference); the value runs to the segment's end and may
/// contain 0x01. Appends to `out` in wire order; views into `text`. Java keeps the last of
/// duplicate names, as find_property does.
void decode_properties(std::string_view text, std::vector<property_ref>& out);

/// Value of `name` in a properties string (last occurrence wins), without allocating.
[[nodiscard]] std::optional<std::string_view> find_property(std::string_view text,
                                                            std::string_view name) noexcept;

}  // namespace rmq::wire
