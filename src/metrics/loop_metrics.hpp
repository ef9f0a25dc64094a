// The metrics of one producer loop: a tally per broker (by broker id), per topic and per
// connection address. The loop thread records without a lock; the lock guards only the tables'
// growth (a first sight, rare), and producer::metrics() holds it while it reads them.
#pragma once

#include "metrics/counter.hpp"
#include "metrics/send_tally.hpp"
#include "net/connection_lifecycle.hpp"
#include "rmq/metrics.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rmq::metrics {

struct broker_tally {
  explicit broker_tally(std::string broker) : name(std::move(broker)) {}
  const std::string name;
  std::string address;  // its master's, when last attempted; guarded by the lock
  // Loop thread: the broker entry's master_generation `address` was read at (0: not yet; entries
  // start at 0 and count up from their first master).
  std::uint32_t generation = 0;
  send_tally attempts;
};

struct topic_tally {
  explicit topic_tally(std::string name) : topic(std::move(name)) {}
  const std::string topic;
  send_tally sends;
};

struct link_tally {
  link_tally(std::string to, bool is_name_server)
      : address(std::move(to)), name_server(is_name_server) {}
  const std::string address;
  const bool name_server;
  std::atomic<connection_state> state{connection_state::idle};
  // Reconnects are derived: every connect of a loop after its first.
  counter connects, connect_failures, losses, go_aways;
};

class loop_metrics {
 public:
  /// Topics told apart per loop; later ones share the tally named "*".
  static constexpr std::size_t max_topics = 4096;

  explicit loop_metrics(std::vector<std::string> name_servers)
      : name_servers_(std::move(name_servers)) {}
  loop_metrics(const loop_metrics&) = delete;
  loop_metrics& operator=(const loop_metrics&) = delete;

  /// Loop thread: the tally of broker `id`, named `name` when first seen.
  [[nodiscard]] broker_tally& broker(std::uint32_t id, std::string_view name) {
    if (id < brokers_by_id_.size() && brokers_by_id_[id] != nullptr) [[likely]]
      return *brokers_by_id_[id];
    return add_broker(id, name);
  }
  /// Loop thread: the broker's master is now at `address` (its entry's `generation`).
  void set_address(broker_tally& broker, std::uint32_t generation, std::string_view address);
  /// Loop thread: the tally of `topic`.
  [[nodiscard]] topic_tally& topic(std::string_view topic);
  /// Loop thread: a lifecycle step of this loop's connection to `address` (it is
  /// net::link_observer::on_step; `self` is this).
  static void on_link_step(void* self, std::string_view address, const net::link_step& step,
                           bool backing_off) noexcept;

  /// Any thread: calls on_broker(tally, address) for each broker, on_topic(tally) for each
  /// topic and on_link(tally) for each address. The lock is held only to list them (entries
  /// never move and are never removed; their counters are atomics), so that a loop meeting a
  /// new topic waits for a copy of pointers, not for the whole snapshot.
  template <class OnBroker, class OnTopic, class OnLink>
  void read(OnBroker&& on_broker, OnTopic&& on_topic, OnLink&& on_link) const {
    std::vector<std::pair<const broker_tally*, std::string>> brokers;
    std::vector<const topic_tally*> topics;
    std::vector<const link_tally*> links;
    {
      const std::lock_guard lock(mutex_);
      brokers.reserve(brokers_.size());
      for (const broker_tally& b : brokers_) brokers.emplace_back(&b, b.address);
      topics.reserve(topics_.size());
      for (const topic_tally& t : topics_) topics.push_back(&t);
      links.reserve(links_.size());
      for (const link_tally& l : links_) links.push_back(&l);
    }
    for (const auto& [b, address] : brokers) on_broker(*b, address);
    for (const topic_tally* t : topics) on_topic(*t);
    for (const link_tally* l : links) on_link(*l);
  }

 private:
  broker_tally& add_broker(std::uint32_t id, std::string_view name);
  link_tally& link(std::string_view address);

  mutable std::mutex mutex_;
  // Deques: an entry stays where it is as others are added, so the loop thread keeps pointers
  // to them and uses them without the lock.
  std::deque<broker_tally> brokers_;
  std::deque<topic_tally> topics_;
  std::deque<link_tally> links_;
  // Loop thread only.
  std::vector<broker_tally*> brokers_by_id_;
  std::unordered_map<std::string_view, topic_tally*> topic_index_;  // keys: the tallies' names
  std::unordered_map<std::string_view, link_tally*> link_index_;
  const std::vector<std::string> name_servers_;
};

}  // namespace rmq::metrics
