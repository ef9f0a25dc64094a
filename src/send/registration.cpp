#include "send/registration.hpp"

#include "net/request.hpp"
#include "send/attempt_policy.hpp"
#include "wire/codes.hpp"
#include "wire/headers.hpp"
#include "wire/heartbeat.hpp"

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
  spawn(heartbeat(broker));
}

void registration::stop() {
  stopped_ = true;
  loop_.cancel_timer(periodic_);
}

coro<void> registration::heartbeat(route::broker_id id) {
  route::broker_entry& broker = brokers_[id];
  if (broker.master == nullptr || stopped_) co_return;
  const std::string body = wire::encode_heartbeat(settings_.client_id, settings_.config.group,
                                                  wire::heartbeat_shape::v4);
  const auto encode = [&](std::string& out, std::int32_t opaque) {
    wire::command_fields fields;
    fields.code = wire::request_code::heart_beat;
    fields.version = settings_.config.protocol_version;
    fields.opaque = opaque;
    wire::frame_writer writer(out, settings_.serialization, fields);
    writer.finish(body);
  };
  const net::response r = co_await net::request(
      *broker.master, encode, heartbeat_deadline(settings_.config, io::clock::now()));
  if (!r.error && r.frame != nullptr) broker.version = r.frame->fields.version;
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
      wire::command_fields fields;
      fields.code = wire::request_code::unregister_client;
      fields.version = settings_.config.protocol_version;
      fields.opaque = opaque;
      wire::frame_writer writer(out, settings_.serialization, fields);
      wire::unregister_client_request_header header;
      header.client_id = settings_.client_id;
      header.producer_group = settings_.config.group;
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
