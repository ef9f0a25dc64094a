// TLS over real loopback sockets, on the loop (both backends): net::stream_socket with a TLS
// context against a blocking OpenSSL server on its own thread — the handshake and data both
// ways (coalesced records, chunks larger than a read), a refused certificate, a wrong host, a
// server that closes mid-handshake, one that never answers (the deadline), a client
// certificate, close during the handshake, and the server's close_notify.
#include "net/stream_socket.hpp"
#include "rmq/error.hpp"
#include "support/test_pki.hpp"
#include "tls/client_context.hpp"
#include "tls/error.hpp"
#include "unit/io/io_test_support.hpp"

#include <doctest/doctest.h>
#include <openssl/err.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace {

using namespace rmq::io;
using namespace rmq::io::test;
using rmq::test::test_pki;

// ---- the server: blocking OpenSSL on a thread ------------------------------------------------

enum class server_mode {
  echo,               ///< handshake, then write back everything read, until the client closes
  say_and_close,      ///< handshake, write "bye", close_notify
  say_and_linger,     ///< the same in one TCP segment, then keep the socket open (no FIN)
  key_update,         ///< handshake, ask for a key update, write "k", then echo
  close_after_hello,  ///< read the ClientHello's first bytes, then close
  silent,             ///< read everything, answer nothing
};

class tls_test_server {
 public:
  tls_test_server(server_mode mode, const std::string& cert, const std::string& key,
                  bool require_client_cert = false)
      : mode_(mode), ctx_(SSL_CTX_new(TLS_server_method())) {
    // OpenSSL writes with write(2): a client that closed first must not kill the test.
    std::signal(SIGPIPE, SIG_IGN);
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) == 1);
    if (require_client_cert) {
      REQUIRE(SSL_CTX_load_verify_locations(ctx_, test_pki::get().ca_cert().c_str(), nullptr) == 1);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~tls_test_server() {
    ::shutdown(listen_fd_, SHUT_RDWR);  // unblocks accept
    if (const int fd = conn_fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
    SSL_CTX_free(ctx_);
  }
  tls_test_server(const tls_test_server&) = delete;
  tls_test_server& operator=(const tls_test_server&) = delete;

  [[nodiscard]] endpoint ep() const { return {asio::ip::make_address_v4("127.0.0.1"), port_}; }
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /// Whether the server completed its side of the handshake (after its thread ended).
  [[nodiscard]] bool handshake_done() const { return accepted_.load(); }

 private:
  void serve() {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    conn_fd_ = fd;
    char buf[16384];
    if (mode_ == server_mode::close_after_hello || mode_ == server_mode::silent) {
      while (::read(fd, buf, sizeof buf) > 0) {
        if (mode_ == server_mode::close_after_hello) break;
      }
      ::close(conn_fd_.exchange(-1));
      return;
    }
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      accepted_ = true;
      if (mode_ == server_mode::key_update) {
        // The client must answer with a KeyUpdate of its own, written by the client unasked.
        REQUIRE(SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
        SSL_write(ssl, "k", 1);
      }
      if (mode_ == server_mode::say_and_close) {
        SSL_write(ssl, "bye", 3);
        SSL_shutdown(ssl);
      } else if (mode_ == server_mode::say_and_linger) {
        // Corked: the data and the close_notify reach the client in one read, as from a proxy
        // that ends a stream and waits for the peer's close.
        int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
        SSL_write(ssl, "bye", 3);
        SSL_shutdown(ssl);
        on = 0;
        ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
        while (::read(fd, buf, sizeof buf) > 0) {
        }
      } else {
        for (;;) {
          const int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0 || SSL_write(ssl, buf, n) != n) break;
        }
      }
    }
    SSL_free(ssl);
    ERR_clear_error();
    ::close(conn_fd_.exchange(-1));
  }

  server_mode mode_;
  SSL_CTX* ctx_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> conn_fd_{-1};
  std::atomic<bool> accepted_{false};
  std::thread thread_;
};

// ---- the client: a stream_socket driven from the test thread ---------------------------------

class tls_client final : private receiver {
 public:
  tls_client(running_loop& rl, const rmq::tls::client_context& context, std::string address)
      : rl_(rl), socket_(rl.l, &context, address) {}
  ~tls_client() {
    if (!closed_) (void)close();
  }
  tls_client(const tls_client&) = delete;
  tls_client& operator=(const tls_client&) = delete;

  std::error_code connect(const endpoint& peer, clock::duration budget = 10s) {
    auto done = std::make_shared<std::promise<std::error_code>>();
    auto result = done->get_future();
    connect_.done = done;
    rl_.l.post([this, peer, budget] {
      socket_.connect(connect_, peer, clock::now() + budget);
      connect_.in_call = false;
    });
    REQUIRE(result.wait_for(hang_limit) == std::future_status::ready);
    CHECK_FALSE(connect_.completed_inline);
    const std::error_code ec = result.get();
    if (!ec) rl_.call([this] { socket_.start_receive(*this); });
    return ec;
  }

  /// Sends `parts` as one gathered send; the bytes it completed with.
  std::pair<std::error_code, std::size_t> send(const std::vector<std::string>& parts) {
    std::vector<iovec> iov;
    for (const std::string& p : parts) iov.push_back({const_cast<char*>(p.data()), p.size()});
    auto done = std::make_shared<std::promise<std::pair<std::error_code, std::size_t>>>();
    auto result = done->get_future();
    write_.done = done;
    rl_.l.post([this, &iov] { socket_.send(write_, iov.data(), iov.size()); });
    REQUIRE(result.wait_for(hang_limit) == std::future_status::ready);
    return result.get();
  }

  /// Waits for `n` bytes, or the end of the receive.
  std::string receive(std::size_t n) {
    std::unique_lock lock(mutex_);
    REQUIRE(changed_.wait_for(lock, hang_limit, [&] { return received_.size() >= n || ended_; }));
    return received_;
  }
  /// Waits for the end of the receive; its error.
  std::error_code receive_end() {
    std::unique_lock lock(mutex_);
    REQUIRE(changed_.wait_for(lock, hang_limit, [&] { return ended_; }));
    return end_;
  }

  std::error_code close() {
    closed_ = true;
    auto done = std::make_shared<std::promise<std::error_code>>();
    auto result = done->get_future();
    close_.done = done;
    rl_.l.post([this] { socket_.close(close_); });
    REQUIRE(result.wait_for(hang_limit) == std::future_status::ready);
    return result.get();
  }

  /// Starts a connect without waiting, then closes: the connect's result and whether it
  /// completed before the close.
  std::pair<std::error_code, bool> connect_then_close(const endpoint& peer) {
    auto done = std::make_shared<std::promise<std::error_code>>();
    auto connected = done->get_future();
    connect_.done = done;
    rl_.l.post([this, peer] { socket_.connect(connect_, peer, clock::now() + 60s); });
    const std::error_code closed = close();
    CHECK_FALSE(closed);
    // The close completes after every operation: the connect has completed by now.
    const bool before = connected.wait_for(0s) == std::future_status::ready;
    REQUIRE(connected.wait_for(hang_limit) == std::future_status::ready);
    return {connected.get(), before};
  }

 private:
  void on_receive(received_buffer buf) noexcept override {
    std::lock_guard lock(mutex_);
    received_.append(buf.data());
    changed_.notify_all();
  }
  void on_receive_end(std::error_code ec) noexcept override {
    std::lock_guard lock(mutex_);
    CHECK_FALSE(ended_);  // once
    ended_ = true;
    end_ = ec;
    changed_.notify_all();
  }

  struct connect_state final : connect_op {
    connect_state() noexcept : connect_op(&on_done) {}
    static void on_done(connect_op* op, std::error_code ec) noexcept {
      auto* self = static_cast<connect_state*>(op);
      if (self->in_call) self->completed_inline = true;
      std::exchange(self->done, nullptr)->set_value(ec);
    }
    std::shared_ptr<std::promise<std::error_code>> done;
    bool in_call = true;
    bool completed_inline = false;
  };
  struct write_state final : write_op {
    write_state() noexcept : write_op(&on_done) {}
    static void on_done(write_op* op, std::error_code ec, std::size_t n) noexcept {
      std::exchange(static_cast<write_state*>(op)->done, nullptr)->set_value({ec, n});
    }
    std::shared_ptr<std::promise<std::pair<std::error_code, std::size_t>>> done;
  };
  struct close_state final : close_op {
    close_state() noexcept : close_op(&on_done) {}
    static void on_done(close_op* op, std::error_code ec) noexcept {
      std::exchange(static_cast<close_state*>(op)->done, nullptr)->set_value(ec);
    }
    std::shared_ptr<std::promise<std::error_code>> done;
  };

  running_loop& rl_;
  rmq::net::stream_socket socket_;
  connect_state connect_;
  write_state write_;
  close_state close_;
  bool closed_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string received_;
  bool ended_ = false;
  std::error_code end_;
};

rmq::tls_config trusting() {
  rmq::tls_config config;
  config.ca_file = test_pki::get().ca_cert();
  return config;
}

}  // namespace

TEST_CASE("handshake, then frames both ways: gathered sends, echoes larger than a read") {
  const auto& pki = test_pki::get();
  tls_test_server server(server_mode::echo, pki.server_cert(), pki.server_key());
  const rmq::tls::client_context context(trusting());
  running_loop rl;
  tls_client client(rl, context, server.address());
  REQUIRE_FALSE(client.connect(server.ep()));

  const auto [ec, n] = client.send({"hello ", "over ", "TLS"});
  CHECK_FALSE(ec);
  CHECK(n == 14);
  CHECK(client.receive(14) == "hello over TLS");

  // 1 MiB in 64 gathered parts: many records out, many chunks of up to 64 KiB back.
  std::vector<std::string> parts;
  std::string expected = "hello over TLS";
  for (int i = 0; i < 64; ++i) {
    parts.emplace_back(16384, static_cast<char>('A' + i % 26));
    expected += parts.back();
  }
  const auto [big_ec, big_n] = client.send(parts);
  CHECK_FALSE(big_ec);
  CHECK(big_n == 64u * 16384);
  CHECK(client.receive(expected.size()) == expected);
  CHECK_FALSE(client.close());
}

TEST_CASE("a key update the server asks for is answered, and data flows on") {
  const auto& pki = test_pki::get();
  tls_test_server server(server_mode::key_update, pki.server_cert(), pki.server_key());
  const rmq::tls::client_context context(trusting());
  running_loop rl;
  tls_client client(rl, context, server.address());
  REQUIRE_FALSE(client.connect(server.ep()));
  CHECK(client.receive(1) == "k");  // read with the server's request: our answer is queued
  CHECK(client.send({"after the update"}).second == 16);
  CHECK(client.receive(17) == "kafter the update");
  CHECK_FALSE(client.close());
}

TEST_CASE("the server's close_notify ends the receive with eof, after its last bytes") {
  const auto& pki = test_pki::get();
  // say_and_linger: close_notify in the same read as the last bytes, and no FIN after it.
  for (const server_mode mode : {server_mode::say_and_close, server_mode::say_and_linger}) {
    CAPTURE(static_cast<int>(mode));
    tls_test_server server(mode, pki.server_cert(), pki.server_key());
    const rmq::tls::client_context context(trusting());
    running_loop rl;
    tls_client client(rl, context, server.address());
    REQUIRE_FALSE(client.connect(server.ep()));
    CHECK(client.receive_end() == asio::error::eof);
    CHECK(client.receive(3) == "bye");
  }
}

TEST_CASE("a certificate from an untrusted CA fails the connect with the reason") {
  const auto& pki = test_pki::get();
  tls_test_server server(server_mode::echo, pki.untrusted_cert(), pki.untrusted_key());
  const rmq::tls::client_context context(trusting());
  running_loop rl;
  tls_client client(rl, context, server.address());
  const std::error_code ec = client.connect(server.ep());
  CHECK(rmq::tls::is_tls_error(ec));
  CHECK(ec.message().find("certificate verification failed") != std::string::npos);
  CHECK_FALSE(client.close());
}

TEST_CASE("a certificate for another host fails; verify_server off accepts it") {
  const auto& pki = test_pki::get();
  running_loop rl;
  {
    tls_test_server server(server_mode::echo, pki.elsewhere_cert(), pki.elsewhere_key());
    const rmq::tls::client_context context(trusting());
    tls_client client(rl, context, server.address());
    const std::error_code ec = client.connect(server.ep());
    CHECK(ec.message().find("IP address mismatch") != std::string::npos);
  }
  {
    tls_test_server server(server_mode::echo, pki.elsewhere_cert(), pki.elsewhere_key());
    rmq::tls_config config;
    config.verify_server = false;
    const rmq::tls::client_context context(config);
    tls_client client(rl, context, server.address());
    REQUIRE_FALSE(client.connect(server.ep()));
    CHECK(client.send({"x"}).second == 1);
    CHECK(client.receive(1) == "x");
  }
}

TEST_CASE("a server that closes mid-handshake fails the connect as such") {
  const auto& pki = test_pki::get();
  tls_test_server server(server_mode::close_after_hello, pki.server_cert(), pki.server_key());
  const rmq::tls::client_context context(trusting());
  running_loop rl;
  tls_client client(rl, context, server.address());
  const std::error_code ec = client.connect(server.ep());
  CHECK(ec == rmq::tls::closed_during_handshake());
}

TEST_CASE("a server that never answers the handshake: the connect's deadline ends it") {
  const auto& pki = test_pki::get();
  tls_test_server server(server_mode::silent, pki.server_cert(), pki.server_key());
  const rmq::tls::client_context context(trusting());
  running_loop rl;
  tls_client client(rl, context, server.address());
  CHECK(client.connect(server.ep(), 200ms) == rmq::errc::timed_out);
}

TEST_CASE("close during the handshake completes the connect first, aborted") {
  const auto& pki = test_pki::get();
  tls_test_server server(server_mode::silent, pki.server_cert(), pki.server_key());
  const rmq::tls::client_context context(trusting());
  running_loop rl;
  tls_client client(rl, context, server.address());
  const auto [ec, before_close] = client.connect_then_close(server.ep());
  CHECK(ec == asio::error::operation_aborted);
  CHECK(before_close);
}

TEST_CASE("mutual TLS: with the client certificate the server accepts; without, it refuses") {
  const auto& pki = test_pki::get();
  running_loop rl;
  {
    tls_test_server server(server_mode::echo, pki.server_cert(), pki.server_key(), true);
    rmq::tls_config config = trusting();
    config.cert_file = pki.client_cert();
    config.key_file = pki.client_key();
    const rmq::tls::client_context context(config);
    tls_client client(rl, context, server.address());
    REQUIRE_FALSE(client.connect(server.ep()));
    CHECK(client.send({"mutual"}).second == 6);
    CHECK(client.receive(6) == "mutual");
  }
  {
    tls_test_server server(server_mode::echo, pki.server_cert(), pki.server_key(), true);
    const rmq::tls::client_context context(trusting());
    tls_client client(rl, context, server.address());
    // TLS 1.3 ends the client's handshake first: the refusal is the alert read next.
    const std::error_code ec = client.connect(server.ep());
    if (!ec) {
      const std::error_code end = client.receive_end();
      CHECK(rmq::tls::is_tls_error(end));
      CHECK(end.message().find("certificate required") != std::string::npos);
    } else {
      CHECK(rmq::tls::is_tls_error(ec));
    }
  }
}
