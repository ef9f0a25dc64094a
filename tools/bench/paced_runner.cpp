// Open-loop async/oneway: message i is due at its intended time (pacing.hpp), whatever happened
// to the messages before it. Each producer's loop paces its own share of the messages: a loop
// timer (at most every `batching`) starts what has fallen due — or, when all --inflight message
// slots are busy, queues it in a backlog that completions drain as they free slots. Latency runs
// from the intended time, so a wait for the timer, a wait for a slot and any stall count against
// the messages they delayed.
//
// Only the timer starts new messages, not completions: the loop wakes for every chunk of
// responses, and sending what fell due at each of those wake-ups split the stream into writes
// of a few messages each (at 250 k msg/s, 74 k submissions a second and 3.7 µs of client CPU per
// message, most of it in the kernel's TCP send path; timer-only: 20 k and 2.7 µs).
//
// Pacing on the loop, not on a thread of its own: on the client's one core a pacer thread woke
// every 100 µs, preempted the loop and posted each batch across threads (at 340 k msg/s a third
// of the client's CPU went to the kernel). Everything here runs on the producer's loop thread,
// so nothing takes a lock per message and no send crosses threads.
#include "io/async.hpp"
#include "runner.hpp"

#include <asio/post.hpp>

#include <algorithm>
#include <deque>
#include <stdexcept>
#include <vector>

namespace rmq::bench {

namespace {

constexpr auto batching = std::chrono::microseconds(100);

/// The loop a producer's executor runs on. rmq-bench paces on it with the loop's own timers
/// (an internal interface: the public API has no timer, and users bring their own context).
rmq::io::loop& loop_of(rmq::producer& producer) {
  const asio::any_io_executor ex = producer.get_executor();  // the result points into it
  const rmq::io::loop::executor_type* loop_ex = rmq::io::loop_executor_in(ex);
  if (loop_ex == nullptr) {
    throw std::logic_error("rmq-bench: a producer's executor is not its loop's");
  }
  return loop_ex->context();
}

/// The open-loop sender of one producer: touched only on that producer's loop thread. It deletes
/// itself once pacing has ended and its last send completed (completions refer to it).
class paced_sender {
 public:
  /// Paces messages first, first + stride, first + 2 * stride, … of the run's sequence.
  paced_sender(const runner_context& context, rmq::producer& producer, recorder& rec,
               std::size_t slots, std::uint64_t first, std::uint64_t stride)
      : context_(context),
        producer_(producer),
        loop_(loop_of(producer)),
        rec_(rec),
        pace_(context.state.start(), context.options.rate),
        next_(first),
        stride_(stride) {
    slots_.reserve(slots);  // no reallocation: the free list points into it
    for (std::size_t i = 0; i < slots; ++i) free_.push_back(&slots_.emplace_back(context.messages));
  }

  /// On the loop thread: starts pacing.
  void begin() { pump(); }

 private:
  struct slot {
    explicit slot(const message_supply& messages) : next_message(messages) {}
    message_supply::sender_message next_message;
    clock::time_point intended;
    std::size_t bytes = 0;
  };

  // Starts every message due by now (or queues it for a slot), then sleeps on the loop's timer
  // until the next is due, but wakes at most every `batching`: a wake-up and a socket write cost
  // more than the few messages due in between.
  void pump() {
    if (paced_out_) return;
    ++depth_;
    const clock::time_point now = clock::now();
    for (clock::time_point due = pace_.intended(next_); due <= now; due = pace_.intended(next_)) {
      if (!context_.state.claim()) {
        paced_out_ = true;
        break;
      }
      next_ += stride_;
      submit(due);
    }
    --depth_;
    if (paced_out_) {
      end_pacing();  // may delete this
    } else if (!timer_.armed()) {
      loop_.add_timer(timer_, std::max(pace_.intended(next_), now + batching));
    }
  }

  void submit(clock::time_point intended) {
    if (free_.empty()) {
      backlog_.push_back(intended);
      return;
    }
    slot* s = free_.back();
    free_.pop_back();
    start(*s, intended);
  }

  /// Claims no more: leave once the last send completed.
  void end_pacing() {
    paced_out_ = true;
    loop_.cancel_timer(timer_);
    leave_if_done();  // may delete this
  }

  struct pace_timer final : rmq::io::timer_node {
    explicit pace_timer(paced_sender& s) noexcept : timer_node(&fire), owner(s) {}
    static void fire(rmq::io::timer_node* t, std::error_code ec) noexcept {
      paced_sender& self = static_cast<pace_timer*>(t)->owner;
      if (ec) {
        self.end_pacing();  // the loop is stopping
      } else {
        self.pump();
      }
    }
    paced_sender& owner;
  };

  void start(slot& s, clock::time_point intended) {
    const rmq::message& msg = s.next_message.next(rng_, s.bytes);
    s.intended = intended;
    ++in_flight_;
    auto on_done = [this, &s](std::error_code ec, const rmq::send_result&) {
      ++depth_;
      (void)record_send(context_.state, rec_, s.intended, ec, s.bytes);
      --in_flight_;
      if (backlog_.empty()) {
        free_.push_back(&s);
      } else {
        const clock::time_point next = backlog_.front();  // the oldest waiting message
        backlog_.pop_front();
        start(s, next);
      }
      --depth_;
      leave_if_done();  // may delete this: nothing is touched after it
    };
    if (context_.options.mode == tools::send_mode::oneway) {
      producer_.async_send_oneway(msg, std::move(on_done));
    } else {
      producer_.async_send(msg, std::move(on_done));
    }
  }

  // A completion may run inside start() (a send that fails at once), and so inside another
  // callback of this sender: only the outermost one (depth_ 0) may delete it.
  void leave_if_done() {
    if (depth_ == 0 && paced_out_ && in_flight_ == 0 && backlog_.empty()) {
      run_state& state = context_.state;
      delete this;
      state.sender_done();
    }
  }

  const runner_context& context_;
  rmq::producer& producer_;
  rmq::io::loop& loop_;
  recorder& rec_;
  std::vector<slot> slots_;
  std::vector<slot*> free_;
  std::deque<clock::time_point> backlog_;
  const pacer pace_;
  std::uint64_t next_;  // index of this sender's next message in the run's sequence
  const std::uint64_t stride_;
  pace_timer timer_{*this};
  std::size_t in_flight_ = 0;
  std::uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
  std::size_t depth_ = 0;  // callbacks of this sender on the stack
  bool paced_out_ = false;
};

}  // namespace

std::vector<std::thread> start_paced_async_senders(const runner_context& context) {
  const std::size_t producers = context.producers.size();
  context.state.add_senders(producers);
  for (std::size_t p = 0; p < producers; ++p) {
    // --inflight is the total: each producer gets its share of the slots (at least one), and
    // message i of the run goes to producer i % producers.
    const std::size_t slots = std::max<std::size_t>(
        1, context.options.inflight / producers + (p < context.options.inflight % producers));
    auto* sender = new paced_sender(context, *context.producers[p], context.state.make_recorder(),
                                    slots, p, producers);  // deletes itself when done
    asio::post(context.producers[p]->get_executor(), [sender] { sender->begin(); });
  }
  return {};  // no thread of its own: the loops pace
}

}  // namespace rmq::bench
