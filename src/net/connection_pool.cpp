#include "net/connection_pool.hpp"

#include <algorithm>

namespace rmq::net {

connection_pool::connection_pool(io::loop& loop, connection_options options,
                                 tcp_transport transport)
    : loop_(loop), options_(options), transport_(transport) {}

connection_pool::~connection_pool() = default;

connection& connection_pool::get(std::string_view address) {
  if (auto it = live_.find(address); it != live_.end()) return *it->second;
  auto conn = std::make_unique<connection>(loop_, std::string(address), options_, transport_);
  connection& ref = *conn;
  live_.emplace(std::string(address), std::move(conn));
  if (closed_) ref.close([](void*) noexcept {}, nullptr);  // a closed pool only hands out closed
  return ref;
}

connection* connection_pool::find(std::string_view address) noexcept {
  auto it = live_.find(address);
  return it == live_.end() ? nullptr : it->second.get();
}

void connection_pool::retain_only(std::span<const std::string> keep) {
  for (auto it = live_.begin(); it != live_.end();) {
    if (std::find(keep.begin(), keep.end(), it->first) != keep.end()) {
      ++it;
      continue;
    }
    auto entry = std::make_unique<draining>(draining{this, std::move(it->second)});
    draining* raw = entry.get();
    draining_.push_back(std::move(entry));
    it = live_.erase(it);
    raw->conn->close_when_idle(&connection_pool::on_retired, raw);
  }
}

void connection_pool::on_retired(void* context) noexcept {
  auto* entry = static_cast<draining*>(context);
  connection_pool& pool = *entry->pool;
  // Closed by close_all instead (it closes draining connections too): the pool may be gone
  // by the next turn, and its destructor drops what is left.
  if (pool.closed_) return;
  // Destroyed on a later turn: we are inside the connection's own close completion.
  pool.loop_.post([&pool, entry] {
    std::erase_if(pool.draining_, [entry](const auto& e) { return e.get() == entry; });
  });
}

void connection_pool::close_all(std::function<void()> done) {
  closed_ = true;
  close_done_ = std::move(done);
  closing_ = live_.size() + draining_.size();
  if (closing_ == 0) {
    if (close_done_) std::exchange(close_done_, nullptr)();
    return;
  }
  const auto on_closed = [](void* context) noexcept {
    static_cast<connection_pool*>(context)->on_closed_for_shutdown();
  };
  for (auto& [address, conn] : live_) conn->close(on_closed, this);
  for (auto& entry : draining_) entry->conn->close(on_closed, this);
}

void connection_pool::on_closed_for_shutdown() noexcept {
  if (--closing_ == 0 && close_done_) std::exchange(close_done_, nullptr)();
}

}  // namespace rmq::net
