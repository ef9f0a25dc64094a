// A coroutine that gives each send its own time limit in two ways: send_options::timeout (the
// send's whole budget, retries included), and `send || timer` (Asio's awaitable operators),
// which cancels the send when the timer wins. A cancelled send that was not yet written is
// never written; one already written may still be stored by the broker (its diagnostics say so).
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <future>
#include <iostream>
#include <rmq/producer.hpp>

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

int main() {
  rmq::producer_config config;  // name servers from NAMESRV_ADDR, like the Java client
  config.group = "ExampleGroup";
  rmq::producer producer(config);
  if (auto ec = producer.start()) {
    std::cerr << "start: " << ec.message() << "\n";
    return 1;
  }
  std::promise<int> done;
  asio::co_spawn(
      producer.get_executor(),
      [&]() -> asio::awaitable<int> {
        rmq::message msg("TopicTest", "hello, in time");
        // 1. The send's own budget, instead of producer_config::send_timeout.
        rmq::send_result r = co_await producer.async_send(msg, rmq::send_options{.timeout = 500ms},
                                                          asio::use_awaitable);
        std::cout << "with its own timeout: " << rmq::to_string(r.status) << " " << r.msg_id
                  << "\n";

        // 2. Whichever ends first: the send, or a timer (the loser is cancelled).
        asio::steady_timer timer(co_await asio::this_coro::executor, 2s);
        auto first = co_await (producer.async_send(msg, asio::use_awaitable) ||
                               timer.async_wait(asio::use_awaitable));
        if (first.index() == 0) {
          std::cout << "before the timer: " << std::get<0>(first).msg_id << "\n";
          co_return 0;
        }
        std::cout << "the timer won: the send was cancelled\n";
        co_return 1;
      },
      [&](std::exception_ptr e, int rc) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            std::cerr << "send failed: " << ex.what() << "\n";
          }
          rc = 1;
        }
        done.set_value(rc);
      });
  const int rc = done.get_future().get();
  producer.shutdown();
  return rc;
}
