// Blocking socket helpers shared by the test peers (remoting_peer, scripted_peer).
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace rmq::test {

/// A listening socket on 127.0.0.1 and an ephemeral port.
struct loopback_listener {
  int fd = -1;
  std::uint16_t port = 0;
};

/// Throws std::runtime_error when the socket cannot listen.
[[nodiscard]] inline loopback_listener listen_on_loopback() {
  loopback_listener l;
  l.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(l.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(l.fd, 64) != 0) {
    ::close(l.fd);
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  ::getsockname(l.fd, reinterpret_cast<sockaddr*>(&addr), &len);
  l.port = ntohs(addr.sin_port);
  return l;
}

/// The next connection, with Nagle off (answers go out as written); -1 once the listener is shut.
[[nodiscard]] inline int accept_client(int listener) {
  for (;;) {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd >= 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    // A signal, or a client that gave up before it was accepted: the listener is still fine.
    if (errno != EINTR && errno != ECONNABORTED) return -1;
  }
}

/// Writes all of `data` (no SIGPIPE when the client has gone). False when the socket failed.
inline bool write_all(int fd, std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace rmq::test
