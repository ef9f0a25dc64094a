// Callers that outpace the loop: N threads call async_send in a tight loop for D seconds
// against an in-process rmq-sim, healthy or silent, and the process's resident memory is
// sampled each second. Shows that the in-flight limits hold at the call: memory stays flat
// and no send completes later than its deadline plus a little.
//   rmq-caller-flood [threads=2] [seconds=60] [healthy|silent]
#include "rmq/producer.hpp"
#include "simulator.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 60;
  const bool silent = argc > 3 && std::string(argv[3]) == "silent";

  rmq::sim::sim_config sim_config;
  sim_config.brokers = rmq::sim::default_brokers(1, 0);
  sim_config.topics.push_back({.name = "TopicTest"});
  rmq::sim::simulator sim(sim_config);
  sim.set_store_enabled(false);
  sim.start();

  rmq::producer_config config;
  config.name_servers = sim.namesrv_address();
  config.group = "FloodGroup";
  rmq::producer producer(config);
  if (auto ec = producer.start()) {
    std::fprintf(stderr, "start: %s\n", ec.message().c_str());
    return 1;
  }
  const rmq::message msg("TopicTest", std::string(128, 'x'));
  (void)producer.send(msg);
  if (silent) sim.set_broker_faults("broker-a", {.silent = true});

  using clock = std::chrono::steady_clock;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> started{0}, ok{0}, failed{0}, worst_late_ms{0};
  const auto budget = config.send_timeout;
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        const auto at = clock::now();
        ++started;
        producer.async_send(msg, [&, at](std::error_code ec, rmq::send_result) {
          ++(ec ? failed : ok);
          const auto took =
              std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - at);
          const auto late = took > budget ? static_cast<std::uint64_t>((took - budget).count()) : 0;
          std::uint64_t seen = worst_late_ms.load();
          while (late > seen && !worst_late_ms.compare_exchange_weak(seen, late)) {
          }
        });
      }
    });
  }
  long first = 0, peak = 0;
  for (int s = 1; s <= seconds; ++s) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const long rss = rss_kib();
    if (s == 1) first = rss;
    if (rss > peak) peak = rss;
    std::printf("t=%2ds rss=%ld KiB started=%llu ok=%llu failed=%llu in_flight=%llu\n", s, rss,
                static_cast<unsigned long long>(started.load()),
                static_cast<unsigned long long>(ok.load()),
                static_cast<unsigned long long>(failed.load()),
                static_cast<unsigned long long>(producer.stats().in_flight));
    std::fflush(stdout);
  }
  stop = true;
  for (auto& c : callers) c.join();
  (void)producer.shutdown();
  std::printf(
      "%s broker, %d callers, %d s: rss first %ld KiB, peak %ld KiB; %llu ok, %llu failed; "
      "latest completion %llu ms past its deadline\n",
      silent ? "silent" : "healthy", threads, seconds, first, peak,
      static_cast<unsigned long long>(ok.load()), static_cast<unsigned long long>(failed.load()),
      static_cast<unsigned long long>(worst_late_ms.load()));
  sim.stop();
  return 0;
}
