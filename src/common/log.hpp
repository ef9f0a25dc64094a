// Logging helpers shared by every layer: which logger a producer writes to, and a rate limiter
// for lines an outage repeats (a dead broker must not flood the log). Log lines are emitted on
// rare events only — connects, failures, route changes — never per successful send; spdlog
// checks the level before it formats, so a level that is off costs one comparison.
#pragma once

#include <spdlog/fwd.h>

#include <chrono>
#include <cstdint>
#include <memory>

namespace rmq::log {

/// The name of the logger a producer uses when its configuration names none.
inline constexpr const char* default_logger_name = "rmq";

/// `configured` when set; else the logger named "rmq" in spdlog's registry, created and
/// registered if there is none yet (the sinks of spdlog's default logger, the registry's level
/// and pattern). Thread-safe: producers starting at once get the same logger.
[[nodiscard]] std::shared_ptr<spdlog::logger> resolve(std::shared_ptr<spdlog::logger> configured);

/// `logger`, or spdlog's default logger when it is nullptr (components built without one, as
/// in tests).
[[nodiscard]] spdlog::logger& or_default(spdlog::logger* logger) noexcept;

/// Rate-limits one kind of repeated event: it lets through the 1st, 2nd, 4th, 8th... occurrence
/// of a run, and a run ends after a quiet period without any (the next occurrence is a 1st
/// again). A run of n occurrences logs about log2(n) lines; a run that never ends (a steady
/// trickle) still logs one line every ten quiet periods, so that it cannot hide a new outage of
/// the same kind for hours. Pure: the caller passes the time, and reads the clock only when the
/// event happens.
class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;

  /// What to do with one occurrence.
  struct verdict {
    bool log = false;              ///< write this line
    std::uint64_t count = 0;       ///< occurrences in the run so far, this one included
    std::uint64_t suppressed = 0;  ///< occurrences not logged since the last line written
  };

  explicit rate_limiter(clock::duration quiet_period = std::chrono::minutes(1)) noexcept
      : quiet_period_(quiet_period) {}

  /// An occurrence at `now`.
  verdict occur(clock::time_point now) noexcept;

  /// Ends the run (the condition cleared, e.g. a connection came back): the next occurrence is
  /// logged as a 1st.
  void reset() noexcept { count_ = suppressed_ = 0; }

  /// Occurrences in the current run.
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

 private:
  clock::duration quiet_period_;
  clock::time_point last_{};         // the last occurrence
  clock::time_point last_logged_{};  // the last occurrence logged
  std::uint64_t count_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace rmq::log
