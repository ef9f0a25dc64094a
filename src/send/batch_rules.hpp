// The rules of automatic batching (producer_config::auto_batch), without I/O: which sends may
// join a batch, when a gathering batch must leave, and where each member's own result sits in
// the batch's response. The auto_batcher performs them on a loop; tests check them alone.
#pragma once

#include "rmq/message.hpp"
#include "rmq/producer.hpp"
#include "rmq/producer_config.hpp"
#include "wire/batch.hpp"
#include "wire/validation.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rmq::send {

/// Whether a single send may join an automatic batch. Not: oneway sends (nothing would tell
/// their members apart), a transaction's half message, a request or a reply (their own request
/// codes and properties), a delay level or a timer (a batch carries neither), a body at or
/// above the compression threshold (batches are not compressed: it goes alone, compressed), a
/// retry topic (brokers refuse batches there), and a message that does not wait for the store
/// (the batch's one WAIT property speaks for all its messages).
[[nodiscard]] inline bool may_auto_batch(const message& msg, detail::send_kind mode,
                                         detail::send_purpose purpose,
                                         std::size_t compress_threshold) noexcept {
  return mode != detail::send_kind::oneway && purpose == detail::send_purpose::plain &&
         msg.delay_level() == 0 && !msg.has_timer() && msg.body().size() < compress_threshold &&
         msg.wait_store_msg_ok() && !msg.topic().starts_with(wire::retry_topic_prefix);
}

/// What a gathering batch holds, as its limits see it.
struct batch_fill {
  std::size_t bytes = 0;     ///< encoded records
  std::size_t messages = 0;  ///< records
};

/// A record of `record_bytes` (wire::batch_record_size) fits no batch at all: it goes alone.
[[nodiscard]] inline bool too_big_to_batch(std::size_t record_bytes,
                                           const auto_batch_config& limits) noexcept {
  return record_bytes > limits.max_bytes;
}

/// The record fits beside what `fill` holds; if not, the batch leaves first and the record
/// opens the next one.
[[nodiscard]] inline bool fits(const batch_fill& fill, std::size_t record_bytes,
                               const auto_batch_config& limits) noexcept {
  return fill.messages < limits.max_messages && fill.bytes + record_bytes <= limits.max_bytes;
}

/// Full: no further record can join, so it leaves now rather than at its linger's end.
[[nodiscard]] inline bool full(const batch_fill& fill, const auto_batch_config& limits) noexcept {
  return fill.messages >= limits.max_messages ||
         fill.bytes + wire::batch_record_overhead >= limits.max_bytes;
}

/// When a batch that opened at `opened` must leave at the latest, for a member that joined at
/// `joined` with `deadline`: at the linger's end, or earlier so that the linger takes at most
/// half of what was left of the member's budget (its attempts keep the other half).
template <class TimePoint>
[[nodiscard]] TimePoint leave_by(TimePoint opened, std::chrono::microseconds linger,
                                 TimePoint joined, TimePoint deadline) noexcept {
  const TimePoint half_budget = deadline > joined ? joined + (deadline - joined) / 2 : joined;
  return std::min<TimePoint>(opened + linger, half_budget);
}

/// The deadline of a batch's next attempt at `now`. Its members' deadlines differ (the linger,
/// per-send timeouts), and one whose deadline passes leaves the batch: so, unlike a single send's
/// shares fixed when it starts, the share is worked out before each attempt from what is left
/// until the earliest remaining `deadline`, over the attempts left — or the configured cap.
template <class TimePoint>
[[nodiscard]] TimePoint batch_attempt_deadline(
    TimePoint now, TimePoint deadline, int attempts_left,
    std::optional<std::chrono::milliseconds> attempt_timeout) noexcept {
  if (attempt_timeout) return std::min<TimePoint>(deadline, now + *attempt_timeout);
  if (deadline <= now) return deadline;
  return now + (deadline - now) / std::max(1, attempts_left);
}

/// Walks the comma-joined offset msgIds of a batch's response, one per member in order. A
/// response with fewer ids than members (a broker that answers otherwise) gives the rest an
/// empty id rather than another member's.
class offset_id_cursor {
 public:
  explicit offset_id_cursor(std::string_view ids) noexcept : rest_(ids) {}
  [[nodiscard]] std::string_view next() noexcept {
    if (done_) return {};
    const std::size_t comma = rest_.find(',');
    const std::string_view id = rest_.substr(0, comma);
    if (comma == std::string_view::npos) {
      done_ = true;
    } else {
      rest_.remove_prefix(comma + 1);
    }
    return id;
  }

 private:
  std::string_view rest_;
  bool done_ = false;
};

}  // namespace rmq::send
