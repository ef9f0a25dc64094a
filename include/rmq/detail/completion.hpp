// The machinery behind rmq::producer's completion tokens: how a user's handler is stored while
// its operation runs and how it is invoked. Nothing here is for users to call.
//
// The rules it keeps (Asio's, for composed operations):
// - the handler runs on its associated executor; an operation that ends inside its initiating
//   call completes as if by asio::post, never before the call returns;
// - the handler's executor counts outstanding work from the start until the handler has run,
//   and every copy of the handler and of that executor is destroyed before the guard goes (a
//   moved-from handler may still hold a copy: asio::executor_binder's move copies its executor);
// - a handler run on a producer loop that throws is caught there, counted and logged: the loop
//   keeps running.
#pragma once

#include "rmq/send_error.hpp"
#include "rmq/send_result.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/bind_allocator.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/execution.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/query.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace rmq::detail {

/// Where a handler's completion object is built (the producer pools these blocks). Lives as
/// long as the blocks it hands out; a completion keeps a pointer to it.
struct completion_storage {
  void* (*allocate)(void* owner, std::size_t size, std::size_t align) = nullptr;
  /// Given the size and alignment the block was allocated with.
  void (*deallocate)(void* owner, void* p, std::size_t size, std::size_t align) noexcept = nullptr;
  void* owner = nullptr;
};

/// True when `ex` is the executor of a producer loop running on this thread that may run a
/// function inline (blocking.possibly).
[[nodiscard]] bool runs_inline_here(const asio::any_io_executor& ex) noexcept;

/// Called from a catch block around a user's handler that ran on a producer loop: counts the
/// exception on that loop and logs it (rate-limited).
void report_handler_exception() noexcept;

/// Tokens whose completion throws rather than passing an error code: with them the signature
/// is void(std::exception_ptr, send_result) and a failure throws rmq::send_error.
template <class Token>
struct throws_on_error : std::false_type {};
template <class Executor>
struct throws_on_error<asio::use_awaitable_t<Executor>> : std::true_type {};
template <class Allocator>
struct throws_on_error<asio::use_future_t<Allocator>> : std::true_type {};
// A token wrapped in a binder completes as the token it wraps.
template <class Token, class Executor>
struct throws_on_error<asio::executor_binder<Token, Executor>> : throws_on_error<Token> {};
template <class Token, class Slot>
struct throws_on_error<asio::cancellation_slot_binder<Token, Slot>> : throws_on_error<Token> {};
template <class Token, class Allocator>
struct throws_on_error<asio::allocator_binder<Token, Allocator>> : throws_on_error<Token> {};

template <class Token>
using send_signature =
    std::conditional_t<throws_on_error<std::decay_t<Token>>::value,
                       void(std::exception_ptr, send_result), void(std::error_code, send_result)>;

/// Removes what the operation installed in the handler's cancellation slot. Called on the
/// handler's side (its executor), right before the handler runs: the slot belongs to that side,
/// and the handler may install the next operation's handler in the same slot.
template <class Handler>
void clear_cancellation_slot(Handler& handler) noexcept {
  auto slot = asio::get_associated_cancellation_slot(handler);
  if (slot.is_connected()) slot.clear();
}

/// The outstanding-work guard of a handler's executor.
template <class Handler, class Fallback>
using work_executor_t = std::decay_t<decltype(asio::prefer(
    std::declval<asio::associated_executor_t<Handler, Fallback>>(),
    asio::execution::outstanding_work.tracked))>;

/// True when `Handler` has no executor of its own (Asio's unspecialised associated_executor,
/// reached directly or through binders that forward to it, such as bind_cancellation_slot):
/// it completes on the fallback executor `Executor`. Any specialization of the user's, or a
/// nested executor_type, says false, and the executor is asked for as usual.
template <class Handler, class Executor, class = void>
inline constexpr bool uses_fallback_executor = false;
template <class Handler, class Executor>
inline constexpr bool
    uses_fallback_executor<Handler, Executor,
                           std::void_t<typename asio::associated_executor<
                               Handler, Executor>::asio_associated_executor_is_unspecialised>> =
        true;

/// Whether `executor` counts outstanding work (a guard whose copies must be ordered).
template <class Executor>
[[nodiscard]] bool tracks_work(const Executor& executor) noexcept {
  if constexpr (asio::can_query<const Executor&, asio::execution::outstanding_work_t>::value) {
    // Converted first: a static query answers with the property's own type.
    return asio::execution::outstanding_work_t(
               asio::query(executor, asio::execution::outstanding_work)) ==
           asio::execution::outstanding_work.tracked;
  } else {
    return false;
  }
}

/// The function object that carries a handler to its executor. Declaration order matters: the
/// members die in reverse, so the handler (and any executor copy it holds) is destroyed before
/// `work`, the guard that keeps the handler's execution context alive.
template <class Work, class Handler, class... Args>
struct handler_call {
  Work work;
  Handler handler;
  std::tuple<Args...> args;

  void operator()() {
    clear_cancellation_slot(handler);
    std::apply([this](Args&... a) { std::move(handler)(std::move(a)...); }, args);
  }
};

/// Hands `handler` and `args` to the handler's executor: as if by post when `immediate` (the
/// operation ended inside its initiating call), else as if by dispatch. `work` is moved into the
/// call; the caller keeps a tracked copy alive until this returns.
template <class Work, class Handler, class... Args>
void deliver(Work&& work, Handler&& handler, bool immediate, Args&&... args) {
  using call_type = handler_call<std::decay_t<Work>, std::decay_t<Handler>, std::decay_t<Args>...>;
  const std::decay_t<Work> executor = work;
  call_type call{std::forward<Work>(work), std::forward<Handler>(handler),
                 std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)};
  if (immediate) {
    asio::post(executor, std::move(call));
  } else {
    asio::dispatch(executor, std::move(call));
  }
}

/// The type-erased completion of one send. Lives in a send slot of the producer (or on the heap
/// when started off the loop thread or when the handler is too large).
class send_completion {
 public:
  using complete_fn = void (*)(send_completion*, std::error_code, send_result*,
                               bool immediate) noexcept;
  explicit send_completion(complete_fn fn) noexcept : complete_(fn) {}
  /// Invokes the handler exactly once and destroys this object. The handler receives `*result`
  /// moved (a default result when nullptr).
  void complete(std::error_code ec, send_result* result) noexcept {
    complete_(this, ec, result, false);
  }
  /// The same for a send that ended inside its initiating call: the handler is posted.
  void complete_later(std::error_code ec, send_result* result) noexcept {
    complete_(this, ec, result, true);
  }

 private:
  complete_fn complete_;
};

template <class Handler, class Executor, bool Throws>
class handler_completion final : public send_completion {
 public:
  /// `make_fallback()` gives the fallback executor, which already prefers
  /// outstanding_work.tracked (producer_access::completion_executor): a handler without an
  /// executor of its own keeps it as made, constructed in place (no copy, move or prefer).
  template <class MakeFallback>
  handler_completion(Handler&& h, MakeFallback&& make_fallback, const completion_storage* storage)
      : send_completion(&complete_impl),
        handler_(std::move(h)),
        work_(work_executor(handler_, make_fallback)),
        storage_(storage) {}

 private:
  using work_type = work_executor_t<Handler, Executor>;

  template <class MakeFallback>
  static work_type work_executor(const Handler& handler, MakeFallback& make_fallback) {
    if constexpr (uses_fallback_executor<Handler, Executor> &&
                  std::is_same_v<work_type, Executor>) {
      static_assert(std::is_same_v<std::invoke_result_t<MakeFallback&>, Executor>,
                    "a prvalue of the executor's own type, so that it becomes work_ itself");
      return make_fallback();
    } else {
      return asio::prefer(asio::get_associated_executor(handler, make_fallback()),
                          asio::execution::outstanding_work.tracked);
    }
  }

  static void complete_impl(send_completion* base, std::error_code ec, send_result* result,
                            bool immediate) noexcept {
    auto* self = static_cast<handler_completion*>(base);
    if constexpr (std::is_same_v<work_type, asio::any_io_executor>) {
      // What dispatch does for a handler of the loop we are on (a coroutine spawned on
      // producer.get_executor()), without first wrapping it in a function object: the result
      // is moved once. The loop's executor tracks no work, so there is no guard to order.
      if (!immediate && result != nullptr && runs_inline_here(self->work_)) {
        Handler handler(std::move(self->handler_));
        self->destroy();
        try {
          invoke(handler, ec, std::move(*result));
        } catch (...) {
          report_handler_exception();
        }
        return;
      }
    }
    // Declared first, destroyed last: a tracked copy that outlives every other copy in this
    // frame (moved-from ones included: a moved-from handler may still hold its executor).
    // An executor that tracks no work (use_future's) has no guard to outlive.
    [[maybe_unused]] const std::optional<work_type> guard =
        tracks_work(self->work_) ? std::optional<work_type>(self->work_) : std::nullopt;
    work_type work(std::move(self->work_));
    Handler handler(std::move(self->handler_));
    self->destroy();  // the moved-from handler and executor go while `guard` still counts
    send_result moved = result != nullptr ? std::move(*result) : send_result{};
    try {
      // Dispatch may run the handler inline (its executor is the loop we are on).
      if constexpr (Throws) {
        std::exception_ptr error = ec ? std::make_exception_ptr(send_error(ec, moved)) : nullptr;
        deliver(std::move(work), std::move(handler), immediate, std::move(error), std::move(moved));
      } else {
        deliver(std::move(work), std::move(handler), immediate, ec, std::move(moved));
      }
    } catch (...) {
      report_handler_exception();
    }
  }

  static void invoke(Handler& handler, std::error_code ec, send_result&& result) {
    clear_cancellation_slot(handler);
    if constexpr (Throws) {
      std::exception_ptr error = ec ? std::make_exception_ptr(send_error(ec, result)) : nullptr;
      std::move(handler)(std::move(error), std::move(result));
    } else {
      std::move(handler)(ec, std::move(result));
    }
  }

  void destroy() noexcept {
    const completion_storage* storage = storage_;
    this->~handler_completion();
    storage->deallocate(storage->owner, this, sizeof(handler_completion),
                        alignof(handler_completion));
  }

  Handler handler_;
  work_type work_;
  const completion_storage* storage_;
};

/// The type-erased completion of an operation that ends with an error code alone (flush,
/// shutdown). Heap-allocated: these operations are rare.
class error_completion {
 public:
  using complete_fn = void (*)(error_completion*, std::error_code, bool immediate) noexcept;
  explicit error_completion(complete_fn fn) noexcept : complete_(fn) {}
  /// Invokes the handler exactly once (as if by dispatch, or by post when `immediate`) and
  /// destroys this object.
  void complete(std::error_code ec, bool immediate = false) noexcept {
    complete_(this, ec, immediate);
  }

 private:
  complete_fn complete_;
};

template <class Handler, class Executor>
class error_handler_completion final : public error_completion {
 public:
  error_handler_completion(Handler&& h, const Executor& fallback)
      : error_completion(&complete_impl),
        handler_(std::move(h)),
        work_(asio::prefer(asio::get_associated_executor(handler_, fallback),
                           asio::execution::outstanding_work.tracked)) {}

 private:
  static void complete_impl(error_completion* base, std::error_code ec, bool immediate) noexcept {
    auto* self = static_cast<error_handler_completion*>(base);
    [[maybe_unused]] const std::optional<work_executor_t<Handler, Executor>> guard =  // dies last
        tracks_work(self->work_) ? std::optional(self->work_) : std::nullopt;
    work_executor_t<Handler, Executor> work(std::move(self->work_));
    Handler handler(std::move(self->handler_));
    delete self;
    try {
      deliver(std::move(work), std::move(handler), immediate, ec);
    } catch (...) {
      report_handler_exception();
    }
  }

  Handler handler_;
  work_executor_t<Handler, Executor> work_;
};

/// The error an operation whose result is `R` throws with a throwing token: `failure_of(ec, r)`,
/// found by argument-dependent lookup beside R (a send_result's: send_error).
inline std::exception_ptr failure_of(std::error_code ec, const send_result& result) {
  return std::make_exception_ptr(send_error(ec, result));
}

/// The type-erased completion of an operation that ends with an error code and a `Result`
/// (transactional sends). Heap-allocated: these operations are not on the hot path.
template <class Result>
class outcome_completion {
 public:
  using complete_fn = void (*)(outcome_completion*, std::error_code, Result&&,
                               bool immediate) noexcept;
  explicit outcome_completion(complete_fn fn) noexcept : complete_(fn) {}
  /// Invokes the handler exactly once (as if by dispatch, or by post when `immediate`) with
  /// `result` moved, and destroys this object.
  void complete(std::error_code ec, Result&& result, bool immediate = false) noexcept {
    complete_(this, ec, std::move(result), immediate);
  }

 private:
  complete_fn complete_;
};

template <class Handler, class Executor, class Result, bool Throws>
class outcome_handler_completion final : public outcome_completion<Result> {
 public:
  outcome_handler_completion(Handler&& h, const Executor& fallback)
      : outcome_completion<Result>(&complete_impl),
        handler_(std::move(h)),
        work_(asio::prefer(asio::get_associated_executor(handler_, fallback),
                           asio::execution::outstanding_work.tracked)) {}

 private:
  using work_type = work_executor_t<Handler, Executor>;

  static void complete_impl(outcome_completion<Result>* base, std::error_code ec, Result&& result,
                            bool immediate) noexcept {
    auto* self = static_cast<outcome_handler_completion*>(base);
    [[maybe_unused]] const std::optional<work_type> guard =  // dies last, as in send completions
        tracks_work(self->work_) ? std::optional<work_type>(self->work_) : std::nullopt;
    work_type work(std::move(self->work_));
    Handler handler(std::move(self->handler_));
    delete self;
    try {
      if constexpr (Throws) {
        std::exception_ptr error = ec ? failure_of(ec, result) : nullptr;
        deliver(std::move(work), std::move(handler), immediate, std::move(error),
                std::move(result));
      } else {
        deliver(std::move(work), std::move(handler), immediate, ec, std::move(result));
      }
    } catch (...) {
      report_handler_exception();
    }
  }

  Handler handler_;
  work_type work_;
};

}  // namespace rmq::detail
