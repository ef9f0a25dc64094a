#include "send/recalls.hpp"

#include "send/coro_bridge.hpp"
#include "send/loop_sender.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace rmq::send {
namespace {

asio::awaitable<void> recall_body(loop_sender& sender, operation_registry& operations,
                                  recall_run& run, std::uint64_t key) {
  co_await asio::this_coro::throw_if_cancelled(false);  // the bridge reports a cancellation
  // Shared with the loop's coroutine, which a cancellation leaves running unobserved.
  auto reply = std::make_shared<recall_result>();
  std::error_code ec;
  try {
    auto [done] = co_await async_await(sender.recall(run.topic(), run.handle(), reply),
                                       asio::experimental::as_tuple(asio::use_awaitable));
    ec = done;
  } catch (...) {  // the loop is going away (an allocation failing on the way)
    ec = make_error_code(errc::shutting_down);
  }
  recall_result out;
  if (ec != make_error_code(asio::error::operation_aborted)) out = std::move(*reply);
  run.finish(ec, std::move(out), operations, key);
}

}  // namespace

void recall_run::finish(std::error_code ec, recall_result&& result, operation_registry& operations,
                        std::uint64_t key) {
  completion_->complete(reported(ec, operations), std::move(result));
  operations.leave(key);
  release();
}

void recall_run::run_on(loop_sender& target) {
  target.run_recall(*this);
}

void start_recall(loop_sender& sender, operation_registry& operations, recall_run& run) {
  if (operations.closing()) {
    run.fail(make_error_code(errc::shutting_down));
    return;
  }
  const std::uint64_t key = operations.enter(run.work());
  asio::co_spawn(
      sender.loop().get_executor(), recall_body(sender, operations, run, key),
      asio::bind_cancellation_slot(run.work()->signal.slot(), [](std::exception_ptr) {}));
}

}  // namespace rmq::send
