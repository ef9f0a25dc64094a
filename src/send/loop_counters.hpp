// The send counters of one loop: written by its thread, read by any (producer::stats).
#pragma once

#include <atomic>
#include <cstdint>

namespace rmq::send {

/// Counters written by the loop thread, read by any (relaxed, no read-modify-write).
struct loop_counters {
  struct counter {
    std::atomic<std::uint64_t> value{0};
    void bump(std::uint64_t n = 1) noexcept {
      value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void drop() noexcept {
      value.store(value.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t get() const noexcept {
      return value.load(std::memory_order_relaxed);
    }
  };
  counter sends, succeeded, failed, retries, timeouts, in_flight;
  counter transactions, transaction_checks, checks_ignored;
  counter requests, replies, replies_dropped;
  counter hook_exceptions;
  counter auto_batches, auto_batched;
};

}  // namespace rmq::send
