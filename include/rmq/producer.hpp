// rmq::producer: sends messages to RocketMQ brokers.
//
// Every send is one pipeline on the producer's io_uring loop: validate → (back-pressure) →
// resolve the topic's route (cached) → pick a queue (round robin + fault tolerance) → write the
// request on the broker's pipelined connection and await the response → result — with retries on
// other brokers, all under one deadline (send_timeout). The forms below are thin adaptors over
// that pipeline:
//
//   co_await producer.async_send(msg, asio::use_awaitable);          // coroutine (any executor)
//   producer.async_send(msg, [](std::error_code ec, rmq::send_result r) { ... });  // callback
//   std::future<rmq::send_result> f = producer.async_send(msg, asio::use_future);
//   rmq::send_result r = producer.send(msg);                          // blocking; throws
//   producer.send_oneway(msg);                                         // fire and forget
//
// The completion runs on the handler's associated executor (Asio rules): a coroutine on the
// user's own io_context resumes there (one hop from the loop); a coroutine spawned on
// producer.get_executor() runs on the loop itself and resumes inline, with no hop at all.
// The message must stay alive and unchanged until the send completes.
//
// Cancellation: async sends are not cancellable individually; every send ends by its deadline.
// shutdown() completes every pending send (with errc::shutting_down if it cannot finish).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/execution.hpp>
#include <asio/prefer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "rmq/error.hpp"
#include "rmq/message.hpp"
#include "rmq/message_queue.hpp"
#include "rmq/producer_config.hpp"
#include "rmq/send_result.hpp"

namespace rmq {

/// Chooses the queue of an ordered send from the topic's queues (sorted as the Java client
/// sorts them). Must return an index below queues.size().
using queue_selector = std::function<std::size_t(std::span<const message_queue> queues,
                                                 const message& msg)>;

/// Counters of a producer, cheap to read from any thread.
struct producer_stats {
  std::uint64_t sends = 0;           ///< sends started
  std::uint64_t succeeded = 0;       ///< completed with a result
  std::uint64_t failed = 0;          ///< completed with an error
  std::uint64_t retries = 0;         ///< attempts beyond the first
  std::uint64_t timeouts = 0;        ///< sends that ran out of budget
  std::uint64_t in_flight = 0;       ///< sends started and not completed
  std::uint64_t route_queries = 0;   ///< GET_ROUTEINFO_BY_TOPIC sent
  std::uint64_t frame_pool_fallbacks = 0;  ///< coroutine frames that had to come from the heap
  std::uint64_t slot_fallbacks = 0;        ///< completion handlers too large for a send slot
};

namespace detail {

enum class send_kind : std::uint8_t { async, sync, oneway };

/// How one send chooses its queue.
struct send_target {
  const message_queue* queue = nullptr;          ///< explicit queue (ordered)
  const queue_selector* selector = nullptr;      ///< selector (ordered)
};

/// The type-erased completion of one send. Lives in a send slot of the producer (or on the heap
/// when started off the loop thread or when the handler is too large).
class send_completion {
 public:
  using complete_fn = void (*)(send_completion*, std::error_code, send_result*) noexcept;
  explicit send_completion(complete_fn fn) noexcept : complete_(fn) {}
  /// Invokes the handler exactly once and destroys this object. The handler receives `*result`
  /// moved (a default result when nullptr).
  void complete(std::error_code ec, send_result* result) noexcept { complete_(this, ec, result); }

 private:
  complete_fn complete_;
};

/// Storage where a handler's completion object is built (pooled by the producer). Lives as
/// long as the blocks it hands out; a completion keeps a pointer to it (8 bytes, not 24).
struct completion_storage {
  void* (*allocate)(void* owner, std::size_t size, std::size_t align) = nullptr;
  /// Given the size and alignment the block was allocated with.
  void (*deallocate)(void* owner, void* p, std::size_t size, std::size_t align) noexcept = nullptr;
  void* owner = nullptr;
};

/// True when `ex` is the executor of a producer loop running on this thread that may run a
/// function inline (blocking.possibly).
[[nodiscard]] bool runs_inline_here(const asio::any_io_executor& ex) noexcept;

template <class Handler, class Executor>
class handler_completion final : public send_completion {
 public:
  handler_completion(Handler&& h, const Executor& fallback, const completion_storage* storage)
      : send_completion(&complete_impl),
        handler_(std::move(h)),
        work_(asio::prefer(asio::get_associated_executor(handler_, fallback),
                           asio::execution::outstanding_work.tracked)),
        storage_(storage) {}

 private:
  static void complete_impl(send_completion* base, std::error_code ec,
                            send_result* result) noexcept {
    auto* self = static_cast<handler_completion*>(base);
    Handler handler(std::move(self->handler_));
    auto work = std::move(self->work_);
    const completion_storage* storage = self->storage_;
    self->~handler_completion();
    storage->deallocate(storage->owner, self, sizeof(handler_completion),
                        alignof(handler_completion));
    if constexpr (std::is_same_v<decltype(work), asio::any_io_executor>) {
      // What dispatch does for a handler of the loop we are on (a coroutine spawned on
      // producer.get_executor()), without first wrapping it in a type-erased function.
      if (result != nullptr && runs_inline_here(work)) {
        std::move(handler)(ec, std::move(*result));
        return;
      }
    }
    // Dispatch: inline when the handler's executor is the loop we are on. The result is moved
    // once, into the function object (it may be queued to another executor).
    asio::dispatch(work, [h = std::move(handler), ec,
                          r = result != nullptr ? std::move(*result) : send_result{}]() mutable {
      std::move(h)(ec, std::move(r));
    });
  }

  Handler handler_;
  std::decay_t<decltype(asio::prefer(std::declval<asio::associated_executor_t<Handler, Executor>>(),
                                     asio::execution::outstanding_work.tracked))>
      work_;
  const completion_storage* storage_;
};

}  // namespace detail

class producer {
 public:
  using executor_type = asio::any_io_executor;

  explicit producer(producer_config config);
  /// Shuts down (with the configured send timeout as the deadline) if still running.
  ~producer();
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  /// Validates the configuration, starts the loop thread(s), registers with the brokers of
  /// topics as they are used. Errors: invalid configuration, no name server.
  std::error_code start();
  /// Stops taking sends, lets those in flight finish until `timeout` has passed, fails the rest
  /// with errc::shutting_down, unregisters from the brokers and joins the loop thread(s).
  void shutdown(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

  /// The executor of the producer's (first) loop: coroutines spawned here run with no hop.
  /// Throws std::system_error (errc::not_started) before start().
  [[nodiscard]] executor_type get_executor() const;

  // --- asynchronous ---------------------------------------------------------------------
  /// Completion signature void(std::error_code, rmq::send_result).
  template <class Token>
  auto async_send(const message& msg, Token&& token) {
    return initiate(msg, detail::send_kind::async, {}, std::forward<Token>(token));
  }
  /// Ordered send to one explicit queue: never changes queue (async retries the same queue).
  template <class Token>
  auto async_send(const message& msg, const message_queue& queue, Token&& token) {
    return initiate(msg, detail::send_kind::async, {&queue, nullptr}, std::forward<Token>(token));
  }
  /// Ordered send to the queue `selector` picks.
  template <class Token>
  auto async_send(const message& msg, const queue_selector& selector, Token&& token) {
    return initiate(msg, detail::send_kind::async, {nullptr, &selector},
                    std::forward<Token>(token));
  }
  /// One attempt, no response awaited: completes once the request is written.
  template <class Token>
  auto async_send_oneway(const message& msg, Token&& token) {
    return initiate(msg, detail::send_kind::oneway, {}, std::forward<Token>(token));
  }
  /// SEND_BATCH_MESSAGE: messages of one topic in one request (Java batch rules). The span and
  /// the messages must stay alive until completion.
  template <class Token>
  auto async_send_batch(std::span<const message> batch, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, send_result)>(
        [this](auto handler, std::span<const message> messages) {
          start_batch(make_completion(std::move(handler)), messages);
        },
        token, batch);
  }

  // --- blocking ---------------------------------------------------------------------------
  /// Throws std::system_error on failure; its what() says what happened, like the Java message.
  send_result send(const message& msg);
  send_result send(const message& msg, std::error_code& ec);
  send_result send(const message& msg, const message_queue& queue, std::error_code& ec);
  send_result send(const message& msg, const queue_selector& selector, std::error_code& ec);
  send_result send_batch(std::span<const message> batch, std::error_code& ec);
  std::error_code send_oneway(const message& msg);

  /// The topic's queues as the route gives them (sorted like the Java client's list).
  std::error_code fetch_queues(const std::string& topic, std::vector<message_queue>& out);

  [[nodiscard]] producer_stats stats() const;
  [[nodiscard]] const producer_config& config() const noexcept;

  class impl;

 private:
  template <class Token>
  auto initiate(const message& msg, detail::send_kind kind, detail::send_target target,
                Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, send_result)>(
        [this](auto handler, const message* m, detail::send_kind k, detail::send_target t) {
          start_send(make_completion(std::move(handler)), *m, k, t);
        },
        token, &msg, kind, target);
  }

  template <class Handler>
  detail::send_completion* make_completion(Handler&& handler) {
    using completion_type = detail::handler_completion<std::decay_t<Handler>, executor_type>;
    const detail::completion_storage* storage = completion_storage_for_this_thread();
    void* p = storage->allocate(storage->owner, sizeof(completion_type), alignof(completion_type));
    return new (p) completion_type(std::move(handler), completion_executor(), storage);
  }

  [[nodiscard]] const detail::completion_storage* completion_storage_for_this_thread()
      const noexcept;
  /// Where a handler without an executor of its own completes: the loop, or — once the loop
  /// has stopped — the calling thread, so that even a send started after shutdown completes.
  [[nodiscard]] executor_type completion_executor() const;
  void start_send(detail::send_completion* completion, const message& msg,
                  detail::send_kind kind, detail::send_target target);
  void start_batch(detail::send_completion* completion, std::span<const message> messages);

  std::unique_ptr<impl> impl_;
};

}  // namespace rmq
