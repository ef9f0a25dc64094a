// A blocking producer: send() waits for the broker's answer and throws on failure.
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
  try {
    rmq::message msg("TopicTest", "hello, blocking");
    msg.set_keys({"order-1", "customer-7"});
    msg.put_property("origin", "example");
    const rmq::send_result r = producer.send(msg);
    std::cout << rmq::to_string(r.status) << " msgId=" << r.msg_id
              << " offsetMsgId=" << r.offset_msg_id << " queueOffset=" << r.queue_offset << "\n";
  } catch (const std::system_error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  producer.shutdown();
  return 0;
}
