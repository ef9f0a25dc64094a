// End to end: the real producer against in-process rmq-sim (storage off) over loopback.
// `window` coroutines on producer.get_executor() each loop on co_await async_send(msg,
// use_awaitable), so `window` sends are in flight at all times. One benchmark iteration is a
// batch of sends (at least 16 windows, so filling and draining the window is a small part of
// it); items/s = messages/s. latency_us = mean time of one async_send as its coroutine saw it.
// The producer's loop thread is pinned to RMQ_BENCH_CPU (0), the simulator's thread to
// RMQ_PEER_CPU (1); the benchmark thread only waits for each batch. The CPU column is the
// whole process (producer loop + simulator), so CPU / real time is how busy the two cores were.
#include "bench_support.hpp"
#include "rmq/producer.hpp"
#include "simulator.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <semaphore>
#include <string>
#include <system_error>

namespace {

using namespace rmq;
using namespace std::chrono_literals;
constexpr const char* topic = "BenchmarkTopic";

int g_bench_cpu = 0;
int g_peer_cpu = 1;

/// Text that compresses like a typical JSON payload (about 3:1), not like random bytes.
std::string make_body(std::size_t size) {
  std::string body;
  std::uint32_t x = 12345;
  while (body.size() < size) {
    x = x * 1664525u + 1013904223u;
    body.append("{\"id\":").append(std::to_string(x % 100000));
    body.append(",\"status\":\"ok\",\"v\":").append(std::to_string(x >> 20)).append("},");
  }
  body.resize(size);
  return body;
}

/// One simulator and two producers (compression at the default 4 KiB threshold, and off),
/// created once: route lookups and connects are not measured.
struct cluster {
  cluster() : sim(make_sim_config()) {
    benchmarks::pin_this_thread(g_peer_cpu);  // the simulator's thread inherits this
    sim.start();
    benchmarks::pin_this_thread(g_bench_cpu);  // the producers' loop threads inherit this
    compressing = make_producer(4096);
    plain = make_producer(std::size_t{1} << 30);
  }
  ~cluster() {
    compressing->shutdown(3s);
    plain->shutdown(3s);
    compressing.reset();
    plain.reset();
    sim.stop();
  }

  static sim::sim_config make_sim_config() {
    sim::sim_config c;
    c.brokers = sim::default_brokers(2, 0);
    c.store = false;
    c.topics.push_back({.name = topic});
    return c;
  }
  std::unique_ptr<rmq::producer> make_producer(std::size_t compress_threshold) {
    rmq::producer_config config;
    config.name_servers = sim.namesrv_address();
    config.group = "BenchmarkGroup";
    config.compress_threshold = compress_threshold;
    auto p = std::make_unique<rmq::producer>(std::move(config));
    if (auto ec = p->start()) throw std::system_error(ec);
    // Warm up: route, connections to both brokers, coroutine frame pools.
    rmq::message msg(topic, make_body(128));
    for (int i = 0; i < 64; ++i) (void)p->send(msg);
    return p;
  }

  sim::simulator sim;
  std::unique_ptr<rmq::producer> compressing;
  std::unique_ptr<rmq::producer> plain;
};

std::unique_ptr<cluster> g_cluster;

/// State of one batch: written on the producer's loop thread while the batch runs, read by the
/// benchmark thread after `batch_done`.
struct batch {
  std::size_t remaining = 0;
  std::size_t active = 0;
  std::uint64_t sent = 0;
  std::uint64_t failed = 0;
  std::chrono::nanoseconds latency{0};
};
// Static: the loop thread may still be inside release() when the benchmark thread returns.
std::binary_semaphore g_batch_done{0};

asio::awaitable<void> sender(rmq::producer& p, const rmq::message& msg, batch& b) {
  while (b.remaining > 0) {
    --b.remaining;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      (void)co_await p.async_send(msg, asio::use_awaitable);
      ++b.sent;
    } catch (const std::system_error&) {
      ++b.failed;
    }
    b.latency += std::chrono::steady_clock::now() - t0;
  }
  if (--b.active == 0) g_batch_done.release();
}

void bm_async_send(benchmark::State& state) {
  const auto window = static_cast<std::size_t>(state.range(0));
  const auto body_size = static_cast<std::size_t>(state.range(1));
  const bool compress = state.range(2) != 0;
  rmq::producer& p = compress ? *g_cluster->compressing : *g_cluster->plain;
  const rmq::message msg(topic, "TagA", make_body(body_size));
  const std::size_t batch_size = std::max<std::size_t>(2000, 16 * window);

  batch b;  // outlives every coroutine of every batch
  for (auto _ : state) {
    b.remaining = batch_size;
    b.active = window;
    for (std::size_t i = 0; i < window; ++i) {
      asio::co_spawn(p.get_executor(), sender(p, msg, b), asio::detached);
    }
    g_batch_done.acquire();
  }
  const std::uint64_t sent = b.sent;
  const std::uint64_t failed = b.failed;
  const std::chrono::nanoseconds latency = b.latency;
  if (failed != 0) state.SkipWithError("some sends failed");
  state.SetItemsProcessed(static_cast<std::int64_t>(sent));
  state.SetBytesProcessed(static_cast<std::int64_t>(sent * body_size));
  state.counters["latency_us"] =
      sent == 0 ? 0.0 : static_cast<double>(latency.count()) / 1e3 / static_cast<double>(sent);
}

void register_all() {
  for (std::int64_t body : {128, 4096}) {
    for (std::int64_t window : {1, 64, 1024}) {
      auto* b = benchmark::RegisterBenchmark("async_send", bm_async_send);
      b->ArgNames({"in_flight", "body", "zlib"})->Args({window, body, 0});
      b->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
      b->Repetitions(benchmarks::repetitions())->ReportAggregatesOnly(true);
      benchmarks::add_spread_statistics(b);
    }
  }
  // The default configuration compresses bodies of 4 KiB and more (compress_threshold = 4096).
  auto* b = benchmark::RegisterBenchmark("async_send", bm_async_send);
  b->ArgNames({"in_flight", "body", "zlib"})->Args({64, 4096, 1});
  b->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
  b->Repetitions(benchmarks::repetitions())->ReportAggregatesOnly(true);
  benchmarks::add_spread_statistics(b);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  g_bench_cpu = benchmarks::int_from_env("RMQ_BENCH_CPU", 0);
  g_peer_cpu = benchmarks::int_from_env("RMQ_PEER_CPU", 1);
  g_cluster = std::make_unique<cluster>();
  benchmark::AddCustomContext("peer", "in-process rmq-sim, 2 brokers, --store off");
  benchmark::AddCustomContext("producer_loop_cpu", std::to_string(g_bench_cpu));
  benchmark::AddCustomContext("sim_cpu", std::to_string(g_peer_cpu));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_cluster.reset();
  return 0;
}
