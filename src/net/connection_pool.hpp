// One pipelined connection per remote address, created on first use and owned by one loop.
// Connections to addresses that leave every route are drained (closed once their requests in
// flight complete); closing the pool closes them all.
#pragma once

#include "common/string_map.hpp"
#include "net/connection.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rmq::net {

class connection_pool {
 public:
  /// Every connection gets `options` and `transport` (plain TCP, or TLS with its context).
  connection_pool(io::loop& loop, connection_options options, tcp_transport transport = {});
  /// Requires every connection closed (close_all completed) or never used.
  ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  /// The connection to `address`, created (not yet connected) on first use. The reference
  /// stays valid until the connection is retired or the pool is closed.
  [[nodiscard]] connection& get(std::string_view address);
  [[nodiscard]] connection* find(std::string_view address) noexcept;

  /// Drains and then drops every connection whose address is not in `keep`.
  void retain_only(std::span<const std::string> keep);

  /// Closes every connection (their requests fail with shutting_down) and calls `done` once
  /// all sockets are closed (possibly before close_all returns).
  void close_all(std::function<void()> done);

  [[nodiscard]] std::size_t size() const noexcept { return live_.size(); }
  [[nodiscard]] io::loop& loop() const noexcept { return loop_; }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [address, conn] : live_) f(*conn);
  }

 private:
  struct draining {
    connection_pool* pool;
    std::unique_ptr<connection> conn;
  };
  static void on_retired(void* context) noexcept;
  void on_closed_for_shutdown() noexcept;

  io::loop& loop_;
  connection_options options_;
  tcp_transport transport_;
  string_map<std::unique_ptr<connection>> live_;
  std::vector<std::unique_ptr<draining>> draining_;  // kept alive until closed
  std::size_t closing_ = 0;
  std::function<void()> close_done_;
  bool closed_ = false;
};

}  // namespace rmq::net
