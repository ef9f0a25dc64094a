// What a producer logs against rmq-sim: a dead broker's story told in a few rate-limited lines,
// start and shutdown, and nothing at all for sends that succeed.
#include "producer_fixture.hpp"
#include "support/log_capture.hpp"
#include "support/test_scale.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

using namespace std::chrono_literals;
using rmq::test::log_capture;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

bool contains(const std::string& line, std::string_view text) {
  return line.find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("a dead broker: lost, refused, isolated, retries and failures, rate-limited; then back") {
  log_capture log(spdlog::level::info);
  rmq::producer_config config;
  config.logger = log.logger();
  config.route_refresh_interval = 1h;  // the route keeps naming the dead broker
  // Isolation lasts 1 s (the 5.x tables' 10 s would only make the test wait for "back").
  config.custom_fault_tables = rmq::fault_table_config{{50ms, 1000ms}, {0ms, 1000ms}, 1000ms};
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  const rmq::message sample("TopicTest", "payload");
  REQUIRE_FALSE(f.producer->send(sample).msg_id.empty());
  const std::string broker = f.sim.broker_address("broker-a");
  CHECK(log.lines_with("info rmq net " + broker + ": connected").size() == 1);
  CHECK(log.lines_with("info rmq route: topic TopicTest: ").size() == 1);

  const std::size_t lines_before_outage = log.lines().size();
  f.sim.stop_broker("broker-a");
  constexpr std::size_t failing_sends = 100;
  for (std::size_t i = 0; i < failing_sends; ++i) {
    std::error_code ec;
    (void)f.producer->send(sample, ec);
    REQUIRE(ec);
  }
  INFO("log:\n" << log.text());
  CHECK(log.lines_with("warning rmq net " + broker + ": connection lost").size() == 1);
  const auto refused = log.lines_with("warning rmq net " + broker + ": connect failed");
  CHECK(refused.size() >= 1);
  CHECK(refused.size() <= 9);  // 1st, 2nd, 4th... of at most 300 attempts
  // Isolated once: a broker that keeps failing is not isolated again, line after line.
  const auto isolated = log.lines_with("warning rmq send: broker broker-a isolated for ");
  CHECK(isolated.size() == 1);
  const auto retries = log.lines_with("info rmq send: retrying a send to topic TopicTest");
  CHECK(retries.size() >= 1);
  CHECK(retries.size() <= 9);
  const auto failed = log.lines_with("warning rmq send: a send to topic TopicTest failed after ");
  REQUIRE(failed.size() == 7);  // the 1st, 2nd, 4th, ... 64th of 100
  CHECK(contains(failed[0], "(1 failed sends, 0 not logged since the last line)"));
  CHECK(contains(failed[6], "(64 failed sends, 31 not logged since the last line)"));
  // The whole outage, connections included, in far fewer lines than failed sends.
  CHECK(log.lines().size() - lines_before_outage < failing_sends / 2);

  f.sim.start_broker("broker-a");
  // Sends fail fast while the reconnect backoff lasts; then the broker is used again, and is
  // back once an attempt after its isolation answers.
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (log.lines_with("rmq send: broker broker-a is back").empty() &&
         std::chrono::steady_clock::now() < until) {
    std::error_code ec;
    (void)f.producer->send(sample, ec);
  }
  CHECK(log.lines_with("info rmq send: broker broker-a is back: answered in ").size() == 1);
  CHECK(log.lines_with("info rmq net " + broker + ": reconnected").size() == 1);
}

TEST_CASE("a broker moved to another port: the route change and the new master are logged") {
  log_capture log(spdlog::level::info);
  rmq::producer_config config;
  config.logger = log.logger();
  config.route_refresh_interval = 100ms;
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  const rmq::message sample("TopicTest", "payload");
  (void)f.producer->send(sample);
  const std::string old_address = f.sim.broker_address("broker-a");
  const std::string new_address = f.sim.restart_broker_on_new_port("broker-a");
  // The refresh that sees the new port comes within a refresh interval or two.
  const std::string moved = "info rmq route: the master of broker broker-a moved from " +
                            old_address + " to " + new_address;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (log.lines_with(moved).empty() && std::chrono::steady_clock::now() < until) {
    std::error_code ec;
    (void)f.producer->send(sample, ec);
  }
  INFO("log:\n" << log.text());
  CHECK(log.lines_with(moved).size() == 1);
  CHECK_FALSE(log.lines_with("info rmq route: topic TopicTest changed: ").empty());
}

TEST_CASE("successful sends log nothing at info; start and shutdown are logged") {
  log_capture log(spdlog::level::info);
  std::optional<std::size_t> lines_before_sends;
  std::size_t lines_after_sends = 0;
  {
    rmq::producer_config config;
    config.logger = log.logger();
    config.send_timeout = 120s;  // a slow (sanitized, shared) machine must not fail sends
    config.max_in_flight_sends = 1024;
    // A latency above 550 ms would isolate the broker (one line, not one per send), which a
    // sanitized build on a shared machine may reach: this test is about per-send lines.
    config.fault_tolerance = false;
    producer_fixture f(sim_with(1, sim::personality::v4_9), config);
    const rmq::message sample("TopicTest", "payload");
    // The first send brings the route and the broker's connection up (their lines).
    REQUIRE_FALSE(f.producer->send(sample).msg_id.empty());
    lines_before_sends = log.lines().size();

    const std::size_t n = rmq::test::scaled(100000, 1000);
    std::atomic<std::size_t> ok{0};
    std::atomic<std::size_t> done{0};
    std::mutex mutex;
    std::condition_variable cv;
    for (std::size_t i = 0; i < n; ++i) {
      f.producer->async_send(sample, [&](std::error_code ec, rmq::send_result) {
        if (!ec) ok.fetch_add(1);
        if (done.fetch_add(1) + 1 == n) {
          std::lock_guard lock(mutex);
          cv.notify_all();
        }
      });
    }
    {
      std::unique_lock lock(mutex);
      REQUIRE(cv.wait_for(lock, 300s, [&] { return done.load() == n; }));
    }
    CHECK(ok.load() == n);
    lines_after_sends = log.lines().size();
  }  // shuts down
  const auto lines = log.lines();
  INFO("log:\n" << log.text());
  CHECK(lines_after_sends == *lines_before_sends);
  REQUIRE(!lines.empty());
  CHECK(contains(lines.front(), "info rmq: producer starting: name_servers=127.0.0.1:"));
  CHECK(log.lines_with("info rmq: producer started: 1 loop(s) on ").size() == 1);
  CHECK(log.lines_with("info rmq: producer shutting down: ").size() == 1);
  CHECK(log.lines_with("info rmq: producer drained: ").size() == 1);
  CHECK(lines.back() == "info rmq: producer stopped: its threads have ended");
}
