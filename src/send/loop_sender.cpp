#include "send/loop_sender.hpp"

#include <algorithm>

#include "net/request.hpp"
#include "wire/codes.hpp"
#include "wire/headers.hpp"
#include "wire/heartbeat.hpp"

namespace rmq::send {
namespace {

using std::chrono::milliseconds;

fault_tables tables_from(const producer_config& config) {
  if (config.custom_fault_tables) {
    return {config.custom_fault_tables->latency_max, config.custom_fault_tables->not_available,
            config.custom_fault_tables->isolation_latency};
  }
  return config.fault_tables == fault_table_preset::v4_9 ? fault_tables::v4_9() : fault_tables::v5();
}

// Waits until `count` reaches zero or `deadline` passes (a shutdown's grace period).
class drain_awaiter {
 public:
  drain_awaiter(io::loop& loop, const std::size_t& count, std::coroutine_handle<>& slot,
                io::clock::time_point deadline) noexcept
      : loop_(loop), count_(count), slot_(slot), deadline_(deadline), timer_(*this) {}

  bool await_ready() const noexcept { return count_ == 0 || io::clock::now() >= deadline_; }
  void await_suspend(std::coroutine_handle<> h) {
    slot_ = h;
    loop_.add_timer(timer_, deadline_);
  }
  void await_resume() { loop_.cancel_timer(timer_); }

 private:
  struct timer final : io::timer_node {
    explicit timer(drain_awaiter& a) noexcept : timer_node(&fire), owner(a) {}
    static void fire(io::timer_node* t, std::error_code) noexcept {
      auto& self = static_cast<timer*>(t)->owner;
      if (self.slot_) std::exchange(self.slot_, {}).resume();
    }
    drain_awaiter& owner;
  };

  io::loop& loop_;
  const std::size_t& count_;
  std::coroutine_handle<>& slot_;
  io::clock::time_point deadline_;
  timer timer_;
};

// Suspends until someone resumes the handle stored in `slot`.
struct park {
  std::coroutine_handle<>& slot;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept { slot = h; }
  void await_resume() const noexcept {}
};

}  // namespace

loop_sender::loop_sender(const loop_settings& settings, admission_gate& admission)
    : settings_(settings),
      loop_([&] {
        io::loop_options options;
        options.busy_poll = settings.config.busy_poll;
        return options;
      }()),
      pool_(loop_,
            [&] {
              net::connection_options options;
              options.connect_timeout = settings.config.connect_timeout;
              options.core.version = settings.config.protocol_version;
              return options;
            }()),
      names_(pool_, settings.name_servers,
             {settings.serialization, wire::language_code::cpp, settings.config.protocol_version}),
      routes_(names_, brokers_, pool_,
              {settings.config.create_topic_key, settings.config.default_topic_queue_nums}),
      faults_(tables_from(settings.config)),
      gate_(admission),
      pipeline_({settings_, loop_, brokers_, routes_, faults_, gate_, counters_}, *this) {
  routes_.on_new_master([this](route::broker_id id) { spawn(heartbeat(id)); });
}

loop_sender::~loop_sender() = default;

void loop_sender::start() {
  loop_.start();
  loop_.post([this] {
    frame_pool::install(&frames_);  // this thread's coroutine frames come from our pool
    const auto now = io::clock::now();
    next_refresh_ = now + settings_.config.route_refresh_interval;
    next_heartbeat_ = now + settings_.config.heartbeat_interval;
    arm_periodic();
  });
}

void loop_sender::run(send_op& op, bool initiating) {
  op.deadline = op.started + settings_.config.send_timeout;
  op.epoch = epoch_;
  ++running_in_epoch_;
  ++running_;
  counters_.sends.bump();
  counters_.in_flight.bump();
  const send_op* outer = std::exchange(initiating_, initiating ? &op : nullptr);
  if (closing_) {
    pipeline_.fail(op, make_error_code(errc::shutting_down));
  } else {
    pipeline_.start(op);
  }
  initiating_ = outer;
}

void loop_sender::complete(send_op& op, std::error_code ec, send_result& result) {
  if (&op == initiating_) {
    op.completion->complete_later(ec, &result);  // never inside the user's initiating call
  } else {
    op.completion->complete(ec, &result);
  }
  // After the hand-off: a flush completes only once this send's handler has run or been
  // handed to its executor. The op goes back to the pool after the handler (a handler that
  // starts the next send at once takes another op, so the pool holds one op more than sends in
  // flight).
  note_finished_epoch(op);
  ops_.release(&op);
  if (--running_ == 0 && drained_) std::exchange(drained_, {}).resume();
}

void loop_sender::note_finished_epoch(const send_op& op) noexcept {
  if (op.epoch == epoch_) {
    --running_in_epoch_;
    return;
  }
  // A send that straddles a flush: rare, the map is small.
  const auto it = older_.find(op.epoch);
  if (--it->second == 0) {
    older_.erase(it);
    check_flush_waiters();
  }
}

// --- registration and background work ------------------------------------------------------

coro<void> loop_sender::heartbeat(route::broker_id id) {
  route::broker_entry& broker = brokers_[id];
  if (broker.master == nullptr || stopping_) co_return;
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
  const net::response r = co_await net::request(*broker.master, encode,
                                                io::clock::now() + milliseconds(3000));
  if (!r.error && r.frame != nullptr) broker.version = r.frame->fields.version;
}

coro<void> loop_sender::unregister(route::broker_id id, io::clock::time_point deadline,
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

void loop_sender::arm_periodic() {
  if (stopping_) return;
  loop_.add_timer(periodic_, std::min(next_refresh_, next_heartbeat_));
}

void loop_sender::periodic_timer::fire(io::timer_node* t, std::error_code ec) noexcept {
  if (!ec) static_cast<periodic_timer*>(t)->owner.on_periodic();
}

void loop_sender::on_periodic() {
  const auto now = io::clock::now();
  if (now >= next_refresh_ && !refreshing_) {
    next_refresh_ = now + settings_.config.route_refresh_interval;
    refreshing_ = true;
    spawn([](loop_sender& self, io::clock::time_point deadline) -> coro<void> {
      co_await self.routes_.refresh_all(deadline);
      self.refreshing_ = false;
    }(*this, now + settings_.config.route_refresh_interval));
  }
  if (now >= next_heartbeat_) {
    next_heartbeat_ = now + settings_.config.heartbeat_interval;
    for (route::broker_id id = 0; id < brokers_.size(); ++id) spawn(heartbeat(id));
  }
  arm_periodic();
}

coro<std::error_code> loop_sender::queues_of(std::string topic, io::clock::time_point deadline,
                                       std::vector<message_queue>& out) {
  route::publish_info_ptr info;
  const std::error_code ec = co_await routes_.get(topic, deadline, info);
  if (!ec) out = info->message_queues;
  co_return ec;
}

// --- shutdown ----------------------------------------------------------------------------

coro<void> loop_sender::shutdown_sequence(io::clock::time_point deadline, std::function<void()> done) {
  stopping_ = true;
  loop_.cancel_timer(periodic_);
  // Let the sends in flight finish until the deadline (the producer's gate admits no new ones).
  co_await drain_awaiter(loop_, running_, drained_, deadline);
  // From here sends that still reach this loop (admitted on another thread just before the gate
  // closed) fail at once.
  closing_ = true;
  // Unregister from every broker (as the Java client does), with a short grace if the deadline
  // has passed already.
  const auto unregister_deadline = std::max(deadline, io::clock::now() + milliseconds(200));
  std::size_t pending = 1;
  std::coroutine_handle<> waiter;
  for (route::broker_id id = 0; id < brokers_.size(); ++id) {
    ++pending;
    spawn(unregister(id, unregister_deadline, pending, waiter));
  }
  if (--pending > 0) co_await park{waiter};
  // Fails whatever is still in flight (shutting_down) and closes every socket.
  pool_.close_all(std::move(done));
}

void loop_sender::begin_shutdown(io::clock::time_point deadline, std::function<void()> done) {
  spawn(shutdown_sequence(deadline, std::move(done)));
}

// --- flush -------------------------------------------------------------------------------

void flush_state::loop_done() noexcept {
  if (pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  std::error_code ec;
  if (aborted.load(std::memory_order_relaxed)) {
    ec = make_error_code(errc::shutting_down);
  } else if (timed_out.load(std::memory_order_relaxed)) {
    ec = make_error_code(errc::timed_out);
  }
  detail::error_completion* c = completion;
  delete this;
  c->complete(ec);
}

/// One loop's part of a flush: waits on this loop for the sends of epochs up to `epoch`.
struct loop_sender::flush_waiter final : io::timer_node {
  flush_waiter(loop_sender& s, flush_state& st, std::uint64_t e) noexcept
      : timer_node(&fire), owner(s), state(st), epoch(e) {}
  static void fire(io::timer_node* t, std::error_code ec) noexcept {
    auto& self = *static_cast<flush_waiter*>(t);
    if (ec) self.state.aborted.store(true, std::memory_order_relaxed);  // the loop stops
    self.owner.end_flush_waiter(self, true);
  }
  loop_sender& owner;
  flush_state& state;
  std::uint64_t epoch;
  flush_waiter* next = nullptr;
};

void loop_sender::flush(flush_state& state, io::clock::time_point deadline) {
  if (running_in_epoch_ == 0 && older_.empty()) {
    state.loop_done();
    return;
  }
  // Close the current epoch: its sends now count in older_.
  if (running_in_epoch_ != 0) older_.emplace(epoch_, running_in_epoch_);
  auto* w = new flush_waiter(*this, state, epoch_);
  ++epoch_;
  running_in_epoch_ = 0;
  w->next = flush_waiters_;
  flush_waiters_ = w;
  loop_.add_timer(*w, deadline);
}

void loop_sender::check_flush_waiters() noexcept {
  const std::uint64_t oldest = older_.empty() ? epoch_ : older_.begin()->first;
  for (flush_waiter* w = flush_waiters_; w != nullptr;) {
    flush_waiter* next = w->next;
    if (oldest > w->epoch) {
      loop_.cancel_timer(*w);
      end_flush_waiter(*w, false);
    }
    w = next;
  }
}

void loop_sender::end_flush_waiter(flush_waiter& w, bool timed_out) noexcept {
  for (flush_waiter** p = &flush_waiters_; *p != nullptr; p = &(*p)->next) {
    if (*p == &w) {
      *p = w.next;
      break;
    }
  }
  if (timed_out) w.state.timed_out.store(true, std::memory_order_relaxed);
  flush_state& state = w.state;
  delete &w;
  state.loop_done();
}

}  // namespace rmq::send
