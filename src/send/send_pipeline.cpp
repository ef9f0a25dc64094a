#include "send/send_pipeline.hpp"

#include "send/auto_batcher.hpp"
#include "send/batch_rules.hpp"
#include "send/loop_sender.hpp"
#include "send/queue_selector.hpp"
#include "send/registration.hpp"
#include "wire/batch.hpp"
#include "wire/codes.hpp"
#include "wire/properties.hpp"
#include "wire/sys_flag.hpp"

#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>

#include <algorithm>
#include <exception>

namespace rmq::send {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view default_region = "DefaultRegion";

wire::compression_type compression_of(compression c) {
  switch (c) {
    case compression::zstd:
      return wire::compression_type::zstd;
    case compression::lz4:
      return wire::compression_type::lz4;
    case compression::zlib:
      break;
  }
  return wire::compression_type::zlib;
}

send_status status_of(std::int32_t code) {
  switch (code) {
    case wire::response_code::flush_disk_timeout:
      return send_status::flush_disk_timeout;
    case wire::response_code::flush_slave_timeout:
      return send_status::flush_slave_timeout;
    case wire::response_code::slave_not_available:
      return send_status::slave_not_available;
    default:
      return send_status::send_ok;
  }
}

// A broker's remark kept in a failed send's diagnostics: bounded, so that a peer that answers
// megabytes of remark cannot make every failed send carry them.
constexpr std::size_t max_remark_size = 1024;

std::string bounded_remark(std::string_view remark) {
  if (remark.size() <= max_remark_size) return std::string(remark);
  std::string kept(remark.substr(0, max_remark_size));
  kept += "... (" + std::to_string(remark.size()) + " bytes)";
  return kept;
}

// What a denied send's diagnostics say: the access key (never the secret) and the broker's
// reason, so that the operator knows which account to fix.
std::string describe_denial(const access_credentials& credentials, std::string_view broker,
                            std::optional<std::string_view> remark) {
  std::string text =
      credentials.enabled()
          ? "access key " + credentials.access_key + " refused by " + std::string(broker)
          : "unsigned request refused by " + std::string(broker) + " (no access key configured)";
  if (remark) text += ": " + bounded_remark(*remark);
  return text;
}

}  // namespace

send_pipeline::send_pipeline(const pipeline_parts& parts, loop_sender& owner)
    : settings_(parts.settings),
      attempt_settings_(attempt_settings::from(parts.settings.config)),
      loop_(parts.loop),
      brokers_(parts.brokers),
      routes_(parts.routes),
      faults_(parts.faults),
      gate_(parts.gate),
      counters_(parts.counters),
      metrics_(parts.metrics),
      heartbeats_(parts.heartbeats),
      owner_(owner),
      hooks_(parts.settings.config.send_hooks),
      log_(log::or_default(parts.settings.config.logger.get())),
      half_message_properties_{{{wire::property_names::transaction_prepared, "true"},
                                {wire::property_names::producer_group, parts.settings.group}}} {
  if (settings_.config.auto_batch) {
    batcher_ = std::make_unique<auto_batcher>(*this, loop_, *settings_.config.auto_batch);
  }
}

send_pipeline::~send_pipeline() = default;

void send_pipeline::send_gathering_batches(bool for_good) {
  if (batcher_ != nullptr) batcher_->send_all_gathering(for_good);
}

bool send_pipeline::batchable(const send_op& op) const noexcept {
  return op.batch.empty() &&
         may_auto_batch(*op.msg, op.mode, op.purpose, settings_.config.compress_threshold);
}

bool send_pipeline::join_batch_now(send_op& op) {
  if (!batchable(op) || cancel_requested(op)) return false;
  std::error_code ec;
  if (!op.admitted) {
    if (!gate_.try_acquire(op.bytes, ec)) return false;  // full: run() waits for room
    if (ec) {
      // Refused (fail_fast_when_full, or the gate closed): never admitted, never batched.
      finish(op, ec);
      return true;
    }
    op.admitted = true;
  }
  // The usual case: a batch of the topic gathers already, with the route it found.
  if (!op.ordered && batcher_->join_open(op)) return true;
  const route::publish_info_ptr info = routes_.cached(op.msg->topic());
  return info != nullptr && join_batch(op, info);
}

bool send_pipeline::join_batch(send_op& op, const route::publish_info_ptr& info) {
  // No writable queue: run() fails it. Too big for a batch: run() sends it alone.
  if (info->queues.empty()) return false;
  if (!op.ordered) return batcher_->add(op, info, std::nullopt);
  // Measured before the selector runs, so that it runs once whether the send joins or not.
  if (!batcher_->admits(op)) return false;
  std::optional<std::size_t> fixed_queue;
  if (const std::error_code ec = choose_ordered_queue(op, *info, fixed_queue)) {
    finish(op, ec, info.get());
    return true;
  }
  return batcher_->add(op, info, fixed_queue);
}

// One coroutine per send. Its frame lives as long as the send is in flight, so it holds only
// what must survive a suspension: the work is done by plain member functions whose locals stay
// on the stack. A full gate is a child coroutine whose frame exists only while it waits; a route
// miss waits for the topic's one NameServer query in a node inside this frame (topic_routes::
// lookup), so a burst of first sends takes no second frame each.

detached send_pipeline::run(send_op& op) {
  std::error_code ec;
  if (cancel_requested(op)) [[unlikely]] {
    // Cancelled before it reached this loop (a caller blocked at the gate, a posted send).
    finish(op, make_error_code(asio::error::operation_aborted));
    co_return;
  }
  if (!op.admitted) {
    // Started on this loop: admitted here (off the loops, the caller's thread was admitted).
    if (!gate_.try_acquire(op.bytes, ec)) ec = co_await wait_at_gate(op);
    if (ec) {
      finish(op, ec);
      co_return;
    }
    op.admitted = true;
  }

  route::publish_info_ptr info = routes_.cached(first_message(op).topic());
  while (info == nullptr) {
    if (cancel_requested(op)) [[unlikely]] {
      // Cancelled while its admission's resumption was queued: it never waits for the route.
      ec = make_error_code(asio::error::operation_aborted);
      break;
    }
    // Waits in a node inside this frame (topic_routes::lookup), so that a burst of first sends
    // takes no second frame each.
    ec = co_await route_lookup(op, info);
    // The query this send joined had a shorter deadline than this send's own (a per-send
    // timeout): the rest of its budget goes to a query of its own.
    if (ec != errc::timed_out || io::clock::now() >= op.deadline) break;
  }
  if (!ec && batcher_ != nullptr && batchable(op) && join_batch(op, info)) co_return;
  attempt_sequence attempts;
  std::optional<std::size_t> fixed_queue;
  if (!ec) ec = prepare_body(op);
  if (!ec) ec = plan_send(op, *info, attempts, fixed_queue);
  if (ec) {
    finish(op, ec, info.get());
    co_return;
  }

  // Attempts, each capped at its share of the one deadline, on another broker after a failure.
  // Compressing or encoding a batch may have taken long (~100 ms for 4 MB) since the loop read
  // its clock: the first attempt's share, and its latency in the fault table, count from a fresh
  // reading then, not from a time already spent.
  bool body_work = op.extras_if_any() != nullptr && !op.extras_if_any()->body.empty();
  for (;;) {
    // A send posted from another thread was stamped by that thread's clock, possibly after the
    // loop's last reading: an attempt never starts before its send did, or the shares of the
    // budget would end the last attempt before the deadline.
    io::clock::time_point now =
        std::exchange(body_work, false) ? io::clock::now() : std::max(loop_.now(), op.started);
    if (!attempts.may_attempt(now, op.deadline)) break;
    if (cancel_requested(op)) [[unlikely]] {
      stop_cancelled(op, attempts);  // never retried
      break;
    }
    if (attempts.is_retry()) {
      counters_.retries.bump();
      log_.retry(first_message(op).topic(), attempts.made() + 1, attempts.error(), now);
      take_current_route(op, info, fixed_queue.has_value());
    }
    const route::publish_queue queue = pick_queue(*info, fixed_queue, attempts.last_broker(), now);
    const bool timer = op.batch.empty() && op.msg->has_timer();
    if (timer && !brokers_[queue.broker].version && brokers_[queue.broker].master != nullptr)
        [[unlikely]] {
      // A broker this producer has not heard from yet (a fresh producer): its version comes
      // with the answer to the heartbeat its new master was sent. Wait for that answer, under
      // the send's deadline, rather than send a timer a 4.9 broker would deliver at once.
      // Before the attempt begins: nothing is written while it waits.
      {
        registration::heartbeat_waiter answered(heartbeats_, queue.broker, op.deadline);
        const cancel_point point(op, detail::cancel_wait::heartbeat, &answered);
        co_await answered;
      }
      if (cancel_requested(op)) [[unlikely]] {
        stop_cancelled(op, attempts);
        break;
      }
      if (heartbeats_.stopped()) {
        attempts.stop(make_error_code(errc::shutting_down));
        break;
      }
      now = io::clock::now();  // the wait is neither the broker's latency nor the attempt's
      if (!brokers_[queue.broker].version) {
        // Its heartbeat failed, or did not end in time: as a transport failure there, which
        // another attempt (another broker) may avoid.
        op.attempts = attempts.begin(queue.broker);
        note_tried(op, queue.broker, op.attempts);
        attempts.skipped(
            make_error_code(now >= op.deadline ? errc::timed_out : errc::connection_lost));
        continue;
      }
    }
    op.attempts = attempts.begin(queue.broker);
    note_tried(op, queue.broker, op.attempts);
    net::connection* master = brokers_[queue.broker].master;  // may have changed meanwhile
    if (master == nullptr) {
      attempts.skipped(make_error_code(errc::no_writable_queue));
      continue;
    }
    if (!delivery_time_supported(shape_of(op), timer, brokers_[queue.broker].version)) {
      attempts.stop(make_error_code(errc::delivery_time_unsupported));
      break;
    }
    const net::response r = co_await request_attempt(
        op, *info, queue, *master, attempt_deadline(attempts.plan(), now, op.deadline));
    if (conclude_attempt(op, *info, queue, r, now, attempts)) co_return;
  }
  finish(op, attempts.error(), info.get());
}

const message& send_pipeline::first_message(const send_op& op) noexcept {
  return op.batch.empty() ? *op.msg : op.batch.front();
}

send_shape send_pipeline::shape_of(const send_op& op) noexcept {
  return {op.mode, op.ordered, !op.batch.empty()};
}

coro<std::error_code> send_pipeline::wait_at_gate(send_op& op) {
  admission_gate::acquire_awaiter admission = gate_.acquire_async(loop_, op.bytes, op.deadline);
  const cancel_point point(op, detail::cancel_wait::gate, &admission);
  co_return co_await admission;
}

send_pipeline::route_awaiter send_pipeline::route_lookup(send_op& op,
                                                         route::publish_info_ptr& info) {
  return route_awaiter(op, routes_, first_message(op).topic(), info);
}

void send_pipeline::stop_cancelled(send_op& op, attempt_sequence& attempts) {
  if (attempts.made() > 0) {
    // Its earlier attempt failed after the (total) cancellation was ignored: say what it was,
    // for its request may have reached the broker.
    op.extras().diagnostics.remark =
        "cancelled before a retry; the last attempt (which may have stored the message) failed "
        "with: " +
        attempts.error().message();
  }
  attempts.stop(make_error_code(asio::error::operation_aborted));
}

bool send_pipeline::cancel_requested(const send_op& op) noexcept {
  return op.cancel != nullptr && op.cancel->requested_now() != 0;
}

void send_pipeline::cancel(send_op& op, std::uint32_t type) {
  detail::cancel_link& link = *op.cancel;
  const std::error_code aborted = make_error_code(asio::error::operation_aborted);
  // Each branch resumes the send inline (it completes, with operation_aborted, unless a
  // response or the deadline got there first); nothing waits: the next step checks.
  switch (link.where) {
    case detail::cancel_wait::none:
      return;
    case detail::cancel_wait::gate:
      gate_.cancel(*static_cast<admission_gate::acquire_awaiter*>(link.waiting), aborted);
      return;
    case detail::cancel_wait::route:
      static_cast<route::topic_routes::lookup*>(link.waiting)->abandon();
      return;
    case detail::cancel_wait::heartbeat:
      heartbeats_.cancel(*static_cast<registration::heartbeat_waiter*>(link.waiting));
      return;
    case detail::cancel_wait::batch:
      batcher_->cancel(op, type);
      return;
    case detail::cancel_wait::request: {
      const auto& attempt = *static_cast<const attempt_awaiter*>(link.waiting);
      net::connection& conn = attempt.target();
      const net::request_state state = conn.state_of(attempt.ticket());
      if (state == net::request_state::free) return;
      const bool reached_socket =
          state == net::request_state::writing || state == net::request_state::written;
      // Once written, only terminal and partial cancellation end it: total promises no side
      // effect, and the broker may have stored the message already.
      constexpr auto ends_written = static_cast<std::uint32_t>(asio::cancellation_type::terminal |
                                                               asio::cancellation_type::partial);
      if (reached_socket && (type & ends_written) == 0) return;
      link.after_write = reached_socket;
      conn.cancel(attempt.ticket(), aborted);
      return;
    }
  }
}

std::error_code send_pipeline::prepare_body(send_op& op) {
  const producer_config& config = settings_.config;
  auto& ids = wire::default_uniq_key_generator();
  if (!op.batch.empty()) {
    // Every inner message gets its own UNIQ_KEY; the request itself one more (as 5.x does).
    send_op_extras& extras = op.extras();
    const wire::batch_added_properties added =
        op.hook_properties ? wire::batch_added_properties{extras.hooks.pairs, extras.hooks.bounds}
                           : wire::batch_added_properties{};
    if (auto ec = wire::encode_batch(op.batch, ids, extras.body, &extras.batch_ids,
                                     wire::trailing_separator::keep, added)) {
      return ec;
    }
    // Validated before the hooks ran: what they added may take the body past the limit.
    if (extras.body.size() > config.max_message_size) [[unlikely]] {
      return make_error_code(errc::body_too_large);
    }
    op.uniq_key_size = ids.next(op.uniq_key.data());
    op.payload = extras.body;
    return {};
  }
  const message& msg = *op.msg;
  // One id per send, kept by every retry, so consumers can de-duplicate.
  op.users_uniq_key = !msg.uniq_key().empty();
  if (!op.users_uniq_key)
    op.uniq_key_size = ids.next_at(loop_.wall_ms(), op.uniq_key.data(), uniq_keys_);
  // Encoded with each request (encode_properties); checked once, here.
  if (wire::encoded_properties_size(msg, {op.uniq_key_view(), extra_properties(op),
                                          settings_.config.name_space, hook_added(op)}) >
      wire::max_properties_size) {
    return make_error_code(errc::properties_too_long);
  }
  if (op.purpose == detail::send_purpose::half_message) {
    op.sys_flag |= wire::sys_flag::transaction_prepared;
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

std::error_code send_pipeline::plan_send(send_op& op, const route::topic_publish_info& info,
                                         attempt_sequence& attempts,
                                         std::optional<std::size_t>& fixed_queue) const {
  attempts =
      attempt_sequence(plan_attempts(shape_of(op), attempt_settings_, op.started, op.deadline));
  // An ordered send's queue is chosen once and kept by every attempt.
  if (op.ordered) {
    const std::error_code ec = choose_ordered_queue(op, info, fixed_queue);
    if (ec) return ec;
  }
  if (info.queues.empty()) return make_error_code(errc::no_writable_queue);
  return {};
}

std::error_code send_pipeline::choose_ordered_queue(send_op& op,
                                                    const route::topic_publish_info& info,
                                                    std::optional<std::size_t>& fixed_queue) const {
  send_op_extras& extras = op.extras();
  if (extras.has_queue) {
    const message_queue& wanted = extras.queue;
    // The Java client refuses a queue of another topic (Validators.checkTopic on mq.getTopic).
    if (wanted.topic != info.topic) return make_error_code(errc::invalid_argument);
    for (std::size_t i = 0; i < info.message_queues.size(); ++i) {
      const message_queue& q = info.message_queues[i];
      if (q.broker_name == wanted.broker_name && q.queue_id == wanted.queue_id) fixed_queue = i;
    }
    return fixed_queue ? std::error_code{} : make_error_code(errc::no_writable_queue);
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
    extras.diagnostics.remark =
        bounded_remark(std::string("the queue selector threw: ") + e.what());
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
  fixed_queue = index;
  return {};
}

void send_pipeline::take_current_route(const send_op& op, route::publish_info_ptr& info,
                                       bool keep_queue) {
  route::publish_info_ptr current = routes_.cached(first_message(op).topic());
  // Forgotten as idle while this send ran (its attempts outlasted route_idle_timeout): the
  // route it holds goes back into the cache, so that its broker has a master again.
  if (!current) current = routes_.readopt(*info);
  // An ordered send keeps its queue: an index into the route it chose it from.
  if (keep_queue) return;
  // A route left without a writable queue is not taken: the attempts go on with the old one,
  // whose brokers the fault table judges, rather than failing on an empty list.
  if (current && current.get() != info.get() && !current->queues.empty()) {
    info = std::move(current);
  }
}

route::publish_queue send_pipeline::pick_queue(const route::topic_publish_info& info,
                                               std::optional<std::size_t> fixed_queue,
                                               std::optional<route::broker_id> last_broker,
                                               io::clock::time_point now) {
  const std::size_t index =
      fixed_queue ? *fixed_queue
                  : select_queue({info.queues, last_broker,
                                  settings_.config.fault_tolerance ? &faults_ : nullptr, now},
                                 info.round_robin);
  return info.queues[index];
}

void send_pipeline::note_tried(send_op& op, route::broker_id broker, int attempt) {
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

std::span<const wire::property_ref> send_pipeline::extra_properties(
    const send_op& op) const noexcept {
  switch (op.purpose) {
    case detail::send_purpose::plain:
      return {};
    case detail::send_purpose::half_message:
      return half_message_properties_;
    case detail::send_purpose::request:
    case detail::send_purpose::reply: {
      const send_op_extras& extras = *op.extras_if_any();
      return {extras.correlation_properties.data(), extras.correlation_count};
    }
  }
  return {};
}

std::string_view send_pipeline::encode_properties(const send_op& op) const {
  properties_scratch_.clear();
  if (op.batch.empty()) {
    wire::append_properties(
        properties_scratch_, *op.msg,
        {op.uniq_key_view(), extra_properties(op), settings_.config.name_space, hook_added(op)});
  } else {
    wire::append_batch_header_properties(properties_scratch_, op.batch.front().wait_store_msg_ok(),
                                         op.uniq_key_view(), settings_.config.name_space);
  }
  return properties_scratch_;
}

send_pipeline::attempt_awaiter send_pipeline::request_attempt(send_op& op,
                                                              const route::topic_publish_info& info,
                                                              route::publish_queue queue,
                                                              net::connection& master,
                                                              io::clock::time_point deadline) {
  return attempt_awaiter(
      master, send_encoder{*this, op, info, queue}, deadline,
      op.mode == send_mode::oneway ? net::request_kind::oneway : net::request_kind::two_way);
}

void send_pipeline::prefetch_op(const void* context) noexcept {
  const char* op = reinterpret_cast<const char*>(&attempt_awaiter::encoder_of(context).op);
  for (std::size_t line = 0; line < sizeof(send_op); line += 64) __builtin_prefetch(op + line);
}

void send_pipeline::send_encoder::operator()(std::string& out, std::int32_t opaque) const {
  const bool is_batch = !op.batch.empty();
  self.write_request(
      out, opaque,
      {is_batch                                    ? wire::request_code::send_batch_message
       : op.purpose == detail::send_purpose::reply ? wire::request_code::send_reply_message_v2
                                                   : wire::request_code::send_message_v2,
       op.mode == send_mode::oneway, info, queue, op.sys_flag, first_message(op).flag(),
       self.encode_properties(op), is_batch, op.payload});
}

void send_pipeline::write_request(std::string& out, std::int32_t opaque,
                                  const request_parts& parts) const {
  const producer_config& config = settings_.config;
  wire::command_fields fields = settings_.request_fields(parts.code, opaque);
  fields.flag = parts.oneway ? wire::flag_oneway : 0;
  wire::frame_writer writer(out, settings_.serialization, fields);
  wire::send_message_request_header header;
  header.producer_group = settings_.group;
  header.topic = parts.info.wire_topic;
  header.default_topic = config.create_topic_key;
  header.default_topic_queue_nums = config.default_topic_queue_nums;
  header.queue_id = parts.queue.queue_id;
  header.sys_flag = parts.sys_flag;
  header.born_timestamp = loop_.wall_ms();  // encoded now or, deferred, when there is room
  header.flag = parts.flag;
  header.properties = parts.properties;
  header.reconsume_times = 0;
  header.unit_mode = false;
  header.batch = parts.batch;
  header.broker_name = brokers_[parts.queue.broker].name;
  header.write(writer, wire::send_header_names::letters);
  writer.finish(parts.payload);
}

bool send_pipeline::conclude_attempt(send_op& op, const route::topic_publish_info& info,
                                     route::publish_queue queue, const net::response& r,
                                     io::clock::time_point sent_at, attempt_sequence& attempts) {
  // The completion block is read last, by finish; at depth it has left the cache since the
  // send started. Fetching it now overlaps that miss with the response header's parsing.
  __builtin_prefetch(op.completion);
  __builtin_prefetch(reinterpret_cast<const char*>(op.completion) + 64);
  const auto done = loop_.now();
  const auto latency = std::chrono::duration_cast<milliseconds>(done - sent_at);

  // Views into the response frame, valid until the pipeline suspends again: read it now.
  wire::send_message_response_header header;
  const bool cancelled = cancel_requested(op) && r.error == asio::error::operation_aborted;
  const attempt_outcome outcome = read_outcome(r, op.mode, cancelled, queue.broker, header);
  if (cancelled && op.cancel->after_write) [[unlikely]] {
    op.extras().diagnostics.remark =
        "cancelled after its request was written: the broker may have stored the message";
  }
  const attempt_verdict verdict = attempts.judge(shape_of(op), attempt_settings_, outcome);
  note_fault(verdict, queue.broker, latency, done);
  tally_attempt(queue.broker, outcome, verdict, message_count(op), op.bytes, done - sent_at,
                attempts.made() > 1);
  if (outcome.what == attempt_outcome::kind::answered && stores_message(outcome.response_code)) {
    // The usual case: no remark.
  } else if (std::optional<std::string> remark = failure_remark(outcome, r.frame, queue.broker)) {
    op.extras().diagnostics.remark = std::move(*remark);
  }
  const delivery delivered{queue, outcome.response_code,
                           outcome.what == attempt_outcome::kind::answered ? &header : nullptr};
  switch (verdict.step) {
    case next_step::retry_same_queue:
    case next_step::retry_another_broker:
      return false;
    case next_step::keep_stored_and_retry:
      // This attempt's result stands should every later attempt fail (final_error).
      describe_delivery(op.extras().stored_not_ok.emplace(), op, &info, &delivered);
      return false;
    case next_step::stop_with_result:
      finish(op, {}, &info, &delivered);
      return true;
    case next_step::stop_with_error:
      finish(op, verdict.error, &info);
      return true;
  }
  return true;
}

attempt_outcome send_pipeline::read_outcome(const net::response& r, send_mode mode, bool cancelled,
                                            route::broker_id broker,
                                            wire::send_message_response_header& header) {
  if (cancelled) [[unlikely]]
    return attempt_outcome::cancelled();
  if (r.error) return attempt_outcome::transport_failure(r.error);
  if (mode == send_mode::oneway) return attempt_outcome::write_done();
  const wire::command_view& frame = *r.frame;
  brokers_[broker].version = frame.fields.version;
  const std::int32_t code = frame.fields.code;
  if (!stores_message(code) &&
      wire::is_access_denial(code, frame.remark.value_or(std::string_view{}))) [[unlikely]] {
    return attempt_outcome::access_denied(code);
  }
  return attempt_outcome::response(code, !stores_message(code) || !header.parse(frame));
}

void send_pipeline::note_fault(const attempt_verdict& verdict, route::broker_id broker,
                               milliseconds latency, io::clock::time_point done) {
  if (!verdict.fault) return;
  const fault_change change = faults_.update(broker, latency, *verdict.fault, done);
  if (change != fault_change::none && settings_.config.fault_tolerance) [[unlikely]] {
    log_.fault_changed(change, broker, brokers_[broker].name, verdict.error, latency,
                       faults_.available_from(broker), done);
  }
}

std::optional<std::string> send_pipeline::failure_remark(const attempt_outcome& outcome,
                                                         const wire::command_view* frame,
                                                         route::broker_id broker) const {
  if (outcome.what == attempt_outcome::kind::answered && !stores_message(outcome.response_code)) {
    return bounded_remark(frame->remark.value_or(std::string_view{}));
  }
  if (outcome.what == attempt_outcome::kind::denied) [[unlikely]] {
    return describe_denial(settings_.config.credentials, brokers_[broker].name, frame->remark);
  }
  return std::nullopt;
}

void send_pipeline::finish(send_op& op, std::error_code ec, const route::topic_publish_info* info,
                           const delivery* delivered) {
  // Built here, on the stack, and moved once into the handler.
  send_result result;
  send_op_extras* extras = op.extras_if_any();
  const bool stored_kept = extras != nullptr && extras->stored_not_ok.has_value();
  if (ec && !final_error(ec, stored_kept)) {
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
    const io::clock::time_point now = io::clock::now();
    result.diagnostics.elapsed_ms =
        std::chrono::duration_cast<milliseconds>(now - op.started).count();
    log_.failed(result.queue.topic, ec, op.attempts, result.diagnostics.brokers,
                milliseconds(result.diagnostics.elapsed_ms), now);
    counters_.failed.bump();
    if (ec == errc::timed_out) counters_.timeouts.bump();
  }
  tally_send(op, ec, info);
  if (op.hooked) [[unlikely]]
    run_after_hooks(op, ec, result);
  counters_.in_flight.drop();
  // The admission goes back before the handler runs, so a handler that starts its next send at
  // once finds room.
  if (op.admitted) gate_.release(op.bytes);
  owner_.complete(op, ec, result);
}

// --- metrics --------------------------------------------------------------------------------

void send_pipeline::tally_attempt(route::broker_id broker, const attempt_outcome& outcome,
                                  const attempt_verdict& verdict, std::uint64_t messages,
                                  std::uint64_t body_bytes, io::clock::duration latency,
                                  bool retry) {
  const route::broker_entry& entry = brokers_[broker];
  metrics::broker_tally& tally = metrics_.broker(broker, entry.name);
  if (tally.generation != entry.master_generation) [[unlikely]]
    metrics_.set_address(tally, entry.master_generation, entry.master_address);
  const bool stored = verdict.step == next_step::stop_with_result ||
                      verdict.step == next_step::keep_stored_and_retry;
  std::error_code ec;
  if (!stored) [[unlikely]]
    ec = verdict.error ? verdict.error : outcome.error;
  tally.attempts.count(messages, body_bytes, ec);
  if (retry) tally.attempts.retries.bump(messages);
  if (outcome.what == attempt_outcome::kind::answered ||
      outcome.what == attempt_outcome::kind::denied) {
    tally.attempts.latency.record(latency);
  }
}

void send_pipeline::tally_send(const send_op& op, std::error_code ec,
                               const route::topic_publish_info* info) {
  metrics::topic_tally* tally = info != nullptr ? info->tally : nullptr;
  if (tally == nullptr) [[unlikely]] {
    tally = &metrics_.topic(first_message(op).topic());
    if (info != nullptr) info->tally = tally;
  }
  tally->sends.count(message_count(op), op.bytes, ec);
  if (op.attempts > 1) tally->sends.retries.bump(static_cast<std::uint64_t>(op.attempts - 1));
  if (!ec && op.mode != send_mode::oneway) tally->sends.latency.record(loop_.now() - op.started);
}

// --- send hooks ---------------------------------------------------------------------------

static_assert(static_cast<int>(detail::send_kind::async) ==
                  static_cast<int>(send_hook_mode::async) &&
              static_cast<int>(detail::send_kind::sync) == static_cast<int>(send_hook_mode::sync) &&
              static_cast<int>(detail::send_kind::oneway) ==
                  static_cast<int>(send_hook_mode::oneway));
static_assert(
    static_cast<int>(detail::send_purpose::plain) == static_cast<int>(send_hook_kind::message) &&
    static_cast<int>(detail::send_purpose::half_message) ==
        static_cast<int>(send_hook_kind::half_message) &&
    static_cast<int>(detail::send_purpose::request) == static_cast<int>(send_hook_kind::request) &&
    static_cast<int>(detail::send_purpose::reply) == static_cast<int>(send_hook_kind::reply));

void send_pipeline::run_before_hooks(send_op& op) {
  op.hooked = true;
  const std::size_t count = message_count(op);
  const send_context::sink sink{&op, &add_hook_property};
  for (std::size_t i = 0; i < count; ++i) {
    send_context context(op.batch.empty() ? *op.msg : op.batch[i], settings_.config.group,
                         static_cast<send_hook_kind>(op.purpose),
                         static_cast<send_hook_mode>(op.mode), i, count, sink);
    for (const auto& hook : hooks_) {
      try {
        hook->before_send(context);
      } catch (...) {
        hook_threw("before_send", std::current_exception());
      }
    }
  }
  if (!op.hook_properties) return;
  // Every hook has run: the text no longer grows, so the views into it stay valid.
  send_op_extras::hook_properties& added = op.extras().hooks;
  const std::string_view text = added.text;
  for (const auto& slot : added.slots) {
    added.pairs.push_back(
        {text.substr(slot.name_at, slot.name_size), text.substr(slot.value_at, slot.value_size)});
  }
  if (op.batch.empty()) return;
  added.bounds.assign(count + 1, 0);
  for (const auto& slot : added.slots) ++added.bounds[slot.message + 1];
  for (std::size_t i = 1; i <= count; ++i) added.bounds[i] += added.bounds[i - 1];
}

std::error_code send_pipeline::add_hook_property(void* target, std::size_t index,
                                                 std::string_view name, std::string_view value) {
  auto& op = *static_cast<send_op*>(target);
  send_op_extras::hook_properties& added = op.extras().hooks;
  if (added.slots.empty() || added.slots.back().message != index) added.message_bytes = 0;
  // name 0x01 value 0x02: a message's own properties come on top, and the send checks the
  // total; this bound only keeps a runaway hook from growing the buffer without end.
  const std::size_t pair_bytes = name.size() + value.size() + 2;
  if (added.message_bytes + pair_bytes > wire::max_properties_size) {
    return make_error_code(errc::properties_too_long);
  }
  added.message_bytes += pair_bytes;
  const auto at = static_cast<std::uint32_t>(added.text.size());
  added.text.append(name);
  added.text.append(value);
  added.slots.push_back(
      {static_cast<std::uint32_t>(index), at, static_cast<std::uint32_t>(name.size()),
       static_cast<std::uint32_t>(at + name.size()), static_cast<std::uint32_t>(value.size())});
  op.hook_properties = true;
  return {};
}

std::span<const wire::property_ref> send_pipeline::hook_added(const send_op& op) noexcept {
  if (!op.hook_properties) return {};
  return op.extras_if_any()->hooks.pairs;
}

void send_pipeline::run_after_hooks(const send_op& op, std::error_code ec,
                                    const send_result& result) {
  // The last attempt's broker, read from what the send keeps anyway rather than from one more
  // field per op: the first attempt's, or the last of the brokers tried (note_tried; the
  // result's diagnostics by now).
  std::string_view broker;
  std::string_view address;
  if (op.attempts == 1) {
    broker = brokers_[op.first_tried].name;
    address = brokers_[op.first_tried].master_address;
  } else if (op.attempts > 1) {
    broker = result.diagnostics.brokers;
    if (const std::size_t comma = broker.rfind(", "); comma != std::string_view::npos) {
      broker.remove_prefix(comma + 2);
    }
    if (const std::optional<route::broker_id> id = brokers_.find(broker)) {
      address = brokers_[*id].master_address;
    }
  }
  const send_outcome outcome{ec,     result, op.attempts, io::clock::now() - op.started,
                             broker, address};
  const std::size_t count = message_count(op);
  for (std::size_t i = 0; i < count; ++i) {
    const send_context context(op.batch.empty() ? *op.msg : op.batch[i], settings_.config.group,
                               static_cast<send_hook_kind>(op.purpose),
                               static_cast<send_hook_mode>(op.mode), i, count, {});
    for (const auto& hook : hooks_) {
      try {
        hook->after_send(context, outcome);
      } catch (...) {
        hook_threw("after_send", std::current_exception());
      }
    }
  }
}

void send_pipeline::hook_threw(std::string_view where, std::exception_ptr thrown) {
  counters_.hook_exceptions.bump();
  try {
    std::rethrow_exception(std::move(thrown));
  } catch (const std::exception& e) {
    log_.hook_threw(where, e.what(), io::clock::now());
  } catch (...) {
    log_.hook_threw(where, "a non-standard exception", io::clock::now());
  }
}

void send_pipeline::describe_delivery(send_result& result, const send_op& op,
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
    result.queue.queue_id = header.queue_id;
    if (delivered->batch_index < 0) {
      result.offset_msg_id.assign(header.msg_id);
      result.queue_offset = header.queue_offset;
    } else {
      // A member of an automatic batch (as the Java client splits a batch's result).
      result.offset_msg_id.assign(delivered->offset_msg_id);
      result.queue_offset = header.queue_offset + delivered->batch_index;
    }
    result.transaction_id.assign(header.transaction_id.value_or(std::string_view{}));
    if (header.recall_handle) [[unlikely]]
      result.recall_handle.assign(*header.recall_handle);
    result.region_id.assign(header.msg_region.value_or(default_region));
    result.trace_on = header.trace_on.value_or(true);
  }
}

}  // namespace rmq::send
