#include "io/tcp.hpp"

#include "rmq/error.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <chrono>

namespace rmq::io {

namespace {

// Asio's system category, so that results compare equal to asio::error::* values.
std::error_code system_error_from(int res) noexcept {
  if (res == -ECANCELED) return asio::error::operation_aborted;
  return {-res, asio::error::get_system_category()};
}

void set_nodelay(int fd) noexcept {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

tcp_socket::tcp_socket(loop& l) noexcept : loop_(l) {}

tcp_socket::tcp_socket(loop& l, int fd) noexcept : loop_(l), fd_(fd) {
  if (fd_ < 0) return;
  set_nodelay(fd_);
  if (loop_.uses_epoll() && epoll_watch_fd()) {
    ::close(fd_);  // cannot be watched: every operation fails with bad_descriptor
    fd_ = -1;
  }
}

tcp_socket::~tcp_socket() {
  assert(pending_ == 0 && "tcp_socket destroyed with operations pending");
  if (fd_ >= 0) {
    epoll_unwatch_fd();
    ::close(fd_);
  }
}

void tcp_socket::open_for(const endpoint& peer, std::error_code& ec) noexcept {
  // io_uring: a blocking descriptor, io_uring tries each operation non-blocking and arms a poll
  // itself. epoll: non-blocking, the socket does that.
  const int fd = ::socket(peer.protocol().family(),
                          SOCK_STREAM | SOCK_CLOEXEC | (loop_.uses_epoll() ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) {
    ec = {errno, asio::error::get_system_category()};
    return;
  }
  set_nodelay(fd);
  fd_ = fd;
}

void tcp_socket::submit_nop(cqe_handler* c) noexcept {
  if (loop_.uses_epoll()) {
    loop_.begin_op();
    loop_.complete(c, 0);
    return;
  }
  io_uring_prep_nop(loop_.get_sqe(c));
}

bool tcp_socket::finish_op() noexcept {
  --pending_;
  return closing_ != nullptr && close_cqe_seen_ && pending_ == 0;
}

void tcp_socket::complete_close() noexcept {
  close_op* op = std::exchange(closing_, nullptr);
  close_cqe_seen_ = false;
  op->done_(op, op->result_);  // may destroy *this: nothing of ours is touched after
}

// ---- connect ----------------------------------------------------------------------------

void tcp_socket::connect(connect_op& op, const endpoint& peer,
                         clock::time_point deadline) noexcept {
  op.socket_ = this;
  op.cancelled_ = false;
  op.preset_ = {};
  op.peer_ = peer;
  ++pending_;
  std::error_code ec;
  if (closing_ != nullptr) {
    ec = asio::error::bad_descriptor;
  } else if (loop_.stopping()) {
    ec = asio::error::operation_aborted;
  } else if (fd_ < 0) {
    open_for(peer, ec);
  }
  if (ec) {
    op.preset_ = ec;
    submit_nop(&op);
    return;
  }
  if (loop_.uses_epoll()) {
    if (connecting_ != nullptr) {  // epoll keeps one connect per socket
      op.preset_ = asio::error::already_started;
      submit_nop(&op);
      return;
    }
    epoll_connect(op, deadline);
    return;
  }
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
  op.deadline_ = {ns / 1'000'000'000, ns % 1'000'000'000};
  // connect → link timeout, in one submission. steady_clock is CLOCK_MONOTONIC, the clock of
  // an absolute io_uring timeout. The timeout's own CQE carries no user_data and is ignored.
  loop_.reserve_sqes(2);
  io_uring_sqe* sqe = loop_.get_sqe(&op);
  io_uring_prep_connect(sqe, fd_, op.peer_.data(), static_cast<socklen_t>(op.peer_.size()));
  sqe->flags |= IOSQE_IO_LINK;
  io_uring_prep_link_timeout(loop_.get_sqe(nullptr), &op.deadline_, IORING_TIMEOUT_ABS);
}

void connect_op::on_cqe(cqe_handler* c, int res, unsigned) noexcept {
  auto* op = static_cast<connect_op*>(c);
  tcp_socket* s = op->socket_;
  std::error_code ec = op->preset_;
  if (!ec && res < 0) {
    if (res == -ECANCELED && !op->cancelled_ && s->closing_ == nullptr && !s->loop_.stopping()) {
      ec = rmq::errc::timed_out;  // only the linked timeout cancels it otherwise
    } else {
      ec = system_error_from(res);
    }
  }
  const bool close_now = s->finish_op();
  op->done_(op, ec);
  if (close_now) s->complete_close();
}

void tcp_socket::cancel(connect_op& op) noexcept {
  if (op.socket_ != this || op.cancelled_) return;
  op.cancelled_ = true;
  if (loop_.uses_epoll()) {
    if (connecting_ == &op) epoll_finish_connect(-ECANCELED);
    return;
  }
  io_uring_prep_cancel64(loop_.get_sqe(nullptr), reinterpret_cast<std::uintptr_t>(&op), 0);
}

// ---- send -------------------------------------------------------------------------------

void tcp_socket::send(write_op& op, const iovec* iov, std::size_t count) noexcept {
  op.socket_ = this;
  op.cancelled_ = false;
  op.preset_ = {};
  op.msg_ = msghdr{};
  op.msg_.msg_iov = const_cast<iovec*>(iov);
  op.msg_.msg_iovlen = count;
  ++pending_;
  if (fd_ < 0 || closing_ != nullptr || loop_.stopping()) {
    op.preset_ = loop_.stopping() ? asio::error::operation_aborted : asio::error::bad_descriptor;
    submit_nop(&op);
    return;
  }
  // MSG_WAITALL: the kernel retries short writes on a stream socket; MSG_NOSIGNAL: EPIPE, not
  // SIGPIPE, when the peer is gone. One buffer goes out as a plain send, which spares the
  // kernel copying and checking a msghdr (most sends of a request/response exchange).
  if (loop_.uses_epoll()) {
    if (writing_ != nullptr) {  // epoll keeps one send in flight per socket (the intended use)
      op.preset_ = asio::error::already_started;
      submit_nop(&op);
      return;
    }
    epoll_send(op);
    return;
  }
  constexpr int flags = MSG_NOSIGNAL | MSG_WAITALL;
  if (count == 1) {
    io_uring_prep_send(loop_.get_sqe(&op), fd_, iov[0].iov_base, iov[0].iov_len, flags);
  } else {
    io_uring_prep_sendmsg(loop_.get_sqe(&op), fd_, &op.msg_, flags);
  }
}

void write_op::on_cqe(cqe_handler* c, int res, unsigned) noexcept {
  auto* op = static_cast<write_op*>(c);
  tcp_socket* s = op->socket_;
  std::error_code ec = op->preset_;
  std::size_t n = 0;
  if (!ec) {
    if (res >= 0) {
      n = static_cast<std::size_t>(res);
    } else {
      ec = system_error_from(res);
    }
  }
  const bool close_now = s->finish_op();
  op->done_(op, ec, n);
  if (close_now) s->complete_close();
}

void tcp_socket::cancel(write_op& op) noexcept {
  if (op.socket_ != this || op.cancelled_) return;
  op.cancelled_ = true;
  if (loop_.uses_epoll()) {
    if (writing_ == &op) epoll_finish_write(written_ > 0 ? static_cast<int>(written_) : -ECANCELED);
    return;
  }
  io_uring_prep_cancel64(loop_.get_sqe(nullptr), reinterpret_cast<std::uintptr_t>(&op), 0);
}

// ---- receive ----------------------------------------------------------------------------

void tcp_socket::start_receive(receiver& r, buffer_pool* pool) noexcept {
  assert(receiver_ == nullptr && "one receive at a time");
  receiver_ = &r;
  pool_ = pool != nullptr ? pool : &loop_.default_buffer_pool();
  recv_cancelled_ = false;
  recv_preset_ = {};
  if (fd_ < 0 || closing_ != nullptr || loop_.stopping()) {
    recv_preset_ = loop_.stopping() ? asio::error::operation_aborted : asio::error::bad_descriptor;
    ++pending_;
    submit_nop(&receive_cqe_);
    return;
  }
  arm_receive();
}

void tcp_socket::arm_receive() noexcept {
  ++pending_;
  recv_armed_ = true;
  recv_waiting_ = false;
  if (loop_.uses_epoll()) {
    epoll_arm_receive();
    return;
  }
  io_uring_sqe* sqe = loop_.get_sqe(&receive_cqe_);
  // Multishot: one SQE, a CQE per received chunk, each in a buffer the kernel picks from the
  // pool's group; it ends (no IORING_CQE_F_MORE) on EOF, error, cancel or -ENOBUFS.
  io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = pool_->group();
}

void tcp_socket::cancel_receive() noexcept {
  if (receiver_ == nullptr || recv_cancelled_) return;
  recv_cancelled_ = true;
  if (loop_.uses_epoll() && recv_armed_) {
    if (reading_) epoll_end_read(-ECANCELED);
  } else if (recv_armed_) {
    io_uring_prep_cancel64(loop_.get_sqe(nullptr), reinterpret_cast<std::uintptr_t>(&receive_cqe_),
                           0);
  } else if (recv_waiting_) {
    end_waiting_receive();
  }
  // Otherwise we are inside the receive's last CQE, which sees recv_cancelled_ and ends it.
}

void tcp_socket::end_waiting_receive() noexcept {
  // Waiting for buffers after -ENOBUFS: nothing in the kernel to cancel; a NOP delivers the end.
  recv_waiting_ = false;
  pool_->cancel_wait(pool_waiter_);
  recv_preset_ = asio::error::operation_aborted;
  ++pending_;
  submit_nop(&receive_cqe_);
}

void tcp_socket::end_receive(std::error_code ec) noexcept {
  receiver* r = std::exchange(receiver_, nullptr);
  recv_preset_ = {};
  r->on_receive_end(ec);
}

void tcp_socket::receive_cqe::on_cqe(cqe_handler* c, int res, unsigned flags) noexcept {
  tcp_socket& s = static_cast<receive_cqe*>(c)->socket;
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) s.recv_armed_ = false;
  if (res > 0 && (flags & IORING_CQE_F_BUFFER) != 0) {
    s.pool_->note_taken();
    s.receiver_->on_receive(
        received_buffer(*s.pool_, static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT),
                        static_cast<std::size_t>(res)));
    if (more) return;
    // The kernel ended the multishot after data (e.g. CQ overflow): carry on unless told not.
    const bool close_now = s.finish_op();
    if (s.recv_cancelled_ || s.closing_ != nullptr || s.loop_.stopping()) {
      s.end_receive(asio::error::operation_aborted);
    } else {
      s.arm_receive();
    }
    if (close_now) s.complete_close();
    return;
  }
  if (more) return;  // not expected: a data-less CQE that is not the last
  const bool close_now = s.finish_op();
  std::error_code ec;
  if (s.recv_preset_) {
    ec = s.recv_preset_;
  } else if (res == -ENOBUFS && !s.recv_cancelled_ && s.closing_ == nullptr &&
             !s.loop_.stopping()) {
    // Pool ran dry: the unread bytes stay in the socket; re-arm when a buffer comes back.
    ++s.rearms_;
    if (s.pool_->available() > 0) {
      s.arm_receive();
    } else {
      s.recv_waiting_ = true;
      s.pool_->wait_for_buffers(s.pool_waiter_);
    }
    return;
  } else if (res == 0) {
    ec = asio::error::eof;
  } else if (res == -ENOBUFS) {
    ec = asio::error::operation_aborted;
  } else {
    ec = system_error_from(res);
  }
  s.end_receive(ec);
  if (close_now) s.complete_close();
}

void tcp_socket::pool_waiter::on_buffers(buffer_pool::waiter* w) noexcept {
  tcp_socket& s = static_cast<pool_waiter*>(w)->socket;
  if (!s.recv_waiting_) return;
  if (s.loop_.stopping()) {
    s.end_waiting_receive();  // woken by the loop's stop, not by a buffer
  } else {
    s.arm_receive();
  }
}

// ---- close ------------------------------------------------------------------------------

void tcp_socket::close(close_op& op) noexcept {
  op.socket_ = this;
  op.result_ = {};
  op.fd_ = -1;
  if (closing_ != nullptr) {
    // A second close: fails, but only after the first completes (it is counted as pending).
    op.result_ = asio::error::bad_descriptor;
    ++pending_;
    submit_nop(&op);
    return;
  }
  closing_ = &op;
  close_cqe_seen_ = false;
  if (recv_waiting_) end_waiting_receive();
  if (fd_ < 0) {
    submit_nop(&op);
    return;
  }
  if (loop_.uses_epoll()) {
    epoll_close(op);
    return;
  }
  // close(2) cancels nothing in io_uring: cancel every request on the fd first. HARDLINK: the
  // close runs whatever the cancel returns (-ENOENT when nothing was pending).
  loop_.reserve_sqes(2);
  io_uring_sqe* cancel = loop_.get_sqe(nullptr);
  io_uring_prep_cancel_fd(cancel, fd_, IORING_ASYNC_CANCEL_ALL);
  cancel->flags |= IOSQE_IO_HARDLINK;
  op.fd_ = fd_;
  io_uring_prep_close(loop_.get_sqe(&op), fd_);
  fd_ = -1;
}

void close_op::on_cqe(cqe_handler* c, int res, unsigned) noexcept {
  auto* op = static_cast<close_op*>(c);
  tcp_socket* s = op->socket_;
  if (s->closing_ != op) {  // a rejected second close
    const bool close_now = s->finish_op();
    op->done_(op, op->result_);
    if (close_now) s->complete_close();
    return;
  }
  if (res == -ECANCELED && op->fd_ >= 0) {
    ::close(op->fd_);  // the loop's stop cancelled the close itself
  } else if (res < 0) {
    op->result_ = {-res, asio::error::get_system_category()};
  }
  op->fd_ = -1;
  s->close_cqe_seen_ = true;
  if (s->pending_ == 0) s->complete_close();
}

}  // namespace rmq::io
