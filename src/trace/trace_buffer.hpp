// The bounded buffer between the traced sends (any loop thread) and the dispatcher's thread:
// a record is filled in place under a short lock or dropped when the buffer is full, never
// waited for. Two arrays of records swap between the two sides, so a warm buffer allocates
// nothing: each record's strings keep their capacity from one use to the next (the ids' is
// reserved up front, so records of names within the small-string buffer never allocate).
#pragma once

#include "trace/trace_record.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace rmq::trace {

class trace_buffer {
 public:
  /// Holds up to `capacity` records; wakes the taker early once `batch` records wait.
  trace_buffer(std::size_t capacity, std::size_t batch);

  /// Fills the next free record with `fill(trace_record&)`, or drops it (counted) when the
  /// buffer is full or closed. Never blocks beyond the short lock.
  template <class Fill>
  bool push(Fill&& fill) {
    std::unique_lock lock(mutex_);
    if (count_ == filling_.size() || closed_) {
      lock.unlock();
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    fill(filling_[count_]);
    ++count_;
    // Wake the taker when it may be asleep waiting for the first record, or lingering for a
    // full batch; a notify without a waiter costs no system call.
    const bool wake = count_ == 1 || count_ == batch_;
    lock.unlock();
    if (wake) ready_.notify_one();
    return true;
  }

  /// The one taker: waits for a record (or close()), then up to `linger` more for a full
  /// batch, and hands out the waiting records, valid until its next take() (the array handed
  /// out before comes back as free storage). Empty only once closed and empty.
  std::span<const trace_record> take(std::chrono::milliseconds linger);

  /// No more records: push() drops from now on, take() returns what is left, then 0.
  void close();

  /// Records dropped so far; `n` more are counted as dropped (left unsent at shutdown).
  [[nodiscard]] std::uint64_t dropped() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }
  void count_dropped(std::uint64_t n) noexcept { dropped_.fetch_add(n, std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<trace_record> filling_;
  std::vector<trace_record> taken_;  // the taker's, outside the lock
  std::size_t count_ = 0;
  std::size_t batch_;
  bool closed_ = false;
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace rmq::trace
