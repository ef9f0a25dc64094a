#include "metrics/snapshot.hpp"

#include <utility>

namespace rmq::metrics {

namespace {

/// Which of two loops' states describes the address: a connected loop says it is reachable.
[[nodiscard]] int rank(connection_state s) noexcept {
  switch (s) {
    case connection_state::connected:
      return 5;
    case connection_state::retiring:
      return 4;
    case connection_state::connecting:
      return 3;
    case connection_state::backing_off:
      return 2;
    case connection_state::idle:
      return 1;
    case connection_state::closed:
      return 0;
  }
  return 0;
}

}  // namespace

void snapshot_builder::add(const loop_metrics& loop) {
  loop.read(
      [&](const broker_tally& b, const std::string& address) {
        broker_sum& sum = brokers_[b.name];
        if (!address.empty()) sum.address = address;
        sum.attempts.add(b.attempts);
      },
      [&](const topic_tally& t) { topics_[t.topic].add(t.sends); },
      [&](const link_tally& l) {
        link_sum& sum = links_[l.address];
        connection_figures& f = sum.figures;
        sum.name_server = l.name_server;
        const connection_state state = l.state.load(std::memory_order_relaxed);
        if (!sum.seen) {
          sum.seen = true;
          f.address = l.address;
          f.state = state;
        } else if (rank(state) > rank(f.state)) {
          f.state = state;
        }
        if (state == connection_state::connected) ++f.connected_loops;
        const std::uint64_t connects = l.connects.get();
        f.connects += connects;
        f.reconnects += connects > 0 ? connects - 1 : 0;  // each loop's after its first
        f.connect_failures += l.connect_failures.get();
        f.losses += l.losses.get();
        f.go_aways += l.go_aways.get();
      });
}

producer_metrics snapshot_builder::finish(const producer_stats& totals) && {
  producer_metrics m;
  m.taken_at = std::chrono::system_clock::now();
  m.totals = totals;
  histogram_counts all;
  for (auto& [name, sum] : topics_) {
    all.add(sum.latency);
    m.topics.push_back({name, std::move(sum).finish()});
  }
  m.latency = all.summary();
  for (auto& [name, sum] : brokers_) {
    broker_figures b;
    b.name = name;
    b.address = sum.address;
    b.attempts = std::move(sum.attempts).finish();
    if (const auto it = links_.find(b.address); it != links_.end()) {
      b.connection = it->second.figures;
    } else {
      b.connection.address = b.address;
    }
    m.brokers.push_back(std::move(b));
  }
  for (auto& [address, sum] : links_) {
    if (sum.name_server) m.name_servers.push_back(std::move(sum.figures));
  }
  return m;
}

}  // namespace rmq::metrics
