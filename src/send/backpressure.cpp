#include "send/backpressure.hpp"

namespace rmq::send {

backpressure_gate::acquire_awaiter backpressure_gate::acquire(std::size_t bytes,
                                                             io::clock::time_point deadline) {
  return {*this, bytes, deadline};
}

bool backpressure_gate::try_acquire(std::size_t bytes, std::error_code& ec) noexcept {
  if (closed_) {
    ec = closed_;
    return true;
  }
  // Waiters go first: a newcomer never overtakes the queue.
  if (head_ == nullptr && fits(bytes)) {
    take(bytes);
    ec = {};
    return true;
  }
  if (fail_fast_) {
    ec = make_error_code(errc::backpressure_full);
    return true;
  }
  return false;
}

bool backpressure_gate::acquire_awaiter::await_ready() noexcept {
  return gate_.try_acquire(bytes_, result_);
}

void backpressure_gate::acquire_awaiter::await_suspend(std::coroutine_handle<> h) noexcept {
  handle_ = h;
  gate_.enqueue(*this);
  gate_.loop_.add_timer(timer_, deadline_);
}

void backpressure_gate::acquire_awaiter::deadline_timer::fire(io::timer_node* t,
                                                               std::error_code ec) noexcept {
  auto& self = static_cast<deadline_timer*>(t)->owner;
  self.gate_.unlink(self);
  self.finish(ec ? make_error_code(errc::shutting_down) : make_error_code(errc::timed_out));
}

void backpressure_gate::acquire_awaiter::resume_task::run(io::task* t, action a) noexcept {
  // Deferred to the loop's next batch of tasks, so that a release deep inside one send's
  // completion does not run another send on the same stack. Destroy (the loop went away) must
  // still resume: the waiting send completes with its error.
  (void)a;
  static_cast<resume_task*>(t)->owner.handle_.resume();
}

void backpressure_gate::acquire_awaiter::finish(std::error_code ec) noexcept {
  result_ = ec;
  gate_.loop_.defer(resume_);
}

void backpressure_gate::enqueue(acquire_awaiter& w) noexcept {
  w.prev_ = tail_;
  w.next_ = nullptr;
  if (tail_ != nullptr) {
    tail_->next_ = &w;
  } else {
    head_ = &w;
  }
  tail_ = &w;
  ++waiting_;
}

void backpressure_gate::unlink(acquire_awaiter& w) noexcept {
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
  --waiting_;
}

void backpressure_gate::release(std::size_t bytes) {
  --sends_;
  bytes_ -= bytes;
  admit_waiters();
}

void backpressure_gate::admit_waiters() {
  while (head_ != nullptr && fits(head_->bytes_)) {
    acquire_awaiter& w = *head_;
    unlink(w);
    loop_.cancel_timer(w.timer_);
    take(w.bytes_);
    w.finish({});
  }
}

void backpressure_gate::close(std::error_code ec) {
  closed_ = ec;
  while (head_ != nullptr) {
    acquire_awaiter& w = *head_;
    unlink(w);
    loop_.cancel_timer(w.timer_);
    w.finish(ec);
  }
}

}  // namespace rmq::send
