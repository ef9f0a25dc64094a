// Server core of rmq-sim: one TCP listener and its connections on the simulator's I/O thread.
//
// Each connection has one reader coroutine that decodes every frame a read delivered and
// appends all their responses to one outgoing buffer, and at most one writer coroutine that
// flushes everything pending in one write. Protocol behaviour lives in a request_handler;
// faults are applied here, around it.
#pragma once

#include "faults.hpp"
#include "store.hpp"
#include "wire/command.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>

namespace rmq::sim {

/// Protocol behaviour of one server (name server or broker).
class request_handler {
 public:
  virtual ~request_handler() = default;
  /// Handles one request and appends its response frame, if any, to `out`. `fault` carries an
  /// injected error code; latency, silence and resets are applied by the caller. Oneway
  /// requests are handled too but whatever they append is discarded.
  virtual void handle(const wire::command_view& request, const fault_decision& fault,
                      std::string_view peer, std::string& out) = 0;
  /// Whether request faults hit `code` when the fault spec lists no codes.
  [[nodiscard]] virtual bool in_default_fault_scope(std::int32_t code) const noexcept = 0;
};

class server {
 public:
  server(asio::io_context& io, std::string host, std::size_t max_frame, request_handler& handler);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

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
  std::shared_ptr<asio::ip::tcp::acceptor> acceptor_;
  asio::ip::tcp::socket port_holder_{io_};  // bound, not listening, while the listener is closed
  std::uint16_t port_ = 0;
  bool refusing_ = false;  // listener closed by the refuse_connections fault
  std::unordered_set<connection*> connections_;
  fault_state faults_;
  std::uint64_t fault_generation_ = 0;  // bumped by set_faults: connections restart their counts
  // Request counts by code: a flat table for the codes in use, a map for anything else.
  std::array<std::uint64_t, 1024> by_code_{};
  std::map<std::int32_t, std::uint64_t> other_codes_;
  server_counters extra_;
  std::function<void()> progress_;
};

}  // namespace rmq::sim
