#include "send/loop_operation.hpp"

#include "send/loop_sender.hpp"

#include <vector>

namespace rmq::send {

std::uint64_t operation_registry::enter(std::shared_ptr<tracked_work> work) {
  const std::uint64_t key = next_key_++;
  running_.emplace(key, std::move(work));
  return key;
}

void operation_registry::leave(std::uint64_t key) noexcept {
  running_.erase(key);
  if (running_.empty() && drained_) std::exchange(drained_, {}).resume();
}

coro<void> operation_registry::drain(io::clock::time_point deadline) {
  closing_ = true;
  struct park {
    std::coroutine_handle<>& slot;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept { slot = h; }
    void await_resume() const noexcept {}
  };
  struct deadline_timer final : io::timer_node {
    explicit deadline_timer(operation_registry& r) noexcept : timer_node(&fire), owner(r) {}
    static void fire(io::timer_node* t, std::error_code) noexcept {
      auto& self = static_cast<deadline_timer*>(t)->owner;
      // Past the deadline: whatever still runs is cancelled (from a copy: an emit may end one).
      std::vector<std::shared_ptr<tracked_work>> left;
      for (const auto& [key, work] : self.running_) left.push_back(work);
      for (const auto& work : left) work->signal.emit(asio::cancellation_type::terminal);
    }
    operation_registry& owner;
  };
  if (running_.empty()) co_return;
  deadline_timer timer(*this);
  loop_.add_timer(timer, deadline);
  co_await park{drained_};
  loop_.cancel_timer(timer);
}

loop_operation::loop_operation(std::shared_ptr<detail::cancel_hub> hub, bool cancellable) noexcept
    : io::task(&on_task), hub_(std::move(hub)), refs_(cancellable ? 2 : 1) {}

void loop_operation::bind(loop_sender& target) noexcept {
  refs_.fetch_add(1, std::memory_order_relaxed);  // the queued task's
  queued_.store(true, std::memory_order_seq_cst);
  target_.store(&target, std::memory_order_seq_cst);
}

void loop_operation::start() {
  target_.load(std::memory_order_seq_cst)->loop().post(static_cast<io::task&>(*this));
}

void loop_operation::cancel(asio::cancellation_type type) noexcept {
  constexpr auto ends = asio::cancellation_type::terminal | asio::cancellation_type::partial;
  if ((type & ends) == asio::cancellation_type::none) return;
  requested_.fetch_or(static_cast<std::uint32_t>(type), std::memory_order_seq_cst);
  loop_sender* target = target_.load(std::memory_order_seq_cst);
  if (target == nullptr) return;  // never bound: it fails at once, there is nothing to stop
  if (queued_.exchange(true, std::memory_order_seq_cst)) return;  // the queued task sees it
  const std::lock_guard lock(hub_->mutex);
  if (!hub_->open) return;  // the loops are gone: the operation has completed
  refs_.fetch_add(1, std::memory_order_relaxed);
  target->loop().post(static_cast<io::task&>(*this));
}

void loop_operation::release() noexcept {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void loop_operation::on_task(io::task* t, action a) noexcept {
  auto* self = static_cast<loop_operation*>(t);
  self->queued_.store(false, std::memory_order_seq_cst);
  if (a == action::run) {
    loop_sender& target = *self->target_.load(std::memory_order_seq_cst);
    if (!self->started_.exchange(true)) {
      self->work_ = std::make_shared<tracked_work>();
      self->run_on(target);
      // Emitted before it ran: it reaches the first thing the coroutine waits on.
      if (self->cancel_requested()) self->work_->signal.emit(asio::cancellation_type::terminal);
    } else if (self->work_ && self->cancel_requested()) {
      self->work_->signal.emit(asio::cancellation_type::terminal);
    }
  } else if (!self->started_.exchange(true)) {
    // The loop is destroyed before it ran (unreachable while shutdown keeps the loops up for
    // calls in progress); kept correct.
    self->fail(make_error_code(errc::shutting_down));
  }
  self->release();  // the queued task's
}

}  // namespace rmq::send
