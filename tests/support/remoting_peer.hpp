// A tiny blocking remoting peer on loopback for connection tests: accepts connections on its
// own thread, decodes request frames with the wire codec and answers them by a chosen policy.
// Simpler than rmq-sim where a test needs exact control of the byte stream.
#pragma once

#include "support/loopback_socket.hpp"
#include "wire/command.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rmq::test {

class remoting_peer {
 public:
  enum class policy {
    echo,          ///< answer every request at once, body echoed
    reverse,       ///< answer the requests of each read in reverse order
    byte_by_byte,  ///< answer with one write(2) per byte
    silent,        ///< read everything, answer nothing
    reset_after,   ///< answer normally, then reset the connection after `limit` requests
    held,          ///< keep the answers until release() writes them
  };

  explicit remoting_peer(policy p, std::size_t limit = 0) : policy_(p), limit_(limit) {
    const loopback_listener l = listen_on_loopback();
    listener_ = l.fd;
    port_ = l.port;
    thread_ = std::thread([this] { accept_loop(); });
  }

  ~remoting_peer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    {
      std::lock_guard lock(mutex_);
      for (const int fd : clients_) {
        if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
      }
    }
    thread_.join();
    for (auto& t : workers_) t.join();
    for (const int fd : clients_) {
      if (fd >= 0) ::close(fd);
    }
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::size_t requests() const noexcept { return requests_.load(); }
  [[nodiscard]] std::size_t accepted() const noexcept { return accepted_.load(); }
  /// Connections the client closed (end of stream seen).
  [[nodiscard]] std::size_t client_closes() const noexcept { return client_closes_.load(); }

  /// policy::held: answers received and not yet released.
  [[nodiscard]] std::size_t held() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }
  /// policy::held: writes every answer held so far. Returns how many were written.
  std::size_t release() {
    std::lock_guard lock(mutex_);
    std::size_t written = 0;
    for (auto& [fd, answer] : held_) written += write_all(fd, answer) ? 1 : 0;
    held_.clear();
    return written;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = accept_client(listener_);
      if (fd < 0) return;
      ++accepted_;
      std::lock_guard lock(mutex_);
      clients_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    wire::frame_decoder decoder;
    std::vector<char> buf(64 * 1024);
    std::size_t served = 0;
    for (;;) {
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n == 0) ++client_closes_;
      if (n <= 0) return;
      std::vector<std::string> answers;
      const auto ec = decoder.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)),
                                   [&](const wire::command_view& request) {
                                     ++requests_;
                                     if (request.is_oneway()) return;
                                     wire::remoting_command response;
                                     response.fields.opaque = request.fields.opaque;
                                     response.fields.flag = wire::flag_response;
                                     response.body = std::string(request.body);
                                     answers.push_back(response.encode(request.type));
                                   });
      if (ec) return;
      if (policy_ == policy::silent) continue;
      if (policy_ == policy::held) {
        std::lock_guard lock(mutex_);
        for (auto& a : answers) held_.emplace_back(fd, std::move(a));
        continue;
      }
      if (policy_ == policy::reverse) std::reverse(answers.begin(), answers.end());
      std::string out;
      for (auto& a : answers) {
        if (policy_ == policy::reset_after && served >= limit_) {
          if (!out.empty()) write_all(fd, out);
          reset(fd);
          return;
        }
        ++served;
        out += a;
      }
      if (policy_ == policy::byte_by_byte) {
        for (const char c : out) {
          if (::write(fd, &c, 1) != 1) return;
        }
      } else if (!write_all(fd, out)) {
        return;
      }
    }
  }

  void reset(int fd) {
    linger l{1, 0};  // close(2) now sends RST instead of FIN
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    std::lock_guard lock(mutex_);
    std::replace(clients_.begin(), clients_.end(), fd, -1);
    ::close(fd);
  }

  policy policy_;
  std::size_t limit_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> client_closes_{0};
  std::mutex mutex_;
  std::vector<int> clients_;
  std::vector<std::pair<int, std::string>> held_;  // policy::held: (fd, answer)
  std::vector<std::thread> workers_;
  std::thread thread_;
};

}  // namespace rmq::test
