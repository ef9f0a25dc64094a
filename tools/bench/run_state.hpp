// State shared by the senders, the progress line and main: the stop flag, the message budget,
// live counters, the recorders and the count of senders still running.
#pragma once

#include "pacing.hpp"
#include "recorder.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace rmq::bench {

class run_state {
 public:
  /// `count` 0: no message limit.
  run_state(clock::time_point start, clock::time_point window_start, std::uint64_t count)
      : start_(start), window_start_(window_start), count_(count) {}

  /// Takes one message of the budget for a sender that needs no index: false once stopped or
  /// the budget is spent. Without a count it touches no shared counter. Like every call that
  /// counts, it may allocate on a thread's first use in a run (its counts).
  [[nodiscard]] bool claim() {
    if (count_ != 0) return claim_index().has_value();
    if (stop_.load(std::memory_order_relaxed)) return false;
    thread_counts::add(mine().started, 1);
    return true;
  }
  /// The index of the next message to send, for a sender that needs it (paced sync senders
  /// derive its intended time from it), or nullopt once stopped or the budget is spent.
  [[nodiscard]] std::optional<std::uint64_t> claim_index() {
    if (stop_.load(std::memory_order_relaxed)) return std::nullopt;
    const std::uint64_t index = claimed_.fetch_add(1, std::memory_order_relaxed);
    if (count_ != 0 && index >= count_) {
      claimed_.fetch_sub(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    thread_counts::add(mine().started, 1);
    return index;
  }
  /// Gives back a claimed message that will not be sent (stopped while waiting for its time);
  /// on the thread that claimed it.
  void abandon() { thread_counts::add(mine().started, std::uint64_t(0) - 1); }
  void request_stop() noexcept { stop_.store(true, std::memory_order_relaxed); }
  [[nodiscard]] bool stopping() const noexcept { return stop_.load(std::memory_order_relaxed); }

  void count_success(std::size_t bytes) {
    thread_counts& counts = mine();
    thread_counts::add(counts.acked, 1);
    thread_counts::add(counts.bytes, bytes);
  }
  void count_failure() { thread_counts::add(mine().failed, 1); }

  [[nodiscard]] std::uint64_t started() { return sum(&thread_counts::started); }
  [[nodiscard]] std::uint64_t acked() { return sum(&thread_counts::acked); }
  [[nodiscard]] std::uint64_t failed() { return sum(&thread_counts::failed); }
  [[nodiscard]] std::uint64_t bytes() { return sum(&thread_counts::bytes); }
  [[nodiscard]] std::uint64_t in_flight() {
    // Done first, started second: an estimate for the progress line, above the true value by
    // the sends that finish between the reads (on x86; relaxed reads of other threads' counts
    // promise no order elsewhere), and never negative (the clamp).
    const std::uint64_t done = acked() + failed();
    const std::uint64_t s = started();
    return s > done ? s - done : 0;
  }

  [[nodiscard]] clock::time_point start() const noexcept { return start_; }
  [[nodiscard]] clock::time_point window_start() const noexcept { return window_start_; }

  /// A recorder for one sending thread or loop; lives as long as the run state.
  recorder& make_recorder() {
    std::lock_guard lock(mutex_);
    return recorders_.emplace_back(window_start_);
  }
  /// Visits every recorder (progress and the final report).
  template <class Fn>
  void for_each_recorder(Fn&& fn) {
    std::lock_guard lock(mutex_);
    for (recorder& r : recorders_) fn(r);
  }

  /// Senders announce themselves before they start and leave once their last send completed.
  void add_senders(std::size_t n) {
    std::lock_guard lock(mutex_);
    senders_ += n;
  }
  void sender_done() {
    std::lock_guard lock(mutex_);
    if (--senders_ == 0) done_.notify_all();
  }
  /// Waits until every sender left or `until` passed; true when every sender left.
  bool wait_senders_until(clock::time_point until) {
    std::unique_lock lock(mutex_);
    return done_.wait_until(lock, until, [this] { return senders_ == 0; });
  }

 private:
  clock::time_point start_;
  clock::time_point window_start_;
  std::uint64_t count_;
  /// The counts of one sending thread. Only that thread writes them, with a relaxed load and
  /// store: no locked instruction per message (four of them, with shared counters, were ~7 %
  /// of the CPU of a closed loop of auto-batched sends). Any thread reads them.
  struct thread_counts {
    std::atomic<std::uint64_t> started{0}, acked{0}, failed{0}, bytes{0};

    static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
      counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
  };

  /// This thread's counts, made on its first use in this run.
  thread_counts& mine() {
    // Keyed by the run's number, not its address: a later run may live where this one did.
    thread_local std::uint64_t owner = 0;
    thread_local thread_counts* counts = nullptr;
    if (owner != id_) [[unlikely]] {
      std::lock_guard lock(mutex_);
      counts = &counts_.emplace_back();
      owner = id_;
    }
    return *counts;
  }
  std::uint64_t sum(std::atomic<std::uint64_t> thread_counts::*counter) {
    std::lock_guard lock(mutex_);
    std::uint64_t total = 0;
    for (const thread_counts& c : counts_) total += (c.*counter).load(std::memory_order_relaxed);
    return total;
  }
  static std::uint64_t next_id() noexcept {
    static std::atomic<std::uint64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  const std::uint64_t id_ = next_id();
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> claimed_{0};

  std::mutex mutex_;
  std::condition_variable done_;
  std::size_t senders_ = 0;
  std::deque<recorder> recorders_;    // deque: references stay valid as it grows
  std::deque<thread_counts> counts_;  // one per thread that claimed or counted a send
};

}  // namespace rmq::bench
