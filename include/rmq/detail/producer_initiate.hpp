// How rmq::producer's asynchronous members start their operations: the completion token is
// turned into a handler (asio::async_initiate), the handler into a type-erased completion, and
// the call into a send_request handed to the producer's loops. Nothing here is for users to call.
#pragma once

#include "rmq/detail/completion.hpp"
#include "rmq/detail/send_request.hpp"
#include "rmq/message.hpp"
#include "rmq/recall.hpp"
#include "rmq/request_reply.hpp"
#include "rmq/send_options.hpp"
#include "rmq/transaction.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_type.hpp>

#include <chrono>
#include <new>
#include <type_traits>
#include <utility>

namespace rmq {

class producer;

namespace detail {

/// The producer's state behind its public interface (src/send/producer.cpp).
class producer_impl;

/// One public call in progress: while it lasts, the producer's loops stay up (shutdown waits for
/// it before joining them), so whatever the call hands to a loop is run there.
class call_scope {
 public:
  explicit call_scope(producer& owner) noexcept;
  ~call_scope();
  call_scope(const call_scope&) = delete;
  call_scope& operator=(const call_scope&) = delete;

  producer& owner;
  void* local_loop = nullptr;  ///< the producer's loop running on this thread, if any
  bool counted = false;        ///< counted as a call in progress (off the loops)
  bool running = false;        ///< the producer was running (loops up) at entry
};

/// The handler a cancellable send installs in its completion handler's cancellation slot. An
/// emit only records the type and posts to the send's loop (src/send/cancel_link.hpp); the
/// slot is cleared on the handler's side before the handler runs (completion.hpp).
class send_cancellation {
 public:
  explicit send_cancellation(cancel_link* link) noexcept : link_(link) {}
  ~send_cancellation();
  send_cancellation(const send_cancellation&) = delete;
  send_cancellation& operator=(const send_cancellation&) = delete;
  void operator()(asio::cancellation_type type) const noexcept;

 private:
  cancel_link* link_;
};

/// An operation other than a send (flush) that a cancellation slot can reach: emitted from the
/// handler's side, released when the slot is cleared.
class cancellable_operation {
 public:
  /// Any thread (the handler's executor): a cancellation of `type` was emitted.
  virtual void cancel(asio::cancellation_type type) noexcept = 0;
  /// Drops the slot's reference.
  virtual void release() noexcept = 0;

 protected:
  ~cancellable_operation() = default;
};

/// The slot handler of a cancellable_operation.
class operation_cancellation {
 public:
  explicit operation_cancellation(cancellable_operation* op) noexcept : op_(op) {}
  ~operation_cancellation() { op_->release(); }
  operation_cancellation(const operation_cancellation&) = delete;
  operation_cancellation& operator=(const operation_cancellation&) = delete;
  void operator()(asio::cancellation_type type) const noexcept { op_->cancel(type); }

 private:
  cancellable_operation* op_;
};

/// What the inline initiations below reach inside the producer (defined with it).
struct producer_access {
  [[nodiscard]] static producer_impl& state(producer& p) noexcept;
  [[nodiscard]] static const completion_storage* completion_storage_for(
      const call_scope& scope) noexcept;
  /// Where a handler without an executor of its own completes: the loop, or — once the loops
  /// have stopped — the system executor, so that even a send started after shutdown completes.
  /// Either already prefers outstanding_work.tracked (the loop's tracks nothing and is its own
  /// preference), so that a send's completion can keep it as its work guard unchanged.
  [[nodiscard]] static asio::any_io_executor completion_executor(const call_scope& scope);
  static void start_send(const call_scope& scope, send_completion* completion,
                         send_request& request);
  /// A new link for a send whose handler has a connected cancellation slot (nullptr when the
  /// producer is not running: the send fails at once).
  [[nodiscard]] static cancel_link* make_cancel_link(const call_scope& scope);
  static void start_shutdown(producer& p, error_completion* completion,
                             std::chrono::milliseconds timeout);
  /// What a cancellation slot reaches of async_shutdown's wait for `completion`.
  [[nodiscard]] static cancellable_operation* shutdown_cancellation(producer& p,
                                                                    error_completion* completion);
  /// A flush that completes `completion`; `cancellable`: a slot handler will hold a reference.
  [[nodiscard]] static cancellable_operation* prepare_flush(error_completion* completion,
                                                            bool cancellable);
  static void start_flush(const call_scope& scope, cancellable_operation* flush,
                          std::chrono::milliseconds timeout);
  /// A transactional send of `msg` that completes `completion`; `cancellable`: a slot handler
  /// will hold a reference. Takes `local` and `options` over.
  [[nodiscard]] static cancellable_operation* prepare_operation(
      const call_scope& scope, outcome_completion<transaction_result>* completion, bool cancellable,
      const message* msg, local_transaction& local, send_options& options);
  /// A request of `msg` (async_request), likewise.
  [[nodiscard]] static cancellable_operation* prepare_operation(
      const call_scope& scope, outcome_completion<request_result>* completion, bool cancellable,
      const message* msg, send_options& options);
  /// A recall of the timer message `handle` names in `topic` (async_recall), likewise. Takes
  /// both strings over.
  [[nodiscard]] static cancellable_operation* prepare_operation(
      const call_scope& scope, outcome_completion<recall_result>* completion, bool cancellable,
      std::string& topic, std::string& handle);
  /// Starts an operation prepared above on a loop (or fails it at once when not running).
  static void start_operation(const call_scope& scope, cancellable_operation* operation);
};

/// Builds `handler`'s completion (in the loop's pool on a loop thread, else on the heap) and
/// starts the send.
template <class Handler, bool Throws>
void start_send_with(producer& p, Handler&& handler, send_request& request,
                     std::bool_constant<Throws>) {
  const call_scope scope(p);
  auto slot = asio::get_associated_cancellation_slot(handler);
  using completion_type = handler_completion<std::decay_t<Handler>, asio::any_io_executor, Throws>;
  const completion_storage* storage = producer_access::completion_storage_for(scope);
  void* block =
      storage->allocate(storage->owner, sizeof(completion_type), alignof(completion_type));
  send_completion* completion = new (block) completion_type(
      std::move(handler), [&scope] { return producer_access::completion_executor(scope); },
      storage);
  // A connected slot makes the send cancellable: its handler is installed here, on the
  // handler's side, and cleared there before the handler runs.
  if (slot.is_connected()) {
    request.cancel = producer_access::make_cancel_link(scope);
    if (request.cancel != nullptr) slot.template emplace<send_cancellation>(request.cancel);
  }
  producer_access::start_send(scope, completion, request);
}

/// The initiation of every asynchronous send: `extra` (a message or batch taken over, a queue,
/// a selector, a batch span) is described into the request.
template <class Token, class... Extra>
auto initiate_send(producer& p, Token&& token, const message* msg, send_kind kind,
                   Extra&&... extra) {
  using signature = send_signature<Token>;
  constexpr bool throws = throws_on_error<std::decay_t<Token>>::value;
  return asio::async_initiate<Token, signature>(
      [owner = &p, msg, kind](auto handler, auto&&... taken) {
        send_request request;
        request.msg = msg;
        request.kind = kind;
        (describe(request, taken), ...);
        if (!request.batch.empty()) request.msg = &request.batch.front();
        start_send_with(*owner, std::move(handler), request, std::bool_constant<throws>{});
      },
      token, std::forward<Extra>(extra)...);
}

template <class Handler>
error_completion* make_error_completion(Handler&& handler, const call_scope& scope) {
  using completion_type = error_handler_completion<std::decay_t<Handler>, asio::any_io_executor>;
  return new completion_type(std::move(handler), producer_access::completion_executor(scope));
}

/// The initiation of async_shutdown: void(std::error_code).
template <class Token>
auto initiate_shutdown(producer& p, std::chrono::milliseconds timeout, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [owner = &p](auto handler, std::chrono::milliseconds t) {
        const call_scope scope(*owner);
        auto slot = asio::get_associated_cancellation_slot(handler);
        error_completion* completion = make_error_completion(std::move(handler), scope);
        if (slot.is_connected()) {
          slot.template emplace<operation_cancellation>(
              producer_access::shutdown_cancellation(*owner, completion));
        }
        producer_access::start_shutdown(*owner, completion, t);
      },
      token, timeout);
}

/// The initiation of async_flush: void(std::error_code).
template <class Token>
auto initiate_flush(producer& p, std::chrono::milliseconds timeout, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [owner = &p](auto handler, std::chrono::milliseconds t) {
        const call_scope scope(*owner);
        // Installed before the flush starts: it may complete (posted) at once.
        auto slot = asio::get_associated_cancellation_slot(handler);
        const bool cancellable = slot.is_connected();
        cancellable_operation* flush = producer_access::prepare_flush(
            make_error_completion(std::move(handler), scope), cancellable);
        if (cancellable) slot.template emplace<operation_cancellation>(flush);
        producer_access::start_flush(scope, flush, t);
      },
      token, timeout);
}

/// Builds the reply to a request (its properties) carrying `body` into `out`, and the marker
/// with the request's correlation properties that makes the send a SEND_REPLY_MESSAGE_V2. A
/// request without CLUSTER leaves `out` without a topic, and one without CORRELATION_ID or
/// REPLY_TO_CLIENT leaves the marker without them: the send fails with invalid_argument.
[[nodiscard]] correlation_marker reply_to(const request_properties& request, std::string& body,
                                          message& out);

/// The initiation of an operation that runs as a coroutine on a loop (a transactional send, a
/// request) and completes with `Result`: void(std::error_code, Result), or
/// void(std::exception_ptr, Result) with a throwing token. `args` are what
/// producer_access::prepare_operation takes for it.
template <class Result, class Token, class... Args>
auto initiate_operation(producer& p, Token&& token, Args&&... args) {
  using signature =
      std::conditional_t<throws_on_error<std::decay_t<Token>>::value,
                         void(std::exception_ptr, Result), void(std::error_code, Result)>;
  constexpr bool throws = throws_on_error<std::decay_t<Token>>::value;
  return asio::async_initiate<Token, signature>(
      [owner = &p](auto handler, auto&&... taken) {
        const call_scope scope(*owner);
        auto slot = asio::get_associated_cancellation_slot(handler);
        const bool cancellable = slot.is_connected();
        using completion_type = outcome_handler_completion<std::decay_t<decltype(handler)>,
                                                           asio::any_io_executor, Result, throws>;
        auto* completion =
            new completion_type(std::move(handler), producer_access::completion_executor(scope));
        cancellable_operation* operation =
            producer_access::prepare_operation(scope, completion, cancellable, taken...);
        // Installed before the operation starts: it may complete (posted) at once.
        if (cancellable) slot.template emplace<operation_cancellation>(operation);
        producer_access::start_operation(scope, operation);
      },
      token, std::forward<Args>(args)...);
}

}  // namespace detail

/// A transactional send's error with a throwing token: its half message's send_error.
inline std::exception_ptr failure_of(std::error_code ec, const transaction_result& result) {
  return std::make_exception_ptr(send_error(ec, result.send));
}
/// A request's error with a throwing token: its send's send_error (a timeout after a stored
/// request says so in the diagnostics).
inline std::exception_ptr failure_of(std::error_code ec, const request_result& result) {
  return std::make_exception_ptr(send_error(ec, result.request));
}

}  // namespace rmq
