#include "send/attempt_policy.hpp"

#include "wire/codes.hpp"

namespace rmq::send {

attempt_settings attempt_settings::from(const producer_config& config) noexcept {
  return {config.retries_sync, config.retries_async, config.attempt_timeout,
          config.retry_another_broker_when_not_stored_ok};
}

attempt_plan plan_attempts(const send_shape& shape, const attempt_settings& settings,
                           policy_clock::time_point started,
                           policy_clock::time_point deadline) noexcept {
  attempt_plan plan;
  plan.ordered = shape.ordered;
  if (shape.mode != send_mode::oneway) {
    plan.max_attempts +=
        shape.mode == send_mode::sync ? settings.retries_sync : settings.retries_async;
  }
  if (shape.ordered && shape.mode == send_mode::sync) plan.max_attempts = 1;
  plan.attempt_cap =
      settings.attempt_timeout
          ? std::chrono::duration_cast<policy_clock::duration>(*settings.attempt_timeout)
          : (deadline - started) / plan.max_attempts;
  return plan;
}

attempt_verdict judge_attempt(const send_shape& shape, const attempt_settings& settings,
                              const attempt_outcome& outcome, bool more_attempts) noexcept {
  // A failed attempt is retried elsewhere, except by an ordered send, which keeps its queue.
  const next_step retry =
      shape.ordered ? next_step::retry_same_queue : next_step::retry_another_broker;
  switch (outcome.what) {
    case attempt_outcome::kind::transport_failed:
      // Timeout, lost connection, failed connect: the broker is isolated for a while, but a
      // transport failure says nothing of whether it could store.
      return {is_retriable(outcome.error) ? retry : next_step::stop_with_error, outcome.error,
              fault_report{.isolating = true, .reachable = true}};
    case attempt_outcome::kind::written:
      // Oneway: written, no response; nothing learnt of the broker.
      return {next_step::stop_with_result, {}, std::nullopt};
    case attempt_outcome::kind::cancelled:
      // The user's decision, not the broker's fault: it ends the send and counts nowhere.
      return {next_step::stop_with_error, outcome.error, std::nullopt};
    case attempt_outcome::kind::denied:
      // The account's problem, which another attempt would meet again (4.9 answers it with the
      // retriable SYSTEM_ERROR); the broker itself answered, so it stays available.
      return {next_step::stop_with_error, outcome.error,
              fault_report{.isolating = false, .reachable = true}};
    case attempt_outcome::kind::answered:
      break;
  }
  const std::int32_t code = outcome.response_code;
  if (stores_message(code)) {
    if (!outcome.header_valid) {
      return {next_step::stop_with_error, make_error_code(errc::invalid_response),
              fault_report{.isolating = true, .reachable = false}};
    }
    const fault_report answered{.isolating = false, .reachable = true};
    // Stored, but not as asked: the user may prefer another broker (which may duplicate the
    // message). Never for an ordered send, which may not move.
    if (code != wire::response_code::success && settings.retry_another_broker_when_not_stored_ok &&
        !shape.ordered && more_attempts) {
      return {next_step::keep_stored_and_retry, {}, answered};
    }
    return {next_step::stop_with_result, {}, answered};
  }
  const std::error_code ec = make_broker_error(code);
  return {is_retriable_response_code(code) ? retry : next_step::stop_with_error, ec,
          fault_report{.isolating = true, .reachable = false}};
}

}  // namespace rmq::send
