// Open-loop async/oneway: message i is due at its intended time (pacing.hpp), whatever happened
// to the messages before it. A pacer thread wakes when the next message is due, claims every
// message due by then and hands them to each producer's loop in one posted batch; the loop
// starts them at once, or - when all --inflight message slots are busy - as soon as a slot
// frees. Latency runs from the intended time, so a batch's wait for the pacer's wake-up, a wait
// for a slot and any stall count against the messages they delayed.
//
// Each producer's slots and backlog live on its loop thread (every start and completion runs
// there), so nothing here takes a lock per message and no send crosses threads on its own.
#include "runner.hpp"

#include <asio/post.hpp>

#include <algorithm>
#include <deque>
#include <vector>

namespace rmq::bench {

namespace {

/// The open-loop sender of one producer: touched only on that producer's loop thread. It deletes
/// itself once the pacer is finished and its last send completed (completions refer to it).
class paced_sender {
 public:
  paced_sender(const runner_context& context, rmq::producer& producer, recorder& rec,
               std::size_t slots)
      : context_(context), producer_(producer), rec_(rec), slots_(slots) {
    const rmq::message prototype = tools::make_message(context.options.message);
    for (slot& s : slots_) {
      s.msg = prototype;
      free_.push_back(&s);
    }
  }

  /// Messages that fell due, in order of their intended times.
  void submit(const std::vector<clock::time_point>& due) {
    for (const clock::time_point intended : due) {
      if (free_.empty()) {
        backlog_.push_back(intended);
      } else {
        slot* s = free_.back();
        free_.pop_back();
        start(*s, intended);
      }
    }
  }

  /// The pacer claims no more (and posts nothing after this): leave once the last send
  /// completed.
  void pacer_finished() {
    pacer_finished_ = true;
    leave_if_done();
  }

 private:
  struct slot {
    rmq::message msg;
    clock::time_point intended;
    std::size_t bytes = 0;
  };

  void start(slot& s, clock::time_point intended) {
    s.bytes = context_.bodies.fill(s.msg, rng_);
    s.intended = intended;
    ++in_flight_;
    auto on_done = [this, &s](std::error_code ec, rmq::send_result result) {
      record_send(context_.state, rec_, s.intended, ec, result, s.bytes);
      --in_flight_;
      if (!backlog_.empty()) {
        const clock::time_point next = backlog_.front();
        backlog_.pop_front();
        start(s, next);
        return;
      }
      free_.push_back(&s);
      leave_if_done();  // may delete this: nothing is touched after it
    };
    if (context_.options.mode == tools::send_mode::oneway) {
      producer_.async_send_oneway(s.msg, std::move(on_done));
    } else {
      producer_.async_send(s.msg, std::move(on_done));
    }
  }

  void leave_if_done() {
    if (pacer_finished_ && in_flight_ == 0 && backlog_.empty()) {
      run_state& state = context_.state;
      delete this;
      state.sender_done();
    }
  }

  const runner_context& context_;
  rmq::producer& producer_;
  recorder& rec_;
  std::vector<slot> slots_;
  std::vector<slot*> free_;
  std::deque<clock::time_point> backlog_;
  std::size_t in_flight_ = 0;
  std::uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
  bool pacer_finished_ = false;
};

}  // namespace

constexpr auto batching = std::chrono::microseconds(100);

std::vector<std::thread> start_paced_async_senders(const runner_context& context) {
  const std::size_t producers = context.producers.size();
  std::vector<paced_sender*> senders;  // each deletes itself when done
  for (std::size_t p = 0; p < producers; ++p) {
    // --inflight is the total: each producer gets its share of the slots (at least one).
    const std::size_t slots = std::max<std::size_t>(
        1, context.options.inflight / producers + (p < context.options.inflight % producers));
    senders.push_back(new paced_sender(context, *context.producers[p],
                                       context.state.make_recorder(), slots));
  }
  context.state.add_senders(producers);
  std::vector<std::thread> threads;
  threads.emplace_back([&context, senders, producers] {
    run_state& state = context.state;
    const pacer pace(state.start(), context.options.rate);
    std::uint64_t next = 0;  // the next message index to claim
    std::vector<std::vector<clock::time_point>> batches(producers);
    clock::time_point woke = clock::time_point::min();
    // Sleeps until the next message is due, but at most every `batching` (the pacer's wake-ups
    // and the loop's turns cost more than the messages of a short batch; the delay counts in
    // the latency of the messages it held back).
    while (sleep_until_or_stopped(state, std::max(pace.intended(next), woke + batching))) {
      woke = clock::now();
      // Everything due by now, in one batch per producer (message i goes to producer i % n).
      const std::uint64_t due = pace.due_by(woke);
      bool claimed_all = true;
      for (; next < due; ++next) {
        if (!state.claim()) {
          claimed_all = false;
          break;
        }
        batches[next % producers].push_back(pace.intended(next));
      }
      for (std::size_t p = 0; p < producers; ++p) {
        if (batches[p].empty()) continue;
        asio::post(context.producers[p]->get_executor(),
                   [sender = senders[p], batch = std::move(batches[p])] { sender->submit(batch); });
        batches[p].clear();
      }
      if (!claimed_all) break;
    }
    for (std::size_t p = 0; p < producers; ++p) {
      asio::post(context.producers[p]->get_executor(),
                 [sender = senders[p]] { sender->pacer_finished(); });
    }
  });
  return threads;
}

}  // namespace rmq::bench
