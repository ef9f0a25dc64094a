#include "net/connection.hpp"

#include "io/resolve.hpp"
#include "net/connection_driver.hpp"

#include <spdlog/spdlog.h>

#include <bit>
#include <chrono>
#include <string>

namespace rmq::net {

namespace {

using level = spdlog::level::level_enum;

// The level of a step's line: operators' events at info or above, the rest at debug.
level level_of(const link_step& step, const link_log_facts& facts) noexcept {
  if (step.outcome == link_step::verdict::illegal) return level::err;
  const bool first_of_run = std::has_single_bit(facts.failures_in_a_row);  // 1st, 2nd, 4th...
  switch (step.event) {
    case link_event::demand:  // a connect after a loss or a failure is a reconnect
      if (facts.failures_in_a_row > 0) return first_of_run ? level::info : level::debug;
      return facts.connects > 0 && !facts.quiet ? level::info : level::debug;
    case link_event::connect_succeeded:
      return facts.quiet ? level::debug : level::info;
    case link_event::connect_failed:
    case link_event::resolve_failed:
      return step.from == link_state::closing || !first_of_run ? level::debug : level::warn;
    case link_event::link_failed:
      return step.failure == errc::shutting_down || facts.quiet ? level::debug : level::warn;
    case link_event::stream_corrupt:
      return facts.quiet ? level::debug : level::err;
    case link_event::idle_timeout:
      return level::info;
    case link_event::go_away:
    case link_event::go_away_again:  // a streak is told at its 1st, 2nd, 4th... socket
      if (!std::has_single_bit(facts.go_aways_in_a_row)) return level::debug;
      return facts.go_aways_in_a_row >= 2 ? level::warn : level::info;
    default:
      return level::debug;
  }
}

// " (loss N of a run, M not logged ...)" when a peer keeps dropping connections.
std::string losses_so_far(const link_log_facts& facts) {
  if (facts.losses < 2) return {};
  return fmt::format(" (loss {} of a run, {} not logged since the previous line)", facts.losses,
                     facts.losses_not_logged);
}

long long milliseconds(clock::duration d) noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

void write_link_step(spdlog::logger& logger, level lvl, std::string_view address,
                     const link_step& step, const link_log_facts& facts) {
  const auto from = to_string(step.from);
  const auto event = to_string(step.event);
  if (step.outcome == link_step::verdict::illegal) {
    logger.log(lvl, "rmq net {}: event {} cannot happen in state {}", address, event, from);
    return;
  }
  if (lvl == level::debug) {
    logger.log(lvl, "rmq net {}: {} --{}--> {}", address, from, event, to_string(step.to));
    return;
  }
  switch (step.event) {
    case link_event::demand:
      if (facts.failures_in_a_row > 0) {
        logger.log(lvl, "rmq net {}: reconnecting after {} failed attempt(s)", address,
                   facts.failures_in_a_row);
      } else {
        logger.log(lvl, "rmq net {}: reconnecting", address);
      }
      return;
    case link_event::connect_succeeded:
      logger.log(lvl, "rmq net {}: {}", address, facts.connects > 0 ? "reconnected" : "connected");
      return;
    case link_event::connect_failed:
    case link_event::resolve_failed:
      logger.log(lvl, "rmq net {}: {}: {} ({} failed attempt(s) in a row; the next waits {} ms)",
                 address,
                 step.event == link_event::connect_failed ? "connect failed" : "cannot resolve",
                 facts.last_error.message(), facts.failures_in_a_row, milliseconds(facts.retry_in));
      return;
    case link_event::link_failed:
      logger.log(lvl, "rmq net {}: connection lost: {}{}", address, facts.last_error.message(),
                 losses_so_far(facts));
      return;
    case link_event::stream_corrupt:
      logger.log(lvl, "rmq net {}: connection closed: the peer sent undecodable bytes ({}){}",
                 address, facts.last_error.message(), losses_so_far(facts));
      return;
    case link_event::idle_timeout:
      logger.log(lvl, "rmq net {}: closed after being idle; it reconnects on demand", address);
      return;
    case link_event::go_away:
    case link_event::go_away_again:
      if (facts.go_aways_in_a_row < 2) {
        logger.log(lvl,
                   "rmq net {}: the server is going away (GO_AWAY): no more writes on this "
                   "connection; what it answered GO_AWAY goes again on a new one",
                   address);
      } else {
        logger.log(lvl,
                   "rmq net {}: told to go away again on a new connection ({} in a row): new "
                   "requests fail fast for {} ms",
                   address, facts.go_aways_in_a_row, milliseconds(facts.retry_in));
      }
      return;
    default:
      return;
  }
}

}  // namespace

void log_link_step(spdlog::logger& logger, std::string_view address, const link_step& step,
                   const link_log_facts& facts) noexcept {
  const level lvl = level_of(step, facts);
  if (!logger.should_log(lvl)) return;
  try {
    write_link_step(logger, lvl, address, step, facts);
  } catch (...) {  // a failing sink must not take the connection down
  }
}

void tcp_transport::resolve(io::loop& l, std::string_view address, clock::time_point deadline,
                            resolve_callback done) {
  io::async_resolve(l, address, deadline, [done](std::error_code ec, io::endpoint peer) {
    done.done(done.context, ec, peer);
  });
}

template class basic_connection<tcp_transport>;

}  // namespace rmq::net
