#include "net/connection_lifecycle.hpp"

#include <algorithm>
#include <utility>

namespace rmq::net {

namespace {

using verdict = link_step::verdict;

// An event that leaves an open state for good: requests fail, and the connection ends once
// the socket (or the resolver) has finished with it.
constexpr bool is_close(link_event e) noexcept {
  return e == link_event::close || e == link_event::drained;
}

}  // namespace

clock::duration reconnect_delay(const backoff_policy& policy,
                                unsigned consecutive_failures) noexcept {
  if (consecutive_failures < policy.failures_before_backoff) return clock::duration::zero();
  const unsigned doublings = std::min(consecutive_failures - policy.failures_before_backoff, 16u);
  return std::min<clock::duration>(policy.max, policy.initial * (1u << doublings));
}

link_step connection_lifecycle::handle(link_event e, clock::time_point now, errc failure) noexcept {
  const link_step step = transition(e, now, failure);
  // Every state change passes here, so this is where a connection's story is told.
  if (step.outcome != verdict::ignored && trace_.on_step != nullptr) {
    trace_.on_step(trace_.context, step);
  }
  return step;
}

link_step connection_lifecycle::transition(link_event e, clock::time_point now,
                                           errc failure) noexcept {
  link_step step{state_, state_, e, verdict::taken, link_action::none, {}};
  const auto go = [&](link_state to, link_action actions = link_action::none, errc fails = {}) {
    state_ = to;
    step.to = to;
    step.actions = actions;
    step.failure = fails;
    if (to == link_state::closing || to == link_state::closed) draining_ = false;
    return step;
  };
  const auto ignore = [&] {
    step.outcome = verdict::ignored;
    return step;
  };
  const auto illegal = [&] {
    step.outcome = verdict::illegal;
    return step;
  };

  // Events with the same meaning in every open state.
  const bool open = state_ != link_state::closing && state_ != link_state::closed;
  if (open && e == link_event::drain) {
    draining_ = true;
    return step;
  }
  if (e == link_event::demand && state_ != link_state::disconnected) return ignore();  // under way

  switch (state_) {
    case link_state::disconnected:
      if (e == link_event::demand) {
        return endpoint_known_ ? go(link_state::connecting, link_action::connect)
                               : go(link_state::resolving, link_action::resolve);
      }
      if (is_close(e)) {
        return go(link_state::closed, link_action::fail_requests | link_action::finish_close,
                  errc::shutting_down);
      }
      return illegal();

    case link_state::resolving:
      if (e == link_event::resolved) {
        endpoint_known_ = true;  // kept across reconnects
        return go(link_state::connecting, link_action::connect);
      }
      if (e == link_event::resolve_failed) {
        count_connect_failure(now, errc::connect_failed);
        return go(link_state::disconnected, link_action::fail_requests, errc::connect_failed);
      }
      if (is_close(e))
        return go(link_state::closing, link_action::fail_requests, errc::shutting_down);
      return illegal();

    case link_state::connecting:
      if (e == link_event::connect_succeeded) {
        // Kept until the link proves itself: with TLS 1.3 a server refuses the client's
        // certificate only after the client's side of the handshake has finished.
        failures_before_connect_ = std::exchange(consecutive_failures_, 0);
        previous_retired_ = std::exchange(socket_retired_, false);
        return go(link_state::connected, link_action::start_io);
      }
      if (e == link_event::connect_failed) {
        // A failed TLS handshake is a connect failure with its own error, kept for the backoff.
        const errc why = failure == errc::tls_handshake_failed ? failure : errc::connect_failed;
        count_connect_failure(now, why);
        return go(link_state::disconnecting, link_action::close_socket | link_action::fail_requests,
                  why);
      }
      if (is_close(e)) {
        return go(link_state::closing, link_action::close_socket | link_action::fail_requests,
                  errc::shutting_down);
      }
      return illegal();

    case link_state::connected:
    case link_state::retiring: {  // a socket that reads; a retiring one no longer writes
      const bool retiring = state_ == link_state::retiring;
      if (e == link_event::link_failed) {
        if (failure == errc::tls_handshake_failed) {
          // Refused by the server's first answer, an alert: a failed connect, backoff included.
          consecutive_failures_ = failures_before_connect_;
          count_connect_failure(now, failure);
        }
        return go(link_state::disconnecting, link_action::close_socket | link_action::fail_requests,
                  failure);
      }
      if (e == link_event::stream_corrupt || (e == link_event::idle_timeout && !retiring)) {
        return go(link_state::disconnecting, link_action::close_socket);
      }
      if (e == link_event::go_away || e == link_event::go_away_again) {
        if (retiring) return ignore();  // the socket retires already
        count_go_away(e == link_event::go_away_again, now);
        return go(link_state::retiring);
      }
      if (e == link_event::retired && retiring) {
        socket_retired_ = true;
        return go(link_state::disconnecting,
                  link_action::close_socket | link_action::restart_stream);
      }
      if (is_close(e)) {
        return go(link_state::closing, link_action::close_socket | link_action::fail_requests,
                  errc::shutting_down);
      }
      return illegal();
    }

    case link_state::disconnecting:
      if (e == link_event::socket_closed)
        return go(link_state::disconnected, link_action::reconnect_waiting);
      if (e == link_event::link_failed || e == link_event::stream_corrupt) return ignore();
      if (is_close(e))
        return go(link_state::closing, link_action::fail_requests, errc::shutting_down);
      return illegal();

    case link_state::closing:
      if (e == link_event::socket_closed || e == link_event::resolved ||
          e == link_event::resolve_failed) {
        return go(link_state::closed, link_action::finish_close);
      }
      if (e == link_event::connect_succeeded || e == link_event::connect_failed ||
          e == link_event::link_failed || e == link_event::stream_corrupt) {
        return ignore();  // the socket's close completes every operation first
      }
      if (is_close(e) || e == link_event::drain)
        return ignore();  // its callback completes with ours
      return illegal();

    case link_state::closed:
      // A late close completes its callback at once.
      if (is_close(e) || e == link_event::drain)
        return go(link_state::closed, link_action::finish_close);
      return illegal();
  }
  return illegal();
}

void connection_lifecycle::count_connect_failure(clock::time_point now, errc why) noexcept {
  ++consecutive_failures_;
  backoff_failure_ = why;
  retry_after_ = now + reconnect_delay(backoff_, consecutive_failures_);
}

void connection_lifecycle::count_go_away(bool again, clock::time_point now) noexcept {
  go_aways_ = again && previous_retired_ ? go_aways_ + 1 : 1;
  // The first GO_AWAY reconnects at once; from the second in a row the connection backs off
  // as after connect failures: the initial delay, doubling up to the maximum.
  if (go_aways_ >= 2) {
    go_away_retry_after_ =
        now + reconnect_delay(backoff_, backoff_.failures_before_backoff + go_aways_ - 2);
  }
}

std::string_view to_string(link_state s) noexcept {
  switch (s) {
    case link_state::disconnected:
      return "disconnected";
    case link_state::resolving:
      return "resolving";
    case link_state::connecting:
      return "connecting";
    case link_state::connected:
      return "connected";
    case link_state::retiring:
      return "retiring";
    case link_state::disconnecting:
      return "disconnecting";
    case link_state::closing:
      return "closing";
    case link_state::closed:
      return "closed";
  }
  return "?";
}

std::string_view to_string(link_event e) noexcept {
  switch (e) {
    case link_event::demand:
      return "demand";
    case link_event::resolved:
      return "resolved";
    case link_event::resolve_failed:
      return "resolve_failed";
    case link_event::connect_succeeded:
      return "connect_succeeded";
    case link_event::connect_failed:
      return "connect_failed";
    case link_event::link_failed:
      return "link_failed";
    case link_event::stream_corrupt:
      return "stream_corrupt";
    case link_event::idle_timeout:
      return "idle_timeout";
    case link_event::socket_closed:
      return "socket_closed";
    case link_event::go_away:
      return "go_away";
    case link_event::go_away_again:
      return "go_away_again";
    case link_event::retired:
      return "retired";
    case link_event::drain:
      return "drain";
    case link_event::drained:
      return "drained";
    case link_event::close:
      return "close";
  }
  return "?";
}

}  // namespace rmq::net
