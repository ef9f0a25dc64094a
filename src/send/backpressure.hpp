// Bounded in flight: a limit on sends and on body bytes in flight per loop. A send that finds
// the gate full waits (FIFO) until room frees or its deadline passes — or, when configured,
// fails at once with errc::backpressure_full. Memory never grows without bound.
#pragma once

#include <coroutine>
#include <cstddef>
#include <system_error>

#include "io/loop.hpp"
#include "rmq/error.hpp"

namespace rmq::send {

class backpressure_gate {
 public:
  backpressure_gate(io::loop& loop, std::size_t max_sends, std::size_t max_bytes, bool fail_fast)
      : loop_(loop), max_sends_(max_sends), max_bytes_(max_bytes), fail_fast_(fail_fast) {}
  backpressure_gate(const backpressure_gate&) = delete;
  backpressure_gate& operator=(const backpressure_gate&) = delete;

  class acquire_awaiter;
  /// co_await gate.acquire(bytes, deadline) → std::error_code (timed_out, backpressure_full,
  /// shutting_down). On success the caller owns `bytes` until release(bytes).
  [[nodiscard]] acquire_awaiter acquire(std::size_t bytes, io::clock::time_point deadline);
  /// The same decision without waiting: true when it is made at once (admitted with `ec`
  /// clear, or refused with it set); false when the caller would have to co_await acquire().
  /// Lets a send keep the awaiter out of its coroutine frame unless the gate is full.
  [[nodiscard]] bool try_acquire(std::size_t bytes, std::error_code& ec) noexcept;
  void release(std::size_t bytes);
  /// Completes every waiter with `ec` and makes later acquires fail with it.
  void close(std::error_code ec);

  [[nodiscard]] std::size_t sends() const noexcept { return sends_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t waiting() const noexcept { return waiting_; }

 private:
  [[nodiscard]] bool fits(std::size_t bytes) const noexcept {
    // A body larger than the byte limit still goes alone, rather than never.
    return sends_ < max_sends_ && (bytes_ == 0 || bytes_ + bytes <= max_bytes_);
  }
  void take(std::size_t bytes) noexcept {
    ++sends_;
    bytes_ += bytes;
  }
  void enqueue(acquire_awaiter& w) noexcept;
  void unlink(acquire_awaiter& w) noexcept;
  void admit_waiters();

  io::loop& loop_;
  std::size_t max_sends_;
  std::size_t max_bytes_;
  bool fail_fast_;
  std::size_t sends_ = 0;
  std::size_t bytes_ = 0;
  std::size_t waiting_ = 0;
  std::error_code closed_;
  acquire_awaiter* head_ = nullptr;
  acquire_awaiter* tail_ = nullptr;
};

class backpressure_gate::acquire_awaiter {
 public:
  acquire_awaiter(backpressure_gate& gate, std::size_t bytes, io::clock::time_point deadline)
      : gate_(gate), bytes_(bytes), deadline_(deadline) {}
  acquire_awaiter(const acquire_awaiter&) = delete;
  acquire_awaiter& operator=(const acquire_awaiter&) = delete;

  bool await_ready() noexcept;
  void await_suspend(std::coroutine_handle<> h) noexcept;
  [[nodiscard]] std::error_code await_resume() const noexcept { return result_; }

 private:
  friend class backpressure_gate;
  // The deadline and the deferred resumption, both intrusive: waiting costs no allocation.
  struct deadline_timer final : io::timer_node {
    explicit deadline_timer(acquire_awaiter& a) noexcept : timer_node(&fire), owner(a) {}
    static void fire(io::timer_node* t, std::error_code ec) noexcept;
    acquire_awaiter& owner;
  };
  struct resume_task final : io::task {
    explicit resume_task(acquire_awaiter& a) noexcept : task(&run), owner(a) {}
    static void run(io::task* t, action a) noexcept;
    acquire_awaiter& owner;
  };
  void finish(std::error_code ec) noexcept;

  backpressure_gate& gate_;
  std::size_t bytes_;
  io::clock::time_point deadline_;
  std::error_code result_;
  std::coroutine_handle<> handle_;
  acquire_awaiter* next_ = nullptr;
  acquire_awaiter* prev_ = nullptr;
  deadline_timer timer_{*this};
  resume_task resume_{*this};
};

}  // namespace rmq::send
