#include "raw_echo.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace rmq::bench {

namespace {

using clock = std::chrono::steady_clock;

class fd_guard {
 public:
  explicit fd_guard(int fd) noexcept : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

bool read_exactly(int fd, char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::recv(fd, data, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void set_nodelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void echo_peer(int listener, std::size_t request_bytes, std::size_t response_bytes, int cpu) {
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  const fd_guard conn(::accept(listener, nullptr, nullptr));
  if (conn.get() < 0) return;
  set_nodelay(conn.get());
  std::vector<char> request(request_bytes);
  const std::vector<char> response(response_bytes, 'r');
  while (read_exactly(conn.get(), request.data(), request.size())) {
    if (!write_all(conn.get(), response.data(), response.size())) return;
  }
}

}  // namespace

bool run_raw_echo(const raw_echo_options& options, histogram& out, std::string& error) {
  const fd_guard listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener.get() < 0 || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listener.get(), 1) != 0 ||
      ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    error = std::string("raw echo listener: ") + std::strerror(errno);
    return false;
  }
  std::thread peer(echo_peer, listener.get(), options.request_bytes, options.response_bytes,
                   options.peer_cpu);
  bool ok = true;
  {
    const fd_guard client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (client.get() < 0 ||
        ::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      error = std::string("raw echo connect: ") + std::strerror(errno);
      ok = false;
      ::shutdown(listener.get(), SHUT_RDWR);  // wakes the peer's accept
    } else {
      set_nodelay(client.get());
      const std::vector<char> request(options.request_bytes, 'q');
      std::vector<char> response(options.response_bytes);
      const clock::time_point give_up = clock::now() + options.max_time;
      const std::size_t total = options.warmup_round_trips + options.round_trips;
      for (std::size_t i = 0; i < total; ++i) {
        const clock::time_point start = clock::now();
        if (!write_all(client.get(), request.data(), request.size()) ||
            !read_exactly(client.get(), response.data(), response.size())) {
          error = "raw echo: the peer closed the connection";
          ok = false;
          break;
        }
        const clock::time_point end = clock::now();
        if (i >= options.warmup_round_trips) {
          out.record(static_cast<std::uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
          if (end >= give_up) break;
        }
      }
    }
  }  // closing the client ends the peer's loop
  peer.join();
  return ok;
}

}  // namespace rmq::bench
