// A TLS client for the rmq-sim TLS tests: Asio's ssl stream over a loopback socket. Each
// operation runs the client's own io_context until it completes or `reply_timeout` passes, so a
// broken server fails a test instead of hanging it.
#pragma once

#include "sim_test_support.hpp"

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace rmq::sim::test {

class tls_test_client {
 public:
  struct options {
    std::string ca_file{};    ///< CAs trusted for the server's certificate (checked for the host)
    std::string cert_file{};  ///< client certificate for mutual TLS; empty: none
    std::string key_file{};
  };

  /// `address`: "127.0.0.1:port". Nothing happens on the network before handshake().
  tls_test_client(const std::string& address, const options& settings)
      : context_(make_context(settings)), stream_(io_, context_) {
    const auto colon = address.rfind(':');
    const std::string host = address.substr(0, colon);
    endpoint_ = {asio::ip::make_address(host),
                 static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1)))};
    stream_.set_verify_callback(asio::ssl::host_name_verification(host));
  }

  /// Connects and performs the handshake; the error of whichever failed.
  std::error_code handshake() {
    auto [ec, ignored] =
        run([&](auto done) { stream_.next_layer().async_connect(endpoint_, done); });
    if (ec) return ec;
    return run([&](auto done) { stream_.async_handshake(asio::ssl::stream_base::client, done); })
        .first;
  }

  /// Writes `request` (with a fresh opaque) and reads until its response. nullopt when the
  /// stream ended or failed first: last_error() says how.
  std::optional<wire::remoting_command> call(
      wire::remoting_command request, wire::serialize_type type = wire::serialize_type::json) {
    request.fields.opaque = next_opaque_++;
    if (!write(request.encode(type))) return std::nullopt;
    return read_response(request.fields.opaque);
  }

  /// Writes raw (already encoded) bytes; false when it failed (last_error() says how).
  bool write(const std::string& bytes) {
    last_error_ =
        run([&](auto done) { asio::async_write(stream_, asio::buffer(bytes), done); }).first;
    return !last_error_;
  }

  /// Reads until the response with `opaque`; other frames are kept for later.
  std::optional<wire::remoting_command> read_response(std::int32_t opaque) {
    return read_until([opaque](const wire::remoting_command& c) {
      return (c.fields.flag & wire::flag_response) != 0 && c.fields.opaque == opaque;
    });
  }

  /// Reads until a request with `code` from the server (a broker's reply push or check).
  std::optional<wire::remoting_command> read_request(std::int32_t code) {
    return read_until([code](const wire::remoting_command& c) {
      return (c.fields.flag & wire::flag_response) == 0 && c.fields.code == code;
    });
  }

  /// Answers a request of the server with SUCCESS, as the Java client does.
  bool respond(std::int32_t opaque) {
    wire::remoting_command response;
    response.fields.language = wire::language_code::java;
    response.fields.version = 409;
    response.fields.opaque = opaque;
    response.fields.flag = wire::flag_response;
    return write(response.encode(wire::serialize_type::json));
  }

  /// Reads until the stream ends; returns the error that ended it (eof, a TLS alert, ...).
  std::error_code read_until_closed() {
    while (fill()) {
    }
    return last_error_;
  }

  [[nodiscard]] std::error_code last_error() const noexcept { return last_error_; }

 private:
  template <class Match>
  std::optional<wire::remoting_command> read_until(Match match) {
    for (;;) {
      for (auto it = frames_.begin(); it != frames_.end(); ++it) {
        if (match(*it)) {
          auto found = std::move(*it);
          frames_.erase(it);
          return found;
        }
      }
      if (!fill()) return std::nullopt;
    }
  }

  // A stream takes its settings from the context when it is made: the context comes first.
  static asio::ssl::context make_context(const options& settings) {
    asio::ssl::context context(asio::ssl::context::tls_client);
    context.load_verify_file(settings.ca_file);
    context.set_verify_mode(asio::ssl::verify_peer);
    if (!settings.cert_file.empty()) {
      context.use_certificate_chain_file(settings.cert_file);
      context.use_private_key_file(settings.key_file, asio::ssl::context::pem);
    }
    return context;
  }

  // One read; its complete frames are queued. False when the read failed.
  bool fill() {
    char buffer[64 * 1024];
    auto [ec, n] = run([&](auto done) { stream_.async_read_some(asio::buffer(buffer), done); });
    last_error_ = ec;
    if (ec) return false;
    const auto decode_error = decoder_.feed(std::string_view(buffer, n), [&](const auto& view) {
      frames_.push_back(wire::remoting_command::from_view(view));
    });
    if (decode_error) last_error_ = decode_error;
    return !decode_error;
  }

  // Starts an operation with a completion handler and runs the io_context until it completes
  // or the deadline passes (the socket is then closed and the error is timed_out).
  template <class Start>
  std::pair<std::error_code, std::size_t> run(Start start) {
    std::optional<std::pair<std::error_code, std::size_t>> result;
    start([&result](std::error_code ec, auto... bytes) {
      std::size_t total = 0;
      ((total = bytes), ...);
      result.emplace(ec, total);
    });
    io_.restart();
    io_.run_for(reply_timeout);
    if (result) return *result;
    std::error_code ignored;
    stream_.next_layer().close(ignored);
    io_.restart();
    io_.run();
    return {asio::error::timed_out, 0};
  }

  asio::io_context io_;
  asio::ssl::context context_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  asio::ip::tcp::endpoint endpoint_;
  wire::frame_decoder decoder_;
  std::deque<wire::remoting_command> frames_;
  std::int32_t next_opaque_ = 1;
  std::error_code last_error_;
};

}  // namespace rmq::sim::test
