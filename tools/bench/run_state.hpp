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

  /// The index of the next message to send, or nullopt once stopped or the budget is spent.
  [[nodiscard]] std::optional<std::uint64_t> claim() noexcept {
    if (stop_.load(std::memory_order_relaxed)) return std::nullopt;
    const std::uint64_t index = claimed_.fetch_add(1, std::memory_order_relaxed);
    if (count_ != 0 && index >= count_) {
      claimed_.fetch_sub(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    started_.fetch_add(1, std::memory_order_relaxed);
    return index;
  }
  /// Gives back a claimed message that will not be sent (stopped while waiting for its time).
  void abandon() noexcept { started_.fetch_sub(1, std::memory_order_relaxed); }
  void request_stop() noexcept { stop_.store(true, std::memory_order_relaxed); }
  [[nodiscard]] bool stopping() const noexcept { return stop_.load(std::memory_order_relaxed); }

  void count_success(std::size_t bytes) noexcept {
    acked_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }
  void count_failure() noexcept { failed_.fetch_add(1, std::memory_order_relaxed); }

  [[nodiscard]] std::uint64_t started() const noexcept {
    return started_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t acked() const noexcept {
    return acked_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t failed() const noexcept {
    return failed_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t bytes() const noexcept {
    return bytes_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t in_flight() const noexcept {
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
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> claimed_{0};
  std::atomic<std::uint64_t> started_{0};
  std::atomic<std::uint64_t> acked_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> bytes_{0};

  std::mutex mutex_;
  std::condition_variable done_;
  std::size_t senders_ = 0;
  std::deque<recorder> recorders_;  // deque: references stay valid as it grows
};

}  // namespace rmq::bench
