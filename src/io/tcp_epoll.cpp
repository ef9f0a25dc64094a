// tcp_socket on the epoll backend: the non-blocking system call io_uring would make, made when
// epoll says the descriptor is ready, and its result queued as the completion io_uring would
// post (loop::complete). The completion handlers in io/tcp.cpp are shared with io_uring.
//
// The descriptor is watched edge-triggered from its first operation until close. An edge is
// reported once per wake-up after the loop's wait collected the previous one, so reading until
// a short read (or EAGAIN) and writing until EAGAIN never miss one.
#include "io/tcp.hpp"

#include <climits>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace rmq::io {

namespace {

constexpr int send_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
// A write that resumes mid-array copies at most this many iovecs per sendmsg.
constexpr std::size_t resume_window = 64;

}  // namespace

std::error_code tcp_socket::epoll_watch_fd() noexcept {
  return loop_.reactor().watch(fd_, watch_);
}

void tcp_socket::epoll_unwatch_fd() noexcept {
  if (watch_.watched_) loop_.reactor().unwatch(fd_, watch_);
}

void tcp_socket::epoll_watch::on_ready(epoll_source* source, std::uint32_t events) noexcept {
  tcp_socket& s = static_cast<epoll_watch*>(source)->socket;
  const bool failed = (events & (EPOLLERR | EPOLLHUP)) != 0;
  if (s.connecting_ != nullptr && ((events & EPOLLOUT) != 0 || failed)) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(s.fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error != 0) {
      s.epoll_finish_connect(-error);
    } else if ((events & EPOLLOUT) != 0) {
      s.epoll_finish_connect(0);
    }
  }
  if (s.writing_ != nullptr && ((events & EPOLLOUT) != 0 || failed)) s.epoll_continue_write();
  if (s.reading_ && ((events & (EPOLLIN | EPOLLRDHUP)) != 0 || failed)) {
    // The peer's FIN (or an error) came with this edge: no later edge will report it, so read
    // until recv says so, not just until a short read.
    s.epoll_read((events & EPOLLRDHUP) != 0 || failed);
  }
}

void tcp_socket::epoll_watch::on_stop(epoll_source* source) noexcept {
  static_cast<epoll_watch*>(source)->socket.epoll_cancel_all();
}

// ---- connect ----------------------------------------------------------------------------

void tcp_socket::epoll_connect(connect_op& op, clock::time_point deadline) noexcept {
  loop_.begin_op();
  connecting_ = &op;
  // Connect first, watch after: a socket watched before it connects reports itself ready
  // (a closed TCP socket polls as writable and hung up).
  int res = 0;
  if (::connect(fd_, op.peer_.data(), static_cast<socklen_t>(op.peer_.size())) != 0) {
    res = errno == EINPROGRESS ? 1 : -errno;
  }
  if (res <= 0) {
    epoll_finish_connect(res);
    return;
  }
  if (const std::error_code ec = epoll_watch_fd()) {
    epoll_finish_connect(-ec.value());
    return;
  }
  loop_.add_timer(connect_deadline_, deadline);
}

void tcp_socket::connect_deadline::on_expiry(timer_node* node, std::error_code) noexcept {
  tcp_socket& s = static_cast<connect_deadline*>(node)->socket;
  // -ECANCELED, as io_uring's linked timeout gives: connect_op::on_cqe reports timed_out (or
  // operation_aborted when the loop is stopping).
  if (s.connecting_ != nullptr) s.epoll_finish_connect(-ECANCELED);
}

void tcp_socket::epoll_finish_connect(int res) noexcept {
  connect_op* op = std::exchange(connecting_, nullptr);
  loop_.cancel_timer(connect_deadline_);
  loop_.complete(op, res);
}

// ---- send -------------------------------------------------------------------------------

void tcp_socket::epoll_send(write_op& op) noexcept {
  loop_.begin_op();
  writing_ = &op;
  written_ = 0;
  write_total_ = 0;
  for (std::size_t i = 0; i < op.msg_.msg_iovlen; ++i) write_total_ += op.msg_.msg_iov[i].iov_len;
  if (const std::error_code ec = epoll_watch_fd()) {
    epoll_finish_write(-ec.value());
    return;
  }
  epoll_continue_write();
}

void tcp_socket::epoll_continue_write() noexcept {
  const msghdr& whole = writing_->msg_;
  while (written_ < write_total_) {
    ssize_t n;
    if (written_ == 0 && whole.msg_iovlen <= IOV_MAX) {
      n = whole.msg_iovlen == 1
              ? ::send(fd_, whole.msg_iov[0].iov_base, whole.msg_iov[0].iov_len, send_flags)
              : ::sendmsg(fd_, &whole, send_flags);
    } else {
      // Resume after a short write: the rest, from the first unsent byte, a window at a time.
      iovec window[resume_window];
      std::size_t skip = written_;
      std::size_t first = 0;
      while (skip >= whole.msg_iov[first].iov_len) skip -= whole.msg_iov[first++].iov_len;
      const std::size_t count = std::min(resume_window, whole.msg_iovlen - first);
      for (std::size_t i = 0; i < count; ++i) window[i] = whole.msg_iov[first + i];
      window[0].iov_base = static_cast<char*>(window[0].iov_base) + skip;
      window[0].iov_len -= skip;
      msghdr rest{};
      rest.msg_iov = window;
      rest.msg_iovlen = count;
      n = ::sendmsg(fd_, &rest, send_flags);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // the next EPOLLOUT resumes
      // As MSG_WAITALL on io_uring: the bytes already sent, else the error.
      epoll_finish_write(written_ > 0 ? static_cast<int>(written_) : -errno);
      return;
    }
    written_ += static_cast<std::size_t>(n);
  }
  epoll_finish_write(static_cast<int>(written_));
}

void tcp_socket::epoll_finish_write(int res) noexcept {
  write_op* op = std::exchange(writing_, nullptr);
  loop_.complete(op, res);
}

// ---- receive ----------------------------------------------------------------------------

void tcp_socket::epoll_arm_receive() noexcept {
  loop_.begin_op();
  reading_ = true;
  if (const std::error_code ec = epoll_watch_fd()) {
    epoll_end_read(-ec.value());
    return;
  }
  // Bytes (or a FIN) that arrived before the receive was armed raised their edge already: read
  // now, until recv says there is nothing more.
  epoll_read(true);
}

void tcp_socket::epoll_read(bool until_drained) noexcept {
  while (reading_) {
    const int id = pool_->take_free();
    if (id < 0) {
      // As io_uring's multishot receive on an empty buffer ring: it ends with -ENOBUFS, the
      // bytes wait in the socket, and receive_cqe re-arms once a buffer comes back.
      epoll_end_read(-ENOBUFS);
      return;
    }
    const auto buffer = static_cast<std::uint16_t>(id);
    const ssize_t n = ::recv(fd_, pool_->buffer(buffer), pool_->buffer_size(), MSG_DONTWAIT);
    if (n > 0) {
      loop_.complete(&receive_cqe_, static_cast<int>(n),
                     IORING_CQE_F_MORE | IORING_CQE_F_BUFFER |
                         (static_cast<unsigned>(buffer) << IORING_CQE_BUFFER_SHIFT));
      // A short read emptied the socket: what comes next raises a new edge.
      if (!until_drained && static_cast<std::size_t>(n) < pool_->buffer_size()) return;
      continue;
    }
    pool_->put_back(buffer);
    if (n == 0) {
      epoll_end_read(0);  // the peer closed
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    epoll_end_read(-errno);
    return;
  }
}

void tcp_socket::epoll_end_read(int res) noexcept {
  reading_ = false;
  loop_.complete(&receive_cqe_, res);  // no IORING_CQE_F_MORE: the receive's last completion
}

// ---- close and stop ---------------------------------------------------------------------

void tcp_socket::epoll_cancel_all() noexcept {
  if (connecting_ != nullptr) epoll_finish_connect(-ECANCELED);
  if (writing_ != nullptr) {
    epoll_finish_write(written_ > 0 ? static_cast<int>(written_) : -ECANCELED);
  }
  if (reading_) epoll_end_read(-ECANCELED);
}

void tcp_socket::epoll_close(close_op& op) noexcept {
  epoll_cancel_all();
  epoll_unwatch_fd();
  ::close(fd_);
  fd_ = -1;
  op.fd_ = -1;
  loop_.begin_op();
  loop_.complete(&op, 0);
}

}  // namespace rmq::io
