// An in-memory transport for net::basic_connection (the shape of net::tcp_transport), after
// Seastar's loopback_socket: no kernel socket, a peer that answers every request frame with a
// response carrying its opaque and body, and a script that fails any chosen step.
//
// Steps are numbered across the whole run, in the order they happen: each resolve, connect,
// send and delivery of received bytes is one step. fail_step = k makes the k-th step fail
// (resolve: name_resolution_failed; connect: connection_refused; send: connection_reset with
// nothing written; delivery: the receive ends with connection_reset). Like tcp_socket, every
// operation completes later on the loop thread (a deferred task), never inside the call that
// started it, and close() completes after every other operation of the socket.
#pragma once

#include "io/loop.hpp"
#include "io/task.hpp"
#include "io/tcp.hpp"
#include "net/connection.hpp"
#include "wire/command.hpp"

#include <asio/error.hpp>

#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rmq::net::test {

/// The script and the peer, shared by every socket of one connection. Loop thread only.
struct memory_network {
  io::buffer_pool* pool = nullptr;  ///< where received bytes are handed over (a test's own)
  unsigned fail_step = 0;           ///< 1-based; 0: nothing fails
  bool hold_resolve = false;        ///< resolves wait for answer_resolve()
  unsigned refuse_connects = 0;     ///< the next this many connects are refused
  unsigned go_aways = 0;            ///< the next this many requests are answered GO_AWAY
  /// Every request frame the peer read: its body and the connect (1-based) of its socket.
  std::vector<std::pair<std::string, unsigned>> received;
  unsigned steps = 0;  ///< steps taken so far
  unsigned connects = 0;
  unsigned sends = 0;
  unsigned deliveries = 0;
  std::size_t delivery_size = 7;  ///< bytes per delivery: frames arrive split
  std::optional<net::resolve_callback> held_resolve;

  /// Counts a step; true when it is the one to fail.
  bool step_fails() noexcept { return ++steps == fail_step; }
  void answer_resolve(std::error_code ec = {}) {
    const net::resolve_callback done = *std::exchange(held_resolve, std::nullopt);
    done.done(done.context, ec, io::endpoint(asio::ip::make_address("127.0.0.1"), 1));
  }
};

class memory_socket {
 public:
  memory_socket(io::loop& l, memory_network& net) noexcept : loop_(l), net_(net) {}
  memory_socket(const memory_socket&) = delete;
  memory_socket& operator=(const memory_socket&) = delete;

  void connect(io::connect_op& op, const io::endpoint&, io::clock::time_point) noexcept {
    connect_ = &op;
    socket_number_ = net_.connects + 1;
    open_ = true;  // like tcp_socket: the descriptor exists from here until close
    later(connect_task_);
  }
  void send(io::write_op& op, const iovec* iov, std::size_t count) noexcept {
    send_ = &op;
    outgoing_.clear();
    for (std::size_t i = 0; i < count; ++i) {
      outgoing_.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    }
    later(send_task_);
  }
  void start_receive(io::receiver& r, io::buffer_pool*) noexcept {
    receiver_ = &r;
    if (!incoming_.empty()) later(deliver_task_);
  }
  void close(io::close_op& op) noexcept {
    closing_ = &op;
    later(close_task_);  // after every task already queued: they see closing_ and abort
  }
  [[nodiscard]] bool is_open() const noexcept { return open_ && closing_ == nullptr; }

 private:
  struct step_task final : io::task {
    step_task(memory_socket& s, void (memory_socket::*f)()) noexcept
        : task(&on_run), owner(s), fn(f) {}
    static void on_run(io::task* t, action a) noexcept {
      auto* self = static_cast<step_task*>(t);
      self->queued = false;
      if (a == action::run) (self->owner.*self->fn)();
    }
    memory_socket& owner;
    void (memory_socket::*fn)();
    bool queued = false;
  };

  void later(step_task& t) noexcept {
    if (t.queued) return;
    t.queued = true;
    loop_.defer(t);
  }

  void finish_connect() {
    io::connect_op* op = std::exchange(connect_, nullptr);
    std::error_code ec;
    if (closing_ != nullptr) {
      ec = asio::error::operation_aborted;
    } else if (++net_.connects, net_.step_fails()) {
      ec = asio::error::connection_refused;
    } else if (net_.refuse_connects > 0) {
      --net_.refuse_connects;
      ec = asio::error::connection_refused;
    }
    op->done_(op, ec);
  }

  void finish_send() {
    io::write_op* op = std::exchange(send_, nullptr);
    if (closing_ != nullptr) {
      op->done_(op, asio::error::operation_aborted, 0);
      return;
    }
    ++net_.sends;
    if (net_.step_fails()) {
      op->done_(op, asio::error::connection_reset, 0);
      return;
    }
    const std::size_t bytes = outgoing_.size();
    answer(outgoing_);
    op->done_(op, {}, bytes);
  }

  // The peer: every request that expects a response gets one with its opaque and body.
  void answer(std::string_view bytes) {
    (void)peer_decoder_.feed(bytes, [&](const wire::command_view& request) {
      net_.received.emplace_back(std::string(request.body), socket_number_);
      if (request.is_oneway()) return;
      wire::remoting_command response;
      response.fields.opaque = request.fields.opaque;
      response.fields.flag = wire::flag_response;
      if (net_.go_aways > 0) {  // a 5.3 server shutting down: code 1500, no body
        --net_.go_aways;
        response.fields.code = 1500;
        response.remark = "please go away";
        incoming_ += response.encode(wire::serialize_type::json);
        return;
      }
      response.body = std::string(request.body);
      incoming_ += response.encode(wire::serialize_type::json);
    });
    if (receiver_ != nullptr && !incoming_.empty()) later(deliver_task_);
  }

  void deliver() {
    if (closing_ != nullptr || receiver_ == nullptr || incoming_.empty()) return;
    ++net_.deliveries;
    if (net_.step_fails()) {
      incoming_.clear();
      std::exchange(receiver_, nullptr)->on_receive_end(asio::error::connection_reset);
      return;
    }
    const std::size_t n = std::min(
        {incoming_.size(), net_.delivery_size, static_cast<std::size_t>(net_.pool->buffer_size())});
    // Buffer 0 of a pool no kernel receive uses: the receiver releases it before returning.
    std::memcpy(const_cast<char*>(net_.pool->view(0, n).data()), incoming_.data(), n);
    incoming_.erase(0, n);
    net_.pool->note_taken();
    if (!incoming_.empty()) later(deliver_task_);
    receiver_->on_receive(io::received_buffer(*net_.pool, 0, n));
  }

  void finish_close() {
    if (io::receiver* r = std::exchange(receiver_, nullptr)) {
      r->on_receive_end(asio::error::operation_aborted);
    }
    open_ = false;
    io::close_op* op = std::exchange(closing_, nullptr);
    op->done_(op, {});  // last: the owner may destroy this socket now
  }

  io::loop& loop_;
  memory_network& net_;
  bool open_ = false;
  io::connect_op* connect_ = nullptr;
  io::write_op* send_ = nullptr;
  io::close_op* closing_ = nullptr;
  io::receiver* receiver_ = nullptr;
  std::string outgoing_;
  std::string incoming_;
  unsigned socket_number_ = 0;  // net_.connects once this socket's connect is counted
  wire::frame_decoder peer_decoder_;
  step_task connect_task_{*this, &memory_socket::finish_connect};
  step_task send_task_{*this, &memory_socket::finish_send};
  step_task deliver_task_{*this, &memory_socket::deliver};
  step_task close_task_{*this, &memory_socket::finish_close};
};

/// The transport: memory_sockets over one memory_network, and a resolver that answers every
/// name with 127.0.0.1 (or fails, or waits for answer_resolve()).
struct memory_transport {
  using socket = memory_socket;
  memory_network* net = nullptr;

  void open(std::optional<socket>& s, io::loop& l, std::string_view /*address*/) {
    s.emplace(l, *net);
  }
  void resolve(io::loop& l, std::string_view, io::clock::time_point, net::resolve_callback done) {
    if (net->hold_resolve) {
      net->held_resolve = done;
      return;
    }
    const bool fails = net->step_fails();
    l.post([done, fails] {
      done.done(done.context,
                fails ? make_error_code(errc::name_resolution_failed) : std::error_code{},
                io::endpoint(asio::ip::make_address("127.0.0.1"), 1));
    });
  }
};

using memory_connection = net::basic_connection<memory_transport>;

}  // namespace rmq::net::test
