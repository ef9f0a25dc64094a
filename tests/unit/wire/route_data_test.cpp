#include "wire/route_data.hpp"

#include "captured_frames.hpp"
#include "rmq/error.hpp"
#include "rmq/producer_config.hpp"
#include "support/test_scale.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using rmq::wire::parse_route_data;
using rmq::wire::route_json_style;
using rmq::wire::to_json;
using rmq::wire::topic_route_data;

namespace {

const std::string legacy_sample =
    R"({"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a",)"
    R"("cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},)"
    R"("queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,)"
    R"("writeQueueNums":4}]})";

void check_broker_a(const topic_route_data& route, std::int32_t perm) {
  REQUIRE(route.broker_datas.size() == 1);
  const auto& bd = route.broker_datas[0];
  CHECK(bd.broker_name == "broker-a");
  CHECK(bd.cluster == "DefaultCluster");
  REQUIRE(bd.broker_addrs.size() == 1);
  CHECK(bd.broker_addrs.at(0) == "127.0.0.1:10911");
  CHECK_FALSE(bd.enable_acting_master.has_value());  // 4.9.8 does not write it
  CHECK_FALSE(bd.zone_name.has_value());
  REQUIRE(route.queue_datas.size() == 1);
  const auto& qd = route.queue_datas[0];
  CHECK(qd.broker_name == "broker-a");
  CHECK(qd.perm == perm);
  CHECK(qd.read_queue_nums == 4);
  CHECK(qd.write_queue_nums == 4);
  CHECK(qd.topic_sys_flag == 0);
  CHECK(route.filter_server_table.empty());
  CHECK_FALSE(route.order_topic_conf.has_value());
  CHECK_FALSE(route.topic_queue_mapping_by_broker.has_value());
}

}  // namespace

TEST_CASE("captured 4.9.8 route bodies parse, standard and legacy") {
  struct capture {
    const char* name;
    std::int32_t perm;
  };
  for (const capture c : {capture{"json/get_routeinfo_TopicTest_ok_response", 6},
                          capture{"json/get_routeinfo_TBW102_response", 7},
                          capture{"binary/get_routeinfo_TopicTest_ok_response", 6},
                          capture{"binary/get_routeinfo_TBW102_response", 7},
                          capture{"legacy/get_routeinfo_version333_response", 7}}) {
    CAPTURE(c.name);
    const auto parsed = parse_route_data(rmq::test::captured_body(c.name));
    REQUIRE(parsed);
    check_broker_a(parsed.route, c.perm);
  }
}

TEST_CASE("captured 5.3.3 route bodies parse with enableActingMaster") {
  for (const char* name :
       {"v5/json/get_routeinfo_TopicTest_ok_response", "v5/json/get_routeinfo_TBW102_response",
        "v5/binary/get_routeinfo_TopicTest_ok_response"}) {
    CAPTURE(name);
    const auto parsed = parse_route_data(rmq::test::captured_body(name));
    REQUIRE(parsed);
    REQUIRE(parsed.route.broker_datas.size() == 1);
    const auto& bd = parsed.route.broker_datas[0];
    CHECK(bd.broker_name == "broker-5a");
    CHECK(bd.cluster == "DefaultCluster5");
    CHECK(bd.broker_addrs.at(0) == "127.0.0.1:10931");
    CHECK(bd.enable_acting_master == false);
    REQUIRE(parsed.route.queue_datas.size() == 1);
    CHECK(parsed.route.queue_datas[0].write_queue_nums == 4);
  }
}

TEST_CASE("the writer reproduces every captured route body byte for byte") {
  struct capture {
    const char* name;
    route_json_style style;
  };
  for (const capture c :
       {capture{"json/get_routeinfo_TopicTest_ok_response", route_json_style::standard},
        capture{"json/get_routeinfo_TBW102_response", route_json_style::standard},
        capture{"binary/get_routeinfo_TopicTest_ok_response", route_json_style::standard},
        capture{"binary/get_routeinfo_TBW102_response", route_json_style::standard},
        capture{"v5/json/get_routeinfo_TopicTest_ok_response", route_json_style::standard},
        capture{"v5/json/get_routeinfo_TBW102_response", route_json_style::standard},
        capture{"v5/binary/get_routeinfo_TopicTest_ok_response", route_json_style::standard},
        capture{"legacy/get_routeinfo_version333_response", route_json_style::legacy}}) {
    CAPTURE(c.name);
    const std::string body = rmq::test::captured_body(c.name);
    const auto parsed = parse_route_data(body);
    REQUIRE(parsed);
    CHECK(to_json(parsed.route, c.style) == body);
  }
  CHECK(to_json(parse_route_data(legacy_sample).route, route_json_style::legacy) == legacy_sample);
}

TEST_CASE("route_json_style_for follows the NameServer's rule") {
  using rmq::wire::route_json_style_for;
  CHECK(route_json_style_for(333) == route_json_style::legacy);
  CHECK(route_json_style_for(400) == route_json_style::legacy);
  CHECK(route_json_style_for(401) == route_json_style::standard);
  CHECK(route_json_style_for(479) == route_json_style::standard);
  CHECK(route_json_style_for(333, true) == route_json_style::standard);
}

TEST_CASE("legacy and standard forms of the same route parse to the same value") {
  const auto legacy = parse_route_data(legacy_sample);
  REQUIRE(legacy);
  const std::string standard = to_json(legacy.route, route_json_style::standard);
  CHECK(standard.find(R"("brokerAddrs":{"0":"127.0.0.1:10911"})") != std::string::npos);
  const auto reparsed = parse_route_data(standard);
  REQUIRE(reparsed);
  CHECK(reparsed.route == legacy.route);
}

TEST_CASE("unquoted keys: several ids, negative ids, whitespace, nested integer maps") {
  const auto parsed = parse_route_data(
      R"({"brokerDatas":[{"brokerAddrs":{ 0 : "10.0.0.1:10911", 1:"10.0.0.2:10911",)"
      R"(-1:"10.0.0.3:10911"},"brokerName":"b","cluster":"c"}],)"
      R"("topicQueueMappingByBroker":{"b":{"bname":"b","currIdMap":{0:3,1:4},"epoch":7,)"
      R"("scope":"__global__","totalQueues":2}}})");
  REQUIRE(parsed);
  const auto& addrs = parsed.route.broker_datas.at(0).broker_addrs;
  CHECK(addrs.size() == 3);
  CHECK(addrs.at(0) == "10.0.0.1:10911");
  CHECK(addrs.at(1) == "10.0.0.2:10911");
  CHECK(addrs.at(-1) == "10.0.0.3:10911");
  REQUIRE(parsed.route.topic_queue_mapping_by_broker);
  const auto& info = parsed.route.topic_queue_mapping_by_broker->at("b");
  CHECK(info.curr_id_map.at(0) == 3);
  CHECK(info.curr_id_map.at(1) == 4);
  CHECK(info.epoch == 7);
  CHECK(info.total_queues == 2);
}

TEST_CASE("the key normaliser never touches text inside strings") {
  std::string out;
  REQUIRE_FALSE(rmq::wire::quote_integer_keys(R"({"a":"{0:\"x\",1:2}",0:"y"})", out));
  CHECK(out == R"({"a":"{0:\"x\",1:2}","0":"y"})");
  // Numbers in arrays and values are not keys.
  REQUIRE_FALSE(rmq::wire::quote_integer_keys(R"({"a":[1,2,{3:4}],"b":5})", out));
  CHECK(out == R"({"a":[1,2,{"3":4}],"b":5})");
  // An escaped backslash before the closing quote ends the string.
  REQUIRE_FALSE(rmq::wire::quote_integer_keys(R"({"a\\":{7:"x"}})", out));
  CHECK(out == R"({"a\\":{"7":"x"}})");
  // Nesting deeper than the limit is refused.
  CHECK(rmq::wire::quote_integer_keys(std::string(100, '['), out));
}

TEST_CASE("old topicSynFlag spelling and non-ASCII \\u escapes") {
  const auto parsed = parse_route_data(
      R"({"brokerDatas":[{"brokerAddrs":{"0":"h:1"},"brokerName":"\u4E2D\u6587-\uD83D\uDE00",)"
      R"("cluster":"c","zoneName":"z\/1"}],"filterServerTable":{},)"
      R"("queueDatas":[{"brokerName":"\u4E2D\u6587-\uD83D\uDE00","perm":6,"readQueueNums":2,)"
      R"("topicSynFlag":3,"writeQueueNums":2}]})");
  REQUIRE(parsed);
  const std::string name = "\xE4\xB8\xAD\xE6\x96\x87-\xF0\x9F\x98\x80";
  CHECK(parsed.route.broker_datas.at(0).broker_name == name);
  CHECK(parsed.route.broker_datas.at(0).zone_name == "z/1");
  CHECK(parsed.route.queue_datas.at(0).topic_sys_flag == 3);

  // BrowserCompatible escapes every UTF-16 unit >= 0x7F and '/'; the legacy form is raw UTF-8.
  const std::string standard = to_json(parsed.route, route_json_style::standard);
  CHECK(standard.find(R"("brokerName":"\u4E2D\u6587-\uD83D\uDE00")") != std::string::npos);
  CHECK(standard.find(R"("zoneName":"z\/1")") != std::string::npos);
  CHECK(standard.find(R"("topicSysFlag":3)") != std::string::npos);
  const std::string legacy = to_json(parsed.route, route_json_style::legacy);
  CHECK(legacy.find("\"brokerName\":\"" + name + "\"") != std::string::npos);
  CHECK(legacy.find(R"("zoneName":"z/1")") != std::string::npos);
  CHECK(parse_route_data(standard).route == parsed.route);
  CHECK(parse_route_data(legacy).route == parsed.route);
}

TEST_CASE("fastjson string escaping of control characters") {
  std::string out;
  rmq::wire::append_fastjson_string(out, std::string_view("a\"\\\n\t\x01\x7F", 7),
                                    route_json_style::legacy);
  CHECK(out == R"("a\"\\\n\t\u0001\u007F")");
  out.clear();
  rmq::wire::append_fastjson_string(out, "\xC3\xA9\xFF", route_json_style::standard);
  CHECK(out == R"("\u00E9\uFFFD")");  // a malformed byte becomes U+FFFD, as in Java
}

TEST_CASE("standard form writes longs beyond 2^53 as strings, and reads them back") {
  topic_route_data route;
  auto& table = route.topic_queue_mapping_by_broker.emplace();
  auto& info = table["b"];
  info.bname = "b";
  info.epoch = 9007199254740993;
  info.total_queues = 1;
  info.curr_id_map[0] = 0;
  const std::string standard = to_json(route, route_json_style::standard);
  CHECK(standard.find(R"("epoch":"9007199254740993")") != std::string::npos);
  const std::string legacy = to_json(route, route_json_style::legacy);
  CHECK(legacy.find(R"("epoch":9007199254740993)") != std::string::npos);
  CHECK(legacy.find(R"("currIdMap":{0:0})") != std::string::npos);
  CHECK(parse_route_data(standard).route == route);
  CHECK(parse_route_data(legacy).route == route);
}

TEST_CASE("a full route round-trips through both writers") {
  topic_route_data route;
  route.order_topic_conf = "broker-b:2;broker-a:1";
  route.queue_datas = {{"broker-b", 8, 8, 6, 0}, {"broker-a", 4, 4, 7, 1}};
  route.broker_datas = {{"c", "broker-b", {{0, "h:2"}, {1, "h:3"}, {10, "h:4"}}, true, "z"},
                        {"c", "broker-a", {{0, "h:1"}}, std::nullopt, std::nullopt}};
  route.filter_server_table = {{"h:2", {"f:1", "f:2"}}, {"h:1", {}}};
  for (const auto style : {route_json_style::standard, route_json_style::legacy}) {
    const std::string text = to_json(route, style);
    CAPTURE(text);
    const auto parsed = parse_route_data(text);
    REQUIRE(parsed);
    CHECK(parsed.route == route);
    CHECK(to_json(parsed.route, style) == text);
  }
  // MapSortField orders Long keys numerically (TreeMap), not as text.
  CHECK(to_json(route, route_json_style::standard).find(R"({"0":"h:2","1":"h:3","10":"h:4"})") !=
        std::string::npos);
}

TEST_CASE("malformed route bodies are invalid_route_data") {
  const std::error_code invalid = rmq::make_error_code(rmq::errc::invalid_route_data);
  for (const std::string_view body : {
           std::string_view(""),
           std::string_view("null"),
           std::string_view("[]"),
           std::string_view("{"),
           std::string_view(R"({"queueDatas":{}})"),
           std::string_view(R"({"queueDatas":[null]})"),
           std::string_view(R"({"queueDatas":[{"perm":"rw"}]})"),
           std::string_view(R"({"queueDatas":[{"perm":1.5}]})"),
           std::string_view(R"({"queueDatas":[{"writeQueueNums":-1}]})"),
           std::string_view(R"({"queueDatas":[{"writeQueueNums":99999999}]})"),
           std::string_view(R"({"queueDatas":[{"perm":4294967296}]})"),
           std::string_view(R"({"brokerDatas":[{"brokerAddrs":{"x":"h:1"}}]})"),
           std::string_view(R"({"brokerDatas":[{"brokerAddrs":{0x1:"h:1"}}]})"),
           std::string_view(R"({"brokerDatas":[{"brokerAddrs":{0:1}}]})"),
           std::string_view(R"({"brokerDatas":[{"brokerAddrs":[]}]})"),
           std::string_view(R"({"brokerDatas":[{"enableActingMaster":"no"}]})"),
           std::string_view(R"({"filterServerTable":{"a":[1]}})"),
           std::string_view(R"({"orderTopicConf":"broker-a"})"),
           std::string_view(R"({"orderTopicConf":"broker-a:x"})"),
           std::string_view(R"({"orderTopicConf":";broker-a:1"})"),
           std::string_view(R"({"brokerDatas":[{"brokerName":"\uD800"}]})"),
           std::string_view("{\"brokerDatas\":[{\"brokerName\":\"\xFF\"}]}"),
           std::string_view(R"({"topicQueueMappingByBroker":{"b":{"currIdMap":{"a":1}}}})"),
           std::string_view(R"({"topicQueueMappingByBroker":{"b":{"totalQueues":-2}}})"),
       }) {
    CAPTURE(body);
    const auto parsed = parse_route_data(body);
    CHECK(parsed.error == invalid);
    CHECK_FALSE(parsed);
    CHECK(parsed.route == topic_route_data{});
  }
  const std::string deep = std::string(5000, '[') + std::string(5000, ']');
  CHECK(parse_route_data(deep).error == invalid);
}

// ---- route limits --------------------------------------------------------------------------

namespace {

std::string order_conf_body(std::size_t entries, std::size_t count) {
  std::string conf;
  for (std::size_t i = 0; i < entries; ++i) {
    conf += "broker-" + std::to_string(i) + ":" + std::to_string(count) + ";";
  }
  return R"({"orderTopicConf":")" + conf + R"(","queueDatas":[],"brokerDatas":[]})";
}

std::string queue_datas_body(std::size_t entries, std::size_t write_queues) {
  std::string body = R"({"brokerDatas":[],"queueDatas":[)";
  for (std::size_t i = 0; i < entries; ++i) {
    if (i != 0) body += ',';
    body += R"({"brokerName":"broker-)" + std::to_string(i) + R"(","perm":6,"readQueueNums":)" +
            std::to_string(write_queues) + R"(,"writeQueueNums":)" + std::to_string(write_queues) +
            "}";
  }
  return body + "]}";
}

std::string broker_datas_body(std::size_t entries) {
  std::string body = R"({"queueDatas":[],"brokerDatas":[)";
  for (std::size_t i = 0; i < entries; ++i) {
    if (i != 0) body += ',';
    body += R"({"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"broker-)" + std::to_string(i) +
            R"(","cluster":"c"})";
  }
  return body + "]}";
}

// `brokers` mapping entries; entry i is in scope i % scopes, each with `total_queues`.
std::string static_topic_body(std::size_t brokers, std::size_t total_queues,
                              std::size_t scopes = 1) {
  std::string body = R"({"queueDatas":[],"brokerDatas":[],"topicQueueMappingByBroker":{)";
  for (std::size_t i = 0; i < brokers; ++i) {
    if (i != 0) body += ',';
    const std::string scope =
        i % scopes == 0 ? "__global__" : "scope-" + std::to_string(i % scopes);
    body += R"("broker-)" + std::to_string(i) + R"(":{"bname":"broker-)" + std::to_string(i) +
            R"(","epoch":1,"scope":")" + scope + R"(","totalQueues":)" +
            std::to_string(total_queues) + R"(,"currIdMap":{"0":0}})";
  }
  return body + "}}";
}

const std::error_code invalid_route = rmq::make_error_code(rmq::errc::invalid_route_data);

}  // namespace

TEST_CASE("route limits: the bodies that built millions of queues are refused") {
  // 3 KB of orderTopicConf and 19.5 KB of queueDatas that once made 13.1 M queues.
  const std::string order = order_conf_body(200, 65536);
  CHECK(order.size() < 4000);
  CHECK(parse_route_data(order).error == invalid_route);
  const std::string datas = queue_datas_body(200, 65536);
  CHECK(datas.size() < 20000);
  CHECK(parse_route_data(datas).error == invalid_route);
}

TEST_CASE("route limits: each bound is inclusive, one more is invalid_route_data") {
  const rmq::route_limits limits;  // the defaults: 256 brokers, 1,024 per broker, 65,536 queues
  SUBCASE("queues per broker") {
    CHECK(parse_route_data(queue_datas_body(1, 1024)));
    CHECK(parse_route_data(queue_datas_body(1, 1025)).error == invalid_route);
    CHECK(parse_route_data(order_conf_body(1, 1024)));
    CHECK(parse_route_data(order_conf_body(1, 1025)).error == invalid_route);
  }
  SUBCASE("brokers per route") {
    CHECK(parse_route_data(queue_datas_body(256, 1)));
    CHECK(parse_route_data(queue_datas_body(257, 1)).error == invalid_route);
    CHECK(parse_route_data(broker_datas_body(256)));
    CHECK(parse_route_data(broker_datas_body(257)).error == invalid_route);
    CHECK(parse_route_data(order_conf_body(256, 1)));
    CHECK(parse_route_data(order_conf_body(257, 1)).error == invalid_route);
    CHECK(parse_route_data(static_topic_body(256, 8)));
    CHECK(parse_route_data(static_topic_body(257, 8)).error == invalid_route);
  }
  SUBCASE("queues per topic") {
    CHECK(parse_route_data(queue_datas_body(64, 1024)));  // 65,536
    CHECK(parse_route_data(order_conf_body(64, 1024)));
    rmq::route_limits tight = limits;
    tight.max_queues = 64 * 1024 - 1;
    CHECK(parse_route_data(queue_datas_body(64, 1024), tight).error == invalid_route);
    CHECK(parse_route_data(order_conf_body(64, 1024), tight).error == invalid_route);
    CHECK(parse_route_data(static_topic_body(4, 65536)));  // one scope: the largest total
    CHECK(parse_route_data(static_topic_body(4, 65537)).error == invalid_route);
    CHECK(parse_route_data(static_topic_body(4, 65536), tight).error == invalid_route);
    // Per scope the largest totalQueues counts, and the scopes add up.
    CHECK(parse_route_data(static_topic_body(200, 65536)));   // 200 brokers, one scope
    CHECK(parse_route_data(static_topic_body(4, 16384, 4)));  // 4 scopes × 16,384
    CHECK(parse_route_data(static_topic_body(5, 16384, 5)).error == invalid_route);
    CHECK(parse_route_data(static_topic_body(10, 16384, 5)).error == invalid_route);
    CHECK(parse_route_data(static_topic_body(8, 16384, 4)));  // two brokers per scope
  }
  SUBCASE("only what a producer builds counts") {
    // readQueueNums builds nothing: a topic shrinking its write queues stays usable.
    const std::string shrinking =
        R"({"brokerDatas":[],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":2048,)"
        R"("writeQueueNums":16}]})";
    CHECK(parse_route_data(shrinking));
    // Read-only entries (perm 4) make no publish queue, so they do not count toward the topic.
    std::string body = R"({"brokerDatas":[],"queueDatas":[)";
    for (int i = 0; i < 65; ++i) {
      if (i != 0) body += ',';
      body += R"({"brokerName":"b)" + std::to_string(i) + R"(","perm":)" + (i == 0 ? "6" : "4") +
              R"(,"readQueueNums":1024,"writeQueueNums":1024})";
    }
    CHECK(parse_route_data(body + "]}"));
  }
  SUBCASE("body bytes") {
    const std::string body = queue_datas_body(256, 4);
    rmq::route_limits small = limits;
    small.max_body_bytes = body.size();
    CHECK(parse_route_data(body, small));
    small.max_body_bytes = body.size() - 1;
    CHECK(parse_route_data(body, small).error == invalid_route);
  }
  SUBCASE("raised limits admit a larger route") {
    rmq::route_limits wide = limits;
    wide.max_queues_per_broker = 65536;
    wide.max_brokers = 1024;
    wide.max_queues = 1u << 20;
    CHECK(parse_route_data(queue_datas_body(200, 4096), wide));
    CHECK(parse_route_data(order_conf_body(300, 2048), wide));
  }
}

TEST_CASE("route limits: the largest legal route builds its 65,536 publish queues") {
  const auto parsed = parse_route_data(order_conf_body(64, 1024));
  REQUIRE(parsed);
  CHECK(rmq::wire::build_publish_queues(parsed.route).size() == 65536);
}

TEST_CASE("route limits: validate() holds each to its documented range") {
  using rmq::wire::valid;
  CHECK(valid(rmq::route_limits{}));
  const auto with = [](auto change) {
    rmq::route_limits limits;
    change(limits);
    return valid(limits);
  };
  CHECK(with([](rmq::route_limits& l) { l.max_body_bytes = 1024; }));
  CHECK_FALSE(with([](rmq::route_limits& l) { l.max_body_bytes = 1023; }));
  CHECK(with([](rmq::route_limits& l) { l.max_body_bytes = 16u << 20; }));
  CHECK_FALSE(with([](rmq::route_limits& l) { l.max_body_bytes = (16u << 20) + 1; }));
  CHECK_FALSE(with([](rmq::route_limits& l) { l.max_brokers = 0; }));
  CHECK(with([](rmq::route_limits& l) { l.max_brokers = 65536; }));
  CHECK_FALSE(with([](rmq::route_limits& l) { l.max_brokers = 65537; }));
  CHECK_FALSE(with([](rmq::route_limits& l) { l.max_queues_per_broker = 0; }));
  CHECK(with([](rmq::route_limits& l) { l.max_queues_per_broker = 65536; }));
  CHECK_FALSE(with([](rmq::route_limits& l) { l.max_queues_per_broker = 65537; }));
  CHECK_FALSE(with([](rmq::route_limits& l) { l.max_queues = 0; }));
  CHECK(with([](rmq::route_limits& l) { l.max_queues = 1u << 20; }));
  CHECK_FALSE(with([](rmq::route_limits& l) { l.max_queues = (1u << 20) + 1; }));
  rmq::producer_config config;
  config.route_limits.max_brokers = 0;
  CHECK(config.validate() == rmq::make_error_code(rmq::errc::configuration_invalid));
}

TEST_CASE("lenient where fastjson is lenient: nulls, numeric strings, unknown fields") {
  const auto parsed = parse_route_data(
      R"({"orderTopicConf":null,"queueDatas":[{"brokerName":"a","perm":"6",)"
      R"("readQueueNums":4,"writeQueueNums":4,"extra":[1,{"x":2}]}],"brokerDatas":null,)"
      R"("filterServerTable":null,"topicQueueMappingByBroker":null,"newField":{}})");
  REQUIRE(parsed);
  CHECK(parsed.route.queue_datas.at(0).perm == 6);
  CHECK(parsed.route.broker_datas.empty());
  CHECK_FALSE(parsed.route.order_topic_conf);
  CHECK_FALSE(parsed.route.topic_queue_mapping_by_broker);
}

TEST_CASE("fuzz: mutated captured bodies never crash, and what parses round-trips") {
  std::vector<std::string> seeds = {
      rmq::test::captured_body("legacy/get_routeinfo_version333_response"),
      rmq::test::captured_body("v5/json/get_routeinfo_TopicTest_ok_response"),
      legacy_sample,
  };
  const std::string alphabet = "{}[]:,\"\\0123456789-uU ntfe\x01\xC3\xFF";
  std::mt19937 rng(12345);
  const std::size_t rounds = rmq::test::scaled(20000, 500);
  std::size_t parsed_count = 0;
  for (std::size_t round = 0; round < rounds; ++round) {
    std::string text = seeds[round % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const std::size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0:
          text[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          text.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          text.erase(at, 1 + rng() % 8);
          break;
        default:
          text.resize(at);
          break;
      }
    }
    const auto parsed = parse_route_data(text);
    if (!parsed) {
      CHECK(parsed.route == topic_route_data{});
      continue;
    }
    ++parsed_count;
    for (const auto style : {route_json_style::standard, route_json_style::legacy}) {
      const auto again = parse_route_data(to_json(parsed.route, style));
      if (!again || !(again.route == parsed.route)) {
        FAIL_CHECK("round trip differs for input: " << text);
      }
    }
  }
  // Some mutations (e.g. inside a string) keep the body valid: the round trip was exercised.
  CHECK(parsed_count > 0);
}

TEST_CASE("fuzz: random token soup never crashes the parser or the key normaliser") {
  const std::vector<std::string> tokens = {"{",
                                           "}",
                                           "[",
                                           "]",
                                           ":",
                                           ",",
                                           "\"",
                                           "\\",
                                           "0",
                                           "-",
                                           "12",
                                           " ",
                                           "\"a\"",
                                           "null",
                                           "true",
                                           "1e5",
                                           "\\u",
                                           "\\uD800",
                                           "\xE4",
                                           "\xFF",
                                           "\n",
                                           "0:",
                                           "{0:",
                                           "\"brokerAddrs\"",
                                           "\"queueDatas\"",
                                           "\"perm\"",
                                           "{\"0\":"};
  std::mt19937 rng(777);
  const std::size_t rounds = rmq::test::scaled(20000, 500);
  std::string normalised;
  for (std::size_t round = 0; round < rounds; ++round) {
    std::string text;
    const std::size_t n = rng() % 40;
    for (std::size_t i = 0; i < n; ++i) text += tokens[rng() % tokens.size()];
    const auto parsed = parse_route_data(text);
    if (!parsed) CHECK(parsed.route == topic_route_data{});
    // The normaliser only ever adds quotes around keys: removing them restores the input.
    if (!rmq::wire::quote_integer_keys(text, normalised)) {
      const auto without_quotes = [](std::string s) {
        std::erase(s, '"');
        return s;
      };
      CHECK(without_quotes(normalised) == without_quotes(text));
    }
  }
}
