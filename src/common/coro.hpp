// coro<T>: the internal coroutine type of the send pipeline and the route layer.
//
// Lazy (starts when awaited or spawned), single-threaded (resumed on the loop that owns it),
// symmetric transfer from child to parent so deep chains use no stack, frames from the
// thread's frame_pool (no heap allocation in steady state). Errors travel as std::error_code
// values, not exceptions; an escaping exception is kept and rethrown to the awaiter.
#pragma once

#include "common/frame_pool.hpp"

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace rmq {

template <class T>
class coro;

namespace detail {

struct coro_promise_base {
  std::coroutine_handle<> continuation_ = std::noop_coroutine();
  std::exception_ptr exception_;

  static void* operator new(std::size_t size) { return frame_pool::allocate_frame(size); }
  static void operator delete(void* frame) noexcept { frame_pool::deallocate_frame(frame); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      return self.promise().continuation_;
    }
    void await_resume() const noexcept {}
  };
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }
};

template <class T>
struct coro_promise : coro_promise_base {
  std::optional<T> value_;
  coro<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& value) {
    value_.emplace(std::forward<U>(value));
  }
  T take() {
    if (exception_) std::rethrow_exception(exception_);
    return std::move(*value_);
  }
};

template <>
struct coro_promise<void> : coro_promise_base {
  coro<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (exception_) std::rethrow_exception(exception_);
  }
};

}  // namespace detail

template <class T = void>
class [[nodiscard]] coro {
 public:
  using promise_type = detail::coro_promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;

  coro() noexcept = default;
  explicit coro(handle_type h) noexcept : handle_(h) {}
  coro(coro&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  coro& operator=(coro&& other) noexcept {
    if (this != &other) {
      destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  coro(const coro&) = delete;
  coro& operator=(const coro&) = delete;
  ~coro() { destroy(); }

  /// co_await runs the child to completion, then resumes the parent (symmetric transfer).
  auto operator co_await() && noexcept {
    struct awaiter {
      handle_type child;
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept {
        child.promise().continuation_ = parent;
        return child;
      }
      T await_resume() { return child.promise().take(); }
    };
    return awaiter{handle_};
  }

  /// Releases ownership of the frame (for spawn()).
  [[nodiscard]] handle_type release() noexcept { return std::exchange(handle_, {}); }
  [[nodiscard]] explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

 private:
  void destroy() noexcept {
    if (handle_) handle_.destroy();
  }
  handle_type handle_;
};

namespace detail {
template <class T>
coro<T> coro_promise<T>::get_return_object() noexcept {
  return coro<T>(std::coroutine_handle<coro_promise<T>>::from_promise(*this));
}
inline coro<void> coro_promise<void>::get_return_object() noexcept {
  return coro<void>(std::coroutine_handle<coro_promise<void>>::from_promise(*this));
}

}  // namespace detail

/// A coroutine that starts at once and frees its own frame when it ends: the root of work that
/// nobody awaits (a send's pipeline, spawn()). Its body must not throw: an escaping exception
/// terminates, as it would on a thread.
struct detached {
  struct promise_type {
    static void* operator new(std::size_t size) { return frame_pool::allocate_frame(size); }
    static void operator delete(void* frame) noexcept { frame_pool::deallocate_frame(frame); }
    detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

namespace detail {
inline detached run_detached(coro<void> body) {
  co_await std::move(body);
}
}  // namespace detail

/// Starts `body` now on the calling thread; it runs until its first suspension and finishes
/// wherever it is resumed. The body must not throw (report errors through its own state).
inline void spawn(coro<void> body) {
  detail::run_detached(std::move(body));
}

}  // namespace rmq
