// A request-reply client: each request waits for the reply a responder sends back, under one
// timeout. Run against a broker with a responder (rmq-sim --responder on).
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include <future>
#include <iostream>
#include <rmq/producer.hpp>

int main() {
  rmq::producer_config config;  // name servers from NAMESRV_ADDR, like the Java client
  config.group = "ExampleRequesters";
  rmq::producer producer(config);
  if (auto ec = producer.start()) {
    std::cerr << "start: " << ec.message() << "\n";
    return 1;
  }
  auto done = asio::co_spawn(
      producer.get_executor(),
      [&]() -> asio::awaitable<void> {
        const rmq::message question("TopicTest", "what time is it?");
        rmq::send_options options;
        options.timeout = std::chrono::seconds(5);  // the send and the wait for the reply
        for (int i = 0; i < 3; ++i) {
          const rmq::request_result r =
              co_await producer.async_request(question, options, asio::use_awaitable);
          std::cout << r.correlation_id << " -> " << r.reply.body() << "\n";
        }
      },
      asio::use_future);
  int rc = 0;
  try {
    done.get();
  } catch (const std::exception& e) {
    std::cerr << "request failed: " << e.what() << "\n";
    rc = 1;
  }
  producer.shutdown();
  return rc;
}
