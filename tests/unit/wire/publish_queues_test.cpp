#include "captured_frames.hpp"
#include "wire/perm.hpp"
#include "wire/route_data.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using rmq::wire::broker_data;
using rmq::wire::build_publish_queues;
using rmq::wire::queue_data;
using rmq::wire::route_queue;
using rmq::wire::topic_queue_mapping_info;
using rmq::wire::topic_route_data;

namespace {

broker_data broker(std::string name, std::map<std::int64_t, std::string> addrs) {
  broker_data bd;
  bd.cluster = "c";
  bd.broker_name = std::move(name);
  bd.broker_addrs = std::move(addrs);
  return bd;
}

std::vector<route_queue> queues(std::initializer_list<std::pair<const char*, int>> list) {
  std::vector<route_queue> out;
  for (const auto& [name, id] : list) out.push_back(route_queue{name, id, {}});
  return out;
}

}  // namespace

TEST_CASE("perm bits") {
  using namespace rmq::wire;
  CHECK(perm_priority == 8);
  CHECK(perm_read == 4);
  CHECK(perm_write == 2);
  CHECK(perm_inherit == 1);
  CHECK(is_writeable(6));
  CHECK(is_readable(6));
  CHECK_FALSE(is_inherited(6));
  CHECK(is_inherited(7));
  CHECK_FALSE(is_writeable(4));
  CHECK_FALSE(is_readable(2));
}

TEST_CASE("captured route: four queues on broker-a, master address from id 0") {
  const auto parsed = rmq::wire::parse_route_data(
      rmq::test::captured_body("json/get_routeinfo_TopicTest_ok_response"));
  REQUIRE(parsed);
  CHECK(build_publish_queues(parsed.route) ==
        queues({{"broker-a", 0}, {"broker-a", 1}, {"broker-a", 2}, {"broker-a", 3}}));
  CHECK(rmq::wire::find_master_address(parsed.route, "broker-a") == "127.0.0.1:10911");
  CHECK_FALSE(rmq::wire::find_master_address(parsed.route, "broker-x"));
  CHECK_FALSE(rmq::wire::is_order_topic(parsed.route));
}

TEST_CASE("queue datas sorted by broker name; unwritable, unknown and master-less skipped") {
  topic_route_data route;
  route.queue_datas = {
      {"broker-c", 4, 2, 6, 0},                            // written second: sorted after broker-b
      {"broker-b", 4, 1, 7, 0}, {"broker-d", 4, 3, 4, 0},  // read-only: no publish queues
      {"broker-e", 4, 3, 6, 0},                            // no BrokerData at all
      {"broker-a", 4, 3, 6, 0},  // BrokerData without a master (only slave id 1)
      {"broker-f", 4, 0, 6, 0},  // writable but zero write queues
  };
  route.broker_datas = {broker("broker-c", {{0, "c:1"}}), broker("broker-b", {{0, "b:1"}}),
                        broker("broker-d", {{0, "d:1"}}), broker("broker-a", {{1, "a:2"}}),
                        broker("broker-f", {{0, "f:1"}})};
  CHECK(build_publish_queues(route) == queues({{"broker-b", 0}, {"broker-c", 0}, {"broker-c", 1}}));
  CHECK_FALSE(rmq::wire::find_master_address(route, "broker-a"));
  CHECK(rmq::wire::find_master_address(route, "broker-c") == "c:1");
}

TEST_CASE("write queue count, not read count, decides the publish queues") {
  topic_route_data route;
  route.queue_datas = {{"b", 8, 2, 6, 0}};
  route.broker_datas = {broker("b", {{0, "h:1"}})};
  CHECK(build_publish_queues(route) == queues({{"b", 0}, {"b", 1}}));
}

TEST_CASE("orderTopicConf wins and keeps its own order, even for read-only queue data") {
  topic_route_data route;
  route.order_topic_conf = "broker-b:2;broker-a:1;";
  route.queue_datas = {{"broker-a", 4, 4, 4, 0}};
  route.broker_datas = {broker("broker-a", {{0, "h:1"}})};
  CHECK(rmq::wire::is_order_topic(route));
  CHECK(build_publish_queues(route) == queues({{"broker-b", 0}, {"broker-b", 1}, {"broker-a", 0}}));

  // An empty orderTopicConf is the same as none.
  route.order_topic_conf = "";
  CHECK_FALSE(rmq::wire::is_order_topic(route));
  CHECK(build_publish_queues(route).empty());  // the only queue data is read-only
}

TEST_CASE("orderTopicConf parsing follows Java's split") {
  const auto parsed = rmq::wire::parse_route_data(
      R"({"orderTopicConf":"x:2:ignored;y:+1;z:-3","queueDatas":[],"brokerDatas":[]})");
  REQUIRE(parsed);
  CHECK(build_publish_queues(parsed.route) == queues({{"x", 0}, {"x", 1}, {"y", 0}}));
}

TEST_CASE("static topic: queues from the mapping, sorted by queue id, newest epoch wins") {
  topic_route_data route;
  route.queue_datas = {{"broker-a", 4, 4, 6, 0}};
  route.broker_datas = {broker("broker-a", {{0, "a:1"}}), broker("broker-b", {{0, "b:1"}})};
  auto& mapping = route.topic_queue_mapping_by_broker.emplace();
  topic_queue_mapping_info a;
  a.bname = "broker-a";
  a.epoch = 1;
  a.total_queues = 4;
  a.curr_id_map = {{0, 0}, {1, 1}, {2, 2}};
  topic_queue_mapping_info b;
  b.bname = "broker-b";
  b.epoch = 2;
  b.total_queues = 4;
  b.curr_id_map = {{2, 0}};  // logic queue 2 moved to broker-b
  mapping["broker-a"] = a;
  mapping["broker-b"] = b;

  const auto result = build_publish_queues(route);
  REQUIRE(result.size() == 4);
  for (int id = 0; id < 4; ++id) {
    CHECK(result[id].broker_name == "__syslo__global__");
    CHECK(result[id].queue_id == id);
  }
  CHECK(result[0].target_broker() == "broker-a");
  CHECK(result[1].target_broker() == "broker-a");
  CHECK(result[2].target_broker() == "broker-b");
  CHECK(result[3].target_broker() == "__syslo__none__");  // in totalQueues, mapped nowhere

  // Another scope gets its own mock broker name; ids interleave after sorting.
  topic_queue_mapping_info other;
  other.scope = "zone1";
  other.bname = "broker-b";
  other.total_queues = 1;
  other.curr_id_map = {{0, 5}};
  mapping["broker-z"] = other;
  const auto mixed = build_publish_queues(route);
  REQUIRE(mixed.size() == 5);
  CHECK(mixed[0].queue_id == 0);
  CHECK(mixed[1].queue_id == 0);
  CHECK(mixed[1].broker_name == "__syslo__zone1");
  CHECK(mixed[1].target_broker() == "broker-b");
  CHECK(mixed[4].queue_id == 3);

  // An empty mapping falls back to queue datas.
  route.topic_queue_mapping_by_broker.emplace();
  CHECK(build_publish_queues(route) ==
        queues({{"broker-a", 0}, {"broker-a", 1}, {"broker-a", 2}, {"broker-a", 3}}));
}

TEST_CASE("TBW102 fallback clamps read and write counts to min(default, readQueueNums)") {
  const auto parsed =
      rmq::wire::parse_route_data(rmq::test::captured_body("json/get_routeinfo_TBW102_response"));
  REQUIRE(parsed);
  topic_route_data route = parsed.route;
  rmq::wire::clamp_default_route(route, 2);
  CHECK(route.queue_datas.at(0).read_queue_nums == 2);
  CHECK(route.queue_datas.at(0).write_queue_nums == 2);
  CHECK(build_publish_queues(route) == queues({{"broker-a", 0}, {"broker-a", 1}}));

  // A larger default is limited by readQueueNums, and write follows read (not the old write).
  route = topic_route_data{};
  route.queue_datas = {{"a", 3, 16, 7, 0}, {"b", 16, 1, 6, 0}};
  rmq::wire::clamp_default_route(route, 8);
  CHECK(route.queue_datas[0].read_queue_nums == 3);
  CHECK(route.queue_datas[0].write_queue_nums == 3);
  CHECK(route.queue_datas[1].read_queue_nums == 8);
  CHECK(route.queue_datas[1].write_queue_nums == 8);
}
