/// \file
/// rmq::io_backend: which kernel interface a producer's I/O loops use.
#pragma once

#include <string_view>

namespace rmq {

/// The I/O backend of a producer's loops (producer_config::backend). Both run the same
/// connection and send code behind the same executor; only the system calls differ.
enum class io_backend {
  /// io_uring when a ring with every feature the client uses can be set up (Linux 6.0+, not
  /// blocked by seccomp or kernel.io_uring_disabled), else epoll; the reason is logged once.
  automatic,
  /// io_uring only: producer::start() fails with errc::io_uring_unavailable when it cannot.
  io_uring,
  /// epoll only (readiness + non-blocking system calls): runs wherever sockets do, e.g. under
  /// Docker's, containerd's and Kubernetes' default seccomp profiles.
  epoll,
};

/// "automatic", "io_uring" or "epoll".
[[nodiscard]] std::string_view to_string(io_backend backend) noexcept;

}  // namespace rmq
