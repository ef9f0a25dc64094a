// One pipelined remoting connection to one remote address (a broker or a NameServer): the
// socket driver around connection_core. It connects lazily on the first request, reconnects on
// the next request after a failure (with backoff after repeated failures), flushes everything
// pending in one gathered send per loop turn, parses every received buffer in place, and expires
// requests with one loop timer armed at the earliest deadline — no timer per request.
//
// Loop thread only. Every request's waiter is completed exactly once: with its response, or
// with rmq::errc::timed_out (deadline), connection_lost (read/write error, peer closed),
// connect_failed, protocol_error (undecodable bytes) or shutting_down (close()/loop stop). The
// underlying system error of the last failure is kept in last_error(). A connection to an
// address that is not "host:port" with a valid port refuses every request with invalid_address
// and never connects.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include "io/loop.hpp"
#include "io/tcp.hpp"
#include "net/connection_core.hpp"
#include "rmq/error.hpp"

namespace rmq::net {

struct connection_options {
  connection_core_options core;
  std::chrono::milliseconds connect_timeout{3000};
  /// A connection with nothing in flight for this long is closed (it reconnects on demand).
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(2)};
  /// After this many consecutive connect failures, new requests fail fast with connect_failed
  /// until the backoff passes (doubling from backoff_initial up to backoff_max).
  unsigned failures_before_backoff = 2;
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  io::buffer_pool* receive_pool = nullptr;  ///< nullptr: the loop's default pool
};

class connection final : private io::receiver {
 public:
  enum class state : std::uint8_t { disconnected, resolving, connecting, connected, closing, closed };

  /// `address` is "host:port" (numeric addresses are used as they are; names are resolved off
  /// the loop when connecting). Any other text makes a connection that refuses every request
  /// with errc::invalid_address.
  connection(io::loop& loop, std::string address, connection_options options = {});
  /// Only in state disconnected or closed (after close() completed).
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  using ticket = connection_core::ticket;

  /// Queues a request (see connection_core::submit) and connects if needed. On an error
  /// (closing, failing fast during backoff, or invalid_address) nothing is queued and `waiter`
  /// is never called.
  template <class Encode>
  std::error_code request(Encode&& encode, clock::time_point deadline, response_waiter waiter,
                          bool oneway = false, ticket* out = nullptr) {
    if (const std::error_code ec = admit()) return ec;
    const ticket t = core_.submit(std::forward<Encode>(encode), deadline, waiter, oneway);
    if (out != nullptr) *out = t;
    after_submit(deadline);
    return {};
  }

  /// As request(), with an encoder the core may call later (connection_core::submit_deferrable).
  std::error_code request_deferrable(connection_core::deferred_encoder encode,
                                     clock::time_point deadline, response_waiter waiter,
                                     bool oneway = false) {
    if (const std::error_code ec = admit()) return ec;
    core_.submit_deferrable(encode, deadline, waiter, oneway);
    after_submit(deadline);
    return {};
  }

  /// Completes a live request now with `reason` (see connection_core::cancel).
  bool cancel(ticket t, std::error_code reason) { return core_.cancel(t, reason); }

  /// Fails every pending request with shutting_down, closes the socket and calls `done` once
  /// everything on the socket has completed (possibly before close returns, when there is no
  /// socket). Further requests fail with shutting_down. The connection may be destroyed from
  /// `done` on.
  void close(void (*done)(void* context) noexcept, void* context);
  /// Stops taking requests; closes once the ones in flight have completed (route changes).
  void close_when_idle(void (*done)(void* context) noexcept, void* context);

  [[nodiscard]] state current_state() const noexcept { return state_; }
  [[nodiscard]] const std::string& address() const noexcept { return address_; }
  [[nodiscard]] std::size_t in_flight() const noexcept { return core_.in_flight(); }
  [[nodiscard]] const connection_counters& counters() const noexcept { return core_.counters(); }
  [[nodiscard]] std::error_code last_error() const noexcept { return last_error_; }
  [[nodiscard]] std::uint64_t connects() const noexcept { return connects_; }
  [[nodiscard]] connection_core& core() noexcept { return core_; }

 private:
  [[nodiscard]] std::error_code admit() const noexcept;
  void after_submit(clock::time_point deadline);
  void start_connect();
  void connect_to(const io::endpoint& peer);
  void on_connected(std::error_code ec);
  void schedule_flush();
  void flush();
  void on_sent(std::error_code ec, std::size_t bytes);
  void fail(std::error_code request_error, std::error_code cause);
  void close_socket();
  void on_socket_closed();
  void arm_timer();
  void on_timer(std::error_code ec);
  void maybe_finish_drain();

  // io::receiver
  void on_receive(io::received_buffer buf) noexcept override;
  void on_receive_end(std::error_code ec) noexcept override;

  struct connect_state final : io::connect_op {
    explicit connect_state(connection& c) noexcept : connect_op(&done), owner(c) {}
    static void done(io::connect_op* op, std::error_code ec) noexcept;
    connection& owner;
  };
  struct send_state final : io::send_op {
    explicit send_state(connection& c) noexcept : send_op(&done), owner(c) {}
    static void done(io::send_op* op, std::error_code ec, std::size_t bytes) noexcept;
    connection& owner;
  };
  struct close_state final : io::close_op {
    explicit close_state(connection& c) noexcept : close_op(&done), owner(c) {}
    static void done(io::close_op* op, std::error_code ec) noexcept;
    connection& owner;
  };
  struct timer_state final : io::timer_node {
    explicit timer_state(connection& c) noexcept : timer_node(&fire), owner(c) {}
    static void fire(io::timer_node* t, std::error_code ec) noexcept;
    connection& owner;
  };
  struct flush_task final : io::task {
    explicit flush_task(connection& c) noexcept : task(&run), owner(c) {}
    static void run(io::task* t, action a) noexcept;
    connection& owner;
  };

  io::loop& loop_;
  std::string address_;
  connection_options options_;
  connection_core core_;
  std::optional<io::tcp_socket> socket_;
  std::optional<io::endpoint> peer_;  // resolved address, kept across reconnects
  state state_ = state::disconnected;

  connect_state connect_op_{*this};
  send_state send_op_{*this};
  close_state close_op_{*this};
  timer_state timer_{*this};
  flush_task flush_task_{*this};
  bool flush_scheduled_ = false;
  bool sending_ = false;
  std::size_t send_size_ = 0;  // bytes of the send in flight
  bool receiving_ = false;
  bool resolve_pending_ = false;
  bool invalid_address_ = false;  // address_ is not "host:port": never connects

  unsigned consecutive_failures_ = 0;
  clock::time_point retry_after_{};
  clock::time_point last_activity_{};
  std::error_code last_error_;
  std::uint64_t connects_ = 0;

  bool closing_for_good_ = false;  // close() called: never reconnect
  bool draining_ = false;          // close_when_idle() called
  void (*close_done_)(void*) noexcept = nullptr;
  void* close_context_ = nullptr;
};

}  // namespace rmq::net
