// Open-loop async/oneway: one pacer thread issues each message at its intended time. Messages
// live in a fixed pool of --inflight slots (a send needs its message alive until completion);
// when every slot is busy the pacer waits, and that wait counts in the latency of the late
// messages because latency runs from the intended time.
#include "runner.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>

namespace rmq::bench {

namespace {

struct slot {
  rmq::message msg;
  clock::time_point intended;
  std::size_t bytes = 0;
};

class slot_pool {
 public:
  explicit slot_pool(std::size_t n, const rmq::message& prototype) : slots_(n) {
    for (slot& s : slots_) {
      s.msg = prototype;
      free_.push_back(&s);
    }
  }
  slot* acquire() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !free_.empty(); });
    slot* s = free_.back();
    free_.pop_back();
    return s;
  }
  void release(slot* s) {
    std::lock_guard lock(mutex_);
    free_.push_back(s);
    changed_.notify_all();
  }
  void wait_all_free() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return free_.size() == slots_.size(); });
  }

 private:
  std::vector<slot> slots_;
  std::vector<slot*> free_;
  std::mutex mutex_;
  std::condition_variable changed_;
};

}  // namespace

std::vector<std::thread> start_paced_async_senders(const runner_context& context) {
  std::vector<recorder*> recorders;
  for (std::size_t p = 0; p < context.producers.size(); ++p) {
    recorders.push_back(&context.state.make_recorder());
  }
  context.state.add_senders(1);
  std::vector<std::thread> threads;
  threads.emplace_back([&context, recorders] {
    run_state& state = context.state;
    const bool oneway = context.options.mode == tools::send_mode::oneway;
    const pacer pace(state.start(), context.options.rate);
    slot_pool pool(context.options.inflight, tools::make_message(context.options.message));
    std::uint64_t rng = 0x9e3779b97f4a7c15ULL;
    while (const auto index = state.claim()) {
      const clock::time_point due = pace.intended(*index);
      if (!sleep_until_or_stopped(state, due)) {
        state.abandon();
        break;
      }
      slot* s = pool.acquire();
      s->bytes = context.bodies.fill(s->msg, rng);
      s->intended = due;
      const std::size_t p = *index % context.producers.size();
      recorder& rec = *recorders[p];
      auto on_done = [s, &pool, &state, &rec](std::error_code ec, rmq::send_result result) {
        record_send(state, rec, s->intended, ec, result, s->bytes);
        pool.release(s);
      };
      if (oneway) {
        context.producers[p]->async_send_oneway(s->msg, std::move(on_done));
      } else {
        context.producers[p]->async_send(s->msg, std::move(on_done));
      }
    }
    pool.wait_all_free();
    state.sender_done();
  });
  return threads;
}

}  // namespace rmq::bench
