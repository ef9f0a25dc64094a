// The send pipeline's log lines: retries, final failures, and brokers isolated by the latency
// fault tolerance and back. Called on failures and isolation changes only, never for a send
// that succeeds at its first attempt; every line kind is rate-limited (log::rate_limiter), so a
// dead broker under load writes a few lines, not one per send.
#pragma once

#include "common/log.hpp"
#include "route/broker_registry.hpp"
#include "send/fault_tolerance.hpp"

#include <spdlog/fwd.h>

#include <chrono>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

namespace rmq::send {

class send_log {
 public:
  using clock = log::rate_limiter::clock;

  explicit send_log(spdlog::logger& logger) noexcept : logger_(logger) {}

  /// A send to `topic` tries again (attempt number `attempt`) after `last_error`.
  void retry(std::string_view topic, int attempt, std::error_code last_error,
             clock::time_point now);
  /// A send to `topic` failed for good with `ec` after `attempts` attempts (to `brokers`).
  /// Cancellations and failures at shutdown are the caller's own doing: not logged.
  void failed(std::string_view topic, std::error_code ec, int attempts, std::string_view brokers,
              std::chrono::milliseconds elapsed, clock::time_point now);
  /// A send hook's `where` (before_send, after_send) threw `what`; the send went on.
  void hook_threw(std::string_view where, std::string_view what, clock::time_point now);
  /// An attempt on `broker` (named `name`) changed its standing: `error` failed it (or none: it
  /// answered, in `latency`), and it is avoided until `available_from`.
  void fault_changed(fault_change change, route::broker_id broker, std::string_view name,
                     std::error_code error, std::chrono::milliseconds latency,
                     clock::time_point available_from, clock::time_point now);

 private:
  /// Per broker: its isolations, and whether the last one was logged (then so is its end).
  struct broker_isolations {
    log::rate_limiter limiter;
    bool logged = false;
  };

  /// One more occurrence for `limiter`: its verdict when a line is to be written at `level`,
  /// nothing when the level is off (the limiter is then left alone) or the line is left out.
  [[nodiscard]] std::optional<log::rate_limiter::verdict> admit(log::rate_limiter& limiter,
                                                                spdlog::level::level_enum level,
                                                                clock::time_point now) const;

  spdlog::logger& logger_;
  log::rate_limiter retries_;
  log::rate_limiter failures_;
  log::rate_limiter hook_exceptions_;
  std::vector<broker_isolations> isolations_;  // indexed by broker id
};

}  // namespace rmq::send
