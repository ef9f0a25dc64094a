// The life of one connection as a sans-I/O state machine: states and events in, the next state
// and the actions to run out. It owns every fact about the connection's life (its state, the
// drain request, the failure count behind the reconnect backoff) and changes them only in
// handle(), which reports each transition to an optional trace hook. The socket driver
// (net/connection_driver.hpp) raises the events and executes the actions; the data path
// (submit, write, read) only reads state() and never goes through here.
//
//   from           event                         to             actions
//   disconnected   demand                        resolving      resolve  (address is a name)
//                  demand                        connecting     connect  (endpoint known)
//   resolving      resolved                      connecting     connect
//                  resolve_failed                disconnected   fail(connect_failed) [backoff]
//   connecting     connect_succeeded             connected      start_io
//                  connect_failed                disconnecting  close_socket,
//                                                               fail(connect_failed, or
//                                                               tls_handshake_failed) [backoff]
//   connected      link_failed                   disconnecting  close_socket, fail(its error)
//                                                               [backoff when the error is
//                                                               tls_handshake_failed]
//                  stream_corrupt, idle_timeout  disconnecting  close_socket
//                  go_away                       retiring       none [go-away streak = 1]
//                  go_away_again                 retiring       none [streak + 1, backoff]
//   retiring       retired                       disconnecting  close_socket, restart_stream
//                  link_failed                   disconnecting  close_socket, fail(its error)
//                  stream_corrupt                disconnecting  close_socket
//                  go_away, go_away_again        (ignored: the socket retires already)
//   disconnecting  socket_closed                 disconnected   reconnect_waiting
//   any open       drain                         (unchanged)    none: new requests are refused
//   disconnected   close, drained                closed         fail(shutting_down),
//                                                               finish_close
//   resolving      close, drained                closing        fail(shutting_down)
//   connecting,    close, drained                closing        close_socket,
//    connected or                                               fail(shutting_down)
//    retiring
//   disconnecting  close, drained                closing        fail(shutting_down)
//   closing        socket_closed, resolved,      closed         finish_close
//                  resolve_failed
//   closed         close, drain, drained         closed         finish_close (a late callback)
//
//   fail(e): fail_requests with e. [backoff]: counts a connect failure (reconnect_delay).
//
// GO_AWAY (5.3 servers shutting down gracefully answer every request so; rmq-sim's graceful
// stop too). The first GO_AWAY a socket receives retires it: nothing more is written there, its
// written requests are still answered, and once none is left (retired) it closes and the
// requests that waited — those that got GO_AWAY are resent by their awaiters, net/request.hpp —
// go out on a new socket. A socket whose first answer is GO_AWAY (go_away_again: the new one
// was told to go away too) starts a backoff instead of a reconnect loop: new requests fail
// fast with GO_AWAY, so that the pipeline moves to another broker, until the backoff passes or
// the route drops the broker. The streak goes on only from a retired socket to the next one: a
// socket that answered anything else first, or that ended otherwise, starts it over. A link
// failure while retiring fails every request, the resends waiting for the next socket included
// (connection_lost: the pipeline tries another broker).
//
// Events that may arrive late, after the machine moved on (a connect or write completing
// while its socket is being closed), are ignored. Events that cannot happen in a state are
// illegal: handle() ignores them too, and says so (link_step::verdict), so tests can check the
// table. Cancellation and requests initiated by the peer are meant to become events here.
#pragma once

#include "rmq/error.hpp"

#include <chrono>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace rmq::net {

using clock = std::chrono::steady_clock;

enum class link_state : std::uint8_t {
  disconnected,   ///< no socket; connects when a request arrives (unless backing off)
  resolving,      ///< a name resolution runs off the loop
  connecting,     ///< the socket's connect is in flight
  connected,      ///< reading and writing
  retiring,       ///< told to go away: reading, not writing; closes once nothing written waits
  disconnecting,  ///< the socket closes after a failure or idleness; may connect again after
  closing,        ///< close(): waits for the socket's close or the resolver's answer
  closed,         ///< final
  // closing and closed stay last: "state >= closing" means "no longer open".
};

enum class link_event : std::uint8_t {
  demand,             ///< requests wait and there is no socket
  resolved,           ///< the resolver answered with an endpoint
  resolve_failed,     ///< the resolver answered with an error
  connect_succeeded,  ///< the socket connected
  connect_failed,     ///< the socket's connect failed (refused, timed out, aborted)
  link_failed,        ///< a write failed, the receive ended or the peer closed
  stream_corrupt,     ///< undecodable bytes; the core has failed every request already
  idle_timeout,       ///< connected, nothing in flight for the idle timeout
  socket_closed,      ///< the socket's close completed
  go_away,            ///< a GO_AWAY answer, the first on a socket that answered before
  go_away_again,      ///< a GO_AWAY answer as the socket's first answer (a streak goes on)
  retired,            ///< retiring, and no written request waits for an answer any more
  drain,              ///< close_when_idle(): stop taking requests, close once none is in flight
  drained,            ///< a drain was asked for and nothing is in flight
  close,              ///< close(): fail every request and close for good
};

/// What the driver runs after a transition, always in this order (bit order), so that e.g. a
/// waiter failed by fail_requests that submits again already sees the socket closing.
enum class link_action : std::uint8_t {
  none = 0,
  close_socket = 1u << 0,       ///< start closing the socket (socket_closed follows)
  fail_requests = 1u << 1,      ///< complete every request with step::failure
  resolve = 1u << 2,            ///< start resolving the address (resolved/resolve_failed follow)
  connect = 1u << 3,            ///< open a socket and connect (connect_succeeded/failed follow)
  start_io = 1u << 4,           ///< start receiving and flush what is pending
  reconnect_waiting = 1u << 5,  ///< requests queued meanwhile: admit them again or fail them
  finish_close = 1u << 6,       ///< stop the timer and complete every close callback
  restart_stream = 1u << 7,     ///< a retired socket: forget its stream, keep the requests
};

[[nodiscard]] constexpr link_action operator|(link_action a, link_action b) noexcept {
  return static_cast<link_action>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
[[nodiscard]] constexpr bool has(link_action set, link_action a) noexcept {
  return (static_cast<std::uint8_t>(set) & static_cast<std::uint8_t>(a)) != 0;
}

/// The reconnect backoff: after `failures_before_backoff` consecutive connect failures, requests
/// fail fast until a delay has passed, doubling from `initial` up to `max`.
struct backoff_policy {
  unsigned failures_before_backoff = 2;
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{5000};
};

/// The delay before the next connect attempt after `consecutive_failures` failures (zero below
/// the threshold). Pure.
[[nodiscard]] clock::duration reconnect_delay(const backoff_policy& policy,
                                              unsigned consecutive_failures) noexcept;

/// One handled event: what the driver must do, and what the trace hook sees.
struct link_step {
  enum class verdict : std::uint8_t {
    taken,    ///< a transition (possibly to the same state)
    ignored,  ///< a late completion for a state the machine has left
    illegal,  ///< cannot happen in this state: a bug in the driver
  };
  link_state from = link_state::disconnected;
  link_state to = link_state::disconnected;
  link_event event = link_event::demand;
  verdict outcome = verdict::taken;
  link_action actions = link_action::none;
  errc failure{};  ///< the error of fail_requests
};

/// Called for every taken or illegal step (never for ignored ones), before its actions run.
struct lifecycle_trace {
  void (*on_step)(void* context, const link_step& step) noexcept = nullptr;
  void* context = nullptr;
};

[[nodiscard]] std::string_view to_string(link_state s) noexcept;
[[nodiscard]] std::string_view to_string(link_event e) noexcept;

/// Whether connecting needs a name resolution first (a numeric address does not).
enum class address_kind : bool { name, numeric };

class connection_lifecycle {
 public:
  connection_lifecycle(backoff_policy backoff, address_kind address,
                       lifecycle_trace trace = {}) noexcept
      : backoff_(backoff), endpoint_known_(address == address_kind::numeric), trace_(trace) {}

  /// The one way the machine changes. `now` times the backoff; `failure` is the request error
  /// of link_failed (connection_lost, shutting_down when the loop stops, or
  /// tls_handshake_failed when a TLS server refused the handshake after the client's side of it
  /// had finished — counted as a connect failure), and of connect_failed when it is
  /// tls_handshake_failed (else connect_failed).
  link_step handle(link_event e, clock::time_point now,
                   errc failure = errc::connection_lost) noexcept;

  /// Why a new request must be refused now (shutting_down, connection_lost while draining, the
  /// last connect failure's error — connect_failed or tls_handshake_failed — while backing
  /// off), or {} to take it. `now()` is read only when a backoff could apply, so that the path
  /// of every request reads no clock.
  template <class Now>
  [[nodiscard]] std::error_code admit(Now&& now) const noexcept {
    if (state_ >= link_state::closing) return make_error_code(errc::shutting_down);
    if (draining_) return make_error_code(errc::connection_lost);  // left every route
    const bool has_socket = state_ == link_state::connected || state_ == link_state::connecting;
    if (has_socket) return {};
    // Fail fast while backing off: the pipeline tries elsewhere.
    if (go_aways_ >= 2 && now() < go_away_retry_after_) return make_broker_error(go_away_code);
    if (consecutive_failures_ >= backoff_.failures_before_backoff && now() < retry_after_) {
      return make_error_code(backoff_failure_);
    }
    return {};
  }

  [[nodiscard]] link_state state() const noexcept { return state_; }
  [[nodiscard]] bool draining() const noexcept { return draining_; }
  [[nodiscard]] unsigned consecutive_failures() const noexcept { return consecutive_failures_; }
  /// Sockets told to go away in a row, each the next after the one before retired (0: none yet).
  [[nodiscard]] unsigned go_aways_in_a_row() const noexcept { return go_aways_; }
  /// Until when new requests fail fast with GO_AWAY (from the second in a row).
  [[nodiscard]] clock::time_point go_away_retry_after() const noexcept {
    return go_away_retry_after_;
  }
  [[nodiscard]] clock::time_point retry_after() const noexcept { return retry_after_; }
  void set_trace(lifecycle_trace trace) noexcept { trace_ = trace; }

 private:
  link_step transition(link_event e, clock::time_point now, errc failure) noexcept;
  void count_connect_failure(clock::time_point now, errc why) noexcept;
  void count_go_away(bool again, clock::time_point now) noexcept;

  /// RemotingSysResponseCode GO_AWAY (wire::response_code::go_away; net knows no codes else).
  static constexpr int go_away_code = 1500;

  backoff_policy backoff_;
  link_state state_ = link_state::disconnected;
  bool endpoint_known_;    // numeric, or resolved once: kept across reconnects
  bool draining_ = false;  // drain asked for; cleared on the way to closing
  unsigned consecutive_failures_ = 0;
  unsigned failures_before_connect_ = 0;  // restored when the handshake is refused after all
  errc backoff_failure_ =
      errc::connect_failed;  // the last connect failure's, told while backing off
  unsigned go_aways_ = 0;
  bool socket_retired_ = false;    // the current (or last) socket retired after a GO_AWAY
  bool previous_retired_ = false;  // the socket before the current one did
  clock::time_point retry_after_{};
  clock::time_point go_away_retry_after_{};
  lifecycle_trace trace_;
};

}  // namespace rmq::net
