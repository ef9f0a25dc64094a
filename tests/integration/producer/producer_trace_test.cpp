// Message trace (producer_config::trace) against rmq-sim: the trace messages the internal
// producer stores in the trace topic, read back and checked field by field against each traced
// send's result; a full buffer; shutdown's flush, from a loop thread too; trace off.
#include "producer_fixture.hpp"
#include "wire/codes.hpp"

#include <asio/post.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

constexpr std::string_view default_trace_topic = "RMQ_SYS_TRACE_TOPIC";

std::vector<std::string> split_trace_text(std::string_view text, char separator) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const std::size_t at = text.find(separator);
    parts.emplace_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return parts;
}

// The trace records stored in `topic`, by traced msgId (fields split on 0x01), and the trace
// messages that carried them.
struct stored_traces {
  std::map<std::string, std::vector<std::string>> records;
  std::vector<sim::stored_message> messages;
};

stored_traces read_stored_traces(const sim::simulator& server, std::string_view topic) {
  stored_traces traces;
  for (auto& m : server.messages()) {
    if (m.topic != topic) continue;
    for (const std::string& record : split_trace_text(m.body, '\x02')) {
      std::vector<std::string> fields = split_trace_text(record, '\x01');
      if (fields.size() > 5) traces.records[fields[5]] = std::move(fields);
    }
    traces.messages.push_back(std::move(m));
  }
  return traces;
}

rmq::producer_config traced_config(rmq::trace_config trace = {}) {
  rmq::producer_config config;
  config.group = "TracedGroup";
  config.trace = std::move(trace);
  return config;
}

}  // namespace

TEST_CASE("traced sends: each one's trace record is stored in the trace topic, field by field") {
  producer_fixture f(sim_with(2, sim::personality::v5), traced_config());
  std::vector<rmq::message> sent;
  sent.emplace_back("TopicTest", "TagA", "first body");
  sent.back().set_keys("key-1 key-2");
  sent.emplace_back("TopicTest", "no tags, no keys");
  sent.emplace_back("TopicTest", "TagC", std::string(300, 'x'));
  sent.back().set_delay_level(2);
  std::vector<rmq::send_result> results;
  for (const auto& m : sent) results.push_back(f.producer->send(m));

  // Trace messages leave after the flush interval: wait until the sim holds all three records.
  const auto records_stored = [&] {
    return read_stored_traces(f.sim, default_trace_topic).records.size() == sent.size();
  };
  for (int i = 0; i < 100 && !records_stored(); ++i) {
    const std::uint64_t before = f.sim.counters().stored_messages;
    f.sim.wait_until([&](const sim::sim_counters& c) { return c.stored_messages > before; }, 100ms);
  }
  const stored_traces traces = read_stored_traces(f.sim, default_trace_topic);
  REQUIRE(traces.records.size() == sent.size());

  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (std::size_t i = 0; i < sent.size(); ++i) {
    CAPTURE(i);
    const rmq::send_result& r = results[i];
    REQUIRE(traces.records.count(std::string(r.msg_id.view())) == 1);
    const std::vector<std::string>& fields = traces.records.at(std::string(r.msg_id.view()));
    REQUIRE(fields.size() == 14);
    CHECK(fields[0] == "Pub");
    CHECK(std::stoll(fields[1]) > 0);
    CHECK(std::stoll(fields[1]) <= now_ms);
    CHECK(fields[2] == "DefaultRegion");
    CHECK(fields[3] == "TracedGroup");
    CHECK(fields[4] == "TopicTest");
    CHECK(fields[5] == r.msg_id.view());
    CHECK(fields[6] == (sent[i].tags().empty() ? "null" : sent[i].tags()));
    CHECK(fields[7] == (sent[i].keys().empty() ? "null" : sent[i].keys()));
    CHECK(fields[8] == f.sim.broker_address(r.queue.broker_name));
    CHECK(fields[9] == std::to_string(sent[i].body().size()));
    CHECK(std::stoll(fields[10]) >= 0);
    CHECK(fields[11] == (sent[i].delay_level() > 0 ? "3" : "0"));
    CHECK(fields[12] == r.offset_msg_id.view());
    CHECK(fields[13] == "true");
  }
  std::string all_keys;
  for (const auto& m : traces.messages) {
    CHECK(m.producer_group.starts_with("_INNER_TRACE_PRODUCER-TracedGroup-PRODUCE-"));
    CHECK(m.tags.empty());
    all_keys += m.keys + " ";
  }
  for (const auto& r : results) CHECK(all_keys.find(r.msg_id.view()) != std::string::npos);
  CHECK(all_keys.find("key-1 key-2") != std::string::npos);

  const rmq::producer_stats stats = f.producer->stats();
  CHECK(stats.trace_records == sent.size());
  CHECK(stats.trace_dropped == 0);
  CHECK(stats.trace_send_failures == 0);
  // Sends to the trace topic itself are not traced: after the shutdown, which sends whatever
  // was buffered, no record was added or dropped for it.
  CHECK(f.producer->send(rmq::message(std::string(default_trace_topic), "not traced")).status ==
        rmq::send_status::send_ok);
  REQUIRE_FALSE(f.producer->shutdown(5s));
  CHECK(f.producer->stats().trace_records == sent.size());
  CHECK(f.producer->stats().trace_dropped == 0);
}

TEST_CASE("a traced batch: one record per message, each with its own msgId and offsetMsgId") {
  producer_fixture f(sim_with(1, sim::personality::v4_9), traced_config());
  std::vector<rmq::message> batch;
  for (int i = 0; i < 5; ++i) batch.emplace_back("TopicTest", "TagB", "body " + std::to_string(i));
  std::error_code ec;
  const rmq::send_result r = f.producer->send_batch(batch, ec);
  REQUIRE_FALSE(ec);
  REQUIRE_FALSE(f.producer->shutdown(5s));  // sends the buffered records
  const stored_traces traces = read_stored_traces(f.sim, default_trace_topic);
  const std::vector<std::string> ids = split_trace_text(r.msg_id.view(), ',');
  const std::vector<std::string> offset_ids = split_trace_text(r.offset_msg_id.view(), ',');
  REQUIRE(ids.size() == batch.size());
  REQUIRE(offset_ids.size() == batch.size());
  REQUIRE(traces.records.size() == batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    CAPTURE(i);
    REQUIRE(traces.records.count(ids[i]) == 1);
    const std::vector<std::string>& fields = traces.records.at(ids[i]);
    REQUIRE(fields.size() == 14);
    CHECK(fields[4] == "TopicTest");
    CHECK(fields[6] == "TagB");
    CHECK(fields[9] == std::to_string(batch[i].body().size()));
    CHECK(fields[12] == offset_ids[i]);
  }
}

TEST_CASE("shutdown sends the trace records still buffered") {
  // A linger far longer than the test: only shutdown sends the records.
  producer_fixture f(sim_with(1, sim::personality::v4_9),
                     traced_config({.max_records_per_message = 1000, .flush_interval = 1s}));
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.emplace_back(f.producer->send(rmq::message("TopicTest", "flushed")).msg_id.view());
  }
  CHECK_FALSE(f.producer->shutdown(5s));
  const stored_traces traces = read_stored_traces(f.sim, default_trace_topic);
  CHECK(traces.records.size() == ids.size());
  for (const auto& id : ids) CHECK(traces.records.count(id) == 1);
  CHECK(f.producer->stats().trace_records == ids.size());
}

TEST_CASE("a full trace buffer drops records and counts them; traced sends go on unaffected") {
  // The trace topic lives on broker-b, which never answers a send: the first trace message stays
  // in flight (max_in_flight 1), the next record waits for room, the buffer (2) fills, and the
  // rest are dropped.
  sim::sim_config config = sim_with(2, sim::personality::v5, {});
  config.topics.push_back({.name = "TopicTest", .brokers = {"broker-a"}});
  config.topics.push_back({.name = "StalledTraces", .brokers = {"broker-b"}});
  producer_fixture f(std::move(config), traced_config({.topic = "StalledTraces",
                                                       .buffer_records = 2,
                                                       .max_records_per_message = 1,
                                                       .flush_interval = 0ms,
                                                       .max_in_flight = 1}));
  f.sim.set_broker_faults("broker-b", {.silent = true});
  constexpr int sends = 10;
  for (int i = 0; i < sends; ++i) {
    CHECK(f.producer->send(rmq::message("TopicTest", "traced")).status ==
          rmq::send_status::send_ok);
  }
  CHECK(f.producer->stats().trace_dropped >= 1);
  // Shutdown's time runs out with the trace message unanswered: what was left is dropped too.
  CHECK_FALSE(f.producer->shutdown(300ms));
  const rmq::producer_stats stats = f.producer->stats();
  CHECK(stats.succeeded == sends);
  CHECK(stats.trace_records + stats.trace_dropped == sends);
  CHECK(stats.trace_send_failures == stats.trace_records);
}

TEST_CASE("a traced producer destroyed on its own loop thread flushes its traces without hanging") {
  sim::simulator server(sim_with(1, sim::personality::v5));
  server.start();
  rmq::producer_config config = traced_config();
  config.name_servers = server.namesrv_address();
  auto producer = std::make_unique<rmq::producer>(config);
  REQUIRE_FALSE(producer->start());
  REQUIRE(producer->send(rmq::message("TopicTest", "first")).status == rmq::send_status::send_ok);
  std::atomic<int> completed{0};
  std::promise<void> destroyed;
  rmq::producer* raw = producer.get();
  asio::post(raw->get_executor(), [&] {
    for (int i = 0; i < 30; ++i) {
      raw->async_send(rmq::message("TopicTest", "on loop"),
                      [&](std::error_code, rmq::send_result) { ++completed; });
    }
    producer.reset();  // on the loop: returns at once
    destroyed.set_value();
  });
  destroyed.get_future().wait();
  // The traced producer unregisters, then the trace producer after the last trace message.
  CHECK(server.wait_until(
      [](const sim::sim_counters& c) {
        return c.broker_requests(rmq::wire::request_code::unregister_client) >= 2;
      },
      20s));
  CHECK(completed.load() == 30);
  CHECK(read_stored_traces(server, default_trace_topic).records.size() == 31);
  server.stop();
}

TEST_CASE("trace off: no trace producer, no trace topic lookup, nothing counted") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  REQUIRE(f.producer->send(rmq::message("TopicTest", "untraced")).status ==
          rmq::send_status::send_ok);
  CHECK_FALSE(f.producer->shutdown(3s));
  for (const auto& client : f.sim.clients()) {
    for (const auto& group : client.producer_groups) {
      CHECK_FALSE(group.starts_with("_INNER_TRACE_PRODUCER"));
    }
  }
  CHECK(read_stored_traces(f.sim, default_trace_topic).messages.empty());
  const auto route_queries = f.sim.counters().namesrv.requests;
  const auto lookups = route_queries.find(rmq::wire::request_code::get_routeinfo_by_topic);
  CHECK((lookups != route_queries.end() && lookups->second == 1));  // TopicTest's alone
  const rmq::producer_stats stats = f.producer->stats();
  CHECK(stats.trace_records == 0);
  CHECK(stats.trace_dropped == 0);
}
