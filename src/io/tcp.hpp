// TCP on the loop, over io_uring or epoll (io/tcp_epoll.cpp): the same operations, the same
// completion rules, whichever backend the loop runs on.
//
// The API the pipelined connection (src/net) builds on — one tcp_socket per connection, used
// only on its loop's thread, every operation's state supplied by the caller (no allocation):
//   1. send(write_op&, iov, n): one gathered sendmsg of n iovecs (a send for one), MSG_WAITALL,
//      one completion
//      with the bytes written or an error. One send in flight per socket is the intended use.
//   2. start_receive(receiver&, pool): multishot recv on a provided-buffer ring; every received
//      chunk reaches receiver::on_receive as a received_buffer (a string_view into the pool's
//      buffer) which goes back to the kernel when released (or destroyed) — parse in place,
//      then release. -ENOBUFS is absorbed: the recv is re-armed once a buffer comes back; the
//      bytes wait in the socket buffer meanwhile, so none is lost.
//   3. connect(connect_op&, endpoint, deadline): non-blocking connect bounded by an absolute
//      deadline (a linked IORING_OP_LINK_TIMEOUT), TCP_NODELAY set. Names: async_resolve
//      (resolve.hpp) turns "host:port" into an endpoint off the loop, by the same deadline.
//   4. close(close_op&): cancels every operation on the fd (IORING_ASYNC_CANCEL_ALL), closes it
//      in the ring, and completes only after every operation of the socket has completed.
//   5. the loop itself: loop::post / defer / add_timer (loop.hpp), async_sleep_* (async.hpp).
// Asio-token forms (async_connect, async_send, async_close) wrap 1, 3 and 4 for coroutines,
// callbacks and futures.
//
// Completion rules (all operations): each operation completes exactly once, on the loop
// thread. An operation's state is freed by the socket only after its last CQE. The kernel's
// -ECANCELED is reported as asio::error::operation_aborted. A socket may be destroyed only
// when no operation is pending (e.g. from or after its close completion).
#pragma once

#include "io/async.hpp"
#include "io/epoll_reactor.hpp"
#include "io/loop.hpp"

#include <asio/ip/tcp.hpp>
#include <liburing.h>

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

namespace rmq::io {

using endpoint = asio::ip::tcp::endpoint;

/// One chunk of a received stream: a kernel-filled buffer of a buffer_pool, which goes back to
/// the pool on release() or destruction (and must be released before the loop's run() ends),
/// or bytes lent by a layer above the socket (TLS plaintext), valid until on_receive returns.
/// Move-only.
class received_buffer {
 public:
  received_buffer() noexcept = default;
  received_buffer(buffer_pool& pool, std::uint16_t id, std::size_t size) noexcept
      : pool_(&pool), data_(pool.view(id, size).data()), id_(id), size_(size) {}
  /// Bytes that are not the pool's: valid until the on_receive they are given to returns.
  explicit received_buffer(std::string_view lent) noexcept
      : data_(lent.data()), size_(lent.size()) {}
  received_buffer(received_buffer&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)),
        data_(std::exchange(other.data_, nullptr)),
        id_(other.id_),
        size_(other.size_) {}
  received_buffer& operator=(received_buffer&& other) noexcept {
    if (this != &other) {
      release();
      pool_ = std::exchange(other.pool_, nullptr);
      data_ = std::exchange(other.data_, nullptr);
      id_ = other.id_;
      size_ = other.size_;
    }
    return *this;
  }
  ~received_buffer() { release(); }

  [[nodiscard]] std::string_view data() const noexcept {
    return data_ != nullptr ? std::string_view(data_, size_) : std::string_view{};
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] explicit operator bool() const noexcept { return data_ != nullptr; }
  void release() noexcept {
    data_ = nullptr;
    if (pool_ != nullptr) std::exchange(pool_, nullptr)->release(id_);
  }

 private:
  buffer_pool* pool_ = nullptr;  // null: lent bytes
  const char* data_ = nullptr;
  std::uint16_t id_ = 0;
  std::size_t size_ = 0;
};

class tcp_socket;

/// Caller-owned state of a connect. `done_` runs once: empty error on success,
/// rmq::errc::timed_out when the deadline passed, operation_aborted when cancelled or closed,
/// else the system error (e.g. connection_refused).
struct connect_op : cqe_handler {
  using done_fn = void (*)(connect_op*, std::error_code) noexcept;
  explicit connect_op(done_fn done) noexcept : cqe_handler(&on_cqe), done_(done) {}
  static void on_cqe(cqe_handler* c, int res, unsigned flags) noexcept;

  done_fn done_;
  tcp_socket* socket_ = nullptr;
  endpoint peer_;
  __kernel_timespec deadline_{};
  std::error_code preset_;  // failure decided before submission (delivered through a NOP)
  bool cancelled_ = false;
};

/// Caller-owned state of a gathered send. `done_` runs once with the bytes written: all of
/// them on success (MSG_WAITALL makes the kernel retry short writes); a short count, or an
/// error with 0 bytes, means the stream is broken. Cancelled or closed: operation_aborted, or
/// the short count the kernel had already written (the stream is then unusable).
/// The iovecs and the bytes they point to must stay valid until `done_`.
struct write_op : cqe_handler {
  using done_fn = void (*)(write_op*, std::error_code, std::size_t) noexcept;
  explicit write_op(done_fn done) noexcept : cqe_handler(&on_cqe), done_(done) {}
  static void on_cqe(cqe_handler* c, int res, unsigned flags) noexcept;

  done_fn done_;
  tcp_socket* socket_ = nullptr;
  msghdr msg_{};
  std::error_code preset_;
  bool cancelled_ = false;
};

/// Caller-owned state of a close. `done_` runs once, after every other operation of the
/// socket has completed and the descriptor is closed.
struct close_op : cqe_handler {
  using done_fn = void (*)(close_op*, std::error_code) noexcept;
  explicit close_op(done_fn done) noexcept : cqe_handler(&on_cqe), done_(done) {}
  static void on_cqe(cqe_handler* c, int res, unsigned flags) noexcept;

  done_fn done_;
  tcp_socket* socket_ = nullptr;
  std::error_code result_;
  int fd_ = -1;  // closed synchronously if the ring cancels the close itself (loop stop)
};

/// Receives the chunks of a multishot receive.
class receiver {
 public:
  /// A chunk of the stream, in order. Release `buf` (or let it go) once parsed.
  virtual void on_receive(received_buffer buf) noexcept = 0;
  /// The receive ended, once per start_receive: asio::error::eof when the peer closed,
  /// operation_aborted after cancel_receive()/close()/loop stop, or the system error (e.g.
  /// connection_reset). No on_receive follows.
  virtual void on_receive_end(std::error_code ec) noexcept = 0;

 protected:
  ~receiver() = default;
};

class tcp_socket {
 public:
  explicit tcp_socket(loop& l) noexcept;
  /// Adopts a connected descriptor (e.g. from accept(2)); sets TCP_NODELAY.
  tcp_socket(loop& l, int fd) noexcept;
  /// Requires no pending operation; closes a still-open descriptor synchronously.
  ~tcp_socket();
  tcp_socket(const tcp_socket&) = delete;
  tcp_socket& operator=(const tcp_socket&) = delete;

  /// Opens a socket for `peer`'s family if needed and connects by `deadline`.
  /// Cancellation: cancel(op), close() or loop stop → operation_aborted.
  void connect(connect_op& op, const endpoint& peer, clock::time_point deadline) noexcept;
  /// Cancellation: cancel(op), close() or loop stop → operation_aborted (bytes already queued
  /// in the kernel may still go out; treat the stream as broken). On the epoll backend a send
  /// (or connect) started while another is pending fails with asio::error::already_started.
  void send(write_op& op, const iovec* iov, std::size_t count) noexcept;
  /// Starts the multishot receive (default pool: the loop's). One receive at a time.
  /// Cancellation: cancel_receive(), close() or loop stop → on_receive_end(operation_aborted).
  void start_receive(receiver& r, buffer_pool* pool = nullptr) noexcept;
  void cancel_receive() noexcept;
  /// Asks the kernel to cancel one pending connect or send (completes operation_aborted, or
  /// normally if it had already finished).
  void cancel(connect_op& op) noexcept;
  void cancel(write_op& op) noexcept;
  /// Cancels everything, closes the fd; completes after all pending operations. Operations
  /// started after close() fail with asio::error::bad_descriptor.
  void close(close_op& op) noexcept;

  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int native_handle() const noexcept { return fd_; }
  [[nodiscard]] bool receiving() const noexcept { return receiver_ != nullptr; }
  [[nodiscard]] std::size_t pending() const noexcept { return pending_; }
  /// The receive ran its pool dry and waits for a buffer to come back.
  [[nodiscard]] bool receive_parked() const noexcept { return recv_waiting_; }
  /// Times the receive ran the pool dry (-ENOBUFS) and was re-armed.
  [[nodiscard]] std::uint64_t receive_rearms() const noexcept { return rearms_; }
  [[nodiscard]] loop& get_loop() const noexcept { return loop_; }
  [[nodiscard]] loop::executor_type get_executor() const noexcept { return loop_.get_executor(); }

 private:
  friend struct connect_op;
  friend struct write_op;
  friend struct close_op;

  struct receive_cqe final : cqe_handler {
    explicit receive_cqe(tcp_socket& s) noexcept : cqe_handler(&on_cqe), socket(s) {}
    static void on_cqe(cqe_handler* c, int res, unsigned flags) noexcept;
    tcp_socket& socket;
  };
  struct pool_waiter final : buffer_pool::waiter {
    explicit pool_waiter(tcp_socket& s) noexcept : waiter(&on_buffers), socket(s) {}
    static void on_buffers(buffer_pool::waiter* w) noexcept;
    tcp_socket& socket;
  };

  // The epoll backend (io/tcp_epoll.cpp): readiness drives the system calls, whose results are
  // queued as completions for the same cqe handlers.
  struct epoll_watch final : epoll_source {
    explicit epoll_watch(tcp_socket& s) noexcept : epoll_source(&on_ready, &on_stop), socket(s) {}
    static void on_ready(epoll_source* source, std::uint32_t events) noexcept;
    static void on_stop(epoll_source* source) noexcept;
    tcp_socket& socket;
  };
  struct connect_deadline final : timer_node {
    explicit connect_deadline(tcp_socket& s) noexcept : timer_node(&on_expiry), socket(s) {}
    static void on_expiry(timer_node* node, std::error_code ec) noexcept;
    tcp_socket& socket;
  };
  [[nodiscard]] std::error_code epoll_watch_fd() noexcept;
  void epoll_unwatch_fd() noexcept;
  void epoll_connect(connect_op& op, clock::time_point deadline) noexcept;
  void epoll_finish_connect(int res) noexcept;
  void epoll_send(write_op& op) noexcept;
  void epoll_continue_write() noexcept;
  void epoll_finish_write(int res) noexcept;
  void epoll_arm_receive() noexcept;
  void epoll_read(bool until_drained) noexcept;
  void epoll_end_read(int res) noexcept;
  void epoll_cancel_all() noexcept;
  void epoll_close(close_op& op) noexcept;

  void arm_receive() noexcept;
  void end_receive(std::error_code ec) noexcept;
  void end_waiting_receive() noexcept;
  /// Accounts an operation's last CQE; true when that lets a waiting close complete.
  [[nodiscard]] bool finish_op() noexcept;
  void complete_close() noexcept;
  void open_for(const endpoint& peer, std::error_code& ec) noexcept;
  /// An operation that cannot start completes through a NOP carrying `c`, so that it is
  /// counted and delivered like any other completion (never inline in the starting call).
  void submit_nop(cqe_handler* c) noexcept;

  loop& loop_;
  int fd_ = -1;
  std::size_t pending_ = 0;      // operations of this socket with a CQE still to come
  close_op* closing_ = nullptr;  // set by close() until its completion
  bool close_cqe_seen_ = false;
  receiver* receiver_ = nullptr;
  buffer_pool* pool_ = nullptr;
  bool recv_armed_ = false;    // the multishot SQE is in the kernel
  bool recv_waiting_ = false;  // ended with -ENOBUFS, waiting for a buffer to come back
  bool recv_cancelled_ = false;
  receive_cqe receive_cqe_{*this};
  pool_waiter pool_waiter_{*this};
  std::uint64_t rearms_ = 0;
  std::error_code recv_preset_;  // set: the next recv CQE (a NOP) ends the receive with it
  // epoll backend: the operation waiting on each direction (its completion not yet queued).
  epoll_watch watch_{*this};
  connect_deadline connect_deadline_{*this};
  connect_op* connecting_ = nullptr;
  write_op* writing_ = nullptr;
  std::size_t write_total_ = 0;  // bytes writing_ sends in all
  std::size_t written_ = 0;      // of which already sent
  bool reading_ = false;         // a receive reads on readiness (its last completion not queued)
};

// ---- Asio-token forms -------------------------------------------------------------------
// Each allocates its operation from the handler's allocator; per-operation cancellation slots
// (any cancellation type) map to cancel(op). Call on the loop thread, or from any thread: then
// the operation is started through loop::post (the socket must not be used concurrently).

namespace detail {

template <typename Handler>
struct async_connect_op final : handler_storage<Handler>, connect_op, task {
  async_connect_op(Handler&& h, tcp_socket& s, const endpoint& ep, clock::time_point deadline)
      : handler_storage<Handler>(std::move(h), s.get_loop()),
        connect_op(&done),
        task(&on_task),
        sock(s),
        target(ep),
        until(deadline) {}
  void start() {
    auto slot = asio::get_associated_cancellation_slot(this->handler_);
    if (slot.is_connected()) {
      slot.template emplace<canceller>(this);
    }
    sock.connect(*this, target, until);
  }
  struct canceller {
    async_connect_op* op;
    void operator()(asio::cancellation_type t) const {
      if (t != asio::cancellation_type::none) op->sock.cancel(static_cast<connect_op&>(*op));
    }
  };
  static void done(connect_op* c, std::error_code ec) noexcept {
    auto* self = static_cast<async_connect_op*>(c);
    auto slot = asio::get_associated_cancellation_slot(self->handler_);
    if (slot.is_connected()) slot.clear();
    complete_op(self, ec);
  }
  static void on_task(task* t, action a) noexcept {
    auto* self = static_cast<async_connect_op*>(t);
    if (a == action::run) {
      self->start();
    } else {
      destroy_op(self);
    }
  }
  tcp_socket& sock;
  endpoint target;
  clock::time_point until;
};

template <typename Handler>
struct async_write_op final : handler_storage<Handler>, write_op, task {
  async_write_op(Handler&& h, tcp_socket& s, std::span<const iovec> buffers)
      : handler_storage<Handler>(std::move(h), s.get_loop()),
        write_op(&done),
        task(&on_task),
        sock(s),
        iov(buffers) {}
  void start() {
    auto slot = asio::get_associated_cancellation_slot(this->handler_);
    if (slot.is_connected()) {
      slot.template emplace<canceller>(this);
    }
    sock.send(*this, iov.data(), iov.size());
  }
  struct canceller {
    async_write_op* op;
    void operator()(asio::cancellation_type t) const {
      if (t != asio::cancellation_type::none) op->sock.cancel(static_cast<write_op&>(*op));
    }
  };
  static void done(write_op* c, std::error_code ec, std::size_t n) noexcept {
    auto* self = static_cast<async_write_op*>(c);
    auto slot = asio::get_associated_cancellation_slot(self->handler_);
    if (slot.is_connected()) slot.clear();
    complete_op(self, ec, n);
  }
  static void on_task(task* t, action a) noexcept {
    auto* self = static_cast<async_write_op*>(t);
    if (a == action::run) {
      self->start();
    } else {
      destroy_op(self);
    }
  }
  tcp_socket& sock;
  std::span<const iovec> iov;
};

template <typename Handler>
struct async_close_op final : handler_storage<Handler>, close_op, task {
  async_close_op(Handler&& h, tcp_socket& s)
      : handler_storage<Handler>(std::move(h), s.get_loop()),
        close_op(&done),
        task(&on_task),
        sock(s) {}
  void start() { sock.close(*this); }
  static void done(close_op* c, std::error_code ec) noexcept {
    complete_op(static_cast<async_close_op*>(c), ec);
  }
  static void on_task(task* t, action a) noexcept {
    auto* self = static_cast<async_close_op*>(t);
    if (a == action::run) {
      self->start();
    } else {
      destroy_op(self);
    }
  }
  tcp_socket& sock;
};

}  // namespace detail

/// void(std::error_code). See connect_op for the errors.
template <typename Token>
auto async_connect(tcp_socket& s, const endpoint& peer, clock::time_point deadline, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [](auto handler, tcp_socket& sock, const endpoint& ep, clock::time_point until) {
        using op_t = detail::async_connect_op<std::decay_t<decltype(handler)>>;
        detail::start_on_loop(sock.get_loop(),
                              detail::make_op<op_t>(std::move(handler), sock, ep, until));
      },
      token, std::ref(s), peer, deadline);
}

/// void(std::error_code, std::size_t). `buffers` (the iovec array and the bytes) must stay
/// valid until completion. See write_op for the result.
template <typename Token>
auto async_send(tcp_socket& s, std::span<const iovec> buffers, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
      [](auto handler, tcp_socket& sock, std::span<const iovec> iov) {
        using op_t = detail::async_write_op<std::decay_t<decltype(handler)>>;
        detail::start_on_loop(sock.get_loop(),
                              detail::make_op<op_t>(std::move(handler), sock, iov));
      },
      token, std::ref(s), buffers);
}

/// void(std::error_code). Completes after every pending operation of `s` has completed.
/// Not cancellable.
template <typename Token>
auto async_close(tcp_socket& s, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [](auto handler, tcp_socket& sock) {
        using op_t = detail::async_close_op<std::decay_t<decltype(handler)>>;
        detail::start_on_loop(sock.get_loop(), detail::make_op<op_t>(std::move(handler), sock));
      },
      token, std::ref(s));
}

}  // namespace rmq::io
