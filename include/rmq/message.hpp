/// \file
/// rmq::message: what a producer sends. A plain value type: copy, move and compare freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rmq {

/// One message. Nothing is checked when a field is set; rmq::errc codes for bad values
/// (blank topic, reserved property names, 0x01/0x02 in strings, ...) come from the send, before
/// any I/O. The system properties of the wire format (TAGS, KEYS, WAIT, DELAY, TIMER_DELIVER_MS,
/// UNIQ_KEY) are dedicated members, never entries of the user properties.
class message {
 public:
  /// User properties in insertion order; names are unique.
  using property_list = std::vector<std::pair<std::string, std::string>>;

  /// Separator between keys in the KEYS property (Java MessageConst.KEY_SEPARATOR).
  static constexpr char key_separator = ' ';
  /// Highest delay level of a default broker (`messageDelayLevel` has 18 entries, 1s .. 2h).
  static constexpr int max_default_delay_level = 18;

  /// No topic, no body: set both before sending.
  message() = default;
  /// A message of `topic` carrying `body`.
  message(std::string topic, std::string body) : topic_(std::move(topic)), body_(std::move(body)) {}
  /// A message of `topic` with `tags`, carrying `body`.
  message(std::string topic, std::string tags, std::string body)
      : topic_(std::move(topic)), tags_(std::move(tags)), body_(std::move(body)) {}

  /// Topic, without namespace. Charset `[%|a-zA-Z0-9_-]`, at most 127 characters.
  [[nodiscard]] const std::string& topic() const noexcept { return topic_; }
  /// Sets topic().
  void set_topic(std::string topic) { topic_ = std::move(topic); }

  /// Tag used by consumers' tag filters (TAGS); empty means no tag.
  [[nodiscard]] const std::string& tags() const noexcept { return tags_; }
  /// Sets tags().
  void set_tags(std::string tags) { tags_ = std::move(tags); }

  /// Business keys indexed by the broker (KEYS): one string, several keys separated by one
  /// space. Empty means no keys.
  [[nodiscard]] const std::string& keys() const noexcept { return keys_; }
  /// Sets keys() as given: several keys separated by one space.
  void set_keys(std::string keys) { keys_ = std::move(keys); }
  /// Joins `keys` with one space and trims the result (ASCII <= 0x20 at both ends), as Java's
  /// Message.setKeys(Collection) does.
  void set_keys(std::span<const std::string> keys);
  /// The same as set_keys(std::span<const std::string>), for a braced list.
  void set_keys(std::initializer_list<std::string_view> keys);

  /// Payload bytes (any binary content). Must not be empty when sent.
  [[nodiscard]] const std::string& body() const noexcept { return body_; }
  /// Mutable access, e.g. to fill the body in place or to reuse its capacity.
  [[nodiscard]] std::string& body() noexcept { return body_; }
  /// Sets body().
  void set_body(std::string body) { body_ = std::move(body); }

  /// User flag (header field `flag`); opaque to the broker and handed to consumers.
  [[nodiscard]] std::int32_t flag() const noexcept { return flag_; }
  /// Sets flag().
  void set_flag(std::int32_t flag) noexcept { flag_ = flag; }

  /// Delay level (DELAY): 0 = deliver now, 1..18 on a default broker = 1s 5s 10s 30s 1m 2m 3m
  /// 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h. Not allowed in batches.
  [[nodiscard]] int delay_level() const noexcept { return delay_level_; }
  /// Sets delay_level().
  void set_delay_level(int level) noexcept { delay_level_ = level; }

  // Timer messages (brokers >= 5.0): a message has at most one timer, in one of the three
  // forms of the Java 5.x client; setting one replaces the others. Each is exclusive with a
  // delay level and not allowed in batches. A producer writes a timer message only to a broker
  // that can deliver it (errc::delivery_time_unsupported otherwise).

  /// Absolute delivery time in epoch milliseconds (TIMER_DELIVER_MS, Java setDeliverTimeMs);
  /// nullopt = no such timer.
  [[nodiscard]] std::optional<std::int64_t> delivery_time_ms() const noexcept {
    return timer_of(timer_kind::deliver_at_ms);
  }
  /// Sets delivery_time_ms(), replacing any other timer; nullopt clears it.
  void set_delivery_time_ms(std::optional<std::int64_t> epoch_ms) noexcept {
    set_timer(timer_kind::deliver_at_ms, epoch_ms);
  }
  /// Sets delivery_time_ms() from a point in time (milliseconds since the epoch).
  void set_delivery_time(std::chrono::system_clock::time_point at) noexcept {
    set_delivery_time_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
  }
  /// Delay in seconds from when the broker stores it (TIMER_DELAY_SEC, Java setDelayTimeSec);
  /// nullopt = no such timer.
  [[nodiscard]] std::optional<std::int64_t> delay_time_sec() const noexcept {
    return timer_of(timer_kind::delay_sec);
  }
  /// Sets delay_time_sec(), replacing any other timer; nullopt clears it.
  void set_delay_time_sec(std::optional<std::int64_t> seconds) noexcept {
    set_timer(timer_kind::delay_sec, seconds);
  }
  /// Delay in milliseconds from when the broker stores it (TIMER_DELAY_MS, Java
  /// setDelayTimeMs); nullopt = no such timer.
  [[nodiscard]] std::optional<std::int64_t> delay_time_ms() const noexcept {
    return timer_of(timer_kind::delay_ms);
  }
  /// Sets delay_time_ms(), replacing any other timer; nullopt clears it.
  void set_delay_time_ms(std::optional<std::int64_t> milliseconds) noexcept {
    set_timer(timer_kind::delay_ms, milliseconds);
  }
  /// Whether the message has a timer (any of the three forms).
  [[nodiscard]] bool has_timer() const noexcept { return timer_ != timer_kind::none; }

  /// Whether the broker answers only after the message is stored as its flush/replication
  /// policy requires (WAIT). Default true, as in Java.
  [[nodiscard]] bool wait_store_msg_ok() const noexcept { return wait_store_msg_ok_; }
  /// Sets wait_store_msg_ok().
  void set_wait_store_msg_ok(bool wait) noexcept { wait_store_msg_ok_ = wait; }

  /// Client message id (UNIQ_KEY) chosen by the user; empty = the producer generates one per
  /// send (and keeps it across that send's retries).
  [[nodiscard]] const std::string& uniq_key() const noexcept { return uniq_key_; }
  /// Sets uniq_key(); empty lets the producer generate one.
  void set_uniq_key(std::string key) { uniq_key_ = std::move(key); }

  /// User properties, in insertion order.
  [[nodiscard]] const property_list& properties() const noexcept { return properties_; }
  /// Sets a user property; an existing one with the same name keeps its position and gets the
  /// new value (Java's map semantics).
  void put_property(std::string_view name, std::string_view value);
  /// Value of the user property `name`, or nullopt. The view lives as long as the property.
  [[nodiscard]] std::optional<std::string_view> property(std::string_view name) const noexcept;
  /// Removes the user property `name`; returns whether it existed.
  bool remove_property(std::string_view name);
  /// Removes every user property.
  void clear_properties() noexcept { properties_.clear(); }

  /// Every field equal, properties in the same order.
  friend bool operator==(const message&, const message&) = default;

 private:
  std::string topic_;
  std::string tags_;
  std::string keys_;
  std::string body_;
  std::string uniq_key_;
  enum class timer_kind : std::uint8_t { none, deliver_at_ms, delay_sec, delay_ms };

  [[nodiscard]] std::optional<std::int64_t> timer_of(timer_kind kind) const noexcept {
    if (timer_ != kind) return std::nullopt;
    return timer_value_;
  }
  void set_timer(timer_kind kind, std::optional<std::int64_t> value) noexcept {
    if (value) {
      timer_ = kind;
      timer_value_ = *value;
    } else if (timer_ == kind) {
      timer_ = timer_kind::none;
      timer_value_ = 0;
    }
  }

  property_list properties_;
  std::int64_t timer_value_ = 0;  // of timer_ (0 when none)
  std::int32_t flag_ = 0;
  int delay_level_ = 0;
  timer_kind timer_ = timer_kind::none;
  bool wait_store_msg_ok_ = true;
};

}  // namespace rmq
