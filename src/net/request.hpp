// co_await a request on a connection from a coro<> (common/coro.hpp):
//
//   net::response r = co_await net::request(conn, encode, deadline);
//   if (r.error) ...; use *r.frame;   // valid only until the next co_await
//
// The waiting coroutine is resumed inline by the connection's reader, while the response frame
// still lies in the receive buffer: it reads the frame in place (no copy) and must finish
// reading it before it suspends again. Nothing is allocated: the awaiter lives in the
// coroutine's frame and the connection stores only a pointer to it.
//
// GO_AWAY (a 5.3 server shutting down gracefully): the first such answer is not handed to the
// coroutine. The awaiter submits the same request again on the same connection (a new opaque,
// the same deadline), which writes it on a new socket once the old one has retired
// (net/connection_lifecycle.hpp); the coroutine gets the second answer, whatever it is. A
// second GO_AWAY thus reaches the caller, whose retries move to another server.
#pragma once

#include "net/connection.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"

#include <coroutine>
#include <cstdint>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace rmq::net {

struct response {
  std::error_code error;
  const wire::command_view* frame = nullptr;  ///< nullptr on error and for oneway requests
};

template <class Encode>
class request_awaiter {
 public:
  template <class E>
  request_awaiter(connection& conn, E&& encode, clock::time_point deadline, request_kind kind)
      : conn_(conn), encode_(std::forward<E>(encode)), deadline_(deadline), kind_(kind) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> waiting) {
    waiting_ = waiting;
    // The encoder lives in this awaiter until the waiter runs, so the connection may encode
    // the frame later, once its pending buffer has room.
    result_.error = submit();
    return !result_.error;  // refused at once: resume without suspending
  }
  response await_resume() const noexcept { return result_; }

  /// While suspended: the connection and the ticket that cancel the request
  /// (connection::cancel, connection::state_of).
  [[nodiscard]] connection& target() const noexcept { return conn_; }
  [[nodiscard]] connection::ticket ticket() const noexcept { return ticket_; }

  /// The encoder of the awaiter that is a waiter's context (for a waiter_prefetch state hook).
  static const std::remove_reference_t<Encode>& encoder_of(const void* context) noexcept {
    return static_cast<const request_awaiter*>(context)->encode_;
  }

 private:
  static void encode(void* self, std::string& out, std::int32_t opaque) {
    static_cast<request_awaiter*>(self)->encode_(out, opaque);
  }
  // An encoder may say what the table should fetch ahead of its response's handling:
  // const waiter_prefetch* prefetch_plan() const noexcept.
  const waiter_prefetch* prefetch_plan() const noexcept {
    if constexpr (requires(const Encode& e) { e.prefetch_plan(); }) {
      return encode_.prefetch_plan();
    } else {
      return nullptr;
    }
  }
  static void complete(void* self, std::error_code ec, const wire::command_view* frame) {
    auto* awaiter = static_cast<request_awaiter*>(self);
    if (frame != nullptr && frame->fields.code == wire::response_code::go_away && !awaiter->resent_)
        [[unlikely]] {
      awaiter->resent_ = true;
      // Refused at once (closing, draining, or backing off after GO_AWAY): the answer stands.
      if (!awaiter->submit()) return;
    }
    awaiter->result_ = {ec, frame};
    awaiter->waiting_.resume();
  }
  /// Submits (again) the request; the error of a refusal. An encoder that throws (only an
  /// allocation that fails can) fails the request with not_enough_memory instead of the
  /// coroutine that awaits it.
  std::error_code submit() {
    try {
      return conn_.request_deferrable({&request_awaiter::encode, this}, deadline_,
                                      {&request_awaiter::complete, this, prefetch_plan()}, kind_,
                                      &ticket_);
    } catch (const std::exception&) {
      return make_error_code(std::errc::not_enough_memory);
    }
  }

  connection& conn_;
  Encode encode_;
  clock::time_point deadline_;
  request_kind kind_;
  std::coroutine_handle<> waiting_;
  response result_;
  connection::ticket ticket_;
  bool resent_ = false;  // after a GO_AWAY
};

/// An encoder passed as an lvalue is kept by reference (it lives in the awaiting coroutine's
/// frame already; a copy would double its share of every frame), a temporary by value.
template <class Encode>
[[nodiscard]] request_awaiter<Encode> request(connection& conn, Encode&& encode,
                                              clock::time_point deadline,
                                              request_kind kind = request_kind::two_way) {
  return {conn, std::forward<Encode>(encode), deadline, kind};
}

}  // namespace rmq::net
