// rmq-sim as a NameServer: route bodies in both JSON forms, TOPIC_NOT_EXIST, TBW102, routes
// that follow brokers being stopped, moved and created.
#include "sim_test_support.hpp"
#include "wire/route_data.hpp"

#include <doctest/doctest.h>

namespace rmq::sim::test {

TEST_CASE("route query: standard JSON for version >= 401, legacy form below") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.namesrv_address());
  REQUIRE(client.connected());
  const std::string broker = sim.broker_address("broker-a");

  auto standard =
      client.call(route_request("TopicTest", 409), wire::serialize_type::json, reply_timeout);
  REQUIRE(standard);
  CHECK(standard->fields.code == 0);
  CHECK(standard->fields.version == 409);
  CHECK(standard->fields.flag == wire::flag_response);
  CHECK(standard->body ==
        R"({"brokerDatas":[{"brokerAddrs":{"0":")" + broker +
            R"("},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},)"
            R"("queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,)"
            R"("topicSysFlag":0,"writeQueueNums":4}]})");

  auto legacy =
      client.call(route_request("TopicTest", 333), wire::serialize_type::json, reply_timeout);
  REQUIRE(legacy);
  CHECK(legacy->fields.code == 0);
  CHECK(legacy->body.find(R"("brokerAddrs":{0:")" + broker + "\"}") != std::string::npos);

  // acceptStandardJsonOnly overrides an old version.
  auto forced = route_request("TopicTest", 333);
  forced.ext_fields.emplace_back("acceptStandardJsonOnly", "true");
  auto forced_reply = client.call(forced, wire::serialize_type::json, reply_timeout);
  REQUIRE(forced_reply);
  CHECK(forced_reply->body == standard->body);

  const auto counters = sim.counters();
  CHECK(counters.namesrv.route_standard == 2);
  CHECK(counters.namesrv.route_legacy == 1);
  CHECK(counters.namesrv.count(wire::request_code::get_routeinfo_by_topic) == 3);
}

TEST_CASE("route query: binary request answered in binary (4.9) or JSON (5)") {
  for (const auto version : {personality::v4_9, personality::v5}) {
    CAPTURE(static_cast<int>(version));
    simulator sim(make_config(version));
    sim.start();
    blocking_client client(sim.namesrv_address());
    auto reply =
        client.call(route_request("TopicTest", 479), wire::serialize_type::rocketmq, reply_timeout);
    REQUIRE(reply);
    CHECK(reply->fields.code == 0);
    if (version == personality::v5) {
      CHECK(client.last_type() == wire::serialize_type::json);
      CHECK(reply->fields.version == 479);
      CHECK(reply->body.find(R"("enableActingMaster":false)") != std::string::npos);
    } else {
      CHECK(client.last_type() == wire::serialize_type::rocketmq);
      CHECK(reply->fields.version == 409);
      CHECK(reply->body.find("enableActingMaster") == std::string::npos);
    }
    const auto parsed = wire::parse_route_data(reply->body);
    REQUIRE(parsed);
    CHECK(parsed.route.broker_datas.at(0).broker_addrs.at(0) == sim.broker_address("broker-a"));
  }
}

TEST_CASE("route query: unknown topic gets TOPIC_NOT_EXIST with the real remark") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.namesrv_address());
  auto reply = client.call(route_request("NoSuchTopic"), wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == wire::response_code::topic_not_exist);
  CHECK(reply->remark.value_or("") ==
        "No topic route info in name server for the topic: NoSuchTopic\n"
        "See http://rocketmq.apache.org/docs/faq/ for further details.");
  CHECK(reply->body.empty());
  CHECK(sim.counters().namesrv.route_not_found == 1);
}

TEST_CASE("route query: TBW102 with perm 7 only while auto-create is on") {
  auto config = make_config();
  config.auto_create = true;
  simulator sim(config);
  sim.start();
  blocking_client client(sim.namesrv_address());
  auto on = client.call(route_request("TBW102"), wire::serialize_type::json, reply_timeout);
  REQUIRE(on);
  CHECK(on->fields.code == 0);
  CHECK(on->body.find(R"("perm":7)") != std::string::npos);

  sim.set_auto_create(false);
  auto off = client.call(route_request("TBW102"), wire::serialize_type::json, reply_timeout);
  REQUIRE(off);
  CHECK(off->fields.code == wire::response_code::topic_not_exist);
}

TEST_CASE("route query: every broker, masters and slaves, sorted by name") {
  auto config = make_config(personality::v4_9, 2);
  broker_config slave;
  slave.name = "broker-a";
  slave.id = 1;
  config.brokers.push_back(slave);
  config.cluster = "SimCluster";
  simulator sim(config);
  sim.start();
  blocking_client client(sim.namesrv_address());
  auto reply = client.call(route_request("TopicTest"), wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  const auto parsed = wire::parse_route_data(reply->body);
  REQUIRE(parsed);
  const auto& route = parsed.route;
  REQUIRE(route.broker_datas.size() == 2);
  CHECK(route.broker_datas[0].broker_name == "broker-a");
  CHECK(route.broker_datas[0].cluster == "SimCluster");
  CHECK(route.broker_datas[0].broker_addrs.size() == 2);
  CHECK(route.broker_datas[0].broker_addrs.at(1) == sim.broker_address("broker-a", 1));
  CHECK(route.broker_datas[1].broker_name == "broker-b");
  REQUIRE(route.queue_datas.size() == 2);
  CHECK(wire::build_publish_queues(route).size() == 8);
}

TEST_CASE("route follows a broker that stops, restarts, and moves to another port") {
  simulator sim(make_config(personality::v4_9, 2));
  sim.start();
  blocking_client client(sim.namesrv_address());
  const auto route_of = [&] {
    auto reply = client.call(route_request("TopicTest"), wire::serialize_type::json, reply_timeout);
    REQUIRE(reply);
    REQUIRE(reply->fields.code == 0);
    return wire::parse_route_data(reply->body).route;
  };
  const std::string old_address = sim.broker_address("broker-a");

  sim.stop_broker("broker-a");
  CHECK(route_of().broker_datas.size() == 1);
  CHECK_FALSE(blocking_client(old_address).connected());

  sim.start_broker("broker-a");
  CHECK(sim.broker_address("broker-a") == old_address);
  CHECK(route_of().broker_datas.size() == 2);
  CHECK(blocking_client(old_address).connected());

  const std::string new_address = sim.restart_broker_on_new_port("broker-a");
  CHECK(new_address != old_address);
  CHECK(new_address == sim.broker_address("broker-a"));
  const auto moved = route_of();
  REQUIRE(moved.broker_datas.size() == 2);
  CHECK(moved.broker_datas[0].broker_addrs.at(0) == new_address);
  CHECK_FALSE(blocking_client(old_address).connected());
  blocking_client moved_client(new_address);
  REQUIRE(moved_client.connected());
  auto sent = moved_client.call(send_v2("TopicTest", "after move"), wire::serialize_type::json,
                                reply_timeout);
  REQUIRE(sent);
  CHECK(sent->fields.code == 0);
  // offsetMsgId carries the new store port.
  char port_hex[9];
  std::snprintf(port_hex, sizeof port_hex, "%08X",
                static_cast<unsigned>(std::stoi(new_address.substr(new_address.rfind(':') + 1))));
  CHECK(field_or(*sent, "msgId").substr(8, 8) == port_hex);
}

TEST_CASE("auto-create: a send with defaultTopic TBW102 creates the topic, then it is routed") {
  simulator sim(make_config());
  sim.start();
  blocking_client ns(sim.namesrv_address());
  blocking_client broker(sim.broker_address("broker-a"));
  auto before = ns.call(route_request("NewTopic"), wire::serialize_type::json, reply_timeout);
  REQUIRE(before);
  CHECK(before->fields.code == wire::response_code::topic_not_exist);

  auto sent =
      broker.call(send_v2("NewTopic", "first", 2), wire::serialize_type::json, reply_timeout);
  REQUIRE(sent);
  CHECK(sent->fields.code == 0);
  CHECK(field_or(*sent, "queueId") == "2");

  auto after = ns.call(route_request("NewTopic"), wire::serialize_type::json, reply_timeout);
  REQUIRE(after);
  CHECK(after->fields.code == 0);
  CHECK(after->body.find(R"("perm":6)") != std::string::npos);
}

TEST_CASE("auto-create off: an unknown topic gets TOPIC_NOT_EXIST from the broker") {
  auto config = make_config();
  config.auto_create = false;
  simulator sim(config);
  sim.start();
  blocking_client broker(sim.broker_address("broker-a"));
  auto sent = broker.call(send_v2("NewTopic", "first"), wire::serialize_type::json, reply_timeout);
  REQUIRE(sent);
  CHECK(sent->fields.code == wire::response_code::topic_not_exist);
  CHECK(sent->remark.value_or("") ==
        "topic[NewTopic] not exist, apply first please!\n"
        "See http://rocketmq.apache.org/docs/faq/ for further details.");
  CHECK(sim.message_count() == 0);
}

}  // namespace rmq::sim::test
