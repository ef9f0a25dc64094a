// rmq-sim as a broker: v1, v2 and batch sends, both serializations, both personalities, what is
// stored, heartbeats, unregistering, END_TRANSACTION, unknown codes, pipelining.
#include "sim_test_support.hpp"
#include "support/test_scale.hpp"
#include "wire/batch.hpp"
#include "wire/compression.hpp"
#include "wire/heartbeat.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <thread>

namespace rmq::sim::test {

namespace {

bool is_upper_hex(std::string_view text) {
  return text.find_first_not_of("0123456789ABCDEF") == std::string_view::npos;
}

std::set<std::string> field_names(const wire::remoting_command& c) {
  std::set<std::string> names;
  for (const auto& [name, value] : c.ext_fields) names.insert(name);
  return names;
}

}  // namespace

TEST_CASE("SEND_MESSAGE_V2 (JSON) on 4.9: captured response shape, growing offsets, stored") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  REQUIRE(client.connected());

  auto first = client.call(send_v2("TopicTest", "Hello RocketMQ 0", 2), wire::serialize_type::json,
                           reply_timeout);
  REQUIRE(first);
  CHECK(client.last_type() == wire::serialize_type::json);
  CHECK(first->fields.code == 0);
  CHECK(first->fields.version == 409);
  CHECK(first->fields.language == wire::language_code::java);
  CHECK_FALSE(first->remark.has_value());
  CHECK(field_names(*first) ==
        std::set<std::string>{"queueId", "TRACE_ON", "MSG_REGION", "msgId", "queueOffset"});
  CHECK(field_or(*first, "queueId") == "2");
  CHECK(field_or(*first, "queueOffset") == "0");
  CHECK(field_or(*first, "MSG_REGION") == "DefaultRegion");
  CHECK(field_or(*first, "TRACE_ON") == "true");
  const std::string msg_id = field_or(*first, "msgId");
  REQUIRE(msg_id.size() == 32);
  CHECK(is_upper_hex(msg_id));
  CHECK(msg_id.substr(0, 8) == "7F000001");
  CHECK(msg_id.substr(16) == "0000000000000000");

  auto second = client.call(send_v2("TopicTest", "Hello RocketMQ 1", 2), wire::serialize_type::json,
                            reply_timeout);
  REQUIRE(second);
  CHECK(field_or(*second, "queueOffset") == "1");
  CHECK(field_or(*second, "msgId") > msg_id);  // same prefix, larger commit-log offset
  auto other_queue = client.call(send_v2("TopicTest", "Hello RocketMQ 2", 3),
                                 wire::serialize_type::json, reply_timeout);
  REQUIRE(other_queue);
  CHECK(field_or(*other_queue, "queueOffset") == "0");

  const auto messages = sim.messages();
  REQUIRE(messages.size() == 3);
  const auto& m = messages[0];
  CHECK(m.broker_name == "broker-a");
  CHECK(m.request_code == wire::request_code::send_message_v2);
  CHECK(m.serialization == 0);
  CHECK(m.topic == "TopicTest");
  CHECK(m.queue_id == 2);
  CHECK(m.queue_offset == 0);
  CHECK(m.offset_msg_id == msg_id);
  CHECK(m.tags == "TagA");
  CHECK(m.keys.empty());
  CHECK(m.property("UNIQ_KEY") == "7F00000112340A0B0C0D0000ABCD0000");
  CHECK(m.property("WAIT") == "true");
  CHECK(m.body == "Hello RocketMQ 0");
  CHECK(m.born_timestamp == 1700000000000);
  CHECK(m.producer_group == "test_group");
  CHECK(messages[1].queue_offset == 1);
}

TEST_CASE("SEND_MESSAGE (v1, long names) with keys, flag and a negative queueId") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  std::set<std::string> queues;
  for (int i = 0; i < 4; ++i) {
    auto request = make_request(wire::request_code::send_message,
                                {{"producerGroup", "v1_group"},
                                 {"topic", "TopicTest"},
                                 {"defaultTopic", "TBW102"},
                                 {"defaultTopicQueueNums", "4"},
                                 {"queueId", "-1"},
                                 {"sysFlag", "0"},
                                 {"bornTimestamp", "1700000000123"},
                                 {"flag", "7"},
                                 {"properties", "KEYS\x01k1 k2\x02TAGS\x01TagV1\x02"},
                                 {"reconsumeTimes", "0"},
                                 {"unitMode", "false"},
                                 {"bname", "broker-a"}},
                                "v1 body " + std::to_string(i));
    auto reply = client.call(request, wire::serialize_type::json, reply_timeout);
    REQUIRE(reply);
    CHECK(reply->fields.code == 0);
    queues.insert(field_or(*reply, "queueId"));
  }
  CHECK(queues == std::set<std::string>{"0", "1", "2", "3"});  // negative queueId: broker picks
  const auto messages = sim.messages();
  REQUIRE(messages.size() == 4);
  CHECK(messages[0].request_code == wire::request_code::send_message);
  CHECK(messages[0].keys == "k1 k2");
  CHECK(messages[0].tags == "TagV1");
  CHECK(messages[0].flag == 7);
  CHECK(messages[0].producer_group == "v1_group");
  CHECK(messages[0].born_timestamp == 1700000000123);
}

TEST_CASE("binary requests: 4.9 answers in binary without transactionId, 5 in JSON with it") {
  for (const auto version : {personality::v4_9, personality::v5}) {
    CAPTURE(static_cast<int>(version));
    simulator sim(make_config(version));
    sim.start();
    blocking_client client(sim.broker_address("broker-a"));
    auto reply = client.call(send_v2("TopicTest", "binary body", 1), wire::serialize_type::rocketmq,
                             reply_timeout);
    REQUIRE(reply);
    CHECK(reply->fields.code == 0);
    if (version == personality::v5) {
      CHECK(client.last_type() == wire::serialize_type::json);
      CHECK(reply->fields.version == 479);
      CHECK(field_or(*reply, "transactionId") == "7F00000112340A0B0C0D0000ABCD0000");
      CHECK(field_names(*reply) == std::set<std::string>{"queueId", "transactionId", "msgId",
                                                         "TRACE_ON", "MSG_REGION", "queueOffset"});
    } else {
      CHECK(client.last_type() == wire::serialize_type::rocketmq);
      CHECK(reply->fields.version == 409);
      CHECK_FALSE(reply->field("transactionId"));
    }
    const auto messages = sim.messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0].serialization == 1);
    CHECK(messages[0].body == "binary body");
  }
}

TEST_CASE("5 personality makes up a transactionId for a message without UNIQ_KEY") {
  simulator sim(make_config(personality::v5));
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  auto reply = client.call(send_v2("TopicTest", "no key", 0, "WAIT\x01true"),
                           wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == 0);
  CHECK(field_or(*reply, "transactionId").size() == 32);
}

TEST_CASE("SEND_BATCH_MESSAGE: comma-joined offsetMsgIds, first queueOffset, every member stored") {
  for (const auto version : {personality::v4_9, personality::v5}) {
    CAPTURE(static_cast<int>(version));
    simulator sim(make_config(version));
    sim.start();
    blocking_client client(sim.broker_address("broker-a"));
    REQUIRE(
        client.call(send_v2("TopicTest", "before", 3), wire::serialize_type::json, reply_timeout));

    std::string body;
    for (int i = 0; i < 3; ++i) {
      wire::append_batch_record(body, i, "batch-" + std::to_string(i),
                                "KEYS\x01"
                                "bkey-" +
                                    std::to_string(i) + "\x02TAGS\x01TagB\x02");
    }
    auto request = send_v2("TopicTest", body, 3, "WAIT\x01true\x02UNIQ_KEY\x01OUTERKEY\x02");
    request.fields.code = wire::request_code::send_batch_message;
    request.set_field("m", "true");
    auto reply = client.call(request, wire::serialize_type::json, reply_timeout);
    REQUIRE(reply);
    CHECK(reply->fields.code == 0);
    CHECK(field_or(*reply, "queueId") == "3");
    CHECK(field_or(*reply, "queueOffset") == "1");
    const std::string ids = field_or(*reply, "msgId");
    CHECK(ids.size() == 3 * 32 + 2);
    CHECK(std::count(ids.begin(), ids.end(), ',') == 2);
    if (version == personality::v5) CHECK(field_or(*reply, "transactionId") == "OUTERKEY");

    const auto messages = sim.messages();
    REQUIRE(messages.size() == 4);
    for (int i = 0; i < 3; ++i) {
      const auto& m = messages[static_cast<std::size_t>(i) + 1];
      CHECK(m.request_code == wire::request_code::send_batch_message);
      CHECK(m.batch_index == i);
      CHECK(m.body == "batch-" + std::to_string(i));
      CHECK(m.keys == "bkey-" + std::to_string(i));
      CHECK(m.tags == "TagB");
      CHECK(m.flag == i);
      CHECK(m.queue_offset == 1 + i);
      CHECK(m.offset_msg_id == ids.substr(static_cast<std::size_t>(i) * 33, 32));
    }
    CHECK(sim.counters().broker_messages() == 4);
  }
}

TEST_CASE("compressed bodies are stored decompressed (zlib, zstd, lz4)") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  wire::body_codec codec;
  const std::string original(8192, 'z');
  for (const auto type :
       {wire::compression_type::zlib, wire::compression_type::zstd, wire::compression_type::lz4}) {
    std::string compressed;
    REQUIRE_FALSE(codec.compress(type, 5, original, compressed));
    auto reply = client.call(
        send_v2("TopicTest", compressed, 0, "WAIT\x01true", wire::compression_sys_flag(type)),
        wire::serialize_type::json, reply_timeout);
    REQUIRE(reply);
    CHECK(reply->fields.code == 0);
  }
  // A broker does not look at the bytes: a corrupt body is accepted and kept as it came.
  auto corrupt = client.call(send_v2("TopicTest", "not zlib", 0, "WAIT\x01true", 0x301),
                             wire::serialize_type::json, reply_timeout);
  REQUIRE(corrupt);
  CHECK(corrupt->fields.code == 0);

  const auto messages = sim.messages();
  REQUIRE(messages.size() == 4);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(messages[i].was_compressed);
    CHECK_FALSE(messages[i].decompression_failed);
    CHECK(messages[i].body == original);
  }
  CHECK(messages[3].decompression_failed);
  CHECK(messages[3].body == "not zlib");
}

TEST_CASE("HEART_BEAT and UNREGISTER_CLIENT are recorded; 5 adds the heartbeat V2 fields") {
  for (const auto version : {personality::v4_9, personality::v5}) {
    CAPTURE(static_cast<int>(version));
    simulator sim(make_config(version));
    sim.start();
    blocking_client client(sim.broker_address("broker-a"));
    const auto body =
        wire::encode_heartbeat("10.0.0.1@123#456", "hb_group", wire::heartbeat_shape::v4);
    auto reply = client.call(make_request(wire::request_code::heart_beat, {}, body),
                             wire::serialize_type::json, reply_timeout);
    REQUIRE(reply);
    CHECK(reply->fields.code == 0);
    if (version == personality::v5) {
      CHECK(field_names(*reply) ==
            std::set<std::string>{"IS_SUPPORT_HEART_BEAT_V2", "IS_SUB_CHANGE"});
    } else {
      CHECK(reply->ext_fields.empty());
    }
    auto clients = sim.clients();
    REQUIRE(clients.size() == 1);
    CHECK(clients[0].client_id == "10.0.0.1@123#456");
    CHECK(clients[0].heartbeats == 1);
    CHECK(std::find(clients[0].producer_groups.begin(), clients[0].producer_groups.end(),
                    "hb_group") != clients[0].producer_groups.end());
    CHECK_FALSE(clients[0].unregistered);

    auto bye =
        client.call(make_request(wire::request_code::unregister_client,
                                 {{"clientID", "10.0.0.1@123#456"}, {"producerGroup", "hb_group"}}),
                    wire::serialize_type::json, reply_timeout);
    REQUIRE(bye);
    CHECK(bye->fields.code == 0);
    CHECK(sim.clients().at(0).unregistered);
  }
}

TEST_CASE("END_TRANSACTION is oneway: recorded, never answered") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  auto end = make_request(wire::request_code::end_transaction,
                          {{"producerGroup", "tx_group"},
                           {"tranStateTableOffset", "5"},
                           {"commitLogOffset", "1234"},
                           {"commitOrRollback", "8"},
                           {"fromTransactionCheck", "false"},
                           {"msgId", "7F00000112340A0B0C0D0000ABCD0000"},
                           {"transactionId", "7F00000112340A0B0C0D0000ABCD0000"}});
  end.fields.flag = wire::flag_oneway;
  end.remark = "local exception";
  client.send(end, wire::serialize_type::json);
  // The heartbeat's answer is the first frame: requests of a connection are answered in order.
  auto hb = client.call(make_request(wire::request_code::heart_beat, {},
                                     wire::encode_heartbeat("c@1", "g", wire::heartbeat_shape::v4)),
                        wire::serialize_type::json, reply_timeout);
  REQUIRE(hb);
  CHECK(hb->fields.opaque == 2);
  CHECK(sim.counters().broker_requests(wire::request_code::end_transaction) == 1);
  const auto ends = sim.end_transactions();
  REQUIRE(ends.size() == 1);
  CHECK(ends[0].oneway);
  CHECK(ends[0].remark == "local exception");
  CHECK(std::find(ends[0].fields.begin(), ends[0].fields.end(),
                  std::pair<std::string, std::string>{"commitOrRollback", "8"}) !=
        ends[0].fields.end());
}

TEST_CASE("unknown request codes: REQUEST_CODE_NOT_SUPPORTED, and nothing when oneway") {
  simulator sim(make_config());
  sim.start();
  for (const auto& address : {sim.namesrv_address(), sim.broker_address("broker-a")}) {
    blocking_client client(address);
    auto oneway = make_request(9999, {});
    oneway.fields.flag = wire::flag_oneway;
    client.send(oneway, wire::serialize_type::json);
    auto reply = client.call(make_request(9998, {}), wire::serialize_type::json, reply_timeout);
    REQUIRE(reply);
    CHECK(reply->fields.opaque == 2);  // the oneway request got nothing
    CHECK(reply->fields.code == wire::response_code::request_code_not_supported);
    CHECK(reply->remark.value_or("") == " request type 9998 not supported");
  }
}

TEST_CASE("store off: messages counted, not kept; capacity evicts the oldest") {
  auto config = make_config();
  config.store_capacity = 2;
  simulator sim(config);
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  for (int i = 0; i < 3; ++i) {
    REQUIRE(client.call(send_v2("TopicTest", "m" + std::to_string(i)), wire::serialize_type::json,
                        reply_timeout));
  }
  auto kept = sim.messages();
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].body == "m1");
  CHECK(sim.counters().evicted_messages == 1);

  sim.set_store_enabled(false);
  sim.clear_messages();
  REQUIRE(client.call(send_v2("TopicTest", "unstored"), wire::serialize_type::json, reply_timeout));
  CHECK(sim.message_count() == 0);
  CHECK(sim.counters().broker_messages() == 4);
}

TEST_CASE("pipelining: many frames in one write, every response, in order") {
  auto config = make_config();
  config.store = false;
  simulator sim(config);
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  const std::size_t count = rmq::test::scaled(2000, 50);
  std::string frames;
  for (std::size_t i = 0; i < count; ++i) {
    auto request = send_v2("TopicTest", std::string(128, 'p'), static_cast<int>(i % 4));
    request.fields.opaque = static_cast<std::int32_t>(i);
    request.encode(i % 2 == 0 ? wire::serialize_type::json : wire::serialize_type::rocketmq,
                   frames);
  }
  REQUIRE(client.send_raw(frames));
  for (std::size_t i = 0; i < count; ++i) {
    auto reply = client.read(reply_timeout);
    REQUIRE(reply);
    CHECK(reply->fields.opaque == static_cast<std::int32_t>(i));
    CHECK(reply->fields.code == 0);
  }
  CHECK(sim.wait_for_messages(count, reply_timeout));
}

TEST_CASE("the public API is safe to use from other threads while clients send") {
  simulator sim(make_config(personality::v4_9, 2));
  sim.start();
  const std::size_t count = rmq::test::scaled(500, 20);
  std::thread sender([&] {
    blocking_client client(sim.broker_address("broker-b"));
    for (std::size_t i = 0; i < count; ++i) {
      auto reply = client.call(send_v2("TopicTest", "concurrent"), wire::serialize_type::json,
                               reply_timeout);
      if (!reply) break;
    }
  });
  for (int i = 0; i < 20; ++i) {
    sim.set_broker_faults("broker-a", {.latency_min = 1ms, .latency_max = 2ms});
    (void)sim.counters();
    (void)sim.message_count();
    sim.create_topic({.name = "Topic" + std::to_string(i)});
    sim.clear_faults();
  }
  CHECK(sim.wait_for_messages(count, reply_timeout));
  sender.join();
  CHECK(sim.counters().broker_messages() == count);
}

}  // namespace rmq::sim::test
