// What the connection fetches into the cache ahead of a send attempt's response: the lines of
// the send's coroutine frame from its start (its resume pointer) to the end of the attempt's
// awaiter, which is the waiter's context; and, through the state hook, the send's op. Where the
// awaiter sits in the frame is the compiler's choice, not a C++ type's layout, so it is measured
// at run time: once per loop, on its first attempt.
#pragma once

#include "net/request_table.hpp"

#include <cstddef>
#include <optional>

namespace rmq::send {

/// Where an awaiter sits in its coroutine's frame.
struct awaiter_placement {
  std::ptrdiff_t offset = 0;  ///< the awaiter's address minus coroutine_handle::address()
  std::size_t size = 0;       ///< the awaiter's size
};

/// At most this many lines behind the awaiter are fetched (the frame's start, if farther, is not).
inline constexpr int max_lines_behind = 16;

/// The lines, as context + line * 64, that hold every byte from the frame's start to the
/// awaiter's end (the context is the awaiter). `state` is kept as is.
[[nodiscard]] net::waiter_prefetch frame_lines(const awaiter_placement& placement,
                                               void (*state)(const void*) noexcept) noexcept;

/// One loop's prefetch plan for its send attempts (loop thread only).
class attempt_prefetch {
 public:
  explicit attempt_prefetch(void (*state)(const void* context) noexcept) noexcept {
    plan_.state = state;
  }
  [[nodiscard]] bool measured() const noexcept { return measured_; }
  /// Measures `awaiter`'s place in the frame at `frame` and plans the lines from it.
  void measure(const void* awaiter, std::size_t awaiter_size, const void* frame) noexcept;
  /// Until the first measure() it names no lines, only the state hook.
  [[nodiscard]] const net::waiter_prefetch* plan() const noexcept { return &plan_; }

 private:
  net::waiter_prefetch plan_;
  bool measured_ = false;
};

/// The placement last measured by any loop of this process, for tests and diagnostics.
[[nodiscard]] std::optional<awaiter_placement> last_measured_placement() noexcept;

}  // namespace rmq::send
