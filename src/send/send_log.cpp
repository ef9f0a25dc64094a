#include "send/send_log.hpp"

#include "rmq/error.hpp"

#include <asio/error.hpp>
#include <spdlog/logger.h>

namespace rmq::send {

namespace {

long long milliseconds_until(send_log::clock::time_point from, send_log::clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

std::optional<log::rate_limiter::verdict> send_log::admit(log::rate_limiter& limiter,
                                                          spdlog::level::level_enum level,
                                                          clock::time_point now) const {
  if (!logger_.should_log(level)) return std::nullopt;
  const log::rate_limiter::verdict v = limiter.occur(now);
  if (!v.log) return std::nullopt;
  return v;
}

void send_log::retry(std::string_view topic, int attempt, std::error_code last_error,
                     clock::time_point now) {
  const auto v = admit(retries_, spdlog::level::info, now);
  if (!v) return;
  logger_.info(
      "rmq send: retrying a send to topic {} (attempt {}) after: {} ({} retries, {} not "
      "logged since the last line)",
      topic, attempt, last_error.message(), v->count, v->suppressed);
}

void send_log::failed(std::string_view topic, std::error_code ec, int attempts,
                      std::string_view brokers, std::chrono::milliseconds elapsed,
                      clock::time_point now) {
  if (ec == asio::error::operation_aborted || ec == errc::shutting_down) return;
  const auto v = admit(failures_, spdlog::level::warn, now);
  if (!v) return;
  logger_.warn(
      "rmq send: a send to topic {} failed after {} attempt(s) in {} ms{}{}: {} ({} "
      "failed sends, {} not logged since the last line)",
      topic, attempts, elapsed.count(), brokers.empty() ? "" : " on ", brokers, ec.message(),
      v->count, v->suppressed);
}

void send_log::hook_threw(std::string_view where, std::string_view what, clock::time_point now) {
  const auto v = admit(hook_exceptions_, spdlog::level::warn, now);
  if (!v) return;
  logger_.warn(
      "rmq send: a send hook's {} threw: {}; the send goes on ({} exceptions, {} not logged "
      "since the last line)",
      where, what, v->count, v->suppressed);
}

void send_log::fault_changed(fault_change change, route::broker_id broker, std::string_view name,
                             std::error_code error, std::chrono::milliseconds latency,
                             clock::time_point available_from, clock::time_point now) {
  if (change == fault_change::none) return;
  if (broker >= isolations_.size()) isolations_.resize(broker + 1);
  broker_isolations& b = isolations_[broker];
  if (change == fault_change::back) {
    // Only the end of an isolation that was told: a flapping broker is rate-limited as a pair.
    if (std::exchange(b.logged, false)) {
      logger_.info("rmq send: broker {} is back: answered in {} ms", name, latency.count());
    }
    return;
  }
  const auto v = admit(b.limiter, spdlog::level::warn, now);
  b.logged = v.has_value();
  if (!v) return;
  const long long avoided = milliseconds_until(now, available_from);
  if (error) {
    logger_.warn(
        "rmq send: broker {} isolated for {} ms: {} ({} isolations, {} not logged since "
        "the last line)",
        name, avoided, error.message(), v->count, v->suppressed);
  } else {
    logger_.warn(
        "rmq send: broker {} isolated for {} ms: it answered in {} ms ({} isolations, {} "
        "not logged since the last line)",
        name, avoided, latency.count(), v->count, v->suppressed);
  }
}

}  // namespace rmq::send
