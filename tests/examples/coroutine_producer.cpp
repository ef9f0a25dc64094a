// A coroutine producer: sends run on the producer's own loop, with no thread hop.
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include <future>
#include <iostream>
#include <rmq/producer.hpp>

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
        rmq::message msg("TopicTest", "hello from a coroutine");
        msg.set_tags("TagA");
        for (int i = 0; i < 10; ++i) {
          rmq::send_result r = co_await producer.async_send(msg, asio::use_awaitable);
          std::cout << rmq::to_string(r.status) << " " << r.msg_id << " " << r.queue.broker_name
                    << ":" << r.queue.queue_id << "\n";
        }
        co_return 0;
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
