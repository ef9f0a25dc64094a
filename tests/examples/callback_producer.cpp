// A callback producer: completions run on the producer's loop thread.
#include <atomic>
#include <future>
#include <iostream>
#include <rmq/producer.hpp>

int main() {
  rmq::producer_config config;
  config.group = "ExampleGroup";
  rmq::producer producer(config);
  if (auto ec = producer.start()) {
    std::cerr << "start: " << ec.message() << "\n";
    return 1;
  }
  const rmq::message msg("TopicTest", "hello from a callback");
  constexpr int count = 100;
  std::atomic<int> remaining{count};
  std::atomic<int> failed{0};
  std::promise<void> all_done;
  for (int i = 0; i < count; ++i) {
    producer.async_send(msg, [&](std::error_code ec, rmq::send_result r) {
      if (ec) {
        ++failed;
        std::cerr << "failed: " << ec.message() << "\n";
      } else if (r.queue.queue_id < 0) {
        ++failed;
      }
      if (--remaining == 0) all_done.set_value();
    });
  }
  all_done.get_future().wait();
  std::cout << count - failed << " of " << count << " sent\n";
  producer.shutdown();
  return failed == 0 ? 0 : 1;
}
