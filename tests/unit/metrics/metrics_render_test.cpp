// producer_metrics rendered as JSON and as Prometheus text exposition.
#include "rmq/error.hpp"
#include "rmq/metrics.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

using namespace std::chrono_literals;

namespace {

rmq::producer_metrics sample_metrics() {
  rmq::producer_metrics m;
  m.taken_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'796'406'427'353));
  m.totals.sends = 12;
  m.totals.succeeded = 10;
  m.totals.failed = 2;
  m.totals.in_flight = 3;
  m.latency = {10, 150us, 900us, 950us, 1000us, 2500us};
  rmq::send_figures topic;
  topic.sends = 12;
  topic.succeeded = 10;
  topic.failed = 2;
  topic.timeouts = 1;
  topic.bytes = 1200;
  topic.failures = {{make_error_code(rmq::errc::timed_out), 1}, {rmq::make_broker_error(14), 1}};
  topic.latency = m.latency;
  // A topic name with the characters the exposition format escapes.
  m.topics.push_back({"Orders", topic});
  m.topics.push_back({"we\"ird\\topic\n", topic});
  rmq::broker_figures broker;
  broker.name = "broker-a";
  broker.address = "127.0.0.1:10911";
  broker.attempts = topic;
  broker.connection = {"127.0.0.1:10911", rmq::connection_state::connected, 2, 3, 1, 0, 1, 0};
  m.brokers.push_back(broker);
  // Another broker name behind the same address (a scrape must still list the address once).
  broker.name =
      "b\xff"
      "d";
  m.brokers.push_back(broker);
  m.name_servers.push_back({"127.0.0.1:9876", rmq::connection_state::idle, 0, 1, 0, 0, 0, 0});
  return m;
}

}  // namespace

TEST_CASE("to_json: every figure under its documented key") {
  const auto j = nlohmann::json::parse(sample_metrics().to_json());
  CHECK(j["taken_at_ms"] == 1'796'406'427'353LL);
  CHECK(j["totals"]["sends"] == 12);
  CHECK(j["totals"]["in_flight"] == 3);
  CHECK(j["totals"].contains("room_waits"));
  CHECK(j["latency_us"]["p99"] == 900);
  CHECK(j["latency_us"]["count"] == 10);
  REQUIRE(j["topics"].size() == 2);
  const auto& t = j["topics"][0];
  CHECK(t["topic"] == "Orders");
  CHECK(t["sends"] == 12);
  CHECK(t["failed"] == 2);
  CHECK(t["timeouts"] == 1);
  CHECK(t["bytes"] == 1200);
  REQUIRE(t["failures"].size() == 2);
  CHECK(t["failures"][0]["category"] == "rmq");
  CHECK(t["failures"][0]["code"] == static_cast<int>(rmq::errc::timed_out));
  CHECK(t["failures"][1]["category"] == rmq::broker_category().name());
  CHECK(t["failures"][1]["code"] == 14);
  CHECK(t["latency_us"]["max"] == 1000);
  CHECK(j["topics"][1]["topic"] == "we\"ird\\topic\n");
  const auto& b = j["brokers"][0];
  CHECK(b["name"] == "broker-a");
  CHECK(b["address"] == "127.0.0.1:10911");
  CHECK(b["connection"]["state"] == "connected");
  CHECK(b["connection"]["connected_loops"] == 2);
  CHECK(b["connection"]["reconnects"] == 1);
  CHECK(j["name_servers"][0]["address"] == "127.0.0.1:9876");
  CHECK(j["name_servers"][0]["state"] == "idle");
}

TEST_CASE("to_prometheus: valid text exposition, one family per name, labels escaped") {
  const std::string text = sample_metrics().to_prometheus();
  std::istringstream lines(text);
  std::string line;
  std::set<std::string> typed;
  std::string current_family;
  std::map<std::string, std::string> samples;
  // name{labels} value — a label value escapes \, " and line feed.
  const std::regex sample(
      R"(^([a-z_]+)(\{[a-z_]+="([^"\\\n]|\\\\|\\"|\\n)*"(,[a-z_]+="([^"\\\n]|\\\\|\\"|\\n)*")*\})? (-?[0-9.e+-]+)$)");
  while (std::getline(lines, line)) {
    CAPTURE(line);
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name;
      std::string type;
      words >> name >> type;
      CHECK(typed.insert(name).second);  // each family once
      CHECK((type == "counter" || type == "gauge" || type == "summary"));
      current_family = name;
      continue;
    }
    std::smatch match;
    REQUIRE(std::regex_match(line, match, sample));
    const std::string name = match[1];
    // A sample belongs to the family just typed (a summary's _sum and _count too).
    CHECK((name == current_family || name == current_family + "_sum" ||
           name == current_family + "_count"));
    // Each series once: Prometheus rejects a scrape with duplicates.
    CHECK(
        samples.emplace(line.substr(0, line.rfind(' ')), line.substr(line.rfind(' ') + 1)).second);
  }
  CHECK(samples["rmq_producer_sends_total"] == "12");
  CHECK(samples["rmq_producer_in_flight"] == "3");
  CHECK(samples["rmq_producer_topic_sends_total{topic=\"Orders\"}"] == "12");
  CHECK(samples["rmq_producer_topic_sends_total{topic=\"we\\\"ird\\\\topic\\n\"}"] == "12");
  CHECK(samples["rmq_producer_topic_latency_seconds{topic=\"Orders\",quantile=\"0.99\"}"] ==
        "0.0009");
  CHECK(samples["rmq_producer_topic_latency_seconds_count{topic=\"Orders\"}"] == "10");
  CHECK(samples["rmq_producer_broker_bytes_total{broker=\"broker-a\"}"] == "1200");
  CHECK(samples["rmq_producer_connection_connected_loops{address=\"127.0.0.1:10911\",role="
                "\"broker\"}"] == "2");
  CHECK(samples["rmq_producer_connection_state{address=\"127.0.0.1:9876\",role=\"name_server\","
                "state=\"idle\"}"] == "1");
  CHECK(samples["rmq_producer_connection_state{address=\"127.0.0.1:9876\",role=\"name_server\","
                "state=\"connected\"}"] == "0");
  // Bytes that are not printable ASCII (perhaps not UTF-8) never reach a label.
  CHECK(samples["rmq_producer_broker_sends_total{broker=\"b?d\"}"] == "12");
  const std::string failure_prefix =
      "rmq_producer_topic_failures_total{topic=\"Orders\",error=\"rmq:" +
      std::to_string(static_cast<int>(rmq::errc::timed_out)) + "\"";
  bool found = false;
  for (const auto& [key, value] : samples) {
    if (key.rfind(failure_prefix, 0) == 0) found = value == "1";
  }
  CHECK(found);
}

TEST_CASE("to_string names every connection state") {
  CHECK(rmq::to_string(rmq::connection_state::idle) == "idle");
  CHECK(rmq::to_string(rmq::connection_state::connecting) == "connecting");
  CHECK(rmq::to_string(rmq::connection_state::connected) == "connected");
  CHECK(rmq::to_string(rmq::connection_state::retiring) == "retiring");
  CHECK(rmq::to_string(rmq::connection_state::backing_off) == "backing_off");
  CHECK(rmq::to_string(rmq::connection_state::closed) == "closed");
}
