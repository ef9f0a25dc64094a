#include "rmq/message.hpp"

#include "rmq/message_queue.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

using rmq::message;
using rmq::message_queue;

TEST_CASE("message: defaults match the Java Message") {
  const message msg("TopicTest", "TagA", "hello");
  CHECK(msg.topic() == "TopicTest");
  CHECK(msg.tags() == "TagA");
  CHECK(msg.body() == "hello");
  CHECK(msg.keys().empty());
  CHECK(msg.flag() == 0);
  CHECK(msg.delay_level() == 0);
  CHECK_FALSE(msg.delivery_time_ms().has_value());
  CHECK(msg.wait_store_msg_ok());
  CHECK(msg.uniq_key().empty());
  CHECK(msg.properties().empty());
}

TEST_CASE("message: a key list is joined by one space and trimmed, as Java's setKeys") {
  message msg;
  msg.set_keys({"order-1", "user-7"});
  CHECK(msg.keys() == "order-1 user-7");
  msg.set_keys({" a ", "b", ""});
  CHECK(msg.keys() == "a  b");  // inner spaces kept, ends trimmed
  const std::vector<std::string> keys = {"x"};
  msg.set_keys(keys);
  CHECK(msg.keys() == "x");
  msg.set_keys(std::vector<std::string>{});
  CHECK(msg.keys().empty());
  msg.set_keys(std::string("single key"));
  CHECK(msg.keys() == "single key");
}

TEST_CASE("message: user properties keep insertion order and unique names") {
  message msg;
  msg.put_property("b", "1");
  msg.put_property("a", "2");
  msg.put_property("b", "3");  // replaced in place
  REQUIRE(msg.properties().size() == 2);
  CHECK(msg.properties()[0] == std::pair<std::string, std::string>("b", "3"));
  CHECK(msg.properties()[1] == std::pair<std::string, std::string>("a", "2"));
  CHECK(msg.property("a") == std::optional<std::string_view>("2"));
  CHECK_FALSE(msg.property("c").has_value());
  CHECK(msg.remove_property("b"));
  CHECK_FALSE(msg.remove_property("b"));
  REQUIRE(msg.properties().size() == 1);
  CHECK(msg.properties()[0].first == "a");
  msg.clear_properties();
  CHECK(msg.properties().empty());
}

TEST_CASE("message: value semantics") {
  message a("T", "body");
  a.set_delay_level(3);
  a.put_property("k", "v");
  message b = a;
  CHECK(a == b);
  b.put_property("k", "w");
  CHECK(a != b);
  CHECK(a.property("k") == std::optional<std::string_view>("v"));
  b = a;
  b.set_delivery_time(std::chrono::system_clock::time_point(std::chrono::milliseconds(1234)));
  CHECK(b.delivery_time_ms() == std::optional<std::int64_t>(1234));
  CHECK(a != b);
  b.body() += "!";
  CHECK(b.body() == "body!");
}

TEST_CASE("message_queue: ordered by topic, broker name, queue id; hashable") {
  std::vector<message_queue> queues = {
      {"T", "broker-b", 0}, {"T", "broker-a", 3}, {"S", "broker-z", 9}, {"T", "broker-a", 1}};
  std::sort(queues.begin(), queues.end());
  CHECK(queues[0] == message_queue{"S", "broker-z", 9});
  CHECK(queues[1] == message_queue{"T", "broker-a", 1});
  CHECK(queues[2] == message_queue{"T", "broker-a", 3});
  CHECK(queues[3] == message_queue{"T", "broker-b", 0});
  std::unordered_set<message_queue> set(queues.begin(), queues.end());
  set.insert({"T", "broker-a", 1});
  CHECK(set.size() == 4);
  CHECK(set.count({"T", "broker-b", 0}) == 1);
  CHECK(set.count({"T", "broker-b", 1}) == 0);
}
