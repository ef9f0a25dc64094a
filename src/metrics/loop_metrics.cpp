#include "metrics/loop_metrics.hpp"

#include <algorithm>

namespace rmq::metrics {

broker_tally& loop_metrics::add_broker(std::uint32_t id, std::string_view name) {
  broker_tally* added = nullptr;
  {
    const std::lock_guard lock(mutex_);
    added = &brokers_.emplace_back(std::string(name));
  }
  if (brokers_by_id_.size() <= id) brokers_by_id_.resize(id + 1, nullptr);
  brokers_by_id_[id] = added;
  return *added;
}

void loop_metrics::set_address(broker_tally& broker, std::uint32_t generation,
                               std::string_view address) {
  broker.generation = generation;
  const std::lock_guard lock(mutex_);
  broker.address.assign(address);
}

topic_tally& loop_metrics::topic(std::string_view topic) {
  if (const auto it = topic_index_.find(topic); it != topic_index_.end()) return *it->second;
  // Past the limit, every new topic counts under one shared name: the table stays bounded
  // whatever topics an application makes up.
  const bool full = topics_.size() >= max_topics;
  if (full) {
    if (const auto it = topic_index_.find("*"); it != topic_index_.end()) return *it->second;
  }
  topic_tally* added = nullptr;
  {
    const std::lock_guard lock(mutex_);
    added = &topics_.emplace_back(std::string(full ? std::string_view("*") : topic));
  }
  topic_index_.emplace(added->topic, added);
  return *added;
}

link_tally& loop_metrics::link(std::string_view address) {
  if (const auto it = link_index_.find(address); it != link_index_.end()) return *it->second;
  const bool name_server =
      std::find(name_servers_.begin(), name_servers_.end(), address) != name_servers_.end();
  link_tally* added = nullptr;
  {
    const std::lock_guard lock(mutex_);
    added = &links_.emplace_back(std::string(address), name_server);
  }
  link_index_.emplace(added->address, added);
  return *added;
}

void loop_metrics::on_link_step(void* self, std::string_view address, const net::link_step& step,
                                bool backing_off) noexcept {
  using net::link_event;
  using net::link_state;
  if (step.outcome != net::link_step::verdict::taken) return;
  link_tally* tally = nullptr;
  try {
    tally = &static_cast<loop_metrics*>(self)->link(address);
  } catch (...) {
    return;  // out of memory for a new entry: this connection goes uncounted
  }
  switch (step.event) {
    case link_event::connect_succeeded:
      tally->connects.bump();
      break;
    case link_event::connect_failed:
    case link_event::resolve_failed:
      tally->connect_failures.bump();
      break;
    case link_event::link_failed:
      if (step.failure != errc::shutting_down) tally->losses.bump();
      break;
    case link_event::stream_corrupt:
      tally->losses.bump();
      break;
    case link_event::go_away:
    case link_event::go_away_again:
      if (step.from != link_state::retiring) tally->go_aways.bump();
      break;
    default:
      break;
  }
  connection_state state = connection_state::idle;
  switch (step.to) {
    case link_state::disconnected:
    case link_state::disconnecting:
      state = backing_off ? connection_state::backing_off : connection_state::idle;
      break;
    case link_state::resolving:
    case link_state::connecting:
      state = connection_state::connecting;
      break;
    case link_state::connected:
      state = connection_state::connected;
      break;
    case link_state::retiring:
      state = connection_state::retiring;
      break;
    case link_state::closing:
    case link_state::closed:
      state = connection_state::closed;
      break;
  }
  tally->state.store(state, std::memory_order_relaxed);
}

}  // namespace rmq::metrics
