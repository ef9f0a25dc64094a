// Producer-wide admission: one limit on sends and on body bytes in flight, shared by every loop
// thread and by user threads that send from outside the loops. A send that finds the gate full
// waits in one FIFO queue (on its loop, or blocking its own thread) until room frees, its
// deadline passes or the gate closes — or, when configured, fails at once with
// errc::backpressure_full.
//
// The fast path takes no lock: the state is one 64-bit word, changed with one CAS to admit and
// one RMW to release. The queue and everything that waits live under one mutex, which release()
// takes only when somebody waits.
#pragma once

#include "io/loop.hpp"
#include "io/task.hpp"

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <system_error>

namespace rmq::send {

class admission_gate {
  struct waiter;
  struct pending;

 public:
  // The state word:  bit 63 closed | bits 40..62 sends (23 bits) | bits 0..39 body bytes.
  // 40 bits of bytes, the closed bit and 24 bits of sends would need 65, so sends get 23
  // (8 388 607 in flight, far above any real setting). Sends never exceed the limit, and bytes
  // never exceed the byte limit unless one body goes alone, so neither field can carry into the
  // next. Limits above these are lowered to them; a body of more than max_bytes_limit bytes is
  // counted as max_bytes_limit (it goes alone anyway).
  static constexpr std::size_t max_sends_limit = (1u << 23) - 1;
  static constexpr std::size_t max_bytes_limit = (std::size_t{1} << 40) - 1;

  /// Limits of 0 are raised to 1 (a gate that never admits would only hang its callers).
  admission_gate(std::size_t max_sends, std::size_t max_bytes, bool fail_fast) noexcept;
  /// No waiter may be queued any more (close() and let them finish first).
  ~admission_gate();
  admission_gate(const admission_gate&) = delete;
  admission_gate& operator=(const admission_gate&) = delete;

  /// Any thread, never blocks, lock-free (one CAS). True when decided now: admitted (`ec`
  /// clear) or refused (`ec` = backpressure_full when fail_fast and full, or the close code).
  /// False when the caller must wait: the gate is full, or others already wait — a call that
  /// starts after a waiter was queued never overtakes it.
  [[nodiscard]] bool try_acquire(std::size_t bytes, std::error_code& ec) noexcept;

  /// Lets another thread end one blocking acquire (cancel_blocking): the acquire names its
  /// waiter here while it waits, and reads `requested` before it waits.
  struct blocking_cancel {
    const std::atomic<std::uint32_t>* requested = nullptr;  ///< non-zero: do not wait
    waiter* waiting = nullptr;                              ///< guarded by the gate's mutex
  };

  /// Any thread except a loop thread (it would stall that loop). Blocks until admitted (clear),
  /// `deadline` passes (timed_out), close() (its code) or, with `cancel`, cancel_blocking()
  /// (asio::error::operation_aborted). fail_fast: never blocks.
  [[nodiscard]] std::error_code acquire_blocking(std::size_t bytes, io::clock::time_point deadline,
                                                 blocking_cancel* cancel = nullptr);
  /// Any thread, after `*cancel.requested` was set: ends the blocking acquire that waits with
  /// `cancel` (operation_aborted), or makes the one about to wait return at once.
  void cancel_blocking(blocking_cancel& cancel) noexcept;

  class acquire_awaiter;
  /// Loop thread of `loop` only: co_await gate.acquire_async(loop, bytes, deadline) →
  /// std::error_code (clear: admitted; timed_out; backpressure_full; the close code;
  /// shutting_down when the loop stops). A waiting coroutine is resumed on the loop's thread,
  /// from a task of the loop, never inside release() or close(). Waiting allocates nothing.
  [[nodiscard]] acquire_awaiter acquire_async(io::loop& loop, std::size_t bytes,
                                              io::clock::time_point deadline) noexcept;

  /// Loop thread of the awaiter's loop, while it is suspended: ends its wait with `why` (its
  /// resumption is queued on the loop, as for any other end). Nothing when it has been admitted
  /// or ended already.
  void cancel(acquire_awaiter& awaiter, std::error_code why) noexcept;

  /// Any thread. Gives back one admitted send of `bytes`, then admits queued waiters in FIFO
  /// order while they fit. One RMW and one load when nobody waits.
  void release(std::size_t bytes) noexcept;
  /// Any thread. Gives back `sends` admitted sends at once, whose charge_of() add up to
  /// `charged` (an automatic batch's messages): one RMW for all of them.
  void release_many(std::size_t sends, std::uint64_t charged) noexcept;
  /// What an admitted send of `bytes` holds of the byte limit (release_many's unit).
  [[nodiscard]] static std::uint64_t charge_of(std::size_t bytes) noexcept { return charge(bytes); }

  /// Any thread. Completes every waiter with `ec` (shutting_down when `ec` is clear) and makes
  /// every later acquire fail with it. Admitted sends stay admitted until released. The first
  /// close's code is kept.
  void close(std::error_code ec);

  /// Any thread except a loop thread: blocks until sends() is 0 or `deadline`; true when it was.
  [[nodiscard]] bool wait_idle(io::clock::time_point deadline);
  /// Any thread: posts `node` to `loop` once sends() reaches 0 (at once when it is 0 now). One
  /// registration at a time; `node` and `loop` must outlive it.
  void notify_when_idle(io::loop& loop, io::task& node);

  [[nodiscard]] std::size_t sends() const noexcept {
    return sends_of(state_.load(std::memory_order_relaxed));
  }
  [[nodiscard]] std::size_t bytes() const noexcept {
    return bytes_of(state_.load(std::memory_order_relaxed));
  }
  /// Acquires queued (blocking and on loops). Acquire: seeing a waiter shows what its caller did
  /// before it queued.
  [[nodiscard]] std::size_t waiting() const noexcept {
    return queued_.load(std::memory_order_acquire);
  }
  /// Acquires that had to queue for room, ever (back-pressure waits).
  [[nodiscard]] std::uint64_t waits() const noexcept {
    return waits_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool closed() const noexcept {
    return (state_.load(std::memory_order_relaxed) & closed_bit) != 0;
  }
  [[nodiscard]] std::size_t max_sends() const noexcept { return max_sends_; }
  [[nodiscard]] std::size_t max_bytes() const noexcept { return max_bytes_; }

 private:
  static constexpr unsigned sends_shift = 40;
  static constexpr std::uint64_t bytes_mask = (std::uint64_t{1} << sends_shift) - 1;
  static constexpr std::uint64_t one_send = std::uint64_t{1} << sends_shift;
  static constexpr std::uint64_t sends_mask = std::uint64_t{max_sends_limit} << sends_shift;
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  static_assert((sends_mask & closed_bit) == 0 && (sends_mask & bytes_mask) == 0);

  [[nodiscard]] static std::size_t sends_of(std::uint64_t s) noexcept {
    return static_cast<std::size_t>((s & sends_mask) >> sends_shift);
  }
  [[nodiscard]] static std::size_t bytes_of(std::uint64_t s) noexcept {
    return static_cast<std::size_t>(s & bytes_mask);
  }
  /// What a body of `bytes` counts for in the state.
  [[nodiscard]] static std::uint64_t charge(std::size_t bytes) noexcept {
    return bytes < max_bytes_limit ? bytes : max_bytes_limit;
  }
  [[nodiscard]] bool fits(std::uint64_t s, std::uint64_t charged) const noexcept {
    // A body larger than the byte limit still goes alone, rather than never.
    const std::uint64_t in_flight = s & bytes_mask;
    return sends_of(s) < max_sends_ && (in_flight == 0 || in_flight + charged <= max_bytes_);
  }

  enum class take_result { admitted, full, closed };
  /// One CAS loop on the state; `order` is that of the successful CAS.
  take_result take(std::uint64_t charged, std::memory_order order) noexcept;
  /// The waiter's own attempt, under mutex_, after it counted itself in waiters_: decides now
  /// (true, w.result_ set) or leaves it to be queued (false).
  bool decide_locked(waiter& w, io::clock::time_point deadline, io::clock::time_point now) noexcept;
  void enqueue_locked(waiter& w) noexcept;
  /// Ends a queued waiter: unlinks it, sets its result, wakes a blocking one at once and hands
  /// a loop one to `done`, whose resumption is queued once the mutex is let go.
  void complete_locked(waiter& w, std::error_code ec, pending& done) noexcept;
  /// A waiter leaves without admission (its deadline, its loop stopping): the ones behind it
  /// may fit now.
  void remove_locked(waiter& w, std::error_code ec, pending& done) noexcept;
  void admit_waiters_locked(pending& done) noexcept;
  /// Whoever waits for idleness, when sends() is 0 now.
  void check_idle_locked(pending& done) noexcept;
  void release_slow() noexcept;
  static void dispatch(pending& done) noexcept;
  [[nodiscard]] std::error_code closed_code() const noexcept { return closed_ec_; }

  const std::uint64_t max_sends_;
  const std::uint64_t max_bytes_;
  const bool fail_fast_;

  // closed | sends | bytes, see above. Every change is a CAS or an RMW; never under mutex_
  // alone, so the fast path needs no lock.
  alignas(64) std::atomic<std::uint64_t> state_{0};
  // How many things a release must look after: queued acquires, blocked wait_idle() callers and
  // a notify_when_idle() registration. Changed under mutex_, read without it by release()
  // (Dekker with the state, see release()).
  alignas(64) std::atomic<std::size_t> waiters_{0};
  // Queued acquires only (waiting()); read by try_acquire() so that it does not overtake them.
  std::atomic<std::size_t> queued_{0};
  std::atomic<std::uint64_t> waits_{0};  // changed under mutex_: waits()

  alignas(64) mutable std::mutex mutex_;
  // Written once, under mutex_, before the closed bit is set; read by whoever saw that bit
  // (acquire) or holds mutex_.
  std::error_code closed_ec_;
  waiter* head_ = nullptr;  // guarded by mutex_: the FIFO of queued acquires
  waiter* tail_ = nullptr;  // guarded by mutex_
  // wait_idle() callers share one condition; `idle_epoch_` moves on each time sends() is seen
  // at 0, so that a caller also returns when idleness was brief. All guarded by mutex_.
  std::condition_variable idle_cv_;
  std::size_t idle_blocked_ = 0;
  std::uint64_t idle_epoch_ = 0;
  io::loop* idle_loop_ = nullptr;  // guarded by mutex_: notify_when_idle()'s registration
  io::task* idle_task_ = nullptr;  // guarded by mutex_
};

// A queued acquire: a blocking thread's (on its stack) or a coroutine's (an acquire_awaiter in
// its frame). Everything but `charged_` is guarded by the gate's mutex while it is queued.
struct admission_gate::waiter {
  enum class kind : unsigned char { blocking, on_loop };
  waiter(kind k, std::uint64_t charged) noexcept : charged_(charged), kind_(k) {}

  waiter* next_ = nullptr;
  waiter* prev_ = nullptr;
  std::uint64_t charged_;
  std::error_code result_;
  std::condition_variable* wake_ = nullptr;  // a blocking waiter's, on its stack
  kind kind_;
  bool queued_ = false;
};

class admission_gate::acquire_awaiter : private admission_gate::waiter {
 public:
  acquire_awaiter(admission_gate& gate, io::loop& loop, std::size_t bytes,
                  io::clock::time_point deadline) noexcept
      : waiter(kind::on_loop, charge(bytes)), gate_(gate), loop_(loop), deadline_(deadline) {}
  acquire_awaiter(const acquire_awaiter&) = delete;
  acquire_awaiter& operator=(const acquire_awaiter&) = delete;

  bool await_ready() noexcept;
  bool await_suspend(std::coroutine_handle<> h) noexcept;
  [[nodiscard]] std::error_code await_resume() const noexcept { return result_; }

 private:
  friend class admission_gate;
  // The deadline and the resumption, both intrusive. The timer is armed, fired and cancelled on
  // the loop thread only; the resumption is the only way back into the coroutine.
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
  /// Queues the resumption on the loop: defer() from the loop's thread, post() from any other.
  void schedule_resume() noexcept;

  admission_gate& gate_;
  io::loop& loop_;
  io::clock::time_point deadline_;
  std::coroutine_handle<> handle_;
  deadline_timer timer_{*this};
  resume_task resume_{*this};
};

inline admission_gate::acquire_awaiter admission_gate::acquire_async(
    io::loop& loop, std::size_t bytes, io::clock::time_point deadline) noexcept {
  return {*this, loop, bytes, deadline};
}

}  // namespace rmq::send
