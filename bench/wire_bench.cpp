// Micro-benchmarks of the send hot path without I/O: request encoding, response decoding,
// properties, UNIQ_KEY, route parsing and queue selection. items/s = operations per second.
#include "bench_support.hpp"
#include "rmq/message.hpp"
#include "route/broker_registry.hpp"
#include "send/fault_tolerance.hpp"
#include "send/queue_selector.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"
#include "wire/headers.hpp"
#include "wire/properties.hpp"
#include "wire/route_data.hpp"
#include "wire/uniq_key.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace rmq;

const std::string& body_128() {
  static const std::string body(128, 'b');
  return body;
}

rmq::message sample_message() {
  rmq::message msg("BenchmarkTopic", "TagA", body_128());
  msg.set_keys("order-000042");
  msg.put_property("region", "eu-west-1");
  msg.put_property("trace", "0af7651916cd43dd8448eb211c80319c");
  return msg;
}

/// The properties string of a typical send: tags, keys, WAIT, UNIQ_KEY and two user properties.
const std::string& sample_properties() {
  static const std::string props = [] {
    std::string out;
    wire::append_properties(out, sample_message(), {"7F00000100012A9F1B2C3D4E00000000001A", {}});
    return out;
  }();
  return props;
}

void encode_send(std::string& out, wire::serialize_type type, std::int32_t opaque) {
  wire::command_fields fields;
  fields.code = wire::request_code::send_message_v2;
  fields.version = 401;
  fields.opaque = opaque;
  wire::frame_writer w(out, type, fields);
  wire::send_message_request_header h;
  h.producer_group = "BenchmarkProducerGroup";
  h.topic = "BenchmarkTopic";
  h.queue_id = 3;
  h.born_timestamp = 1'764'000'000'123;
  h.properties = sample_properties();
  h.reconsume_times = 0;
  h.unit_mode = false;
  h.batch = false;
  h.broker_name = "broker-a";
  h.write(w, rmq::wire::send_header_names::letters);
  w.finish(body_128());
}

void bm_encode_send(benchmark::State& state, wire::serialize_type type) {
  std::string out;
  out.reserve(4096);
  std::int32_t opaque = 0;
  for (auto _ : state) {
    out.clear();
    encode_send(out, type, ++opaque);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["frame_bytes"] = static_cast<double>(out.size());
}
BENCHMARK_CAPTURE(bm_encode_send, json, wire::serialize_type::json)
    ->Apply(benchmarks::add_spread_statistics);
BENCHMARK_CAPTURE(bm_encode_send, binary, wire::serialize_type::rocketmq)
    ->Apply(benchmarks::add_spread_statistics);

/// A SEND_MESSAGE_V2 response as rmq-sim (and a 4.9 broker) writes it.
std::string send_response(wire::serialize_type type) {
  std::string out;
  wire::command_fields fields;
  fields.code = wire::response_code::success;
  fields.language = wire::language_code::java;
  fields.version = 401;
  fields.opaque = 12345;
  fields.flag = wire::flag_response;
  wire::frame_writer w(out, type, fields);
  wire::send_message_response_header h;
  h.msg_id = "7F00000100002A9F0000000000001F40";
  h.queue_id = 3;
  h.queue_offset = 1'234'567;
  h.msg_region = "DefaultRegion";
  h.trace_on = true;
  h.write(w);
  w.finish();
  return out;
}

void bm_decode_response(benchmark::State& state, wire::serialize_type type) {
  const std::string frame = send_response(type);
  wire::frame_decoder decoder;
  std::int64_t offsets = 0;
  for (auto _ : state) {
    decoder.feed(frame, [&](const wire::command_view& view) {
      wire::send_message_response_header h;
      if (!h.parse(view)) offsets += h.queue_offset;
      benchmark::DoNotOptimize(h);
    });
  }
  benchmark::DoNotOptimize(offsets);
  if (offsets != static_cast<std::int64_t>(state.iterations()) * 1'234'567) {
    state.SkipWithError("response did not parse");
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["frame_bytes"] = static_cast<double>(frame.size());
}
BENCHMARK_CAPTURE(bm_decode_response, json, wire::serialize_type::json)
    ->Apply(benchmarks::add_spread_statistics);
BENCHMARK_CAPTURE(bm_decode_response, binary, wire::serialize_type::rocketmq)
    ->Apply(benchmarks::add_spread_statistics);

void bm_properties(benchmark::State& state) {
  const rmq::message msg = sample_message();
  const std::string_view uniq = "7F00000100012A9F1B2C3D4E00000000001A";
  std::string out;
  out.reserve(1024);
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(wire::append_properties(out, msg, {uniq, {}}));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(bm_properties)->Apply(benchmarks::add_spread_statistics);

void bm_uniq_key(benchmark::State& state) {
  wire::uniq_key_generator& ids = wire::default_uniq_key_generator();
  char buf[wire::uniq_key_max_size];
  for (auto _ : state) {
    benchmark::DoNotOptimize(ids.next(buf));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_uniq_key)->Apply(benchmarks::add_spread_statistics);

/// The standard-JSON body a NameServer >= 4.9.4 returns for a topic on two brokers.
std::string route_body() {
  wire::topic_route_data route;
  for (const char* name : {"broker-a", "broker-b"}) {
    route.queue_datas.push_back({name, 8, 8, 6, 0});
    wire::broker_data b;
    b.cluster = "DefaultCluster";
    b.broker_name = name;
    b.broker_addrs[0] = std::string("10.0.0.") + (name[7] == 'a' ? "1" : "2") + ":10911";
    b.broker_addrs[1] = std::string("10.0.1.") + (name[7] == 'a' ? "1" : "2") + ":10911";
    route.broker_datas.push_back(std::move(b));
  }
  return wire::to_json(route, wire::route_json_style::standard);
}

void bm_route_parse(benchmark::State& state) {
  const std::string body = route_body();
  for (auto _ : state) {
    wire::route_parse_result r = wire::parse_route_data(body);
    if (!r) state.SkipWithError("route did not parse");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["body_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(bm_route_parse)->Apply(benchmarks::add_spread_statistics);

void bm_route_parse_and_publish_queues(benchmark::State& state) {
  const std::string body = route_body();
  for (auto _ : state) {
    wire::route_parse_result r = wire::parse_route_data(body);
    auto queues = wire::build_publish_queues(r.route);
    benchmark::DoNotOptimize(queues);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_route_parse_and_publish_queues)->Apply(benchmarks::add_spread_statistics);

/// The largest routes the default route_limits allow. arg 0: 64 queueDatas × 1,024 write
/// queues (65,536 queues); 1: the same as an orderTopicConf; 2: a body just under the 256 KiB
/// body limit: 256 brokers with 36 addresses and 4 queues each.
std::string largest_legal_route(std::int64_t kind) {
  wire::topic_route_data route;
  if (kind == 1) {
    std::string conf;
    for (int b = 0; b < 64; ++b) conf += "broker-" + std::to_string(b) + ":1024;";
    route.order_topic_conf = conf;
    return wire::to_json(route, wire::route_json_style::standard);
  }
  const int brokers = kind == 0 ? 64 : 256;
  for (int b = 0; b < brokers; ++b) {
    const std::string name = "broker-" + std::to_string(b);
    route.queue_datas.push_back({name, kind == 0 ? 1024 : 4, kind == 0 ? 1024 : 4, 6, 0});
    wire::broker_data data;
    data.cluster = "DefaultCluster";
    data.broker_name = name;
    const int addresses = kind == 0 ? 1 : 36;
    for (int id = 0; id < addresses; ++id) data.broker_addrs[id] = "10.0.0.1:10911";
    route.broker_datas.push_back(std::move(data));
  }
  return wire::to_json(route, wire::route_json_style::standard);
}

void bm_route_largest_legal(benchmark::State& state) {
  const std::string body = largest_legal_route(state.range(0));
  std::size_t queues = 0;
  for (auto _ : state) {
    wire::route_parse_result r = wire::parse_route_data(body);
    if (!r) state.SkipWithError("route did not parse");
    auto list = wire::build_publish_queues(r.route);
    queues = list.size();
    benchmark::DoNotOptimize(list);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["body_bytes"] = static_cast<double>(body.size());
  state.counters["queues"] = static_cast<double>(queues);
}
BENCHMARK(bm_route_largest_legal)
    ->ArgName("kind")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Apply(benchmarks::add_spread_statistics);

/// 2 brokers × 8 queues, fault tolerance on. arg 0: all healthy; 1: broker 0 isolated (the
/// selector skips its queues); 2: also avoiding the previous attempt's broker (a retry).
void bm_select_queue(benchmark::State& state) {
  std::vector<route::publish_queue> queues;
  for (route::broker_id b = 0; b < 2; ++b) {
    for (std::int32_t q = 0; q < 8; ++q) queues.push_back({b, q});
  }
  send::fault_tolerance faults;
  const auto now = send::fault_clock::now();
  faults.update(0, std::chrono::milliseconds(2), {.isolating = false, .reachable = true}, now);
  faults.update(1, std::chrono::milliseconds(3), {.isolating = false, .reachable = true}, now);
  if (state.range(0) >= 1)
    faults.update(0, std::chrono::milliseconds(10000), {.isolating = true, .reachable = true}, now);
  send::selection_input in{queues, std::nullopt, &faults, now};
  if (state.range(0) == 2) in.last_broker = 1;
  std::uint32_t round_robin = 0;
  std::size_t sum = 0;
  for (auto _ : state) {
    const std::size_t i = send::select_queue(in, round_robin);
    sum += i;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_select_queue)
    ->ArgName("case")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Apply(benchmarks::add_spread_statistics);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  rmq::benchmarks::pin_this_thread(rmq::benchmarks::int_from_env("RMQ_BENCH_CPU", -1));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
