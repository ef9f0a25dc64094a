// The rules of a send's attempts, without I/O: how many attempts a send gets and each one's share
// of its deadline, what an attempt's outcome means (another attempt, or the end with a result or
// an error), how it counts against its broker, and which outcome the send finally reports. The
// pipeline performs what these functions decide; time is passed in, so tests drive every branch
// with a fake clock and no sockets.
#pragma once

#include "rmq/producer.hpp"
#include "rmq/producer_config.hpp"
#include "route/broker_registry.hpp"
#include "send/fault_tolerance.hpp"
#include "wire/codes.hpp"

#include <asio/error.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <system_error>

namespace rmq::send {

using policy_clock = std::chrono::steady_clock;

/// How the user asked (detail::send_kind): it decides the retry budget (sync and async have
/// their own counts) and whether a response is awaited.
using send_mode = detail::send_kind;

/// A send as the policy sees it.
struct send_shape {
  send_mode mode = send_mode::async;
  bool ordered = false;  ///< to one queue, chosen once
  bool batch = false;
};

/// The settings of producer_config the policy reads.
struct attempt_settings {
  int retries_sync = 2;
  int retries_async = 2;
  std::optional<std::chrono::milliseconds> attempt_timeout;
  bool retry_another_broker_when_not_stored_ok = false;

  [[nodiscard]] static attempt_settings from(const producer_config& config) noexcept;
};

/// What the attempts of one send may do, decided when it starts.
struct attempt_plan {
  int max_attempts = 1;
  bool ordered = false;                  ///< an ordered send never moves to another queue
  policy_clock::duration attempt_cap{};  ///< each attempt's share of the budget
};

/// Oneway makes one attempt; sync and async one plus their retries; an ordered sync send one
/// (it may not change queue, and it retries nowhere else). The budget from `started` to
/// `deadline` is shared evenly among the attempts unless a per-attempt cap is configured, so a
/// hung attempt leaves room for the retries.
[[nodiscard]] attempt_plan plan_attempts(const send_shape& shape, const attempt_settings& settings,
                                         policy_clock::time_point started,
                                         policy_clock::time_point deadline) noexcept;

/// The deadline of an attempt that starts at `now`: its share, never past the send's.
[[nodiscard]] inline policy_clock::time_point attempt_deadline(
    const attempt_plan& plan, policy_clock::time_point now,
    policy_clock::time_point send_deadline) noexcept {
  return std::min(send_deadline, now + plan.attempt_cap);
}

/// Brokers older than 5.0 ignore a message's timer (TIMER_DELIVER_MS, TIMER_DELAY_SEC,
/// TIMER_DELAY_MS) and deliver at once, so such a send stops instead of going there. A batch
/// carries none. A timer message goes only to a broker whose version is known: the pipeline
/// waits for the broker's heartbeat answer before asking (a fresh producer's first send
/// decides as a warm one's does); still unknown then, it does not go.
[[nodiscard]] inline bool delivery_time_supported(
    const send_shape& shape, bool has_delivery_time,
    std::optional<std::int32_t> broker_version) noexcept {
  // Brokers older than 5.0 (protocol version 413) ignore the TIMER_* properties.
  constexpr std::int32_t first_version_with_delivery_time = 413;
  return shape.batch || !has_delivery_time ||
         (broker_version && *broker_version >= first_version_with_delivery_time);
}

/// The response codes that store the message: SUCCESS, and the stored-but-not-as-asked ones
/// (FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE).
[[nodiscard]] inline bool stores_message(std::int32_t response_code) noexcept {
  return response_code == wire::response_code::success || wire::is_stored_status(response_code);
}

/// What one attempt came to, as the pipeline saw it.
struct attempt_outcome {
  enum class kind : std::uint8_t {
    transport_failed,  ///< no response: `error` says why (timeout, connection lost, ...)
    written,           ///< oneway: the request was written, no response is awaited
    answered,          ///< the broker answered with `response_code`
    cancelled,         ///< the user cancelled the send while this attempt waited (never retried)
    denied,  ///< the broker refused the credentials or their permissions (ACL): never retried
  };
  kind what = kind::answered;
  std::error_code error;           ///< transport_failed
  std::int32_t response_code = 0;  ///< answered
  bool header_valid = true;        ///< answered with a storing code: its header parsed

  [[nodiscard]] static attempt_outcome transport_failure(std::error_code ec) noexcept {
    return {kind::transport_failed, ec, 0, true};
  }
  [[nodiscard]] static attempt_outcome write_done() noexcept {
    return {kind::written, {}, 0, true};
  }
  [[nodiscard]] static attempt_outcome cancelled() noexcept {
    return {kind::cancelled, make_error_code(asio::error::operation_aborted), 0, true};
  }
  [[nodiscard]] static attempt_outcome access_denied(std::int32_t code) noexcept {
    return {kind::denied, make_error_code(errc::access_denied), code, true};
  }
  [[nodiscard]] static attempt_outcome response(std::int32_t code,
                                                bool header_valid = true) noexcept {
    return {kind::answered, {}, code, header_valid};
  }
};

/// What comes after an attempt.
enum class next_step : std::uint8_t {
  retry_same_queue,       ///< an ordered send: another attempt on its one queue, if any remain
  retry_another_broker,   ///< another attempt, away from this broker, if any remain
  keep_stored_and_retry,  ///< stored, not as asked: this result stands unless another succeeds
  stop_with_result,       ///< the send succeeded with this attempt's delivery
  stop_with_error,        ///< the send failed with the verdict's error
};

/// One attempt judged: what comes next, the error it ended with (the reason of a retry, or the
/// send's error) and how it counts in the fault table (none: nothing was learnt of the broker).
struct attempt_verdict {
  next_step step = next_step::stop_with_error;
  std::error_code error;
  std::optional<fault_report> fault;
};

/// The rules for one attempt's outcome. `more_attempts` says whether the plan leaves another
/// attempt after this one.
[[nodiscard]] attempt_verdict judge_attempt(const send_shape& shape,
                                            const attempt_settings& settings,
                                            const attempt_outcome& outcome,
                                            bool more_attempts) noexcept;

/// The error a send ends with: a stored-but-not-OK result kept by an earlier attempt wins over
/// the failures of the attempts after it (as Java's sendDefaultImpl returns its last result),
/// for the message is stored.
[[nodiscard]] inline std::error_code final_error(std::error_code last_error,
                                                 bool stored_result_kept) noexcept {
  return stored_result_kept ? std::error_code{} : last_error;
}

/// The loop of one send's attempts: before each one it says whether to make it (and until when)
/// or to stop, and after it what the policy decided. It holds only what must survive between
/// attempts (the pipeline keeps it in the send's coroutine frame).
class attempt_sequence {
 public:
  attempt_sequence() noexcept = default;
  explicit attempt_sequence(const attempt_plan& plan) noexcept : plan_(plan) {}

  /// Before an attempt at `now`: false when the send must stop, with error(): no attempt left
  /// (the last attempt's error) or the deadline passed (timed_out). True: make the next one.
  [[nodiscard]] bool may_attempt(policy_clock::time_point now,
                                 policy_clock::time_point send_deadline) noexcept {
    if (made_ >= plan_.max_attempts) return false;
    if (now >= send_deadline) {
      error_ = make_error_code(errc::timed_out);
      return false;
    }
    return true;
  }
  /// An attempt starts on `broker`; returns its number (1-based).
  int begin(route::broker_id broker) noexcept {
    last_broker_ = broker;
    return ++made_;
  }
  /// The attempt could not be made (its broker has no master): another may.
  void skipped(std::error_code why) noexcept { error_ = why; }
  /// The attempt may not be made and the send must stop with `why`.
  void stop(std::error_code why) noexcept { error_ = why; }
  /// Judges the attempt's outcome and notes it for the next one.
  [[nodiscard]] attempt_verdict judge(const send_shape& shape, const attempt_settings& settings,
                                      const attempt_outcome& outcome) noexcept {
    attempt_verdict verdict = judge_attempt(shape, settings, outcome, made_ < plan_.max_attempts);
    error_ = verdict.error;
    return verdict;
  }

  [[nodiscard]] int made() const noexcept { return made_; }
  [[nodiscard]] bool is_retry() const noexcept { return made_ > 0; }
  /// The broker of the last attempt (made or skipped): the next pick avoids it. Only a
  /// finished attempt's broker counts: read it before begin().
  [[nodiscard]] std::optional<route::broker_id> last_broker() const noexcept {
    return last_broker_;
  }
  /// Why the sequence stopped (or the last attempt failed).
  [[nodiscard]] std::error_code error() const noexcept { return error_; }
  [[nodiscard]] const attempt_plan& plan() const noexcept { return plan_; }

 private:
  attempt_plan plan_;
  std::error_code error_ = make_error_code(errc::timed_out);
  std::optional<route::broker_id> last_broker_;
  int made_ = 0;
};

}  // namespace rmq::send
