#include "common/log.hpp"

#include <spdlog/spdlog.h>

#include <bit>
#include <mutex>

namespace rmq::log {

std::shared_ptr<spdlog::logger> resolve(std::shared_ptr<spdlog::logger> configured) {
  if (configured) return configured;
  // One at a time: two producers starting at once would both create it, and registering the
  // second would throw.
  static std::mutex creating;
  const std::lock_guard lock(creating);
  if (auto existing = spdlog::get(default_logger_name)) return existing;
  // Where the application's own default logger writes, so configuring spdlog's default
  // configures the producer too; the registry's level and pattern apply (initialize_logger).
  std::shared_ptr<spdlog::logger> fallback = spdlog::default_logger();
  auto created = fallback
                     ? std::make_shared<spdlog::logger>(
                           default_logger_name, fallback->sinks().begin(), fallback->sinks().end())
                     : std::make_shared<spdlog::logger>(default_logger_name);
  spdlog::initialize_logger(created);
  return created;
}

spdlog::logger& or_default(spdlog::logger* logger) noexcept {
  return logger != nullptr ? *logger : *spdlog::default_logger_raw();
}

rate_limiter::verdict rate_limiter::occur(clock::time_point now) noexcept {
  if (count_ != 0 && now - last_ >= quiet_period_) reset();
  last_ = now;
  verdict v;
  v.count = ++count_;
  v.log = std::has_single_bit(count_) || now - last_logged_ >= 10 * quiet_period_;
  if (v.log) {
    last_logged_ = now;
    v.suppressed = suppressed_;
    suppressed_ = 0;
  } else {
    v.suppressed = ++suppressed_;
  }
  return v;
}

}  // namespace rmq::log
