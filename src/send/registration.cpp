#include "send/registration.hpp"

#include "net/request.hpp"
#include "send/attempt_policy.hpp"
#include "wire/codes.hpp"
#include "wire/headers.hpp"
#include "wire/heartbeat.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <string>

namespace rmq::send {
namespace {

// Suspends until someone resumes the handle stored in `slot`.
struct park {
  std::coroutine_handle<>& slot;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept { slot = h; }
  void await_resume() const noexcept {}
};

}  // namespace

io::clock::time_point heartbeat_deadline(const producer_config& config,
                                         io::clock::time_point now) noexcept {
  return now + config.send_timeout;
}

io::clock::time_point unregister_deadline(const producer_config& config,
                                          io::clock::time_point shutdown_deadline,
                                          io::clock::time_point now) noexcept {
  const attempt_plan one_send =
      plan_attempts({send_mode::sync, false, false}, attempt_settings::from(config), now,
                    now + config.send_timeout);
  return std::max(shutdown_deadline, now + one_send.attempt_cap);
}

registration::registration(const loop_settings& settings, io::loop& loop,
                           route::broker_registry& brokers, route::topic_routes& routes)
    : settings_(settings), loop_(loop), brokers_(brokers), routes_(routes) {}

void registration::start() {
  const auto now = io::clock::now();
  next_refresh_ = now + settings_.config.route_refresh_interval;
  next_heartbeat_ = now + settings_.config.heartbeat_interval;
  arm_periodic();
}

void registration::on_new_master(route::broker_id broker) {
  if (heartbeat_done_.size() <= broker) heartbeat_done_.resize(broker + 1, false);
  heartbeat_done_[broker] = false;
  spawn(heartbeat(broker));
}

void registration::heartbeat_waiter::fire(io::timer_node* t, std::error_code) noexcept {
  auto& self = *static_cast<heartbeat_waiter*>(t);
  self.owner_.remove(self);
  std::exchange(self.waiting_, {}).resume();
}

bool registration::heartbeat_waiter::await_ready() const noexcept {
  return owner_.stopped_ || owner_.satisfied(*this);
}

void registration::heartbeat_waiter::await_suspend(std::coroutine_handle<> h) noexcept {
  waiting_ = h;
  next_ = owner_.waiters_;
  owner_.waiters_ = this;
  owner_.loop_.add_timer(*this, deadline_);
}

bool registration::satisfied(const heartbeat_waiter& w) const noexcept {
  return w.broker_ == heartbeat_waiter::every_master ? settled() : heartbeat_done(w.broker_);
}

bool registration::heartbeat_done(route::broker_id id) const noexcept {
  return id < heartbeat_done_.size() && heartbeat_done_[id];
}

void registration::cancel(heartbeat_waiter& w) noexcept {
  if (!w.waiting_) return;  // not waiting (any more)
  remove(w);
  loop_.cancel_timer(w);
  std::exchange(w.waiting_, {}).resume();
}

bool registration::settled() const noexcept {
  for (route::broker_id id = 0; id < brokers_.size(); ++id) {
    if (brokers_[id].master == nullptr) continue;
    if (id >= heartbeat_done_.size() || !heartbeat_done_[id]) return false;
  }
  return true;
}

void registration::remove(heartbeat_waiter& w) noexcept {
  for (heartbeat_waiter** p = &waiters_; *p != nullptr; p = &(*p)->next_) {
    if (*p == &w) {
      *p = w.next_;
      return;
    }
  }
}

void registration::wake_settled() noexcept {
  // Taken off the list first: a resumed coroutine may wait again (and join the list).
  heartbeat_waiter* ready = nullptr;
  for (heartbeat_waiter** p = &waiters_; *p != nullptr;) {
    heartbeat_waiter* w = *p;
    if (stopped_ || satisfied(*w)) {
      *p = w->next_;
      w->next_ = ready;
      ready = w;
    } else {
      p = &w->next_;
    }
  }
  while (ready != nullptr) {
    heartbeat_waiter* next = ready->next_;
    loop_.cancel_timer(*ready);
    std::exchange(ready->waiting_, {}).resume();
    ready = next;
  }
}

coro<bool> registration::heartbeats_settled(io::clock::time_point deadline) {
  co_await heartbeat_waiter(*this, heartbeat_waiter::every_master, deadline);
  co_return settled() && !stopped_;
}

void registration::stop() {
  stopped_ = true;
  loop_.cancel_timer(periodic_);
  wake_settled();  // every waiter: no heartbeat will settle anything from now on
}

coro<void> registration::heartbeat(route::broker_id id) {
  route::broker_entry& broker = brokers_[id];
  if (broker.master == nullptr || stopped_) co_return;
  const std::string body =
      wire::encode_heartbeat(settings_.client_id, settings_.group, wire::heartbeat_shape::v4);
  const auto encode = [&](std::string& out, std::int32_t opaque) {
    wire::frame_writer writer(out, settings_.serialization,
                              settings_.request_fields(wire::request_code::heart_beat, opaque));
    writer.finish(body);
  };
  net::connection* const master = broker.master;
  const net::response r = co_await net::request(
      *broker.master, encode, heartbeat_deadline(settings_.config, io::clock::now()));
  if (!r.error && r.frame != nullptr) {
    broker.version = r.frame->fields.version;
    const std::string_view remark = r.frame->remark.value_or(std::string_view{});
    if (wire::is_access_denial(r.frame->fields.code, remark)) [[unlikely]] {
      // Once per heartbeat interval and broker at most: no flood, and the operator sees which
      // account the broker refuses before the first send fails.
      const std::string& key = settings_.config.credentials.access_key;
      settings_.logger().warn(
          "rmq registration: heartbeat to {} refused for access key {}: {}", broker.name,
          key.empty() ? std::string_view("(none)") : std::string_view(key), remark.substr(0, 512));
    }
  }
  if (broker.master == master) {  // not for a master since replaced (its own heartbeat runs)
    if (heartbeat_done_.size() <= id) heartbeat_done_.resize(id + 1, false);
    heartbeat_done_[id] = true;
    wake_settled();
  }
}

coro<void> registration::unregister_all(io::clock::time_point shutdown_deadline) {
  // As the Java client does on shutdown.
  const auto deadline = unregister_deadline(settings_.config, shutdown_deadline, io::clock::now());
  std::size_t pending = 1;
  std::coroutine_handle<> waiter;
  for (route::broker_id id = 0; id < brokers_.size(); ++id) {
    ++pending;
    spawn(unregister(id, deadline, pending, waiter));
  }
  if (--pending > 0) co_await park{waiter};
}

coro<void> registration::unregister(route::broker_id id, io::clock::time_point deadline,
                                    std::size_t& pending, std::coroutine_handle<>& waiter) {
  route::broker_entry& broker = brokers_[id];
  if (broker.master != nullptr) {
    const auto encode = [&](std::string& out, std::int32_t opaque) {
      wire::frame_writer writer(
          out, settings_.serialization,
          settings_.request_fields(wire::request_code::unregister_client, opaque));
      wire::unregister_client_request_header header;
      header.client_id = settings_.client_id;
      header.producer_group = settings_.group;
      header.write(writer);
      writer.finish();
    };
    (void)co_await net::request(*broker.master, encode, deadline);
  }
  if (--pending == 0 && waiter) std::exchange(waiter, {}).resume();
}

coro<void> registration::refresh_routes(io::clock::time_point deadline) {
  co_await routes_.refresh_all(deadline);
  refreshing_ = false;
}

void registration::arm_periodic() {
  if (stopped_) return;
  loop_.add_timer(periodic_, std::min(next_refresh_, next_heartbeat_));
}

void registration::periodic_timer::fire(io::timer_node* t, std::error_code ec) noexcept {
  if (!ec) static_cast<periodic_timer*>(t)->owner.on_periodic();
}

void registration::on_periodic() {
  const auto now = io::clock::now();
  if (now >= next_refresh_ && !refreshing_) {
    next_refresh_ = now + settings_.config.route_refresh_interval;
    refreshing_ = true;
    spawn(refresh_routes(now + settings_.config.route_refresh_interval));
  }
  if (now >= next_heartbeat_) {
    next_heartbeat_ = now + settings_.config.heartbeat_interval;
    for (route::broker_id id = 0; id < brokers_.size(); ++id) spawn(heartbeat(id));
  }
  arm_periodic();
}

}  // namespace rmq::send
