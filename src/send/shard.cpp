#include "send/shard.hpp"

#include <algorithm>
#include <random>

#include "net/request.hpp"
#include "send/queue_selector.hpp"
#include "wire/batch.hpp"
#include "wire/codes.hpp"
#include "wire/headers.hpp"
#include "wire/heartbeat.hpp"
#include "wire/properties.hpp"
#include "wire/validation.hpp"

namespace rmq::send {
namespace {

using std::chrono::milliseconds;

// Brokers older than 5.0 (protocol version 413) ignore TIMER_DELIVER_MS and deliver at once.
constexpr std::int32_t first_version_with_delivery_time = 413;
constexpr std::string_view default_region = "DefaultRegion";

fault_tables tables_from(const producer_config& config) {
  if (config.custom_fault_tables) {
    return {config.custom_fault_tables->latency_max, config.custom_fault_tables->not_available,
            config.custom_fault_tables->isolation_latency};
  }
  return config.fault_tables == fault_table_preset::v4_9 ? fault_tables::v4_9() : fault_tables::v5();
}

wire::compression_type compression_of(compression c) {
  switch (c) {
    case compression::zstd: return wire::compression_type::zstd;
    case compression::lz4: return wire::compression_type::lz4;
    case compression::zlib: break;
  }
  return wire::compression_type::zlib;
}

send_status status_of(std::int32_t code) {
  switch (code) {
    case wire::response_code::flush_disk_timeout: return send_status::flush_disk_timeout;
    case wire::response_code::flush_slave_timeout: return send_status::flush_slave_timeout;
    case wire::response_code::slave_not_available: return send_status::slave_not_available;
    default: return send_status::send_ok;
  }
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

// A broker's remark kept in a failed send's diagnostics: bounded, so that a peer that answers
// megabytes of remark cannot make every failed send carry them.
constexpr std::size_t max_remark_size = 1024;

std::string bounded_remark(std::string_view remark) {
  if (remark.size() <= max_remark_size) return std::string(remark);
  std::string kept(remark.substr(0, max_remark_size));
  kept += "... (" + std::to_string(remark.size()) + " bytes)";
  return kept;
}

}  // namespace

shard::shard(const shard_settings& settings, admission_gate& admission)
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
      gate_(admission) {
  routes_.on_new_master([this](route::broker_id id) { spawn(heartbeat(id)); });
}

shard::~shard() = default;

void shard::start() {
  loop_.start();
  loop_.post([this] {
    frame_pool::install(&frames_);  // this thread's coroutine frames come from our pool
    const auto now = io::clock::now();
    next_refresh_ = now + settings_.config.route_refresh_interval;
    next_heartbeat_ = now + settings_.config.heartbeat_interval;
    arm_periodic();
  });
}

void shard::run(send_op& op, bool initiating) {
  op.deadline = op.started + settings_.config.send_timeout;
  op.epoch = epoch_;
  ++running_in_epoch_;
  ++running_;
  counters_.sends.bump();
  counters_.in_flight.bump();
  const send_op* outer = std::exchange(initiating_, initiating ? &op : nullptr);
  if (closing_) {
    finish(op, make_error_code(errc::shutting_down));
  } else {
    pipeline(op);
  }
  initiating_ = outer;
}

// --- the pipeline ------------------------------------------------------------------------------
//
// One coroutine per send. Its frame lives as long as the send is in flight, so it holds only
// what must survive a suspension: the work is done by plain member functions whose locals stay
// on the stack. A full gate is a child coroutine whose frame exists only while it waits; a route
// miss waits for the topic's one NameServer query in a node inside this frame (topic_routes::
// lookup), so a burst of first sends takes no second frame each.

detached shard::pipeline(send_op& op) {
  std::error_code ec;
  if (!op.admitted) {
    // Started on this loop: admitted here (off the loops, the caller's thread was admitted).
    if (!gate_.try_acquire(op.bytes, ec)) ec = co_await wait_at_gate(op.bytes, op.deadline);
    if (ec) {
      finish(op, ec);
      co_return;
    }
    op.admitted = true;
  }

  route::publish_info_ptr info = routes_.cached(first_message(op).topic());
  if (info == nullptr) ec = co_await routes_.get(first_message(op).topic(), op.deadline, info);
  attempt_plan plan;
  if (!ec) ec = prepare_body(op);
  if (!ec) ec = plan_attempts(op, *info, plan);
  if (ec) {
    finish(op, ec, info.get());
    co_return;
  }

  // Attempts, each capped at its share of the one deadline, on another broker after a failure.
  ec = make_error_code(errc::timed_out);
  std::optional<route::broker_id> last_broker;
  int attempt = 0;
  // Compressing or encoding a batch may have taken long (~100 ms for 4 MB) since the loop read
  // its clock: the first attempt's share, and its latency in the fault table, count from a fresh
  // reading then, not from a time already spent.
  bool body_work = op.extras_if_any() != nullptr && !op.extras_if_any()->body.empty();
  while (attempt < plan.max_attempts) {
    // A send posted from another thread was stamped by that thread's clock, possibly after the
    // loop's last reading: an attempt never starts before its send did, or the shares of the
    // budget would end the last attempt before the deadline.
    const io::clock::time_point now =
        std::exchange(body_work, false) ? io::clock::now() : std::max(loop_.now(), op.started);
    if (now >= op.deadline) {
      ec = make_error_code(errc::timed_out);
      break;
    }
    if (attempt > 0) counters_.retries.bump();
    const route::publish_queue queue = pick_queue(*info, plan, last_broker, now);
    op.attempts = ++attempt;
    note_tried(op, queue.broker, attempt);
    net::connection* master = brokers_[queue.broker].master;
    if (master == nullptr) {
      ec = make_error_code(errc::no_writable_queue);
      last_broker = queue.broker;
      continue;
    }
    if (delivery_time_unsupported(op, queue.broker)) {
      ec = make_error_code(errc::delivery_time_unsupported);
      break;
    }
    const net::response r = co_await request_attempt(op, *info, queue, *master,
                                                     std::min(op.deadline, now + plan.attempt_cap));
    const bool may_try_another = !plan.ordered && attempt < plan.max_attempts;
    if (conclude_attempt(op, *info, queue, r, now, may_try_another, ec)) co_return;
    last_broker = queue.broker;
  }
  finish(op, ec, info.get());
}

const message& shard::first_message(const send_op& op) noexcept {
  return op.batch.empty() ? *op.msg : op.batch.front();
}

coro<std::error_code> shard::wait_at_gate(std::size_t bytes, io::clock::time_point deadline) {
  co_return co_await gate_.acquire_async(loop_, bytes, deadline);
}

std::error_code shard::prepare_body(send_op& op) {
  const producer_config& config = settings_.config;
  auto& ids = wire::default_uniq_key_generator();
  if (!op.batch.empty()) {
    // Every inner message gets its own UNIQ_KEY; the request itself one more (as 5.x does).
    send_op_extras& extras = op.extras();
    if (auto ec = wire::encode_batch(op.batch, ids, extras.body, &extras.batch_ids)) return ec;
    op.uniq_key_size = ids.next(op.uniq_key.data());
    op.payload = extras.body;
    return {};
  }
  const message& msg = *op.msg;
  // One id per send, kept by every retry, so consumers can de-duplicate.
  op.users_uniq_key = !msg.uniq_key().empty();
  if (!op.users_uniq_key) op.uniq_key_size = ids.next_at(loop_.wall_ms(), op.uniq_key.data());
  // Encoded with each request (encode_properties); checked once, here.
  if (wire::encoded_properties_size(msg, {op.uniq_key_view(), {}}) > wire::max_properties_size) {
    return make_error_code(errc::properties_too_long);
  }
  op.payload = msg.body();
  if (op.payload.size() >= config.compress_threshold) {
    const wire::compression_options options{compression_of(config.compress_type),
                                            config.compress_level, config.compress_threshold};
    std::error_code ec;
    std::string& compressed = op.extras().body;
    const std::int32_t flag = codec_.compress_if_needed(op.payload, options, compressed, &ec);
    if (ec) return ec;
    if (flag != 0) {
      op.sys_flag |= flag;
      op.payload = compressed;
    }
  }
  return {};
}

std::error_code shard::plan_attempts(send_op& op, const route::topic_publish_info& info,
                                     attempt_plan& plan) const {
  const producer_config& config = settings_.config;
  const bool oneway = op.mode == send_mode::oneway;
  plan.ordered = op.ordered;
  plan.max_attempts = 1;
  if (!oneway) {
    plan.max_attempts += op.mode == send_mode::sync ? config.retries_sync : config.retries_async;
  }
  if (plan.ordered && op.mode == send_mode::sync) plan.max_attempts = 1;  // never another queue

  // An ordered send's queue is chosen once and kept by every attempt.
  if (op.ordered) {
    const std::error_code ec = choose_ordered_queue(op, info, plan);
    if (ec) return ec;
  }
  if (info.queues.empty()) return make_error_code(errc::no_writable_queue);

  // The budget shared fairly among the attempts unless a per-attempt cap is configured, so a
  // hung attempt leaves room for the retries.
  plan.attempt_cap = config.attempt_timeout
                         ? std::chrono::duration_cast<io::clock::duration>(*config.attempt_timeout)
                         : (op.deadline - op.started) / plan.max_attempts;
  return {};
}

std::error_code shard::choose_ordered_queue(send_op& op, const route::topic_publish_info& info,
                                           attempt_plan& plan) const {
  send_op_extras& extras = op.extras();
  if (extras.has_queue) {
    const message_queue& wanted = extras.queue;
    // The Java client refuses a queue of another topic (Validators.checkTopic on mq.getTopic).
    if (wanted.topic != info.topic) return make_error_code(errc::invalid_argument);
    for (std::size_t i = 0; i < info.message_queues.size(); ++i) {
      const message_queue& q = info.message_queues[i];
      if (q.broker_name == wanted.broker_name && q.queue_id == wanted.queue_id) plan.fixed = i;
    }
    return plan.fixed ? std::error_code{} : make_error_code(errc::no_writable_queue);
  }
  // User code: whatever it does fails this send only, with a message that says so.
  std::size_t index = 0;
  try {
    if (!extras.selector) {
      extras.diagnostics.remark = "the queue selector is empty";
      return make_error_code(errc::queue_selector_failed);
    }
    index = extras.selector(info.message_queues, first_message(op));
  } catch (const std::exception& e) {
    extras.diagnostics.remark = bounded_remark(std::string("the queue selector threw: ") + e.what());
    return make_error_code(errc::queue_selector_failed);
  } catch (...) {
    extras.diagnostics.remark = "the queue selector threw a non-standard exception";
    return make_error_code(errc::queue_selector_failed);
  }
  if (index >= info.message_queues.size()) {
    extras.diagnostics.remark = "the queue selector returned index " + std::to_string(index) +
                                " of " + std::to_string(info.message_queues.size()) + " queues";
    return make_error_code(errc::queue_selector_failed);
  }
  plan.fixed = index;
  return {};
}

route::publish_queue shard::pick_queue(const route::topic_publish_info& info,
                                       const attempt_plan& plan,
                                       std::optional<route::broker_id> last_broker,
                                       io::clock::time_point now) {
  const std::size_t index =
      plan.fixed ? *plan.fixed
                 : select_queue({info.queues, last_broker,
                                 settings_.config.fault_tolerance ? &faults_ : nullptr, now},
                                info.round_robin);
  return info.queues[index];
}

void shard::note_tried(send_op& op, route::broker_id broker, int attempt) {
  // Diagnostics name the brokers tried only when a send needed more than one attempt or failed:
  // the usual send builds no string. The pipeline names a failed single attempt's broker itself.
  if (attempt == 1) {
    op.first_tried = broker;
    return;
  }
  std::string& list = op.extras().diagnostics.brokers;
  if (attempt == 2) list = brokers_[op.first_tried].name;
  list += ", ";
  list += brokers_[broker].name;
}

bool shard::delivery_time_unsupported(const send_op& op, route::broker_id broker) const {
  const std::optional<std::int32_t>& version = brokers_[broker].version;
  return op.batch.empty() && op.msg->delivery_time_ms() && version &&
         *version < first_version_with_delivery_time;
}

std::string_view shard::encode_properties(const send_op& op) const {
  properties_scratch_.clear();
  if (op.batch.empty()) {
    wire::append_properties(properties_scratch_, *op.msg, {op.uniq_key_view(), {}});
  } else {
    wire::append_batch_header_properties(properties_scratch_,
                                         op.batch.front().wait_store_msg_ok(),
                                         op.uniq_key_view());
  }
  return properties_scratch_;
}

net::request_awaiter<shard::send_encoder> shard::request_attempt(
    send_op& op, const route::topic_publish_info& info, route::publish_queue queue,
    net::connection& master, io::clock::time_point deadline) {
  return net::request(master, send_encoder{*this, op, info, queue}, deadline,
                      op.mode == send_mode::oneway);
}

void shard::send_encoder::operator()(std::string& out, std::int32_t opaque) const {
  const producer_config& config = self.settings_.config;
  const bool is_batch = !op.batch.empty();
  wire::command_fields fields;
  fields.code =
      is_batch ? wire::request_code::send_batch_message : wire::request_code::send_message_v2;
  fields.language = wire::language_code::cpp;
  fields.version = config.protocol_version;
  fields.opaque = opaque;
  fields.flag = op.mode == send_mode::oneway ? wire::flag_oneway : 0;
  wire::frame_writer writer(out, self.settings_.serialization, fields);
  wire::send_message_request_header header;
  header.producer_group = config.group;
  header.topic = info.topic;
  header.default_topic = config.create_topic_key;
  header.default_topic_queue_nums = config.default_topic_queue_nums;
  header.queue_id = queue.queue_id;
  header.sys_flag = op.sys_flag;
  header.born_timestamp = self.loop_.wall_ms();  // encoded now or, deferred, when there is room
  header.flag = first_message(op).flag();
  header.properties = self.encode_properties(op);
  header.reconsume_times = 0;
  header.unit_mode = false;
  header.batch = is_batch;
  header.broker_name = self.brokers_[queue.broker].name;
  header.write(writer, wire::send_header_names::letters);
  writer.finish(op.payload);
}

bool shard::conclude_attempt(send_op& op, const route::topic_publish_info& info,
                             route::publish_queue queue,
                             const net::response& r, io::clock::time_point sent_at,
                             bool may_try_another, std::error_code& ec) {
  // The completion block is read last, by finish; at depth it has left the cache since the
  // send started. Fetching it now overlaps that miss with the response header's parsing.
  __builtin_prefetch(op.completion);
  __builtin_prefetch(reinterpret_cast<const char*>(op.completion) + 64);
  const producer_config& config = settings_.config;
  route::broker_entry& broker = brokers_[queue.broker];
  const auto done = loop_.now();
  const auto latency = std::chrono::duration_cast<milliseconds>(done - sent_at);
  const auto finished = [&](std::error_code final_ec, const delivery* delivered = nullptr) {
    ec = final_ec;
    finish(op, final_ec, &info, delivered);
    return true;
  };

  if (r.error) {
    // Transport failure or the attempt's timeout: isolate the broker, try another.
    ec = r.error;
    faults_.update(queue.broker, latency, true, true, done);
    return is_retriable(ec) ? false : finished(ec);
  }
  if (op.mode == send_mode::oneway) {
    // Written, no response: the result knows only where it went.
    const delivery written{queue};
    return finished({}, &written);
  }
  // The response frame is valid until the pipeline suspends again: read it now.
  const wire::command_view& frame = *r.frame;
  broker.version = frame.fields.version;
  const std::int32_t code = frame.fields.code;
  if (code == wire::response_code::success || wire::is_stored_status(code)) {
    wire::send_message_response_header header;  // views into the frame
    if (header.parse(frame)) {
      faults_.update(queue.broker, latency, true, false, done);
      return finished(make_error_code(errc::invalid_response));
    }
    faults_.update(queue.broker, latency, false, true, done);
    // Stored, but not as asked: the user may prefer another broker (may duplicate). This
    // attempt's result is kept: should every later attempt fail, it is the send's (as Java's
    // sendDefaultImpl returns its last result then), for the message is stored.
    if (code != wire::response_code::success && config.retry_another_broker_when_not_stored_ok &&
        may_try_another) {
      const delivery stored{queue, code, &header};
      describe_delivery(op.extras().stored_not_ok.emplace(), op, &info, &stored);
      ec = {};
      return false;
    }
    const delivery stored{queue, code, &header};
    return finished({}, &stored);
  }
  ec = make_broker_error(code);
  op.extras().diagnostics.remark = bounded_remark(frame.remark.value_or(std::string_view{}));
  faults_.update(queue.broker, latency, true, false, done);
  return is_retriable_response_code(code) ? false : finished(ec);
}

void shard::finish(send_op& op, std::error_code ec, const route::topic_publish_info* info,
                   const delivery* delivered) {
  // Built here, on the stack, and moved once into the handler.
  send_result result;
  send_op_extras* extras = op.extras_if_any();
  if (ec && extras != nullptr && extras->stored_not_ok) {
    // The later attempts failed, but an earlier one stored the message: that is the result,
    // described when it arrived.
    result = std::move(*extras->stored_not_ok);
    ec = {};
  } else if (!ec) {
    describe_delivery(result, op, info, delivered);
  }
  result.attempts = op.attempts;
  if (extras != nullptr) result.diagnostics = std::move(extras->diagnostics);
  if (!ec) {
    counters_.succeeded.bump();
  } else {
    result.queue.topic = first_message(op).topic();  // for the diagnostics (send_error)
    // A failed single attempt names its broker too (note_tried lists retries as they happen).
    if (op.attempts == 1) result.diagnostics.brokers = brokers_[op.first_tried].name;
    result.diagnostics.elapsed_ms =
        std::chrono::duration_cast<milliseconds>(io::clock::now() - op.started).count();
    counters_.failed.bump();
    if (ec == errc::timed_out) counters_.timeouts.bump();
  }
  counters_.in_flight.drop();
  // The admission goes back before the handler runs, so a handler that starts its next send at
  // once finds room; the op goes back to the pool after (a handler that starts the next send at
  // once takes another op, so the pool holds one op more than sends in flight).
  if (op.admitted) gate_.release(op.bytes);
  if (&op == initiating_) {
    op.completion->complete_later(ec, &result);  // never inside the user's initiating call
  } else {
    op.completion->complete(ec, &result);
  }
  // After the hand-off: a flush completes only once this send's handler has run or been
  // handed to its executor.
  note_finished_epoch(op);
  ops_.release(&op);
  if (--running_ == 0 && drained_) std::exchange(drained_, {}).resume();
}

void shard::note_finished_epoch(const send_op& op) noexcept {
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

void shard::describe_delivery(send_result& result, const send_op& op,
                              const route::topic_publish_info* info,
                              const delivery* delivered) const {
  // The message itself is read only when it brought its own key: at depth the user's message
  // is long out of the cache by now (a miss on every completion).
  result.status = send_status::send_ok;  // a stored-but-not-OK code overrides it below
  result.msg_id.assign(!op.batch.empty() ? std::string_view(op.extras_if_any()->batch_ids)
                                         : op.uniq_key_view());
  if (info != nullptr && delivered != nullptr) {
    result.queue.topic = info->topic;
    result.queue.broker_name = brokers_[delivered->queue.broker].name;
    result.queue.queue_id = delivered->queue.queue_id;
  }
  if (delivered != nullptr && delivered->header != nullptr) {
    const wire::send_message_response_header& header = *delivered->header;
    result.status = status_of(delivered->code);
    result.offset_msg_id.assign(header.msg_id);
    result.queue.queue_id = header.queue_id;
    result.queue_offset = header.queue_offset;
    result.transaction_id.assign(header.transaction_id.value_or(std::string_view{}));
    result.region_id.assign(header.msg_region.value_or(default_region));
    result.trace_on = header.trace_on.value_or(true);
  }
}

// --- registration and background work ------------------------------------------------------

coro<void> shard::heartbeat(route::broker_id id) {
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

coro<void> shard::unregister(route::broker_id id, io::clock::time_point deadline,
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

void shard::arm_periodic() {
  if (stopping_) return;
  loop_.add_timer(periodic_, std::min(next_refresh_, next_heartbeat_));
}

void shard::periodic_timer::fire(io::timer_node* t, std::error_code ec) noexcept {
  if (!ec) static_cast<periodic_timer*>(t)->owner.on_periodic();
}

void shard::on_periodic() {
  const auto now = io::clock::now();
  if (now >= next_refresh_ && !refreshing_) {
    next_refresh_ = now + settings_.config.route_refresh_interval;
    refreshing_ = true;
    spawn([](shard& self, io::clock::time_point deadline) -> coro<void> {
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

coro<std::error_code> shard::queues_of(std::string topic, io::clock::time_point deadline,
                                       std::vector<message_queue>& out) {
  route::publish_info_ptr info;
  const std::error_code ec = co_await routes_.get(topic, deadline, info);
  if (!ec) out = info->message_queues;
  co_return ec;
}

// --- shutdown ----------------------------------------------------------------------------

coro<void> shard::shutdown_sequence(io::clock::time_point deadline, std::function<void()> done) {
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

void shard::begin_shutdown(io::clock::time_point deadline, std::function<void()> done) {
  spawn(shutdown_sequence(deadline, std::move(done)));
}

// --- flush -------------------------------------------------------------------------------

void flush_state::shard_done() noexcept {
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

/// One shard's part of a flush: waits on this loop for the sends of epochs up to `epoch`.
struct shard::flush_waiter final : io::timer_node {
  flush_waiter(shard& s, flush_state& st, std::uint64_t e) noexcept
      : timer_node(&fire), owner(s), state(st), epoch(e) {}
  static void fire(io::timer_node* t, std::error_code ec) noexcept {
    auto& self = *static_cast<flush_waiter*>(t);
    if (ec) self.state.aborted.store(true, std::memory_order_relaxed);  // the loop stops
    self.owner.end_flush_waiter(self, true);
  }
  shard& owner;
  flush_state& state;
  std::uint64_t epoch;
  flush_waiter* next = nullptr;
};

void shard::flush(flush_state& state, io::clock::time_point deadline) {
  if (running_in_epoch_ == 0 && older_.empty()) {
    state.shard_done();
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

void shard::check_flush_waiters() noexcept {
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

void shard::end_flush_waiter(flush_waiter& w, bool timed_out) noexcept {
  for (flush_waiter** p = &flush_waiters_; *p != nullptr; p = &(*p)->next) {
    if (*p == &w) {
      *p = w.next;
      break;
    }
  }
  if (timed_out) w.state.timed_out.store(true, std::memory_order_relaxed);
  flush_state& state = w.state;
  delete &w;
  state.shard_done();
}

}  // namespace rmq::send
