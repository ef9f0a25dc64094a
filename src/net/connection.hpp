// One pipelined remoting connection to one remote address (a broker or a NameServer): the
// socket driver around connection_core. It connects lazily on the first request, reconnects on
// the next request after a failure (with backoff after repeated failures), flushes everything
// pending in one gathered send per loop turn, parses every received buffer in place, and expires
// requests with one loop timer armed at the earliest deadline — no timer per request.
//
// Its life is connection_lifecycle (net/connection_lifecycle.hpp): every socket or resolver
// completion, close() and timeout becomes an event of that machine, and the driver only runs
// the actions it returns. The data path (request, flush, receive) reads the machine's state and
// never changes it.
//
// Loop thread only. Every request's waiter is completed exactly once: with its response, or
// with rmq::errc::timed_out (deadline), connection_lost (read/write error, peer closed),
// connect_failed, protocol_error (undecodable bytes) or shutting_down (close()/loop stop). The
// underlying system error of the last failure is kept in last_error(). A connection to an
// address that is not "host:port" with a valid port refuses every request with invalid_address
// and never connects.
//
// Re-entrancy — what runs inline and what it may call:
//  * A request's waiter runs inline from the reader (its response), the writer (a oneway
//    request once written), the timer (timed_out), cancel(), and every failure or close
//    (fail_all). It may call request(), cancel(), close() and close_when_idle() on this
//    connection; a failure's waiters run after the lifecycle has moved on, so a request they
//    submit waits for the next socket (or is refused while closing). A waiter must not destroy
//    the connection.
//  * close()/close_when_idle() callbacks run when the connection reaches closed: inline in
//    close() when nothing is open (e.g. already closed), else from the socket's or resolver's
//    completion. Each callback runs exactly once; the connection may be destroyed from the
//    last one called (callbacks run in the order they were given).
//  * request() never completes its own waiter inline.
#pragma once

#include "common/log.hpp"
#include "io/loop.hpp"
#include "io/tcp.hpp"
#include "net/connection_core.hpp"
#include "net/connection_fwd.hpp"
#include "net/connection_lifecycle.hpp"
#include "net/stream_socket.hpp"
#include "rmq/error.hpp"

#include <spdlog/fwd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rmq::net {

/// What a connection's log line says beyond its lifecycle step.
struct link_log_facts {
  std::error_code last_error;      ///< the system error of the last failure
  std::uint64_t connects = 0;      ///< times it connected before this step
  unsigned failures_in_a_row = 0;  ///< consecutive connect failures, this step's included
  clock::duration retry_in{};      ///< how long new requests fail fast after this failure
  /// Losses (connection lost, undecodable bytes) in the current run of the connection's loss
  /// limiter, this step's included, and those of them not logged since the last one that was.
  std::uint64_t losses = 0;
  std::uint64_t losses_not_logged = 0;
  /// This step is a loss that the limiter leaves out, or the reconnect after one: a peer that
  /// accepts and drops connections over and over is told at the 1st, 2nd, 4th... loss only.
  bool quiet = false;
  /// GO_AWAY answers in a row, this step's included (connection_lifecycle::go_aways_in_a_row).
  unsigned go_aways_in_a_row = 0;
};

/// The one place a connection's story is logged, told every lifecycle step. Operators' events
/// at info or above: connected and reconnected (info), reconnecting (info), a connect or a name
/// resolution that failed (warn; the 1st, 2nd, 4th, 8th... failure in a row, so a dead peer
/// cannot flood the log), a connection lost (warn), undecodable bytes (error), an idle close
/// (info), a server going away (info; told again on a new connection: warn, the 1st, 2nd,
/// 4th... in a row); losses and the reconnects after them are rate-limited the same way
/// (facts.quiet); an illegal step is an error. Every other step at debug, as "from --event--> to".
/// Nothing is formatted when the level is off.
void log_link_step(spdlog::logger& logger, std::string_view address, const link_step& step,
                   const link_log_facts& facts) noexcept;

/// Requests the peer initiates on a connection (CHECK_TRANSACTION_STATE, ...), told with the
/// connection's address and core: a two-way one may be answered inline with
/// core.submit_unsolicited (the connection writes it after the read). Without a handler, the
/// core answers two-way requests REQUEST_CODE_NOT_SUPPORTED and drops oneway ones.
struct peer_request_handler {
  void (*handle)(void* context, const std::string& address, connection_core& core,
                 const wire::command_view& request) = nullptr;
  void* context = nullptr;
};

/// Watches every lifecycle transition (taken or illegal) of a pool's connections, on the loop
/// thread. `backing_off`: requests fail fast until a backoff passes (connects failed in a row up
/// to failures_before_backoff, or sockets told to go away twice in a row).
struct link_observer {
  void (*on_step)(void* context, std::string_view address, const link_step& step,
                  bool backing_off) noexcept = nullptr;
  void* context = nullptr;
};

struct connection_options {
  connection_core_options core;
  peer_request_handler peer_requests;
  std::chrono::milliseconds connect_timeout{3000};
  /// A connection with nothing in flight for this long is closed (it reconnects on demand).
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(2)};
  /// After this many consecutive connect failures (a failed name resolution counts as one),
  /// new requests fail fast with connect_failed
  /// until the backoff passes (doubling from backoff_initial up to backoff_max).
  unsigned failures_before_backoff = 2;
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  io::buffer_pool* receive_pool = nullptr;  ///< nullptr: the loop's default pool
  /// Where the connection logs its lifecycle (log_link_step); nullptr: nowhere. Not owned: it
  /// outlives the connection (the producer's logger). Transitions are rare: connects,
  /// failures, closes, never a send.
  spdlog::logger* logger = nullptr;
  /// Told every lifecycle transition of every connection; nullptr: nothing (tests watch it).
  void (*trace)(std::string_view address, const link_step& step) noexcept = nullptr;
  /// Told the same, with the connection's backoff (the producer's metrics count them).
  link_observer observer;
};

/// The answer of a name resolution, delivered on the loop thread.
struct resolve_callback {
  void (*done)(void* context, std::error_code ec, const io::endpoint& peer) noexcept = nullptr;
  void* context = nullptr;
};

/// The production transport: TCP sockets on the loop (io_uring or epoll), TLS over them when
/// `tls` is set, and the loop's resolver.
struct tcp_transport {
  using socket = stream_socket;
  /// The producer's TLS context (not owned: it outlives every connection); nullptr: plain TCP.
  const tls::client_context* tls = nullptr;
  void open(std::optional<socket>& s, io::loop& l, std::string_view address) {
    s.emplace(l, tls, address);
  }
  void resolve(io::loop& l, std::string_view address, clock::time_point deadline,
               resolve_callback done);
};

/// The connection over any transport shaped like tcp_transport: tests drive it over an
/// in-memory one (tests/unit/net/memory_transport.hpp). Its members are defined in
/// net/connection_driver.hpp.
template <class Transport>
class basic_connection final : private io::receiver {
 public:
  using state = link_state;

  /// `address` is "host:port" (numeric addresses are used as they are; names are resolved off
  /// the loop when connecting). Any other text makes a connection that refuses every request
  /// with errc::invalid_address.
  basic_connection(io::loop& loop, std::string address, connection_options options = {},
                   Transport transport = {});
  /// Only in state disconnected or closed (after close() completed).
  ~basic_connection();
  basic_connection(const basic_connection&) = delete;
  basic_connection& operator=(const basic_connection&) = delete;

  using ticket = connection_core::ticket;

  /// Queues a request (see connection_core::submit) and connects if needed. On an error
  /// (closing, failing fast during backoff, or invalid_address) nothing is queued and `waiter`
  /// is never called.
  template <class Encode>
  std::error_code request(Encode&& encode, clock::time_point deadline, response_waiter waiter,
                          request_kind kind = request_kind::two_way, ticket* out = nullptr) {
    if (const std::error_code ec = admit()) return ec;
    const ticket t = core_.submit(std::forward<Encode>(encode), deadline, waiter, kind);
    if (out != nullptr) *out = t;
    after_submit(deadline);
    return {};
  }

  /// As request(), with an encoder the core may call later (connection_core::submit_deferrable).
  std::error_code request_deferrable(connection_core::deferred_encoder encode,
                                     clock::time_point deadline, response_waiter waiter,
                                     request_kind kind = request_kind::two_way,
                                     ticket* out = nullptr) {
    if (const std::error_code ec = admit()) return ec;
    const ticket t = core_.submit_deferrable(encode, deadline, waiter, kind);
    if (out != nullptr) *out = t;
    after_submit(deadline);
    return {};
  }

  /// Completes a live request now with `reason` (see connection_core::cancel); its waiter runs
  /// inline. A written request is abandoned: its late response is read and dropped, and the
  /// connection stays open.
  bool cancel(ticket t, std::error_code reason) {
    const bool cancelled = core_.cancel(t, reason);
    maybe_retire();  // an abandoned request no longer holds a retiring socket open
    return cancelled;
  }
  /// Where a request stands (connection_core::state_of).
  [[nodiscard]] request_state state_of(ticket t) const noexcept { return core_.state_of(t); }

  /// Fails every pending request with shutting_down, closes the socket (or waits for a name
  /// resolution under way) and calls `done` once everything has completed — inline when
  /// nothing is open. Further requests fail with shutting_down. Calling it again, or after
  /// close_when_idle(), is fine: every callback given runs once, in order, when the connection
  /// is closed. The connection may be destroyed from the last callback on.
  void close(void (*done)(void* context) noexcept, void* context);
  /// Stops taking requests (they fail with connection_lost); closes once the ones in flight
  /// have completed (route changes), then calls `done` as close() does.
  void close_when_idle(void (*done)(void* context) noexcept, void* context);

  [[nodiscard]] state current_state() const noexcept { return lifecycle_.state(); }
  [[nodiscard]] const connection_lifecycle& lifecycle() const noexcept { return lifecycle_; }
  [[nodiscard]] const std::string& address() const noexcept { return address_; }
  [[nodiscard]] std::size_t in_flight() const noexcept { return core_.in_flight(); }
  [[nodiscard]] const connection_counters& counters() const noexcept { return core_.counters(); }
  [[nodiscard]] std::error_code last_error() const noexcept { return last_error_; }
  [[nodiscard]] std::uint64_t connects() const noexcept { return connects_; }
  [[nodiscard]] connection_core& core() noexcept { return core_; }
  [[nodiscard]] Transport& transport() noexcept { return transport_; }

 private:
  struct close_callback {
    void (*done)(void* context) noexcept;
    void* context;
  };

  [[nodiscard]] std::error_code admit() const noexcept {
    if (loop_.stopping()) return make_error_code(errc::shutting_down);
    if (const std::error_code ec = lifecycle_.admit([] { return clock::now(); })) return ec;
    if (address_error_) return make_error_code(errc::invalid_address);
    return {};
  }
  void after_submit(clock::time_point deadline);

  // The one way the connection's life changes: the machine's step, then its actions.
  void dispatch(link_event e, errc failure = errc::connection_lost);
  void run(const link_step& step);
  void start_resolve();
  void connect();
  void start_io();
  /// Starts closing the socket; false when there was none open (closed already).
  [[nodiscard]] bool close_socket();
  void reconnect_waiting();
  void finish_close();
  static void trace_step(void* self, const link_step& step) noexcept;
  static void on_peer_request(void* self, const wire::command_view& request);

  static void on_resolved(void* self, std::error_code ec, const io::endpoint& peer) noexcept;
  void on_connected(std::error_code ec);
  void schedule_flush();
  void flush();
  void on_sent(std::error_code ec, std::size_t bytes);
  void on_socket_closed();
  void on_close_done(std::error_code /*ec*/) { on_socket_closed(); }
  void arm_timer();
  void on_timer(std::error_code ec);
  void maybe_finish_drain();
  /// After a response: a GO_AWAY among them retires the socket (go_away / go_away_again).
  void notice_go_away();
  /// A retiring socket with nothing unanswered closes (retired).
  void maybe_retire();
  /// The socket reads and may be failed: connected, or retiring.
  [[nodiscard]] bool socket_live() const noexcept {
    return lifecycle_.state() == state::connected || lifecycle_.state() == state::retiring;
  }

  // io::receiver
  void on_receive(io::received_buffer buf) noexcept override;
  void on_receive_end(std::error_code ec) noexcept override;

  struct flush_task final : io::task {
    explicit flush_task(basic_connection& c) noexcept : task(&run), owner(c) {}
    static void run(io::task* t, action a) noexcept {
      auto& self = static_cast<flush_task*>(t)->owner;
      self.flush_deferred_ = false;
      if (a == action::run) self.flush();
    }
    basic_connection& owner;
  };

  io::loop& loop_;
  std::string address_;
  connection_options options_;
  connection_core core_;
  [[no_unique_address]] Transport transport_;
  std::optional<typename Transport::socket> socket_;
  std::error_code address_error_;     // address_ is not "host:port": never connects
  std::optional<io::endpoint> peer_;  // parsed or resolved address, kept across reconnects
  connection_lifecycle lifecycle_;

  io::member_op<io::connect_op, &basic_connection::on_connected> connect_op_{*this};
  io::member_op<io::write_op, &basic_connection::on_sent> write_op_{*this};
  io::member_op<io::close_op, &basic_connection::on_close_done> close_op_{*this};
  io::member_op<io::timer_node, &basic_connection::on_timer> timer_{*this};
  flush_task flush_task_{*this};
  bool flush_deferred_ = false;  // the writer's: a flush is queued for this loop turn
  std::size_t send_size_ = 0;    // bytes of the send in flight

  clock::time_point last_activity_{};
  std::error_code last_error_;
  bool answered_ = false;  // the current socket has received bytes
  std::uint64_t connects_ = 0;
  log::rate_limiter losses_;  // connection losses, for log lines only
  bool loss_quiet_ = false;   // the last loss was not logged: neither is its reconnect
  std::vector<close_callback> close_callbacks_;  // of close() and close_when_idle(), in order
};

extern template class basic_connection<tcp_transport>;

}  // namespace rmq::net
