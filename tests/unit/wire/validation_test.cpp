#include "wire/validation.hpp"

#include "rmq/error.hpp"
#include "rmq/message.hpp"
#include "wire/batch.hpp"
#include "wire/properties.hpp"
#include "wire/uniq_key.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

using namespace rmq::wire;
using rmq::errc;
using rmq::message;

namespace {

message valid_message() {
  message msg("TopicTest", "TagA", "hello");
  msg.set_keys({"k1", "k2"});
  msg.put_property("color", "red");
  return msg;
}

struct message_case {
  const char* what;
  std::function<void(message&)> change;
  errc expected;
};

}  // namespace

TEST_CASE("validation: a table of single-message errors") {
  const std::vector<message_case> cases = {
      {"empty topic", [](message& m) { m.set_topic(""); }, errc::topic_blank},
      {"whitespace topic", [](message& m) { m.set_topic(" \t"); }, errc::topic_blank},
      {"topic of 128 chars", [](message& m) { m.set_topic(std::string(128, 't')); },
       errc::topic_too_long},
      {"topic with a dot", [](message& m) { m.set_topic("a.b"); }, errc::topic_illegal_characters},
      {"topic with a space", [](message& m) { m.set_topic("a b"); },
       errc::topic_illegal_characters},
      {"topic with UTF-8", [](message& m) { m.set_topic("tópico"); },
       errc::topic_illegal_characters},
      {"schedule topic", [](message& m) { m.set_topic("SCHEDULE_TOPIC_XXXX"); },
       errc::topic_reserved},
      {"half topic", [](message& m) { m.set_topic("RMQ_SYS_TRANS_HALF_TOPIC"); },
       errc::topic_reserved},
      {"op half topic", [](message& m) { m.set_topic("RMQ_SYS_TRANS_OP_HALF_TOPIC"); },
       errc::topic_reserved},
      {"check max time topic", [](message& m) { m.set_topic("TRANS_CHECK_MAX_TIME_TOPIC"); },
       errc::topic_reserved},
      {"self test topic", [](message& m) { m.set_topic("SELF_TEST_TOPIC"); }, errc::topic_reserved},
      {"offset moved topic", [](message& m) { m.set_topic("OFFSET_MOVED_EVENT"); },
       errc::topic_reserved},
      {"empty body", [](message& m) { m.set_body(""); }, errc::body_empty},
      {"body over 4 MiB", [](message& m) { m.set_body(std::string(4 * 1024 * 1024 + 1, 'b')); },
       errc::body_too_large},
      {"negative delay level", [](message& m) { m.set_delay_level(-1); },
       errc::delay_level_invalid},
      {"delay level 19", [](message& m) { m.set_delay_level(19); }, errc::delay_level_invalid},
      {"negative delivery time", [](message& m) { m.set_delivery_time_ms(-5); },
       errc::invalid_argument},
      {"delivery time and delay level",
       [](message& m) {
         m.set_delay_level(2);
         m.set_delivery_time_ms(1700000000000);
       },
       errc::invalid_argument},
      {"negative delay in seconds", [](message& m) { m.set_delay_time_sec(-1); },
       errc::invalid_argument},
      {"negative delay in milliseconds", [](message& m) { m.set_delay_time_ms(-1); },
       errc::invalid_argument},
      {"delay in seconds and delay level",
       [](message& m) {
         m.set_delay_level(3);
         m.set_delay_time_sec(30);
       },
       errc::invalid_argument},
      {"0x01 in tags",
       [](message& m) {
         m.set_tags(
             "a\x01"
             "b");
       },
       errc::illegal_separator_character},
      {"0x02 in keys", [](message& m) { m.set_keys("k\x02"); }, errc::illegal_separator_character},
      {"0x02 in UNIQ_KEY", [](message& m) { m.set_uniq_key("id\x02"); },
       errc::illegal_separator_character},
      {"reserved property KEYS", [](message& m) { m.put_property("KEYS", "x"); },
       errc::property_name_reserved},
      {"reserved property UNIQ_KEY", [](message& m) { m.put_property("UNIQ_KEY", "x"); },
       errc::property_name_reserved},
      {"reserved property TIMER_DELIVER_MS",
       [](message& m) { m.put_property("TIMER_DELIVER_MS", "1"); }, errc::property_name_reserved},
      {"reserved property __BORNHOST", [](message& m) { m.put_property("__BORNHOST", "x"); },
       errc::property_name_reserved},
      {"empty property name", [](message& m) { m.put_property("", "x"); },
       errc::property_name_blank},
      {"blank property name", [](message& m) { m.put_property(" \n", "x"); },
       errc::property_name_blank},
      {"empty property value", [](message& m) { m.put_property("n", ""); },
       errc::property_value_blank},
      {"blank property value", [](message& m) { m.put_property("n", "  "); },
       errc::property_value_blank},
      {"0x01 in a property name",
       [](message& m) {
         m.put_property(
             "a\x01"
             "b",
             "x");
       },
       errc::illegal_separator_character},
      {"0x02 in a property value", [](message& m) { m.put_property("n", "x\x02y"); },
       errc::illegal_separator_character},
      {"properties over 32767 bytes",
       [](message& m) { m.put_property("big", std::string(32767, 'v')); },
       errc::properties_too_long},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    message msg = valid_message();
    c.change(msg);
    CHECK(validate_message(msg) == c.expected);
  }
}

TEST_CASE("validation: valid messages and edges that pass") {
  CHECK_FALSE(validate_message(valid_message()));
  message msg = valid_message();
  msg.set_topic(std::string(127, 't'));
  CHECK_FALSE(validate_message(msg));
  msg.set_topic("%RETRY%group|a-b_c");  // single messages may go to retry topics
  CHECK_FALSE(validate_message(msg));
  msg.set_topic("TBW102");  // a system topic, but not one Java forbids sending to
  CHECK_FALSE(validate_message(msg));
  msg = valid_message();
  msg.set_body(std::string(4 * 1024 * 1024, 'b'));
  CHECK_FALSE(validate_message(msg));
  msg = valid_message();
  msg.set_delay_level(18);
  CHECK_FALSE(validate_message(msg));
  msg.set_delay_level(0);
  msg.set_delivery_time_ms(1700000000000);
  CHECK_FALSE(validate_message(msg));
  msg.set_delay_time_sec(30);
  CHECK_FALSE(validate_message(msg));
  msg.set_delay_time_ms(45000);
  CHECK_FALSE(validate_message(msg));
  msg.set_delay_time_ms(std::nullopt);
  msg.put_property("__SHARDINGKEY", "group-1");  // not reserved in Java either
  msg.put_property("名前", "値");
  CHECK_FALSE(validate_message(msg));

  // A configured limit.
  msg = valid_message();
  msg.set_delay_level(19);
  CHECK(validate_message(msg) == errc::delay_level_invalid);
  CHECK_FALSE(validate_message(msg, {.max_delay_level = 24}));
  msg.set_delay_level(25);
  CHECK(validate_message(msg, {.max_delay_level = 24}) == errc::delay_level_invalid);
  msg = valid_message();
  msg.set_body(std::string(1001, 'b'));
  CHECK(validate_message(msg, {.max_message_size = 1000}) == errc::body_too_large);
  msg.set_delay_level(20);
  CHECK_FALSE(validate_message(msg, {.max_message_size = 2000, .max_delay_level = 24}));
}

TEST_CASE("validation: the 32767-byte properties limit counts exactly what is sent") {
  message msg("T", "b");
  msg.set_uniq_key(std::string(32, 'A'));
  msg.put_property("p", "v");
  const std::size_t base = encoded_properties_size(msg);
  // Grow the value until the string is exactly at the limit, then one byte over it.
  msg.put_property("p", std::string(1 + max_properties_size - base, 'v'));
  CHECK(encoded_properties_size(msg) == max_properties_size);
  CHECK_FALSE(validate_message(msg));
  CHECK(validate_message(msg, {.extra_property_bytes = 1}) == errc::properties_too_long);
  msg.put_property("p", std::string(2 + max_properties_size - base, 'v'));
  CHECK(validate_message(msg) == errc::properties_too_long);
}

TEST_CASE("validation: without user properties, long tags or keys still meet the exact limit") {
  // Such messages skip the exact count while a bound says they fit; near the limit they do not.
  message msg("T", "b");
  msg.set_uniq_key(std::string(32, 'A'));
  msg.set_keys({"k"});
  const std::size_t base = encoded_properties_size(msg);
  msg.set_keys({std::string(max_properties_size - base + 1, 'k')});
  CHECK(encoded_properties_size(msg) == max_properties_size);
  CHECK_FALSE(validate_message(msg));
  CHECK(validate_message(msg, {.extra_property_bytes = 1}) == errc::properties_too_long);
  msg.set_keys({"k"});
  msg.set_tags(std::string(max_properties_size, 't'));
  CHECK(validate_message(msg) == errc::properties_too_long);
}

TEST_CASE("validation: a namespace counts in the topic length and the properties limit") {
  // Java checks the topic after wrapping it (DefaultMQProducer.send, then checkMessage).
  message msg(std::string(123, 't'), "b");
  CHECK_FALSE(validate_message(msg, {.name_space = "ns1"}));  // 127 once wrapped
  msg.set_topic(std::string(124, 't'));
  CHECK_FALSE(validate_message(msg));
  CHECK(validate_message(msg, {.name_space = "ns1"}) == errc::topic_too_long);
  msg.set_topic("ns1%" + std::string(123, 't'));  // already in it: not wrapped again
  CHECK_FALSE(validate_message(msg, {.name_space = "ns1"}));
  msg.set_topic("TBW102");  // a system topic is never wrapped
  const std::string longest_namespace(125, 'n');
  CHECK_FALSE(validate_message(msg, {.name_space = longest_namespace}));

  // INSTANCE_ID=<namespace>: 11 + 1 + 3 + 1 bytes.
  msg = message("T", "b");
  msg.set_uniq_key(std::string(32, 'A'));
  msg.put_property("p", "v");
  const std::size_t base = encoded_properties_size(msg);
  msg.put_property("p", std::string(1 + max_properties_size - base - 16, 'v'));
  CHECK_FALSE(validate_message(msg, {.name_space = "ns1"}));
  CHECK(validate_message(msg, {.extra_property_bytes = 1, .name_space = "ns1"}) ==
        errc::properties_too_long);
}

TEST_CASE("validation: every Java reserved property name") {
  // MessageConst.STRING_HASH_SET at rocketmq-all-5.3.3, in the order Java adds them.
  const char* names[] = {"TRACE_ON",
                         "MSG_REGION",
                         "KEYS",
                         "TAGS",
                         "WAIT",
                         "DELAY",
                         "RETRY_TOPIC",
                         "REAL_TOPIC",
                         "REAL_QID",
                         "TRAN_MSG",
                         "PGROUP",
                         "MIN_OFFSET",
                         "MAX_OFFSET",
                         "BUYER_ID",
                         "ORIGIN_MESSAGE_ID",
                         "TRANSFER_FLAG",
                         "CORRECTION_FLAG",
                         "MQ2_FLAG",
                         "RECONSUME_TIME",
                         "UNIQ_KEY",
                         "MAX_RECONSUME_TIMES",
                         "CONSUME_START_TIME",
                         "POP_CK",
                         "POP_CK_OFFSET",
                         "1ST_POP_TIME",
                         "TRAN_PREPARED_QUEUE_OFFSET",
                         "DUP_INFO",
                         "EXTEND_UNIQ_INFO",
                         "INSTANCE_ID",
                         "CORRELATION_ID",
                         "REPLY_TO_CLIENT",
                         "TTL",
                         "ARRIVE_TIME",
                         "PUSH_REPLY_TIME",
                         "CLUSTER",
                         "MSG_TYPE",
                         "INNER_MULTI_QUEUE_OFFSET",
                         "TIMER_DELAY_MS",
                         "TIMER_DELAY_SEC",
                         "TIMER_DELIVER_MS",
                         "TIMER_ENQUEUE_MS",
                         "TIMER_DEQUEUE_MS",
                         "TIMER_ROLL_TIMES",
                         "TIMER_OUT_MS",
                         "TIMER_DEL_UNIQKEY",
                         "TIMER_DELAY_LEVEL",
                         "__BORNHOST",
                         "BORN_TIMESTAMP",
                         "DLQ_ORIGIN_TOPIC",
                         "DLQ_ORIGIN_MESSAGE_ID",
                         "__CRC32#"};
  CHECK(std::size(names) == 51);
  for (const char* name : names) {
    CAPTURE(name);
    CHECK(is_reserved_property_name(name));
    // Refused as a user property, by a single send and inside a batch.
    message msg = valid_message();
    msg.put_property(name, "1");
    CHECK(validate_message(msg) == errc::property_name_reserved);
    const std::vector<message> batch = {valid_message(), msg};
    CHECK(validate_batch(batch) == errc::property_name_reserved);
  }
  CHECK_FALSE(is_reserved_property_name("keys"));
  CHECK_FALSE(is_reserved_property_name("TRACE_CONTEXT"));
  CHECK_FALSE(is_reserved_property_name("__SHARDINGKEY"));
  CHECK_FALSE(is_reserved_property_name("__transactionId__"));  // a constant, not in the set
  CHECK_FALSE(is_reserved_property_name("TIMER_DELAY_MS "));
  CHECK_FALSE(is_reserved_property_name("__CRC32"));
  CHECK_FALSE(is_reserved_property_name(""));
}

TEST_CASE("validation: groups") {
  CHECK_FALSE(validate_group("demo_producer_gp"));
  CHECK_FALSE(validate_group(std::string(255, 'g')));
  CHECK(validate_group("") == errc::group_blank);
  CHECK(validate_group("   ") == errc::group_blank);
  CHECK(validate_group(std::string(256, 'g')) == errc::group_too_long);
  CHECK(validate_group("a/b") == errc::group_illegal_characters);
  CHECK(validate_group("DEFAULT_PRODUCER") == errc::group_reserved);
  CHECK(validate_group("CLIENT_INNER_PRODUCER") == errc::group_reserved);
}

TEST_CASE("validation: a table of batch errors") {
  const auto batch_of = [](int n) {
    std::vector<message> msgs;
    for (int i = 0; i < n; ++i) msgs.emplace_back("BatchTopic", "body-" + std::to_string(i));
    return msgs;
  };
  struct batch_case {
    const char* what;
    std::function<void(std::vector<message>&)> change;
    errc expected;
  };
  const std::vector<batch_case> cases = {
      {"empty batch", [](auto& v) { v.clear(); }, errc::batch_empty},
      {"delay level", [](auto& v) { v[1].set_delay_level(1); }, errc::batch_with_delay},
      {"delivery time", [](auto& v) { v[2].set_delivery_time_ms(1700000000000); },
       errc::batch_with_delay},
      {"delay in seconds", [](auto& v) { v[1].set_delay_time_sec(30); }, errc::batch_with_delay},
      {"delay in milliseconds", [](auto& v) { v[2].set_delay_time_ms(5); }, errc::batch_with_delay},
      {"retry topic",
       [](auto& v) {
         for (auto& m : v) m.set_topic("%RETRY%group");
       },
       errc::batch_retry_topic},
      {"mixed topics", [](auto& v) { v[2].set_topic("Other"); }, errc::batch_mixed_topics},
      {"mixed WAIT", [](auto& v) { v[1].set_wait_store_msg_ok(false); },
       errc::batch_mixed_wait_store},
      {"an invalid message", [](auto& v) { v[1].set_body(""); }, errc::body_empty},
      {"a reserved property", [](auto& v) { v[0].put_property("DELAY", "3"); },
       errc::property_name_reserved},
      {"reserved topic for all",
       [](auto& v) {
         for (auto& m : v) m.set_topic("SELF_TEST_TOPIC");
       },
       errc::topic_reserved},
      {"encoded body over 4 MiB",
       [](auto& v) {
         for (auto& m : v) m.set_body(std::string(1024 * 1024, 'x'));
       },
       errc::body_too_large},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto msgs = batch_of(4);
    c.change(msgs);
    CHECK(validate_batch(msgs) == c.expected);
  }
  CHECK_FALSE(validate_batch(batch_of(4)));
  auto all_false = batch_of(3);
  for (auto& m : all_false) m.set_wait_store_msg_ok(false);
  CHECK_FALSE(validate_batch(all_false));
}

TEST_CASE("validation: a batch is measured by its body as the send encodes it") {
  std::vector<message> msgs;
  for (int i = 0; i < 3; ++i) msgs.emplace_back("BatchTopic", "TagA", std::string(1000 + i, 'b'));
  msgs[0].put_property("color", "red");
  msgs[1].set_keys({"k1", "k2"});
  msgs[2].set_uniq_key("7F0000010001000000000000000000AA");
  std::string body;
  REQUIRE_FALSE(encode_batch(msgs, default_uniq_key_generator(), body));
  CHECK_FALSE(validate_batch(msgs, {.max_message_size = body.size()}));
  CHECK(validate_batch(msgs, {.max_message_size = body.size() - 1}) == errc::body_too_large);
}

TEST_CASE("validation: one user property, as a send hook adds it") {
  CHECK_FALSE(validate_user_property("trace-id", "abc"));
  CHECK(validate_user_property("UNIQ_KEY", "x") == rmq::errc::property_name_reserved);
  CHECK(validate_user_property(" ", "x") == rmq::errc::property_name_blank);
  CHECK(validate_user_property("n", "") == rmq::errc::property_value_blank);
  CHECK(validate_user_property("n",
                               "a\x02"
                               "b") == rmq::errc::illegal_separator_character);
  CHECK(validate_user_property("a\x01"
                               "b",
                               "v") == rmq::errc::illegal_separator_character);
}
