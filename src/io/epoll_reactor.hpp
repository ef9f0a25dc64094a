// The epoll backend of the loop (rmq::io_backend::epoll), for hosts where io_uring is blocked
// (container seccomp profiles, kernel.io_uring_disabled) or too old.
//
// A proactor over a reactor, as Asio's own epoll reactor: epoll says which descriptors are
// ready, the socket does the non-blocking system call itself (io/tcp_epoll.cpp), and hands the
// result back as a completion of the same shape io_uring posts — (cqe_handler, res, flags). So
// every completion rule of tcp_socket (cqe handlers, close ordering, operation_aborted) is one
// code path for both backends, and nothing above io/ knows which backend runs.
//
// Loop thread only. Completions are queued, never run inside the call that produced them; the
// loop runs them after its wait, in the order they were queued.
#pragma once

#include "io/loop.hpp"

#include <spdlog/fwd.h>

#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <system_error>
#include <vector>

namespace rmq::io {

/// A descriptor in the epoll set (edge-triggered): told when it becomes ready, and told to end
/// every operation it has pending when the loop stops.
struct epoll_source {
  using ready_fn = void (*)(epoll_source*, std::uint32_t events) noexcept;
  using stop_fn = void (*)(epoll_source*) noexcept;
  epoll_source(ready_fn ready, stop_fn stop) noexcept : on_ready_(ready), on_stop_(stop) {}
  epoll_source(const epoll_source&) = delete;
  epoll_source& operator=(const epoll_source&) = delete;

  ready_fn on_ready_;
  stop_fn on_stop_;
  epoll_source* prev_ = nullptr;  // the reactor's list of watched sources
  epoll_source* next_ = nullptr;
  bool watched_ = false;
};

class epoll_reactor {
 public:
  /// A completion as io_uring would post it: `res` is the result or -errno, `flags` may carry
  /// IORING_CQE_F_MORE and IORING_CQE_F_BUFFER with the buffer id.
  struct completion {
    cqe_handler* handler;
    int res;
    unsigned flags;
  };

  /// Creates the epoll set and watches `wake_fd` (the loop's eventfd, level-triggered).
  /// Failures of epoll_wait are logged to `logger` (not owned: the loop's, which outlives it).
  epoll_reactor(int wake_fd, spdlog::logger& logger);
  ~epoll_reactor();
  epoll_reactor(const epoll_reactor&) = delete;
  epoll_reactor& operator=(const epoll_reactor&) = delete;

  /// Watches `fd` for input, output and errors, edge-triggered, until unwatch().
  [[nodiscard]] std::error_code watch(int fd, epoll_source& source) noexcept;
  /// Stops watching `fd` (before it is closed); a source not watched is left alone.
  void unwatch(int fd, epoll_source& source) noexcept;

  /// Queues a completion for the loop's next dispatch.
  void complete(cqe_handler* handler, int res, unsigned flags) noexcept {
    ready_.push_back({handler, res, flags});
  }
  [[nodiscard]] bool has_completions() const noexcept { return !ready_.empty(); }
  /// The completions queued so far, in order; those queued while the caller runs them wait for
  /// the next call. The vector stays valid until the next call.
  [[nodiscard]] std::vector<completion>& take_completions() noexcept;

  /// Waits for readiness at most `timeout` (nullptr: until something is ready or the eventfd is
  /// written) and tells every ready source. Returns the number of events.
  int wait(const timespec* timeout) noexcept;
  /// The loop stops: every watched source ends its pending operations.
  void stop_all() noexcept;

 private:
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  spdlog::logger& logger_;
  bool pwait2_ = true;  // epoll_pwait2 (ns timeouts) until the kernel or a filter refuses it
  epoll_source* sources_ = nullptr;
  std::vector<completion> ready_;
  std::vector<completion> dispatching_;
  std::array<epoll_event, 256> events_{};
};

}  // namespace rmq::io
