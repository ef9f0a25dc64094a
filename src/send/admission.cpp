#include "send/admission.hpp"

#include "rmq/error.hpp"

#include <asio/error.hpp>

#include <algorithm>
#include <cassert>

// How a waiter and a release never miss each other (Dekker, both sides seq_cst):
//
//   waiter (under mutex_):  waiters_.fetch_add(1)  then  load state_ (take())
//   release():              state_.fetch_sub(...)  then  load waiters_
//
// In the single total order of seq_cst operations, if the release's load of waiters_ comes
// before the waiter's increment (and so reads 0, skipping the mutex), the release's fetch_sub
// comes before the waiter's load of the state too: the waiter sees the room and takes it
// itself. Otherwise the release sees waiters_ != 0 and takes mutex_, which the waiter holds
// from its increment until it is queued, so it finds the waiter in the queue and admits it.
// Waiters behind others need no check of their own: those ahead keep waiters_ above 0.
// wait_idle() and notify_when_idle() follow the same pattern with "sends() is 0".

namespace rmq::send {

// Work found under the mutex and done after it: loop waiters to resume (in admission order,
// linked through next_ once unlinked) and an idle notification to post.
struct admission_gate::pending {
  waiter* head = nullptr;
  waiter* tail = nullptr;
  io::loop* idle_loop = nullptr;
  io::task* idle_task = nullptr;

  void push(waiter& w) noexcept {
    w.next_ = nullptr;
    if (tail != nullptr) {
      tail->next_ = &w;
    } else {
      head = &w;
    }
    tail = &w;
  }
};

admission_gate::admission_gate(std::size_t max_sends, std::size_t max_bytes,
                               bool fail_fast) noexcept
    : max_sends_(std::clamp<std::size_t>(max_sends, 1, max_sends_limit)),
      max_bytes_(std::clamp<std::size_t>(max_bytes, 1, max_bytes_limit)),
      fail_fast_(fail_fast) {}

admission_gate::~admission_gate() {
  assert(head_ == nullptr && idle_blocked_ == 0 && "admission_gate destroyed with waiters");
}

// ---- the fast path ------------------------------------------------------------------------

admission_gate::take_result admission_gate::take(std::uint64_t charged,
                                                 std::memory_order order) noexcept {
  // Acquire at least: a closed state is read with the code written before it.
  std::uint64_t s = state_.load(order);
  for (;;) {
    if ((s & closed_bit) != 0) return take_result::closed;
    if (!fits(s, charged)) return take_result::full;
    if (state_.compare_exchange_weak(s, s + one_send + charged, order, order)) {
      return take_result::admitted;
    }
  }
}

bool admission_gate::try_acquire(std::size_t bytes, std::error_code& ec) noexcept {
  // With anyone queued, waiting is decided under the mutex, behind them. fail_fast never
  // queues, so it always decides here.
  if (fail_fast_ || queued_.load(std::memory_order_acquire) == 0) {
    switch (take(charge(bytes), std::memory_order_acquire)) {
      case take_result::admitted:
        ec = {};
        return true;
      case take_result::closed:
        ec = closed_code();
        return true;
      case take_result::full:
        break;
    }
  }
  if (fail_fast_) {
    ec = make_error_code(errc::backpressure_full);
    return true;
  }
  return false;
}

void admission_gate::release(std::size_t bytes) noexcept {
  const std::uint64_t charged = charge(bytes);
  [[maybe_unused]] const std::uint64_t before =
      state_.fetch_sub(one_send + charged, std::memory_order_seq_cst);
  assert(sends_of(before) != 0 && bytes_of(before) >= charged && "release without admission");
  // Dekker with a waiter's increment and look (see the top of this file).
  if (waiters_.load(std::memory_order_seq_cst) != 0) release_slow();
}

void admission_gate::release_many(std::size_t sends, std::uint64_t charged) noexcept {
  [[maybe_unused]] const std::uint64_t before =
      state_.fetch_sub(sends * one_send + charged, std::memory_order_seq_cst);
  assert(sends_of(before) >= sends && bytes_of(before) >= charged && "release without admission");
  if (waiters_.load(std::memory_order_seq_cst) != 0) release_slow();
}

// ---- the slow path: everything below runs under mutex_ or hands work out of it ------------

void admission_gate::release_slow() noexcept {
  pending done;
  {
    std::lock_guard lock(mutex_);
    admit_waiters_locked(done);
    check_idle_locked(done);
  }
  dispatch(done);
}

bool admission_gate::decide_locked(waiter& w, io::clock::time_point deadline,
                                   io::clock::time_point now) noexcept {
  // Counted before looking at the state: the waiter's half of the Dekker pair.
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  // With others queued the state needs no look: they keep releases coming here, and FIFO says
  // they go first. (A closed gate has nobody queued: close() empties the queue.)
  if (head_ == nullptr) {
    switch (take(w.charged_, std::memory_order_seq_cst)) {
      case take_result::admitted:
        w.result_ = {};
        waiters_.fetch_sub(1, std::memory_order_seq_cst);
        return true;
      case take_result::closed:
        w.result_ = closed_code();
        waiters_.fetch_sub(1, std::memory_order_seq_cst);
        return true;
      case take_result::full:
        break;
    }
  }
  if (fail_fast_ || deadline <= now) {
    w.result_ = make_error_code(fail_fast_ ? errc::backpressure_full : errc::timed_out);
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
    return true;
  }
  enqueue_locked(w);
  return false;
}

void admission_gate::enqueue_locked(waiter& w) noexcept {
  // Under mutex_, so no RMW is needed; read by any thread.
  waits_.store(waits_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  w.prev_ = tail_;
  w.next_ = nullptr;
  if (tail_ != nullptr) {
    tail_->next_ = &w;
  } else {
    head_ = &w;
  }
  tail_ = &w;
  w.queued_ = true;
  // Release, paired with waiting()'s acquire: whoever sees the waiter sees what its caller did
  // before it queued (e.g. installing a cancellation slot handler).
  queued_.fetch_add(1, std::memory_order_release);
  // waiters_ already counts it (decide_locked).
}

void admission_gate::complete_locked(waiter& w, std::error_code ec, pending& done) noexcept {
  if (w.prev_ != nullptr) {
    w.prev_->next_ = w.next_;
  } else {
    head_ = w.next_;
  }
  if (w.next_ != nullptr) {
    w.next_->prev_ = w.prev_;
  } else {
    tail_ = w.prev_;
  }
  w.next_ = w.prev_ = nullptr;
  w.queued_ = false;
  w.result_ = ec;
  queued_.fetch_sub(1, std::memory_order_relaxed);
  waiters_.fetch_sub(1, std::memory_order_seq_cst);
  if (w.kind_ == waiter::kind::blocking) {
    // Under the mutex: the blocked thread cannot see queued_ false, return and take its
    // condition with it before this call is over.
    w.wake_->notify_one();
  } else {
    done.push(w);
  }
}

void admission_gate::remove_locked(waiter& w, std::error_code ec, pending& done) noexcept {
  const bool was_head = &w == head_;
  complete_locked(w, ec, done);
  if (was_head) admit_waiters_locked(done);
}

void admission_gate::admit_waiters_locked(pending& done) noexcept {
  // Stops at the first that does not fit: nobody overtakes it. Sends admitted on the fast path
  // meanwhile (they looked before the queue formed) release later and bring us back here.
  while (head_ != nullptr &&
         take(head_->charged_, std::memory_order_seq_cst) == take_result::admitted) {
    complete_locked(*head_, {}, done);
  }
}

void admission_gate::check_idle_locked(pending& done) noexcept {
  if (idle_task_ == nullptr && idle_blocked_ == 0) return;
  if (sends_of(state_.load(std::memory_order_seq_cst)) != 0) return;
  if (idle_task_ != nullptr) {
    done.idle_loop = std::exchange(idle_loop_, nullptr);
    done.idle_task = std::exchange(idle_task_, nullptr);
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
  }
  if (idle_blocked_ != 0) {
    ++idle_epoch_;
    idle_cv_.notify_all();
  }
}

void admission_gate::dispatch(pending& done) noexcept {
  for (waiter* w = done.head; w != nullptr;) {
    waiter* next = w->next_;  // read first: once resumed, the awaiter may be gone
    static_cast<acquire_awaiter*>(w)->schedule_resume();
    w = next;
  }
  if (done.idle_task != nullptr) done.idle_loop->post(*done.idle_task);
}

// ---- blocking callers ---------------------------------------------------------------------

std::error_code admission_gate::acquire_blocking(std::size_t bytes, io::clock::time_point deadline,
                                                 blocking_cancel* cancel) {
  std::error_code ec;
  if (try_acquire(bytes, ec)) return ec;
  std::condition_variable wake;
  waiter w(waiter::kind::blocking, charge(bytes));
  w.wake_ = &wake;
  pending done;
  {
    std::unique_lock lock(mutex_);
    // Read under the mutex that cancel_blocking takes after setting it: either it finds our
    // waiter queued below, or we see its request here.
    if (cancel != nullptr && cancel->requested->load(std::memory_order_seq_cst) != 0) {
      return make_error_code(asio::error::operation_aborted);
    }
    if (!decide_locked(w, deadline, io::clock::now())) {
      if (cancel != nullptr) cancel->waiting = &w;
      while (w.queued_) {
        if (deadline == io::clock::time_point::max()) {
          wake.wait(lock);
        } else if (wake.wait_until(lock, deadline) == std::cv_status::timeout && w.queued_) {
          remove_locked(w, make_error_code(errc::timed_out), done);
        }
      }
      if (cancel != nullptr) cancel->waiting = nullptr;
    }
  }
  dispatch(done);
  return w.result_;
}

void admission_gate::cancel_blocking(blocking_cancel& cancel) noexcept {
  pending done;
  {
    std::lock_guard lock(mutex_);
    if (cancel.waiting == nullptr || !cancel.waiting->queued_) return;
    remove_locked(*cancel.waiting, make_error_code(asio::error::operation_aborted), done);
  }
  dispatch(done);
}

void admission_gate::close(std::error_code ec) {
  if (!ec) ec = make_error_code(errc::shutting_down);
  pending done;
  {
    std::lock_guard lock(mutex_);
    if ((state_.load(std::memory_order_relaxed) & closed_bit) == 0) {
      closed_ec_ = ec;
      // Released by this RMW: whoever sees the bit reads the code.
      state_.fetch_or(closed_bit, std::memory_order_seq_cst);
    }
    while (head_ != nullptr) complete_locked(*head_, closed_ec_, done);
  }
  dispatch(done);
}

bool admission_gate::wait_idle(io::clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  // Counted before looking, as a waiter is (Dekker with release()).
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  ++idle_blocked_;
  const std::uint64_t epoch = idle_epoch_;
  const auto idle = [&] {
    return idle_epoch_ != epoch || sends_of(state_.load(std::memory_order_seq_cst)) == 0;
  };
  bool result = true;
  if (deadline == io::clock::time_point::max()) {
    idle_cv_.wait(lock, idle);
  } else {
    result = idle_cv_.wait_until(lock, deadline, idle);
  }
  --idle_blocked_;
  waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return result;
}

void admission_gate::notify_when_idle(io::loop& loop, io::task& node) {
  {
    std::lock_guard lock(mutex_);
    assert(idle_task_ == nullptr && "one notify_when_idle registration at a time");
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    if (sends_of(state_.load(std::memory_order_seq_cst)) != 0) {
      idle_loop_ = &loop;
      idle_task_ = &node;
      return;
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
  }
  loop.post(node);
}

// ---- coroutines on a loop -----------------------------------------------------------------

bool admission_gate::acquire_awaiter::await_ready() noexcept {
  return gate_.try_acquire(charged_, result_);
}

bool admission_gate::acquire_awaiter::await_suspend(std::coroutine_handle<> h) noexcept {
  handle_ = h;
  {
    std::lock_guard lock(gate_.mutex_);
    // The loop's clock lags the real one: a deadline it has passed has passed.
    if (gate_.decide_locked(*this, deadline_, loop_.now())) return false;  // resume now
  }
  // Armed after the mutex is let go. Another thread may admit us meanwhile, but our resumption
  // runs on this thread, after this returns, and it cancels the timer.
  loop_.add_timer(timer_, deadline_);
  return true;
}

void admission_gate::cancel(acquire_awaiter& awaiter, std::error_code why) noexcept {
  pending done;
  {
    std::lock_guard lock(mutex_);
    if (!awaiter.queued_) return;  // decided already: its resumption is queued
    remove_locked(awaiter, why, done);
  }
  dispatch(done);
}

void admission_gate::acquire_awaiter::deadline_timer::fire(io::timer_node* t,
                                                           std::error_code ec) noexcept {
  acquire_awaiter& self = static_cast<deadline_timer*>(t)->owner;
  admission_gate& gate = self.gate_;
  pending done;
  {
    std::lock_guard lock(gate.mutex_);
    // Ended already (admitted or closed by another thread, which decided under this mutex):
    // its resumption is queued and must stay the only one.
    if (!self.queued_) return;
    gate.remove_locked(self, make_error_code(ec ? errc::shutting_down : errc::timed_out), done);
  }
  dispatch(done);
}

void admission_gate::acquire_awaiter::resume_task::run(io::task* t, action a) noexcept {
  acquire_awaiter& self = static_cast<resume_task*>(t)->owner;
  if (a == action::run) {
    // Ended by another thread (or by a release on this one) while the timer was armed: it must
    // not fire into a finished awaiter. A timer that fired already is no longer armed.
    self.loop_.cancel_timer(self.timer_);
  } else if (!self.result_) {
    // The loop went away with this resumption queued (its timers were aborted first): the send
    // cannot go on there, so the admission goes back and it fails as the loop's sends do.
    self.gate_.release(self.charged_);
    self.result_ = make_error_code(errc::shutting_down);
  }
  self.handle_.resume();
}

void admission_gate::acquire_awaiter::schedule_resume() noexcept {
  if (loop_.running_in_this_thread()) {
    loop_.defer(resume_);
  } else {
    loop_.post(resume_);
  }
}

}  // namespace rmq::send
