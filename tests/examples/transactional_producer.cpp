// A transactional producer: the local transaction is a coroutine (it could co_await a database
// write without holding the loop up), and a checker answers the broker when the answer was
// unknown. Run against a broker that checks back quickly (rmq-sim --transaction-check-interval).
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <future>
#include <iostream>
#include <rmq/producer.hpp>

int main() {
  std::promise<void> checked;
  rmq::producer_config config;  // name servers from NAMESRV_ADDR, like the Java client
  config.group = "ExampleTxGroup";
  // The broker asks about a half message whose transaction ended unknown.
  config.checker = [&checked](const rmq::transaction_check& check) {
    std::cout << "checked " << check.msg_id << " (" << check.body << "): commit\n";
    checked.set_value();
    return rmq::transaction_state::commit;
  };
  rmq::producer producer(config);
  if (auto ec = producer.start()) {
    std::cerr << "start: " << ec.message() << "\n";
    return 1;
  }
  const rmq::message order("TopicTest", "order-42");
  auto done = asio::co_spawn(
      producer.get_executor(),
      [&]() -> asio::awaitable<void> {
        // Committed by the local transaction.
        rmq::transaction_result r = co_await producer.async_send_in_transaction(
            order,
            [](const rmq::message&,
               const rmq::send_result&) -> asio::awaitable<rmq::transaction_state> {
              co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
              co_return rmq::transaction_state::commit;
            },
            asio::use_awaitable);
        std::cout << r.send.msg_id << " " << rmq::to_string(r.state) << "\n";
        // Left to the checker: the local transaction cannot tell yet.
        r = co_await producer.async_send_in_transaction(
            order,
            [](const rmq::message&, const rmq::send_result&) {
              return rmq::transaction_state::unknown;
            },
            asio::use_awaitable);
        std::cout << r.send.msg_id << " " << rmq::to_string(r.state) << "\n";
      },
      asio::use_future);
  int rc = 0;
  try {
    done.get();
    if (checked.get_future().wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      std::cerr << "no check came\n";
      rc = 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "transaction failed: " << e.what() << "\n";
    rc = 1;
  }
  producer.shutdown();
  return rc;
}
