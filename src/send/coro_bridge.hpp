// Awaits the library's own loop coroutines (coro<std::error_code>, common/coro.hpp) from an
// Asio coroutine running on the same loop: the coro is started at once on the loop thread and,
// when it ends, the awaiting Asio coroutine is resumed as if by post (never inside the initiating
// call). A cancellation (any type but none) emitted on the waiter's slot — on the loop thread, as
// Asio's rule for slots says — resumes it at once with operation_aborted; the coro then runs to
// its own end unobserved.
//
//   auto [ec] = co_await async_await(loop_work(), as_tuple(asio::use_awaitable));
#pragma once

#include "common/coro.hpp"

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>

#include <memory>
#include <optional>
#include <system_error>
#include <utility>

namespace rmq::send {

namespace bridge {

/// The waiter's handler until whoever comes first (the coro's end, a cancellation) takes it.
template <class Handler>
struct waiter {
  std::optional<Handler> handler;

  /// `from_slot`: called by the slot's own handler, which may not be cleared while it runs.
  void complete(std::error_code ec, bool from_slot = false) {
    if (!handler) return;
    Handler h = std::move(*handler);
    handler.reset();
    if (!from_slot) asio::get_associated_cancellation_slot(h).clear();
    auto ex = asio::get_associated_executor(h);
    asio::post(ex, [h = std::move(h), ec]() mutable { std::move(h)(ec); });
  }
};

template <class Handler>
coro<void> resume_with(coro<std::error_code> body, std::shared_ptr<waiter<Handler>> state) {
  const std::error_code ec = co_await std::move(body);
  state->complete(ec);
}

}  // namespace bridge

/// Loop thread only. Completes with the coro's error: void(std::error_code). The coro must not
/// throw.
template <class Token>
auto async_await(coro<std::error_code> body, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [](auto handler, coro<std::error_code> b) {
        using handler_type = std::decay_t<decltype(handler)>;
        auto state = std::make_shared<bridge::waiter<handler_type>>();
        auto slot = asio::get_associated_cancellation_slot(handler);
        state->handler.emplace(std::move(handler));
        if (slot.is_connected()) {
          slot.assign([weak = std::weak_ptr(state)](asio::cancellation_type type) {
            if (type == asio::cancellation_type::none) return;
            if (const auto s = weak.lock()) {
              s->complete(make_error_code(asio::error::operation_aborted), true);
            }
          });
        }
        spawn(bridge::resume_with(std::move(b), std::move(state)));
      },
      token, std::move(body));
}

}  // namespace rmq::send
