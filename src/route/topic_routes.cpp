#include "route/topic_routes.hpp"

#include "common/log.hpp"
#include "rmq/error.hpp"
#include "wire/codes.hpp"
#include "wire/namespace.hpp"

#include <asio/error.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace rmq::route {

topic_routes::topic_routes(name_server_client& names, broker_registry& brokers,
                           net::connection_pool& pool, route_settings settings)
    : names_(names),
      brokers_(brokers),
      pool_(pool),
      settings_(std::move(settings)),
      logger_(log::or_default(settings_.logger)) {}

topic_routes::lookup topic_routes::get(std::string_view topic, net::clock::time_point deadline,
                                       publish_info_ptr& out) {
  return lookup(*this, topic, deadline, out);
}

topic_routes::entry_node& topic_routes::entry_for(std::string_view topic,
                                                  net::clock::time_point deadline) {
  auto it = entries_.find(topic);
  if (it == entries_.end()) {
    it = entries_.try_emplace(std::string(topic)).first;
    it->second.last_used = net::clock::now();
    topics_.store(entries_.size(), std::memory_order_relaxed);
  }
  entry& e = it->second;
  e.used = true;
  if (e.info == nullptr && !e.querying) spawn(query(it->first, deadline));
  return *it;
}

topic_routes::lookup::lookup(topic_routes& owner, std::string_view topic,
                             net::clock::time_point deadline, publish_info_ptr& out)
    : owner_(owner), node_(owner.entry_for(topic, deadline)), out_(out) {
  waiter_.deadline = deadline;
}

std::error_code topic_routes::lookup::await_resume() const {
  switch (waiter_.left) {
    case left_early::no:
      break;
    case left_early::timed_out:
      return make_error_code(errc::timed_out);
    case left_early::cancelled:
      return make_error_code(asio::error::operation_aborted);
    case left_early::shutting_down:
      return make_error_code(errc::shutting_down);
  }
  const entry& e = node_.second;
  if (e.info) {
    out_ = e.info;
    return {};
  }
  return e.last_error ? e.last_error : make_error_code(errc::no_route);
}

namespace {

// Unlinks `w` from a singly linked list of waiters; false when it was not there.
template <class Waiter>
bool unlink(Waiter*& head, Waiter& w) noexcept {
  for (Waiter** p = &head; *p != nullptr; p = &(*p)->next) {
    if (*p == &w) {
      *p = w.next;
      return true;
    }
  }
  return false;
}

}  // namespace

void topic_routes::lookup::abandon() noexcept {
  if (!unlink(node_.second.waiters, waiter_)) return;
  waiter_.left = left_early::cancelled;
  waiter_.handle.resume();
}

void topic_routes::watch_deadline(entry_node& node, net::clock::time_point deadline) noexcept {
  waiter_timer& timer = node.second.timer;
  if (timer.armed()) {
    if (timer.deadline() <= deadline) return;
    pool_.loop().cancel_timer(timer);
  }
  timer.owner = this;
  timer.node = &node;
  pool_.loop().add_timer(timer, deadline);
}

void topic_routes::waiter_timer::fire(io::timer_node* t, std::error_code ec) noexcept {
  auto& self = *static_cast<waiter_timer*>(t);
  self.owner->end_due_waits(*self.node, ec);
}

void topic_routes::end_due_waits(entry_node& node, std::error_code ec) noexcept {
  entry& e = node.second;
  const net::clock::time_point now = net::clock::now();
  waiter* due = nullptr;  // unlinked first, resumed after: a resumed send may start a new wait
  net::clock::time_point next = net::clock::time_point::max();
  for (waiter** p = &e.waiters; *p != nullptr;) {
    waiter& w = **p;
    if (ec || w.deadline <= now) {
      *p = w.next;
      w.left = ec ? left_early::shutting_down : left_early::timed_out;
      w.next = due;
      due = &w;
    } else {
      if (w.deadline < e.query_deadline) next = std::min(next, w.deadline);
      p = &w.next;
    }
  }
  if (next != net::clock::time_point::max()) watch_deadline(node, next);
  while (due != nullptr) {
    waiter* w = due;
    due = w->next;  // read first: the resumed send may end and free its node
    w->handle.resume();
  }
}

publish_info_ptr topic_routes::cached(std::string_view topic) const {
  const auto it = entries_.find(topic);
  if (it == entries_.end()) return nullptr;
  it->second.used = true;
  return it->second.info;
}

coro<void> topic_routes::query(std::string topic, net::clock::time_point deadline) {
  // Erased only by evict_idle, at the start of a refresh (one at a time), and never while
  // querying: the reference stays valid across the awaits.
  entry& e = entries_.find(topic)->second;
  e.querying = true;
  e.query_deadline = deadline;
  const bool had_route = e.info != nullptr;  // a first route is not "refreshed again"
  const std::string wire_topic = wire::wrap_namespace(settings_.name_space, topic);
  route_reply reply = co_await names_.query_route(wire_topic, deadline);
  std::error_code ec = reply.error;
  if (!ec && reply.response_code == wire::response_code::success) {
    ec = publish(topic, wire_topic, std::move(reply.route), false);
  } else if (!ec && !e.info) {
    // Unknown topic: borrow the auto-create topic's route (the broker creates the topic on
    // the first send when autoCreateTopicEnable is on), as the Java producer does.
    route_reply fallback = co_await names_.query_route(settings_.create_topic_key, deadline);
    ec = fallback.error;
    if (!ec && fallback.response_code == wire::response_code::success) {
      wire::clamp_default_route(fallback.route, settings_.default_topic_queue_nums);
      ec = publish(topic, wire_topic, std::move(fallback.route), true);
    } else if (!ec) {
      ec = make_error_code(errc::no_route);
    }
  } else if (!ec && e.info && e.info->from_default_topic) {
    ec = {};  // still not created: keep the borrowed route
  } else if (!ec) {
    ec = make_error_code(errc::no_route);
  }
  if (ec && e.info && e.last_error != ec) {
    // A refresh failed: the previous route stays in use (its sends may still succeed), so say
    // it when the error changes, not at every refresh.
    if (ec == errc::invalid_route_data) {
      logger_.warn(
          "rmq route: the route of topic {} is beyond producer_config::route_limits or "
          "malformed; the previous route stays in use",
          topic);
    } else {
      logger_.warn(
          "rmq route: cannot refresh the route of topic {} ({}); the previous route "
          "stays in use",
          topic, ec.message());
    }
  } else if (!ec && had_route && e.last_error) {
    logger_.info("rmq route: the route of topic {} is refreshed again", topic);
  }
  e.querying = false;
  e.last_error = ec;
  wake(e);
}

publish_info_ptr topic_routes::readopt(const topic_publish_info& held) {
  auto [it, inserted] = entries_.try_emplace(held.topic);
  entry& e = it->second;
  e.used = true;
  if (inserted) {
    e.last_used = net::clock::now();
    topics_.store(entries_.size(), std::memory_order_relaxed);
  }
  if (!e.info) (void)publish(held.topic, held.wire_topic, held.route, held.from_default_topic);
  return e.info;
}

std::error_code topic_routes::publish(const std::string& topic, std::string_view wire_topic,
                                      wire::topic_route_data route, bool from_default_topic) {
  entry& e = entries_.find(topic)->second;  // the caller's entry
  if (e.info && e.info->route == route && e.info->from_default_topic == from_default_topic) {
    return {};  // unchanged
  }
  auto info = std::make_unique<topic_publish_info>();
  info->topic = topic;
  info->wire_topic = wire_topic;
  info->round_robin = e.info ? e.info->round_robin : static_cast<std::uint32_t>(random_());
  info->order_topic = wire::is_order_topic(route);
  info->from_default_topic = from_default_topic;
  const std::vector<wire::route_queue> queues = wire::build_publish_queues(route);
  info->queues.reserve(queues.size());
  info->message_queues.reserve(queues.size());
  // A run of queues on the same broker (every queue of a broker, except in a static topic,
  // whose queues alternate) shares one lookup of its id and master.
  const std::string* group = nullptr;
  broker_id id = 0;
  for (const wire::route_queue& q : queues) {
    if (group == nullptr || *group != q.target_broker()) {
      group = &q.target_broker();
      id = brokers_.intern(*group);
      broker_entry& broker = brokers_[id];
      if (auto address = wire::find_master_address(route, *group); address) {
        if (broker.master_address != *address) {
          // New or moved master: later sends go to the new address at once.
          const bool first_sight = broker.master_address.empty();
          if (!first_sight) {
            logger_.info("rmq route: the master of broker {} moved from {} to {}", *group,
                         broker.master_address, *address);
          }
          broker.master_address = std::string(*address);
          broker.master = &pool_.get(broker.master_address);
          ++broker.master_generation;
          if (first_sight && on_new_master_) on_new_master_(id);
        }
      }
    }
    if (brokers_[id].master == nullptr) continue;  // no master address known: not writable
    info->queues.push_back({id, q.queue_id});
    info->message_queues.push_back({topic, q.broker_name, q.queue_id});
  }
  if (info->queues.empty()) {
    if (!e.info) return make_error_code(errc::no_writable_queue);
  }
  info->route = std::move(route);
  if (logger_.should_log(spdlog::level::info)) log_route(*info, e.info.get());
  e.info = publish_info_ptr(std::move(info));
  return {};
}

void topic_routes::log_route(const topic_publish_info& info,
                             const topic_publish_info* previous) const {
  const std::size_t brokers = info.route.broker_datas.size();
  if (previous == nullptr) {
    logger_.info("rmq route: topic {}: {} writable queue(s), {} broker(s){}", info.topic,
                 info.queues.size(), brokers,
                 info.from_default_topic ? " (the auto-create topic's route: the broker creates "
                                           "the topic at the first send)"
                                         : "");
    return;
  }
  const auto level = info.queues.empty() ? spdlog::level::warn : spdlog::level::info;
  logger_.log(level,
              "rmq route: topic {} changed: {} writable queue(s), {} broker(s) (were {}, {})",
              info.topic, info.queues.size(), brokers, previous->queues.size(),
              previous->route.broker_datas.size());
}

void topic_routes::wake(entry& e) {
  if (e.timer.armed()) pool_.loop().cancel_timer(e.timer);
  waiter* list = std::exchange(e.waiters, nullptr);
  while (list != nullptr) {
    waiter* next = list->next;  // the resumed coroutine may end and free its node
    list->handle.resume();
    list = next;
  }
}

void topic_routes::evict_idle(net::clock::time_point now) {
  if (settings_.idle_timeout.count() == 0) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    entry& e = it->second;
    // A query holds its entry, and so do the waits on it (their awaiters point at the node).
    const bool held = e.querying || e.waiters != nullptr || e.timer.armed();
    if (e.used || held) {
      e.used = false;
      e.last_used = now;
      ++it;
    } else if (now - e.last_used >= settings_.idle_timeout) {
      logger_.debug("rmq route: topic {} forgotten: not sent to for {} ms", it->first,
                    settings_.idle_timeout.count());
      it = entries_.erase(it);  // sends still holding its publish info keep it alive
      evicted_.store(evicted_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    } else {
      ++it;
    }
  }
  topics_.store(entries_.size(), std::memory_order_relaxed);
}

coro<void> topic_routes::refresh_all(net::clock::time_point deadline) {
  // Forgotten before the queries: an idle topic costs no more queries, and the brokers and
  // connections only it named are released below.
  evict_idle(net::clock::now());
  std::vector<std::string> topics;
  topics.reserve(entries_.size());
  for (const auto& [topic, e] : entries_) {
    // A topic without a route is left to its next send: sends that find its query running wait
    // for it, and this query's deadline is the refresh interval, not their send timeout.
    if (!e.querying && e.info) topics.push_back(topic);
  }
  for (const std::string& topic : topics) {
    if (net::clock::now() >= deadline) break;
    co_await query(topic, deadline);
  }
  const std::vector<std::string> keep = addresses_in_use();
  pool_.retain_only(keep);
  // A broker whose master left every route loses its connection (drained by the pool, then
  // destroyed): forget both, so that a route naming it again connects and registers afresh.
  for (broker_id id = 0; id < brokers_.size(); ++id) {
    broker_entry& broker = brokers_[id];
    if (broker.master_address.empty() ||
        std::find(keep.begin(), keep.end(), broker.master_address) != keep.end())
      continue;
    broker.master_address.clear();
    broker.master = nullptr;
    ++broker.master_generation;
  }
}

std::vector<std::string> topic_routes::addresses_in_use() const {
  std::vector<std::string> addresses(names_.addresses());
  const auto add = [&](const std::string& address) {
    if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
      addresses.push_back(address);
    }
  };
  for (const auto& [topic, e] : entries_) {
    if (!e.info) continue;
    // Every broker of the route, writable or not (as the Java client keeps brokerAddrTable),
    // and every master the publish list points at.
    for (const wire::broker_data& b : e.info->route.broker_datas) {
      if (const auto it = b.broker_addrs.find(0); it != b.broker_addrs.end()) add(it->second);
    }
    for (const publish_queue& q : e.info->queues) add(brokers_[q.broker].master_address);
  }
  return addresses;
}

}  // namespace rmq::route
