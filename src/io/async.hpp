// Glue between the loop's intrusive operations and Asio completion tokens: operation storage
// from the handler's associated allocator (Asio's per-thread recycling allocator by default, so
// steady-state operations do not reach malloc), completion through the handler's associated
// executor (inline when that is the loop's own executor and we are on the loop thread), and
// per-operation cancellation slots. Also the loop's timer waits:
//
//   co_await async_sleep_until(loop, deadline, asio::use_awaitable);
//   async_sleep_for(loop, 5ms, [](std::error_code ec) { ... });
//
// Cancellation: a connected cancellation slot (any type) or loop.stop() completes the wait
// early with asio::error::operation_aborted; otherwise it completes with an empty error_code at
// or after the deadline. Any thread may start a wait; the timer itself lives on the loop.
// As everywhere in Asio, a cancellation signal must be emitted on the operation's own
// execution context — here the loop thread (e.g. from a coroutine running on the loop).
#pragma once

#include "io/loop.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/detail/bind_handler.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/prefer.hpp>

#include <memory>
#include <typeinfo>
#include <utility>

namespace rmq::io {

/// The loop executor held by `ex` (a pointer into `ex`: keep `ex` alive while using it), or
/// nullptr when it holds another executor (or none).
/// Asio 1.24's any_executor::target<T>() casts without checking the type: this compares first.
[[nodiscard]] inline const loop::executor_type* loop_executor_in(
    const asio::any_io_executor& ex) noexcept {
  if (!ex || ex.target_type() != typeid(loop::executor_type)) return nullptr;
  return ex.target<loop::executor_type>();
}

namespace detail {

template <typename Handler>
using handler_allocator_t = asio::associated_allocator_t<Handler, asio::recycling_allocator<void>>;

template <typename Handler>
using handler_work_t = std::decay_t<decltype(asio::prefer(
    asio::get_associated_executor(std::declval<Handler&>(), std::declval<loop::executor_type>()),
    asio::execution::outstanding_work.tracked))>;

/// Owns a completion handler and the work guard on its executor.
template <typename Handler>
struct handler_storage {
  handler_storage(Handler&& h, loop& l)
      : handler_(std::move(h)),
        work_(asio::prefer(asio::get_associated_executor(handler_, l.get_executor()),
                           asio::execution::outstanding_work.tracked)) {}
  Handler handler_;
  handler_work_t<Handler> work_;
};

/// Allocates `Op` (which derives from handler_storage<Handler>) with the handler's allocator.
template <typename Op, typename Handler, typename... Args>
Op* make_op(Handler&& h, Args&&... args) {
  auto base = asio::get_associated_allocator(h, asio::recycling_allocator<void>());
  using traits = typename std::allocator_traits<decltype(base)>::template rebind_traits<Op>;
  typename traits::allocator_type alloc(base);
  Op* p = traits::allocate(alloc, 1);
  try {
    new (p) Op(std::move(h), std::forward<Args>(args)...);
  } catch (...) {
    traits::deallocate(alloc, p, 1);
    throw;
  }
  return p;
}

/// Frees `op` and then invokes its handler with `args` through the handler's executor.
/// Freeing first (Asio's rule) lets the handler start the next operation in the same memory.
template <typename Op, typename... Args>
void complete_op(Op* op, Args... args) {
  auto handler = std::move(op->handler_);
  auto work = std::move(op->work_);
  auto base = asio::get_associated_allocator(handler, asio::recycling_allocator<void>());
  using traits = typename std::allocator_traits<decltype(base)>::template rebind_traits<Op>;
  typename traits::allocator_type alloc(base);
  op->~Op();
  traits::deallocate(alloc, op, 1);
  asio::dispatch(work, asio::detail::bind_handler(std::move(handler), args...));
}

/// Destroys `op` without invoking its handler (the loop was destroyed before it started).
template <typename Op>
void destroy_op(Op* op) noexcept {
  auto base = asio::get_associated_allocator(op->handler_, asio::recycling_allocator<void>());
  using traits = typename std::allocator_traits<decltype(base)>::template rebind_traits<Op>;
  typename traits::allocator_type alloc(base);
  op->~Op();
  traits::deallocate(alloc, op, 1);
}

/// Runs `op->start()` on the loop: inline when already there, else through the op's own task
/// node (no extra allocation).
template <typename Op>
void start_on_loop(loop& l, Op* op) {
  if (l.running_in_this_thread()) {
    op->start();
  } else {
    l.post(static_cast<task&>(*op));
  }
}

template <typename Handler>
struct sleep_op final : handler_storage<Handler>, timer_node, task {
  using slot_t = asio::associated_cancellation_slot_t<Handler>;

  sleep_op(Handler&& h, loop& l, clock::time_point deadline)
      : handler_storage<Handler>(std::move(h), l),
        timer_node(&on_timer),
        task(&on_task),
        loop_(l),
        deadline_at_(deadline) {}

  void start() {
    if (loop_.stopping()) {
      finish_later(asio::error::operation_aborted);
      return;
    }
    slot_t slot = asio::get_associated_cancellation_slot(this->handler_);
    if (slot.is_connected()) {
      slot.template emplace<cancel_handler>(this);
    }
    loop_.add_timer(*this, deadline_at_);
  }

  struct cancel_handler {
    sleep_op* op;
    // Emitted on the loop thread (the coroutine's executor); completes through a deferred task
    // so that the handler never runs inside the emitter.
    void operator()(asio::cancellation_type type) const {
      if (type == asio::cancellation_type::none) return;
      if (op->loop_.cancel_timer(*op)) op->finish_later(asio::error::operation_aborted);
    }
  };

  void finish_later(std::error_code ec) {
    result_ = ec;
    started_ = true;
    loop_.defer(*this);
  }

  void finish(std::error_code ec) {
    slot_t slot = asio::get_associated_cancellation_slot(this->handler_);
    if (slot.is_connected()) slot.clear();
    complete_op(this, ec);
  }

  static void on_timer(timer_node* t, std::error_code ec) noexcept {
    static_cast<sleep_op*>(t)->finish(ec);
  }
  static void on_task(task* t, action a) noexcept {
    auto* self = static_cast<sleep_op*>(t);
    if (a == action::destroy) {
      destroy_op(self);
    } else if (!self->started_) {
      self->start();  // posted from another thread
    } else {
      self->finish(self->result_);
    }
  }

  loop& loop_;
  clock::time_point deadline_at_;
  std::error_code result_;
  bool started_ = false;
};

}  // namespace detail

/// Completes with an empty error_code once `deadline` has passed (on the loop), or with
/// asio::error::operation_aborted when cancelled or when the loop stops. Signature
/// void(std::error_code).
template <typename Token>
auto async_sleep_until(loop& l, clock::time_point deadline, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [](auto handler, loop& lp, clock::time_point at) {
        using op_t = detail::sleep_op<std::decay_t<decltype(handler)>>;
        detail::start_on_loop(lp, detail::make_op<op_t>(std::move(handler), lp, at));
      },
      token, std::ref(l), deadline);
}

template <typename Token>
auto async_sleep_for(loop& l, clock::duration d, Token&& token) {
  return async_sleep_until(l, clock::now() + d, std::forward<Token>(token));
}

}  // namespace rmq::io
