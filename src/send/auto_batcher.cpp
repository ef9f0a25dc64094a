#include "send/auto_batcher.hpp"

#include "send/send_pipeline.hpp"
#include "wire/batch.hpp"
#include "wire/codes.hpp"
#include "wire/properties.hpp"
#include "wire/sys_flag.hpp"

#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>

#include <algorithm>
#include <utility>

namespace rmq::send {

struct auto_batcher::batch {
  struct linger_timer final : io::timer_node {
    explicit linger_timer(batch& b) noexcept : timer_node(&auto_batcher::linger_ended), owner(b) {}
    batch& owner;
  };
  enum class state : std::uint8_t {
    gathering,  // in open_: sends join it
    leaving,    // in leaving_: full or flushed, sent at the end of the turn
    sending,    // its attempts run
  };

  explicit batch(auto_batcher& b) noexcept : batcher(b) {}

  auto_batcher& batcher;
  // The key: the user's topic, an ordered send's queue, the mode (its retry count) and the
  // budget (send_timeout, or the send's own timeout): members share attempts, and with one
  // budget their deadlines differ by the linger at most.
  std::string topic;
  std::optional<std::size_t> fixed_queue;
  detail::send_kind mode = detail::send_kind::async;
  io::clock::duration budget{};

  route::publish_info_ptr info;  // the route its first member found
  std::vector<member> members;   // in record order
  std::string body;              // the members' records, back to back
  batch_fill fill;
  std::size_t live = 0;  // members not completed
  state now = state::gathering;
  io::clock::time_point opened{};    // when its first member joined
  io::clock::time_point started{};   // the earliest member's start
  io::clock::time_point deadline{};  // the earliest deadline of a live member
  batch_request* request = nullptr;  // the attempt's request, while it is under way
  std::array<char, wire::uniq_key_max_size> uniq_key{};
  std::size_t uniq_key_size = 0;
  std::string properties;  // the request header's: WAIT, the batch's UNIQ_KEY (INSTANCE_ID)
  // The response's strings, copied before the first member's handler runs (they are views into
  // the connection's read buffer).
  std::string response_ids, response_transaction, response_region;
  std::size_t retained = 0;  // buffer capacity counted in the batcher's retained_ while idle
  linger_timer linger{*this};

  [[nodiscard]] std::size_t buffer_capacity() const noexcept {
    return body.capacity() + members.capacity() * sizeof(member) + properties.capacity() +
           response_ids.capacity();
  }
};

namespace {

// Idle batches keep their buffers for the next ones, up to this much in all (send_op_pool's
// reasoning: without a bound, the memory kept would stay at the peak forever).
constexpr std::size_t retained_budget = 16u << 20;

std::error_code aborted() {
  return make_error_code(asio::error::operation_aborted);
}

template <class T>
void erase_one(std::vector<T*>& list, T* item) {
  list.erase(std::find(list.begin(), list.end(), item));
}

}  // namespace

auto_batcher::auto_batcher(send_pipeline& pipeline, io::loop& loop, const auto_batch_config& limits)
    : pipeline_(pipeline), loop_(loop), limits_(limits) {}

auto_batcher::~auto_batcher() {
  // A shutdown sends every gathering batch; a timer left armed must not outlive its batch.
  for (const auto& b : all_) loop_.cancel_timer(b->linger);
}

void auto_batcher::give_uniq_key(send_op& op) const noexcept {
  // One id per send, kept by every retry (as send_pipeline::prepare_body gives it).
  op.users_uniq_key = !op.msg->uniq_key().empty();
  if (!op.users_uniq_key) {
    op.uniq_key_size = wire::default_uniq_key_generator().next_at(
        loop_.wall_ms(), op.uniq_key.data(), pipeline_.uniq_keys_);
  }
}

bool auto_batcher::admits(send_op& op) const {
  give_uniq_key(op);
  const std::size_t properties = wire::encoded_properties_size(
      *op.msg, {op.uniq_key_view(), {}, {}, send_pipeline::hook_added(op)});
  return properties <= wire::max_properties_size &&
         !too_big_to_batch(wire::batch_record_size(op.msg->body().size(), properties), limits_);
}

bool auto_batcher::join_open(send_op& op) {
  batch* b = find_open(op, nullptr, std::nullopt);
  if (b == nullptr) return false;
  give_uniq_key(op);
  // b outlives append (leaving only moves it to another list): its route may be passed along.
  return append(*b, op, b->info, std::nullopt);
}

bool auto_batcher::add(send_op& op, const route::publish_info_ptr& info,
                       std::optional<std::size_t> fixed_queue) {
  if (!fixed_queue) give_uniq_key(op);  // an ordered send got it from admits()
  batch* b = find_open(op, info.get(), fixed_queue);
  if (b != nullptr) return append(*b, op, info, fixed_queue);
  if (fixed_queue) {
    // A batch of this queue that gathers under an older route leaves first, so that the
    // queue's batches go out in the order their messages came.
    if (batch* older = find_open(op, nullptr, fixed_queue)) depart(*older);
  }
  batch& opened = open(op, info, fixed_queue);
  if (append(opened, op, info, fixed_queue)) return true;
  // Opened for nothing: it goes back.
  erase_one(open_, &opened);
  loop_.cancel_timer(opened.linger);
  release(opened);
  return false;
}

bool auto_batcher::append(batch& into, send_op& op, const route::publish_info_ptr& info,
                          std::optional<std::size_t> fixed_queue) {
  batch* b = &into;
  std::size_t at = b->body.size();
  // Encoded in place, measured after: one pass over the properties.
  if (wire::append_batch_message(b->body, *op.msg,
                                 {op.uniq_key_view(), {}, {}, send_pipeline::hook_added(op)}) >
      wire::max_properties_size) {
    return false;  // taken out again by append_batch_message
  }
  const std::size_t size = b->body.size() - at;
  if (too_big_to_batch(size, limits_)) {
    b->body.resize(at);
    return false;
  }
  if (b->fill.messages != 0 && !fits(b->fill, size, limits_)) {
    // No room beside the others: they leave, and the record opens the next batch.
    batch& next = open(op, info, fixed_queue);
    next.body.append(b->body, at, size);
    b->body.resize(at);
    depart(*b);
    b = &next;
    at = 0;
  }
  b->members.push_back({&op, static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(size)});
  b->fill.bytes += size;
  ++b->fill.messages;
  ++b->live;
  pipeline_.counters_.auto_batched.bump();
  b->started = std::min(b->started, op.started);
  if (op.deadline < b->deadline) {
    b->deadline = op.deadline;
    // A member with less time left than the others: the batch leaves in time for it.
    const io::clock::time_point latest =
        leave_by(b->opened, limits_.linger, loop_.now(), op.deadline);
    if (b->linger.armed() && latest < b->linger.deadline()) loop_.add_timer(b->linger, latest);
  }
  if (op.cancel != nullptr) op.cancel->waits_on(detail::cancel_wait::batch, b);
  if (full(b->fill, limits_)) depart(*b);
  return true;
}

auto_batcher::batch* auto_batcher::find_open(
    const send_op& op, const route::topic_publish_info* info,
    std::optional<std::size_t> fixed_queue) const noexcept {
  // Few keys are open at once (topics × ordered queues being sent to): newest first.
  const std::string& topic = op.msg->topic();
  for (auto it = open_.rbegin(); it != open_.rend(); ++it) {
    batch* b = *it;
    if (b->topic == topic && b->fixed_queue == fixed_queue && b->mode == op.mode &&
        b->budget == op.deadline - op.started &&
        (!fixed_queue || info == nullptr || b->info.get() == info)) {
      return b;
    }
  }
  return nullptr;
}

auto_batcher::batch& auto_batcher::open(const send_op& op, const route::publish_info_ptr& info,
                                        std::optional<std::size_t> fixed_queue) {
  if (free_.empty()) {
    all_.push_back(std::make_unique<batch>(*this));
    // The lists of batches have room for all of them, so that moving batches between them never
    // allocates (departing_ is given leaving_'s room before they swap: it may be iterated now).
    for (std::vector<batch*>* list : {&free_, &open_, &leaving_}) {
      if (list->capacity() < all_.size()) list->reserve(2 * all_.size());
    }
    free_.push_back(all_.back().get());
  }
  batch& b = *free_.back();
  free_.pop_back();
  b.topic.assign(op.msg->topic());
  b.fixed_queue = fixed_queue;
  b.mode = op.mode;
  b.budget = op.deadline - op.started;
  b.info = info;
  b.now = batch::state::gathering;
  b.opened = loop_.now();
  b.started = op.started;
  b.deadline = op.deadline;
  open_.push_back(&b);
  if (limits_.linger.count() == 0 || !lingering_) {
    schedule_turn();  // what this turn of the loop gathers leaves once the turn's work is done
  } else {
    loop_.add_timer(b.linger, leave_by(b.opened, limits_.linger, b.opened, op.deadline));
  }
  return b;
}

void auto_batcher::depart(batch& b) {
  erase_one(open_, &b);
  loop_.cancel_timer(b.linger);
  b.now = batch::state::leaving;
  leaving_.push_back(&b);
  schedule_turn();
}

void auto_batcher::schedule_turn() {
  if (turn_.queued) return;
  turn_.queued = true;
  loop_.defer(turn_);
}

void auto_batcher::send_all_gathering(bool for_good) {
  if (for_good) lingering_ = false;
  if (open_.empty()) return;
  close_all_open();
  schedule_turn();
}

void auto_batcher::close_all_open() noexcept {
  for (batch* b : open_) {
    loop_.cancel_timer(b->linger);
    b->now = batch::state::leaving;
    leaving_.push_back(b);  // room for every batch (open): no allocation
  }
  open_.clear();
}

void auto_batcher::leave(batch& b) {
  b.now = batch::state::sending;
  send(b);
}

void auto_batcher::linger_ended(io::timer_node* node, std::error_code ec) noexcept {
  batch& b = static_cast<batch::linger_timer*>(node)->owner;
  auto_batcher& self = b.batcher;
  erase_one(self.open_, &b);
  if (ec) {
    self.abandon(b);  // the loop is closing (a shutdown sends every batch before)
  } else if (!self.leaving_.empty()) {
    // Batches that left before it (full ones) go first, in order: an ordered queue's batches
    // are written in the order their messages came. The turn's end sends them all.
    b.now = batch::state::leaving;
    self.leaving_.push_back(&b);
  } else {
    self.leave(b);  // from the loop's timers: never inside a user's call
  }
}

void auto_batcher::turn_ended(io::task* node, io::task::action a) noexcept {
  auto& turn = *static_cast<turn_task*>(node);
  auto_batcher& self = turn.owner;
  turn.queued = false;
  if (a == io::task::action::destroy) {
    // The loop closes without running it (a shutdown sends every batch before).
    self.close_all_open();
  } else if (self.limits_.linger.count() == 0 || !self.lingering_) {
    self.close_all_open();  // linger 0 (or shutting down): what this turn gathered leaves now
  }
  // Only the batches that left before now: those that handlers open or fill meanwhile leave at
  // the next turn's end, so a turn never keeps sending what its own completions start.
  if (self.departing_.capacity() < self.leaving_.capacity()) {
    self.departing_.reserve(self.leaving_.capacity());  // empty here: leaving_ keeps the room
  }
  std::swap(self.leaving_, self.departing_);
  for (batch* b : self.departing_) {
    if (a == io::task::action::run) {
      self.leave(*b);
    } else {
      self.abandon(*b);
    }
  }
  self.departing_.clear();
}

void auto_batcher::abandon(batch& b) {
  const route::publish_info_ptr info = b.info;
  while (!b.members.empty()) {
    if (send_op* op = detach(b, b.members.size() - 1)) {
      pipeline_.finish(*op, make_error_code(errc::shutting_down), info.get());
    }
  }
  release(b);
}

void auto_batcher::request_encoder::operator()(std::string& out, std::int32_t opaque) const {
  // Flag 0: the Java client's MessageBatch of an automatic batch has none of its own.
  self.pipeline_.write_request(out, opaque,
                               {wire::request_code::send_batch_message, false, info, queue, 0, 0,
                                b.properties, true, b.body});
}

detached auto_batcher::send(batch& b) {
  send_pipeline& p = pipeline_;
  // The batch's own UNIQ_KEY, as the 5.x Java client gives every batch one.
  b.uniq_key_size = wire::default_uniq_key_generator().next(b.uniq_key.data());
  b.properties.clear();
  wire::append_batch_header_properties(b.properties, true, {b.uniq_key.data(), b.uniq_key_size},
                                       p.settings_.config.name_space);
  const send_shape shape{b.mode, b.fixed_queue.has_value(), true};
  attempt_sequence attempts(plan_attempts(shape, p.attempt_settings_, b.started, b.deadline));
  route::publish_info_ptr info = b.info;
  bool counted = false;
  for (;;) {
    const io::clock::time_point now = std::max(loop_.now(), b.started);
    if (drop_ended(b, now, attempts.made()) == 0 || !attempts.may_attempt(now, b.deadline)) break;
    if (attempts.is_retry()) {
      p.counters_.retries.bump(b.live);
      p.log_.retry(b.topic, attempts.made() + 1, attempts.error(), now);
      p.take_current_route(*b.members.front().op, info, b.fixed_queue.has_value());
    }
    const route::publish_queue queue =
        p.pick_queue(*info, b.fixed_queue, attempts.last_broker(), now);
    const int attempts_left = attempts.plan().max_attempts - attempts.made();
    const int attempt = attempts.begin(queue.broker);
    const std::uint64_t messages = b.members.size();  // this attempt's, for its broker's metrics
    std::uint64_t body_bytes = 0;
    for (const member& m : b.members) {
      m.op->attempts = attempt;
      p.note_tried(*m.op, queue.broker, attempt);
      body_bytes += m.op->bytes;
    }
    net::connection* master = p.brokers_[queue.broker].master;
    if (master == nullptr) {
      attempts.skipped(make_error_code(errc::no_writable_queue));
      continue;
    }
    if (!counted) {
      p.counters_.auto_batches.bump();  // a batch whose request is made, counted once
      counted = true;
    }
    batch_request request(
        *master, request_encoder{*this, b, *info, queue},
        batch_attempt_deadline(now, b.deadline, attempts_left, p.attempt_settings_.attempt_timeout),
        net::request_kind::two_way);
    b.request = &request;
    const net::response r = co_await request;
    b.request = nullptr;
    if (b.live == 0) break;  // every member was cancelled meanwhile

    const io::clock::time_point done = loop_.now();
    wire::send_message_response_header header;  // views into the frame: read before suspending
    const attempt_outcome outcome = p.read_outcome(r, b.mode, false, queue.broker, header);
    const attempt_verdict verdict = attempts.judge(shape, p.attempt_settings_, outcome);
    p.note_fault(verdict, queue.broker,
                 std::chrono::duration_cast<std::chrono::milliseconds>(done - now), done);
    p.tally_attempt(queue.broker, outcome, verdict, messages, body_bytes, done - now, attempt > 1);
    if (std::optional<std::string> remark = p.failure_remark(outcome, r.frame, queue.broker)) {
      for (const member& m : b.members) {
        if (m.op != nullptr) m.op->extras().diagnostics.remark = *remark;
      }
    }
    if (outcome.what == attempt_outcome::kind::answered && stores_message(outcome.response_code)) {
      // Handlers run while the members complete; the frame's bytes may not outlive the first.
      b.response_ids.assign(header.msg_id);
      header.msg_id = b.response_ids;
      if (header.transaction_id) {
        header.transaction_id = b.response_transaction.assign(*header.transaction_id);
      }
      if (header.msg_region) header.msg_region = b.response_region.assign(*header.msg_region);
      header.batch_uniq_id.reset();
      header.recall_handle.reset();  // a batch carries no timer
    }
    if (verdict.step == next_step::retry_same_queue ||
        verdict.step == next_step::retry_another_broker) {
      continue;
    }
    if (verdict.step == next_step::keep_stored_and_retry) {
      // Each member's result stands should every later attempt fail (final_error).
      offset_id_cursor ids(header.msg_id);
      for (std::size_t i = 0; i < b.members.size(); ++i) {
        const send_pipeline::delivery delivered{queue, outcome.response_code, &header,
                                                static_cast<std::int64_t>(i), ids.next()};
        if (send_op* op = b.members[i].op) {
          p.describe_delivery(op->extras().stored_not_ok.emplace(), *op, info.get(), &delivered);
        }
      }
      continue;
    }
    if (verdict.step == next_step::stop_with_result) {
      finish_all(b, {}, info.get(), queue, outcome.response_code, &header);
    } else {
      finish_all(b, verdict.error, info.get(), queue, 0, nullptr);
    }
    release(b);
    co_return;
  }
  finish_all(b, attempts.error(), info.get(), {}, 0, nullptr);
  release(b);
}

std::size_t auto_batcher::drop_ended(batch& b, io::clock::time_point now, int attempts_made) {
  b.deadline = io::clock::time_point::max();
  const route::publish_info_ptr& info = b.info;
  for (std::size_t i = 0; i < b.members.size();) {
    send_op* op = b.members[i].op;
    std::error_code ended;
    if (op == nullptr) {
      // Cancelled after an attempt's request was encoded, and completed then: not sent again.
    } else if (send_pipeline::cancel_requested(*op)) {
      if (attempts_made > 0) {
        op->extras().diagnostics.remark =
            "cancelled before a retry of its batch; the last attempt (which may have stored the "
            "message) failed";
      }
      ended = aborted();
    } else if (now >= op->deadline) {
      ended = make_error_code(errc::timed_out);
    } else {
      b.deadline = std::min(b.deadline, op->deadline);
      ++i;
      continue;
    }
    // The batch is sending: a handler run here reaches only open batches, never this one.
    if (send_op* gone = detach(b, i)) pipeline_.finish(*gone, ended, info.get());
  }
  return b.live;
}

send_op* auto_batcher::detach(batch& b, std::size_t i) noexcept {
  const member gone = b.members[i];
  b.body.erase(gone.record_at, gone.record_size);
  for (std::size_t j = i + 1; j < b.members.size(); ++j) b.members[j].record_at -= gone.record_size;
  b.members.erase(b.members.begin() + static_cast<std::ptrdiff_t>(i));
  b.fill.bytes -= gone.record_size;
  --b.fill.messages;
  if (gone.op == nullptr) return nullptr;
  --b.live;
  if (gone.op->cancel != nullptr) gone.op->cancel->waits_on(detail::cancel_wait::none, nullptr);
  return gone.op;
}

void auto_batcher::cancel(send_op& op, std::uint32_t type) {
  batch& b = *static_cast<batch*>(op.cancel->waiting);
  const auto it = std::find_if(b.members.begin(), b.members.end(),
                               [&](const member& m) { return m.op == &op; });
  if (it == b.members.end()) return;
  const auto i = static_cast<std::size_t>(it - b.members.begin());
  // Every branch takes the member out first and completes it last: its handler may start
  // sends, and the batch must be consistent (or released) by then.
  const route::publish_info_ptr info = b.info;
  if (b.now != batch::state::sending) {
    // Gathering or about to leave: nothing of it has been written.
    send_op* gone = detach(b, i);
    if (b.members.empty()) {
      if (b.now == batch::state::gathering) {
        erase_one(open_, &b);
        loop_.cancel_timer(b.linger);
      } else {
        erase_one(leaving_, &b);
      }
      release(b);
    }
    pipeline_.finish(*gone, aborted(), info.get());
    return;
  }
  if (b.request == nullptr) return;  // between attempts: the next one leaves it out
  net::connection& conn = b.request->target();
  const net::connection::ticket ticket = b.request->ticket();
  const net::request_state state = conn.state_of(ticket);
  if (state == net::request_state::free) return;
  send_op* gone = nullptr;
  if (state == net::request_state::deferred) {
    gone = detach(b, i);  // not encoded yet: the request goes without its record
  } else {
    // Encoded: the last member's request may still be taken back whole while it is queued
    // (never written); otherwise only terminal and partial cancellation end the member (total
    // promises no side effect, and the broker may store the batch), and the others' request
    // goes on.
    constexpr auto ends_encoded = static_cast<std::uint32_t>(asio::cancellation_type::terminal |
                                                             asio::cancellation_type::partial);
    const bool withdrawn = state == net::request_state::queued && b.live == 1;
    if (!withdrawn && (type & ends_encoded) == 0) return;
    it->op = nullptr;
    --b.live;
    op.cancel->waits_on(detail::cancel_wait::none, nullptr);
    if (!withdrawn) {
      op.extras().diagnostics.remark =
          "cancelled after its batch's request was encoded: the broker may store the message";
    }
    gone = &op;
  }
  // Nobody left: the request ends (its coroutine then releases the batch).
  if (b.live == 0) conn.cancel(ticket, aborted());
  pipeline_.finish(*gone, aborted(), info.get());
}

void auto_batcher::finish_all(batch& b, std::error_code ec, const route::topic_publish_info* info,
                              route::publish_queue queue, std::int32_t code,
                              const wire::send_message_response_header* header) {
  // Every member's admission goes back at once, before any handler runs (so that a handler that
  // starts its next send at once finds room): one atomic operation instead of one per member.
  std::size_t admitted = 0;
  std::uint64_t charged = 0;
  for (const member& m : b.members) {
    if (m.op == nullptr || !m.op->admitted) continue;
    ++admitted;
    charged += admission_gate::charge_of(m.op->bytes);
    m.op->admitted = false;
  }
  if (admitted != 0) pipeline_.gate_.release_many(admitted, charged);
  offset_id_cursor ids(header != nullptr ? header->msg_id : std::string_view{});
  // The batch is sending: a member's handler may start sends (they join open batches) but
  // never reaches this one; cancellations come through the loop's queue, not inside a handler.
  for (std::size_t i = 0; i < b.members.size(); ++i) {
    const std::string_view offset_id = ids.next();
    send_op* op = std::exchange(b.members[i].op, nullptr);
    if (op == nullptr) continue;
    --b.live;
    if (op->cancel != nullptr) op->cancel->waits_on(detail::cancel_wait::none, nullptr);
    if (ec) {
      pipeline_.finish(*op, ec, info);
    } else {
      const send_pipeline::delivery delivered{queue, code, header, static_cast<std::int64_t>(i),
                                              offset_id};
      pipeline_.finish(*op, {}, info, &delivered);
    }
  }
}

void auto_batcher::release(batch& b) noexcept {
  b.members.clear();
  b.body.clear();
  retained_ -= b.retained;
  if (retained_ + b.buffer_capacity() > retained_budget) {
    std::string().swap(b.body);
    std::vector<member>().swap(b.members);
    std::string().swap(b.properties);
    std::string().swap(b.response_ids);
    b.retained = 0;
  } else {
    b.retained = b.buffer_capacity();
    retained_ += b.retained;
  }
  b.info = nullptr;
  b.fill = {};
  b.live = 0;
  b.now = batch::state::gathering;
  b.request = nullptr;
  free_.push_back(&b);
}

}  // namespace rmq::send
