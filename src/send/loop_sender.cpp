#include "send/loop_sender.hpp"

#include "net/request.hpp"
#include "wire/codes.hpp"
#include "wire/namespace.hpp"
#include "wire/recall.hpp"

#include <asio/error.hpp>
#include <spdlog/logger.h>

#include <algorithm>

namespace rmq::detail {

void cancel_link::request(std::uint32_t type) noexcept {
  requested.fetch_or(type, std::memory_order_seq_cst);
  const std::lock_guard lock(hub->mutex);
  if (!hub->open) return;  // the producer is gone: its sends have all completed
  // A caller blocked at a full gate off the loops: woken now (it reads `requested` under the
  // gate's mutex before it waits, so it either sees it or is found here).
  gate.cancel_blocking(blocked);
  // Not handed to a loop yet: the send sees `requested` when it starts there (the target is
  // stored before the send is handed over, so one of the two sees the other).
  send::loop_sender* loop = target.load(std::memory_order_seq_cst);
  if (loop == nullptr || queued.exchange(true, std::memory_order_seq_cst)) return;
  refs.fetch_add(1, std::memory_order_relaxed);  // the queued run's
  loop->loop().post(*this);  // never allocates; destroyed unrun if the loop has closed
}

void cancel_link::release() noexcept {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void cancel_link::run_on_loop(io::task* t, action a) noexcept {
  auto* link = static_cast<cancel_link*>(t);
  // Cleared before reading `requested`: an emit from now on posts again.
  link->queued.store(false, std::memory_order_seq_cst);
  if (a == action::run) link->target.load(std::memory_order_relaxed)->cancel(*link);
  link->release();
}

}  // namespace rmq::detail

namespace rmq::send {
namespace {

fault_tables tables_from(const producer_config& config) {
  if (config.custom_fault_tables) {
    return {config.custom_fault_tables->latency_max, config.custom_fault_tables->not_available,
            config.custom_fault_tables->isolation_latency};
  }
  return config.fault_tables == fault_table_preset::v4_9 ? fault_tables::v4_9()
                                                         : fault_tables::v5();
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

}  // namespace

loop_sender::loop_sender(const loop_settings& settings, admission_gate& admission)
    : settings_(settings),
      loop_([&] {
        io::loop_options options;
        options.busy_poll = settings.config.busy_poll;
        options.backend = settings.config.backend;
        options.logger = settings.config.logger.get();
        return options;
      }()),
      metrics_(settings.name_servers),
      signer_([&]() -> std::optional<wire::request_signer> {
        if (!settings.config.credentials.enabled()) return std::nullopt;
        return std::optional<wire::request_signer>(std::in_place, settings.config.credentials);
      }()),
      pool_(
          loop_,
          [&] {
            net::connection_options options;
            options.connect_timeout = settings.config.connect_timeout;
            options.core.version = settings.config.protocol_version;
            options.core.signer = signer_ ? &*signer_ : nullptr;
            options.logger = settings.config.logger.get();
            options.peer_requests = {&loop_sender::on_peer_request, this};
            options.observer = {&metrics::loop_metrics::on_link_step, &metrics_};
            return options;
          }(),
          net::tcp_transport{settings.tls.get()}),
      names_(pool_, settings.name_servers,
             {settings.serialization, wire::language_code::cpp, settings.config.protocol_version},
             settings.config.route_limits),
      routes_(names_, brokers_, pool_,
              {settings.config.create_topic_key, settings.config.default_topic_queue_nums,
               settings.config.route_idle_timeout, settings.config.name_space,
               settings.config.logger.get()}),
      registration_(settings_, loop_, brokers_, routes_),
      faults_(tables_from(settings.config)),
      gate_(admission),
      pipeline_(
          {settings_, loop_, brokers_, routes_, faults_, gate_, counters_, metrics_, registration_},
          *this),
      operations_(loop_),
      transactions_(settings_, loop_, brokers_, pool_, counters_, operations_),
      requests_(*this, settings_, counters_, operations_) {
  routes_.on_new_master([this](route::broker_id id) { registration_.on_new_master(id); });
}

loop_sender::~loop_sender() = default;

void loop_sender::start() {
  loop_.start();
  loop_.post([this] {
    frame_pool::install(&frames_);  // this thread's coroutine frames come from our pool
    registration_.start();
  });
}

void loop_sender::run(send_op& op, bool initiating) {
  if (op.cancel != nullptr) op.cancel->op = &op;  // the pipeline looks at what it requested
  op.epoch = epoch_;
  ++running_in_epoch_;
  ++running_;
  counters_.sends.bump();
  counters_.in_flight.bump();
  const send_op* outer = std::exchange(initiating_, initiating ? &op : nullptr);
  pipeline_.begin(op);
  if (closing_) {
    pipeline_.fail(op, make_error_code(errc::shutting_down));
  } else {
    pipeline_.start(op);
  }
  initiating_ = outer;
}

void loop_sender::complete(send_op& op, std::error_code ec, send_result& result) {
  if (detail::cancel_link* link = op.cancel) {
    // Finished: a cancellation that runs from now on finds nothing to do.
    link->op = nullptr;
    link->waits_on(detail::cancel_wait::none, nullptr);
    link->release();
  }
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

void loop_sender::cancel(detail::cancel_link& link) {
  if (link.op != nullptr) pipeline_.cancel(*link.op, link.requested_now());
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

// --- queries ---------------------------------------------------------------------------

coro<std::error_code> loop_sender::prepare_request(std::string topic,
                                                   io::clock::time_point deadline) {
  route::publish_info_ptr info;
  if (const std::error_code ec = co_await routes_.get(topic, deadline, info)) co_return ec;
  if (co_await registration_.heartbeats_settled(deadline)) co_return std::error_code{};
  co_return make_error_code(registration_.stopped() ? errc::shutting_down : errc::timed_out);
}

coro<std::error_code> loop_sender::queues_of(std::string topic, io::clock::time_point deadline,
                                             std::vector<message_queue>& out) {
  route::publish_info_ptr info;
  const std::error_code ec = co_await routes_.get(topic, deadline, info);
  if (!ec) out = info->message_queues;
  co_return ec;
}

// --- recall ------------------------------------------------------------------------------

void loop_sender::run_recall(recall_run& run) {
  start_recall(*this, operations_, run);
}

coro<std::error_code> loop_sender::recall(std::string topic, std::string handle,
                                          std::shared_ptr<recall_result> out) {
  // Awaited through async_await, which takes no exception: an allocation that fails on the way
  // ends the recall with an error instead.
  try {
    co_return co_await recall_unguarded(std::move(topic), std::move(handle), std::move(out));
  } catch (const std::exception& e) {
    settings_.logger().error("rmq: recall failed: {}", e.what());
  }
  co_return make_error_code(errc::shutting_down);
}

coro<std::error_code> loop_sender::recall_unguarded(std::string topic, std::string handle,
                                                    std::shared_ptr<recall_result> out) {
  // The handle names the topic as brokers know it, namespace included.
  const std::optional<wire::recall_handle> parts = wire::decode_recall_handle(handle);
  if (!parts || parts->topic != wire::wrap_namespace(settings_.config.name_space, topic)) {
    co_return make_error_code(errc::invalid_argument);
  }
  const io::clock::time_point deadline = io::clock::now() + settings_.config.send_timeout;
  route::publish_info_ptr info;
  if (const std::error_code ec = co_await routes_.get(topic, deadline, info)) co_return ec;
  const std::optional<route::broker_id> broker = brokers_.find(parts->broker_name);
  net::connection* master = broker ? brokers_[*broker].master : nullptr;
  if (master == nullptr) co_return make_error_code(errc::no_writable_queue);
  const auto encode = [&](std::string& frame, std::int32_t opaque) {
    wire::frame_writer writer(frame, settings_.serialization,
                              settings_.request_fields(wire::request_code::recall_message, opaque));
    wire::recall_message_request_header header;
    header.producer_group = settings_.group;
    header.broker_name = parts->broker_name;
    header.topic = parts->topic;
    header.recall_handle = handle;
    header.write(writer);
    writer.finish();
  };
  const net::response r = co_await net::request(*master, encode, deadline);
  if (r.error) co_return r.error;
  if (r.frame->fields.code != wire::response_code::success) {
    out->remark = std::string(r.frame->remark.value_or(std::string_view{}));
    co_return make_broker_error(r.frame->fields.code);
  }
  out->msg_id = std::string(r.frame->field("msgId").value_or(std::string_view{}));
  co_return std::error_code{};
}

// --- shutdown ----------------------------------------------------------------------------

void loop_sender::on_peer_request(void* self, const std::string& address,
                                  net::connection_core& core, const wire::command_view& request) {
  auto& sender = *static_cast<loop_sender*>(self);
  if (request.fields.code == wire::request_code::check_transaction_state) {
    sender.transactions_.on_check(address, request);
  } else if (request.fields.code == wire::request_code::push_reply_message_to_client) {
    sender.requests_.on_reply(core, request);
  } else if (!request.is_oneway()) {
    core.reply_not_supported(request);
  }
}

coro<void> loop_sender::shutdown_sequence(io::clock::time_point deadline,
                                          std::function<void()> done) {
  registration_.stop();
  // Transactions and checks first: they may still send (a half message, END_TRANSACTION).
  co_await operations_.drain(deadline);
  // Let the sends in flight finish until the deadline (the producer's gate admits no new ones);
  // automatic batches still gathering leave now rather than at their linger's end, and those
  // that sends admitted meanwhile open leave at the end of their turn.
  pipeline_.send_gathering_batches(/*for_good=*/true);
  co_await drain_awaiter(loop_, running_, drained_, deadline);
  if (running_ != 0) {
    settings_.logger().warn(
        "rmq: shutdown: {} send(s) still running at the deadline fail with shutting_down",
        running_);
  }
  // From here sends that still reach this loop (admitted on another thread just before the gate
  // closed) fail at once.
  closing_ = true;
  // Unregister from every broker, given time even if the deadline has passed already.
  settings_.logger().debug("rmq: shutdown: unregistering from the brokers");
  co_await registration_.unregister_all(deadline);
  settings_.logger().debug("rmq: shutdown: closing {} connection(s)", pool_.size());
  // Fails whatever is still in flight (shutting_down) and closes every socket.
  pool_.close_all(std::move(done));
}

void loop_sender::begin_shutdown(io::clock::time_point deadline, std::function<void()> done) {
  spawn(shutdown_sequence(deadline, std::move(done)));
}

// --- flush -------------------------------------------------------------------------------

void flush_state::loop_done(bool timed_out, bool aborted) noexcept {
  if (timed_out) timed_out_.store(true, std::memory_order_relaxed);
  if (aborted) aborted_.store(true, std::memory_order_relaxed);
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  std::error_code ec;
  if (aborted_.load(std::memory_order_relaxed)) {
    ec = make_error_code(errc::shutting_down);
  } else if (timed_out_.load(std::memory_order_relaxed)) {
    ec = make_error_code(errc::timed_out);
  }
  end_now(ec, false);
}

void flush_state::end_now(std::error_code ec, bool immediate) noexcept {
  finish(ec, immediate);
  release();
}

void flush_state::cancel(asio::cancellation_type type) noexcept {
  // Nothing to undo: any type ends the wait; the loops' reports then find it finished.
  if (type != asio::cancellation_type::none) {
    finish(make_error_code(asio::error::operation_aborted), true);
  }
}

void flush_state::finish(std::error_code ec, bool immediate) noexcept {
  if (!finished_.exchange(true, std::memory_order_acq_rel)) completion_->complete(ec, immediate);
}

void flush_state::release() noexcept {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

/// One loop's part of a flush: waits on this loop for the sends of epochs up to `epoch`.
struct loop_sender::flush_waiter final : io::timer_node {
  flush_waiter(loop_sender& s, flush_state& st, std::uint64_t e) noexcept
      : timer_node(&fire), owner(s), state(st), epoch(e) {}
  static void fire(io::timer_node* t, std::error_code ec) noexcept {
    auto& self = *static_cast<flush_waiter*>(t);
    self.owner.end_flush_waiter(self, true, static_cast<bool>(ec));  // ec: the loop stops
  }
  loop_sender& owner;
  flush_state& state;
  std::uint64_t epoch;
  flush_waiter* next = nullptr;
};

void loop_sender::flush(flush_state& state, io::clock::time_point deadline) {
  // Automatic batches still gathering leave now: a flush does not wait for their lingers.
  pipeline_.send_gathering_batches();
  if (running_in_epoch_ == 0 && older_.empty()) {
    state.loop_done(false, false);
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
      end_flush_waiter(*w, false, false);
    }
    w = next;
  }
}

void loop_sender::end_flush_waiter(flush_waiter& w, bool timed_out, bool aborted) noexcept {
  for (flush_waiter** p = &flush_waiters_; *p != nullptr; p = &(*p)->next) {
    if (*p == &w) {
      *p = w.next;
      break;
    }
  }
  flush_state& state = w.state;
  delete &w;
  state.loop_done(timed_out, aborted);
}

}  // namespace rmq::send
