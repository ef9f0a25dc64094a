// Server core of rmq-sim: one TCP listener and its connections on the simulator's I/O thread.
//
// Each connection has one reader coroutine that decodes every frame a read delivered and
// appends all their responses to one outgoing buffer, and at most one writer coroutine that
// flushes everything pending in one write. Protocol behaviour lives in a request_handler;
// faults are applied here, around it. A server also sends requests of its own to a client on the
// client's connection (a broker's transaction checks and reply pushes) and routes the client's
// responses to them back by opaque. A server given TLS looks at each connection's first byte and
// then serves it over TLS, in the clear, or closes it (tls.hpp).
#pragma once

#include "faults.hpp"
#include "store.hpp"
#include "wire/command.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

namespace rmq::sim {

/// Names one connection of a server for as long as it lives; never reused.
using connection_id = std::uint64_t;

/// Where a request came from.
struct request_source {
  connection_id connection = 0;
  std::string_view peer;  ///< "ip:port" of the client
};

/// Protocol behaviour of one server (name server or broker).
class request_handler {
 public:
  virtual ~request_handler() = default;
  /// Handles one request and appends its response frame, if any, to `out`. `fault` carries an
  /// injected error code; latency, silence and resets are applied by the caller. Oneway
  /// requests are handled too but whatever they append is discarded. A handler that answers
  /// later appends nothing and calls server::send_response.
  virtual void handle(const wire::command_view& request, const fault_decision& fault,
                      const request_source& from, std::string& out) = 0;
  /// Whether request faults hit `code` when the fault spec lists no codes.
  [[nodiscard]] virtual bool in_default_fault_scope(std::int32_t code) const noexcept = 0;
  /// A connection closed: whatever the handler keeps about it is stale.
  virtual void connection_closed(connection_id /*connection*/) {}
};

class tls_server_context;

class server {
 public:
  server(asio::io_context& io, std::string host, std::size_t max_frame, request_handler& handler);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Serves the connections accepted from now on with TLS (`context`, shared by the servers),
  /// or plain only again with nullptr. Without TLS a connection is never looked at first.
  void set_tls(std::shared_ptr<tls_server_context> context) { tls_ = std::move(context); }
  [[nodiscard]] bool tls() const noexcept { return tls_ != nullptr; }

  /// Opens the listener on `port` (0: ephemeral) and starts accepting. Call on the I/O thread
  /// (or before it runs).
  [[nodiscard]] std::error_code listen(std::uint16_t port);
  /// Closes the listener: new connections are refused, existing ones stay. The port stays
  /// bound (by a socket that does not listen), so that no other socket takes it before the
  /// server listens there again.
  void close_listener();
  /// Closes every connection (the peer sees EOF).
  void close_connections();
  /// Listener and connections closed; a later set_faults no longer reopens the listener.
  void stop() {
    close_listener();
    close_connections();
    refusing_ = false;
  }

  [[nodiscard]] bool listening() const noexcept { return acceptor_ != nullptr; }
  /// The port last listened on (kept while the listener is closed).
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] const std::string& host() const noexcept { return host_; }
  [[nodiscard]] std::string address() const { return host_ + ":" + std::to_string(port_); }
  [[nodiscard]] std::size_t connection_count() const noexcept { return connections_.size(); }
  [[nodiscard]] bool connected(connection_id connection) const noexcept {
    return connections_.contains(connection);
  }

  /// Called with the client's response to a request this server sent, or with nullptr when
  /// none came in time or the connection closed first.
  using response_handler = std::function<void(const wire::command_view* response)>;
  /// Opaque for the next request this server sends (a real server counts per process).
  [[nodiscard]] std::int32_t next_opaque() noexcept { return next_opaque_++; }
  /// Writes a request frame built with `opaque` to a connection. With `on_response` it is
  /// two-way: the client's response with that opaque goes to the handler, or nullptr after
  /// `timeout` or on close. False (handler not called) when the connection is gone or has too
  /// many requests outstanding.
  bool send_request(connection_id to, std::int32_t code, std::int32_t opaque,
                    std::string_view frame, std::chrono::milliseconds timeout = {},
                    response_handler on_response = {});
  /// Writes a response that was not ready when its request was handled. False if gone.
  bool send_response(connection_id to, std::string_view frame);
  /// Wakes whoever waits on the simulator's progress (after work done outside a read).
  void notify_progress() const {
    if (progress_) progress_();
  }

  [[nodiscard]] fault_state& faults() noexcept { return faults_; }
  /// Applies a fault spec, including its listener-level knob (refuse_connections).
  void set_faults(fault_spec spec);

  /// Counters of this server; `extra` (route and message counters) is kept by the handlers.
  [[nodiscard]] server_counters counters() const;
  [[nodiscard]] server_counters& extra_counters() noexcept { return extra_; }

  /// Called on the I/O thread each time a read's requests have been handled.
  void set_progress_hook(std::function<void()> hook) { progress_ = std::move(hook); }

 private:
  class connection;
  friend class connection;

  void count_request(std::int32_t code) noexcept;

  asio::io_context& io_;
  std::string host_;
  std::size_t max_frame_;
  request_handler& handler_;
  std::shared_ptr<tls_server_context> tls_;  // null: plain only
  std::shared_ptr<asio::ip::tcp::acceptor> acceptor_;
  asio::ip::tcp::socket port_holder_{io_};  // bound, not listening, while the listener is closed
  std::uint16_t port_ = 0;
  bool refusing_ = false;  // listener closed by the refuse_connections fault
  std::unordered_map<connection_id, connection*> connections_;
  connection_id next_connection_ = 1;
  std::int32_t next_opaque_ = 0;
  bool destroying_ = false;  // closing in the destructor: handlers are not called back
  fault_state faults_;
  std::uint64_t fault_generation_ = 0;  // bumped by set_faults: connections restart their counts
  // Request counts by code: a flat table for the codes in use, a map for anything else.
  std::array<std::uint64_t, 1024> by_code_{};
  std::map<std::int32_t, std::uint64_t> other_codes_;
  server_counters extra_;
  std::function<void()> progress_;
};

}  // namespace rmq::sim
