// An operation of the producer that runs as one Asio coroutine on a loop (a transactional send,
// a request): how it starts there, how a cancellation emitted on its handler reaches it, and
// the references that keep it alive until both its coroutine and its handler's slot are done.
//
// As for sends (cancel_link.hpp), nothing of the loop's is touched from the emitting thread: an
// emit records its type and posts the operation's task node to the loop, where it is emitted on
// the coroutine's cancellation signal. The hub keeps a late emit from posting to a loop that is
// gone.
#pragma once

#include "common/coro.hpp"
#include "io/loop.hpp"
#include "io/task.hpp"
#include "rmq/detail/completion.hpp"
#include "rmq/detail/producer_initiate.hpp"
#include "rmq/error.hpp"
#include "rmq/message.hpp"
#include "rmq/send_options.hpp"
#include "send/cancel_link.hpp"

#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <system_error>
#include <unordered_map>

namespace rmq {
class producer;
}

namespace rmq::send {

class loop_sender;

/// A transaction, a request or a check under way on a loop: what the shutdown cancels. Shared
/// by the coroutine that runs it and the loop's registry.
struct tracked_work {
  asio::cancellation_signal signal;  ///< emitted on the loop thread only
};

/// The operations and checks under way on one loop (loop thread only), so that a shutdown can
/// let them finish until its deadline, cancel the rest, and wait until every one has ended.
class operation_registry {
 public:
  explicit operation_registry(io::loop& loop) noexcept : loop_(loop) {}
  operation_registry(const operation_registry&) = delete;
  operation_registry& operator=(const operation_registry&) = delete;

  /// Registers work under way; its key.
  std::uint64_t enter(std::shared_ptr<tracked_work> work);
  /// The work of `key` has ended.
  void leave(std::uint64_t key) noexcept;
  /// From now on the loop is shutting down: new operations fail at once.
  [[nodiscard]] bool closing() const noexcept { return closing_; }
  /// Lets the work under way run until `deadline`, cancels what is left (a terminal
  /// cancellation on each one's signal), and returns once every one has ended.
  [[nodiscard]] coro<void> drain(io::clock::time_point deadline);

 private:
  io::loop& loop_;
  std::unordered_map<std::uint64_t, std::shared_ptr<tracked_work>> running_;
  std::uint64_t next_key_ = 0;
  std::coroutine_handle<> drained_;
  bool closing_ = false;
};

class loop_operation : public detail::cancellable_operation, private io::task {
 public:
  /// References: the operation's own (dropped when it completes) and, when `cancellable`, the
  /// slot handler's.
  loop_operation(std::shared_ptr<detail::cancel_hub> hub, bool cancellable) noexcept;

  /// The initiating thread, before the handler's slot can reach it: the loop it will run on.
  /// From here a cancellation finds the start queued and leaves it to the start.
  void bind(loop_sender& target) noexcept;
  /// The initiating thread, after bind(): runs it on its loop, always through the loop's queue,
  /// so that it never completes inside its initiating call.
  void start();
  /// Completes it at once with `ec` (as if by post), without running it; drops its reference.
  virtual void fail(std::error_code ec) = 0;

  /// A cancellation (terminal or partial) was emitted on its handler.
  [[nodiscard]] bool cancel_requested() const noexcept {
    return requested_.load(std::memory_order_seq_cst) != 0;
  }
  /// What to complete with for `ec`: an operation_aborted the shutdown caused (not a
  /// cancellation of the user's) is reported as shutting_down.
  [[nodiscard]] std::error_code reported(std::error_code ec,
                                         const operation_registry& operations) const noexcept {
    if (ec == make_error_code(asio::error::operation_aborted) && !cancel_requested() &&
        operations.closing()) {
      return make_error_code(errc::shutting_down);
    }
    return ec;
  }
  /// Loop thread, once started: what the shutdown cancels.
  [[nodiscard]] const std::shared_ptr<tracked_work>& work() const noexcept { return work_; }

  // detail::cancellable_operation: any thread. Total cancellation is ignored.
  void cancel(asio::cancellation_type type) noexcept override;
  void release() noexcept override;

 protected:
  virtual ~loop_operation() = default;
  /// Loop thread: starts the coroutine, which completes the operation and then drops the
  /// operation's reference. `work()` is set before.
  virtual void run_on(loop_sender& target) = 0;

 private:
  static void on_task(io::task* t, action a) noexcept;

  std::shared_ptr<detail::cancel_hub> hub_;
  std::atomic<std::uint32_t> refs_;
  std::atomic<std::uint32_t> requested_{0};  ///< asio::cancellation_type bits emitted
  std::atomic<bool> queued_{false};          ///< posted to the loop (to start or to cancel)
  std::atomic<loop_sender*> target_{nullptr};
  std::atomic<bool> started_{false};
  std::shared_ptr<tracked_work> work_;  ///< loop thread, once started
};

/// The send result inside an operation's result: where a failure names its topic.
[[nodiscard]] inline send_result& send_result_of(transaction_result& r) noexcept {
  return r.send;
}
[[nodiscard]] inline send_result& send_result_of(request_result& r) noexcept {
  return r.request;
}

/// A loop operation about one message that completes with `Result`: what every such operation
/// holds from its initiating call (the message, which must outlive it, and its send_options).
template <class Result>
class message_operation : public loop_operation {
 public:
  message_operation(producer& owner, std::shared_ptr<detail::cancel_hub> hub,
                    detail::outcome_completion<Result>* completion, const message& msg,
                    send_options&& options, bool cancellable)
      : loop_operation(std::move(hub), cancellable),
        owner_(owner),
        completion_(completion),
        msg_(msg),
        options_(std::move(options)) {}

  void fail(std::error_code ec) override {
    Result result;
    send_result_of(result).queue.topic = msg_.topic();
    completion_->complete(ec, std::move(result), true);
    release();
  }

  /// Loop thread, from its coroutine, registered in `operations` under `key`: completes it (an
  /// operation_aborted the shutdown caused is reported as shutting_down), then leaves the
  /// registry (the shutdown may go on from there) and drops the operation's own reference.
  void finish(std::error_code ec, Result&& result, operation_registry& operations,
              std::uint64_t key) {
    completion_->complete(reported(ec, operations), std::move(result));
    operations.leave(key);
    release();
  }

 protected:
  producer& owner_;
  detail::outcome_completion<Result>* completion_;
  const message& msg_;
  send_options options_;
};

}  // namespace rmq::send
