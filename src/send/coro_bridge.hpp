// Awaits the library's own loop coroutines (coro<T>, common/coro.hpp) from an Asio coroutine
// running on the same loop: the coro is started at once on the loop thread and, when it ends,
// the awaiting Asio coroutine is resumed as if by post (never inside the initiating call).
//
//   const std::error_code ec = co_await async_await(loop_work(), asio::use_awaitable);
#pragma once

#include "common/coro.hpp"

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>

#include <utility>

namespace rmq::send {

namespace bridge {
template <class T, class Handler>
coro<void> resume_with(coro<T> body, Handler handler) {
  T value = co_await std::move(body);
  auto ex = asio::get_associated_executor(handler);
  asio::post(
      ex, [h = std::move(handler), v = std::move(value)]() mutable { std::move(h)(std::move(v)); });
}
}  // namespace bridge

/// Loop thread only. Completes with the coro's value: void(T). The coro must not throw.
template <class T, class Token>
auto async_await(coro<T> body, Token&& token) {
  return asio::async_initiate<Token, void(T)>(
      [](auto handler, coro<T> b) { spawn(bridge::resume_with(std::move(b), std::move(handler))); },
      token, std::move(body));
}

}  // namespace rmq::send
