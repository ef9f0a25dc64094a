// A counter with one writer (a loop thread) and any number of readers: relaxed atomics without
// a read-modify-write, so that counting costs a load and a store on the send path.
#pragma once

#include <atomic>
#include <cstdint>

namespace rmq::metrics {

class counter {
 public:
  /// The writer's thread only.
  void bump(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  /// The writer's thread only.
  void drop(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  /// The writer's thread only.
  void set(std::uint64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  /// Any thread.
  [[nodiscard]] std::uint64_t get() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace rmq::metrics
