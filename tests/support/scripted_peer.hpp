// A misbehaving remoting server on loopback, scripted per request: for producer-level tests of
// what no well-behaved server sends (malformed frames and headers, unknown or duplicate opaques,
// answers to oneway requests, trickled bytes, a peer that stops reading). Each connection is
// served by its own thread with blocking sockets, so that the bytes written are exactly the
// script's, in the script's order.
#pragma once

#include "support/loopback_socket.hpp"
#include "wire/command.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rmq::test {

/// What the peer does after reading one request.
struct peer_reply {
  enum class then : std::uint8_t {
    keep_open,  ///< go on reading
    close,      ///< close the connection (FIN) after writing
    reset,      ///< reset it (RST) after writing
  };
  std::string bytes;  ///< written as they are (empty: no answer)
  /// Above zero: one byte per write, this far apart (a trickling peer).
  std::chrono::microseconds byte_gap{0};
  then after = then::keep_open;
};

/// A request as the script sees it: decoded fields and an owned copy of its extFields.
struct peer_request {
  wire::command_fields fields;
  wire::serialize_type type = wire::serialize_type::json;
  bool oneway = false;
  std::map<std::string, std::string, std::less<>> ext_fields;
  std::string body;
  std::size_t index = 0;  ///< 0-based, over every request of every connection
};

class scripted_peer {
 public:
  using script = std::function<peer_reply(const peer_request&)>;

  /// `reads` false: connections are accepted and never read from (a peer that stopped reading:
  /// the client's writes fill the socket buffers and then wait).
  explicit scripted_peer(script s, bool reads = true) : script_(std::move(s)), reads_(reads) {
    const loopback_listener l = listen_on_loopback();
    listener_ = l.fd;
    port_ = l.port;
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~scripted_peer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (const int fd : clients_) {
        if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
      }
    }
    stopped_.notify_all();
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    ::close(listener_);
    for (auto& t : workers_) t.join();
    for (const int fd : clients_) {
      if (fd >= 0) ::close(fd);
    }
  }
  scripted_peer(const scripted_peer&) = delete;
  scripted_peer& operator=(const scripted_peer&) = delete;

  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::size_t requests() const noexcept { return requests_.load(); }
  [[nodiscard]] std::size_t accepted() const noexcept { return accepted_.load(); }

  /// Requests of one code received so far.
  [[nodiscard]] std::size_t requests(std::int32_t code) {
    std::lock_guard lock(mutex_);
    return by_code_[code];
  }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = accept_client(listener_);
      if (fd < 0) return;
      ++accepted_;
      std::lock_guard lock(mutex_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      clients_.push_back(fd);
      workers_.emplace_back([this, fd] { reads_ ? serve(fd) : hold(fd); });
    }
  }

  void hold(int fd) {
    // A small window, so that the client's writes back up after a few frames whatever the
    // host's default buffer sizes.
    const int bytes = 16 * 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    std::unique_lock lock(mutex_);
    stopped_.wait(lock, [&] { return stopping_; });
  }

  void serve(int fd) {
    wire::frame_decoder decoder;
    std::vector<char> buf(64 * 1024);
    for (;;) {
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      std::vector<peer_request> batch;
      const auto ec =
          decoder.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)),
                       [&](const wire::command_view& view) { batch.push_back(copy(view)); });
      if (ec) return;
      for (peer_request& request : batch) {
        {
          std::lock_guard lock(mutex_);
          request.index = requests_++;
          ++by_code_[request.fields.code];
        }
        const peer_reply reply = script_(request);
        if (!write(fd, reply)) return;
        if (reply.after == peer_reply::then::keep_open) continue;
        if (reply.after == peer_reply::then::reset) {
          linger l{1, 0};  // close(2) now sends RST instead of FIN
          ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        std::lock_guard lock(mutex_);
        std::replace(clients_.begin(), clients_.end(), fd, -1);  // closed here, not at the end
        ::close(fd);
        return;
      }
    }
  }

  [[nodiscard]] static peer_request copy(const wire::command_view& view) {
    peer_request r;
    r.fields = view.fields;
    r.type = view.type;
    r.oneway = view.is_oneway();
    for (const wire::ext_field& f : view.ext_fields) r.ext_fields.emplace(f.name, f.value);
    r.body = std::string(view.body);
    return r;
  }

  // Blocking writes; a trickle waits between bytes on the stop signal, so a destroyed peer
  // does not finish its trickle first.
  bool write(int fd, const peer_reply& reply) {
    if (reply.byte_gap.count() == 0) return write_all(fd, reply.bytes);
    for (const char c : reply.bytes) {
      if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) return false;
      std::unique_lock lock(mutex_);
      if (stopped_.wait_for(lock, reply.byte_gap, [&] { return stopping_; })) return false;
    }
    return true;
  }

  script script_;
  bool reads_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> accepted_{0};
  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stopping_ = false;
  std::map<std::int32_t, std::size_t> by_code_;
  std::vector<int> clients_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

}  // namespace rmq::test
