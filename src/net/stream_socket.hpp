// The socket of a connection: TCP on the loop (io::tcp_socket), or TLS over it (tls::channel)
// when the producer is configured with TLS. Same operations, same completion rules either way
// (io/tcp.hpp); plain TCP costs one predictable branch per operation.
#pragma once

#include "io/tcp.hpp"
#include "tls/channel.hpp"
#include "tls/client_context.hpp"

#include <memory>
#include <string_view>

namespace rmq::net {

class stream_socket {
 public:
  /// Plain when `tls` is nullptr; else a TLS client for `address` ("host:port"), whose host
  /// (or the configured server name) the server's certificate must name.
  stream_socket(io::loop& l, const tls::client_context* tls, std::string_view address) : tcp_(l) {
    if (tls != nullptr) tls_ = std::make_unique<tls::channel>(tcp_, tls->new_ssl(address));
  }

  void connect(io::connect_op& op, const io::endpoint& peer, io::clock::time_point deadline) {
    if (tls_) return tls_->connect(op, peer, deadline);
    tcp_.connect(op, peer, deadline);
  }
  void send(io::write_op& op, const iovec* iov, std::size_t count) {
    if (tls_) return tls_->send(op, iov, count);
    tcp_.send(op, iov, count);
  }
  void start_receive(io::receiver& r, io::buffer_pool* pool = nullptr) {
    if (tls_) return tls_->start_receive(r);  // reads into the loop's pool from the handshake on
    tcp_.start_receive(r, pool);
  }
  void close(io::close_op& op) {
    if (tls_) return tls_->close(op);
    tcp_.close(op);
  }
  [[nodiscard]] bool is_open() const noexcept { return tcp_.is_open(); }

 private:
  io::tcp_socket tcp_;
  std::unique_ptr<tls::channel> tls_;  // declared after tcp_: destroyed before it
};

}  // namespace rmq::net
