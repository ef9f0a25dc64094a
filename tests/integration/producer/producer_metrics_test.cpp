// producer::metrics() against rmq-sim: per topic and per broker counts, failures by error,
// latencies, connections, and the periodic callback.
#include "producer_fixture.hpp"
#include "rmq/error.hpp"
#include "wire/codes.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

const rmq::topic_figures* topic_in(const rmq::producer_metrics& m, std::string_view topic) {
  const auto it = std::find_if(m.topics.begin(), m.topics.end(),
                               [&](const rmq::topic_figures& t) { return t.topic == topic; });
  return it == m.topics.end() ? nullptr : &*it;
}

const rmq::broker_figures* broker_in(const rmq::producer_metrics& m, std::string_view name) {
  const auto it = std::find_if(m.brokers.begin(), m.brokers.end(),
                               [&](const rmq::broker_figures& b) { return b.name == name; });
  return it == m.brokers.end() ? nullptr : &*it;
}

std::uint64_t failures_with(const rmq::send_figures& f, std::error_code ec) {
  for (const rmq::error_count& e : f.failures) {
    if (e.error == ec) return e.count;
  }
  return 0;
}

// Polls metrics() until `ready` holds or 10 s pass: for what the loop counts after a send's
// handler has run (a connection's state).
bool metrics_reach(rmq::producer& p,
                   const std::function<bool(const rmq::producer_metrics&)>& ready) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!ready(p.metrics())) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST_CASE("metrics before start: counters at zero, no broker, topic or connection") {
  rmq::producer_config config;
  config.name_servers = "127.0.0.1:9876";
  rmq::producer p(config);
  const rmq::producer_metrics m = p.metrics();
  CHECK(m.totals.sends == 0);
  CHECK(m.latency.count == 0);
  CHECK(m.brokers.empty());
  CHECK(m.topics.empty());
  CHECK(m.name_servers.empty());
}

TEST_CASE("each send counts once in its topic, each attempt in its broker") {
  producer_fixture f(sim_with(2, sim::personality::v5, {"TopicTest", "TopicOther"}));
  f.sim.set_broker_faults("broker-a", {.error_code = rmq::wire::response_code::system_busy});
  for (int i = 0; i < 40; ++i) (void)f.producer->send(rmq::message("TopicTest", "payload"));
  for (int i = 0; i < 10; ++i) (void)f.producer->send(rmq::message("TopicOther", "0123456789"));

  const rmq::producer_metrics m = f.producer->metrics();
  const rmq::producer_stats stats = f.producer->stats();
  CHECK(m.totals.sends == stats.sends);
  CHECK(m.totals.retries == stats.retries);
  REQUIRE(m.topics.size() == 2);
  CHECK(m.topics[0].topic == "TopicOther");  // sorted
  const rmq::topic_figures* test = topic_in(m, "TopicTest");
  const rmq::topic_figures* other = topic_in(m, "TopicOther");
  REQUIRE(test != nullptr);
  REQUIRE(other != nullptr);
  CHECK(test->sends.sends == 40);
  CHECK(test->sends.succeeded == 40);
  CHECK(test->sends.failed == 0);
  CHECK(test->sends.bytes == 40 * 7);
  CHECK(test->sends.retries == stats.retries);  // only broker-a's answers were retried
  CHECK(test->sends.retries >= 1);
  CHECK(test->sends.latency.count == 40);
  CHECK(test->sends.latency.p50 <= test->sends.latency.p99);
  CHECK(test->sends.latency.p99 <= test->sends.latency.max);
  CHECK(test->sends.latency.max > 0us);
  CHECK(other->sends.sends == 10);
  CHECK(other->sends.bytes == 100);
  CHECK(m.latency.count == 50);

  // Every attempt at broker-a failed with its answer; broker-b stored what was retried.
  const rmq::broker_figures* a = broker_in(m, "broker-a");
  const rmq::broker_figures* b = broker_in(m, "broker-b");
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a->attempts.sends == stats.retries);
  CHECK(a->attempts.succeeded == 0);
  CHECK(a->attempts.failed == a->attempts.sends);
  CHECK(failures_with(a->attempts, rmq::make_broker_error(rmq::wire::response_code::system_busy)) ==
        a->attempts.sends);
  CHECK(a->attempts.latency.count == a->attempts.sends);  // answered, so sampled
  CHECK(b->attempts.succeeded == 50);
  CHECK(b->attempts.retries == stats.retries);
  CHECK(b->attempts.bytes == 40 * 7 + 10 * 10);
  CHECK(b->address == f.sim.broker_address("broker-b"));
  CHECK(b->connection.address == b->address);
  CHECK(b->connection.state == rmq::connection_state::connected);
  CHECK(b->connection.connected_loops == 1);
  CHECK(b->connection.connects == 1);
  CHECK(b->connection.reconnects == 0);
  REQUIRE(m.name_servers.size() == 1);
  CHECK(m.name_servers[0].address == f.sim.namesrv_address());
  CHECK(m.name_servers[0].connects == 1);

  // Both renderings carry the same figures.
  const auto j = nlohmann::json::parse(m.to_json());
  CHECK(j["topics"][1]["topic"] == "TopicTest");
  CHECK(j["topics"][1]["sends"] == 40);
  const std::string text = m.to_prometheus();
  CHECK(text.find("rmq_producer_topic_sends_total{topic=\"TopicTest\"} 40\n") != std::string::npos);
  CHECK(text.find("rmq_producer_broker_succeeded_total{broker=\"broker-b\"} 50\n") !=
        std::string::npos);
}

TEST_CASE("a send that runs out of time counts as a timeout in its topic and its broker") {
  rmq::producer_config config;
  config.send_timeout = 400ms;
  producer_fixture f(sim_with(1, sim::personality::v4_9), config);
  (void)f.producer->send(rmq::message("TopicTest", "payload"));
  f.sim.set_broker_faults("broker-a", {.silent = true});
  std::error_code ec;
  const rmq::send_result r = f.producer->send(rmq::message("TopicTest", "payload"), ec);
  REQUIRE(ec == rmq::errc::timed_out);

  const rmq::producer_metrics m = f.producer->metrics();
  const rmq::topic_figures* t = topic_in(m, "TopicTest");
  REQUIRE(t != nullptr);
  CHECK(t->sends.sends == 2);
  CHECK(t->sends.failed == 1);
  CHECK(t->sends.timeouts == 1);
  CHECK(failures_with(t->sends, make_error_code(rmq::errc::timed_out)) == 1);
  CHECK(t->sends.retries == static_cast<std::uint64_t>(r.attempts - 1));
  CHECK(t->sends.latency.count == 1);  // failures are not sampled
  const rmq::broker_figures* a = broker_in(m, "broker-a");
  REQUIRE(a != nullptr);
  CHECK(a->attempts.sends == 1 + static_cast<std::uint64_t>(r.attempts));
  CHECK(a->attempts.timeouts == static_cast<std::uint64_t>(r.attempts));
  CHECK(a->attempts.latency.count == 1);
}

TEST_CASE("a lost connection and its reconnect are counted; a batch counts each message") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  (void)f.producer->send(rmq::message("TopicTest", "payload"));
  f.sim.drop_broker_connections("broker-a");
  CHECK(metrics_reach(*f.producer, [](const rmq::producer_metrics& m) {
    return !m.brokers.empty() && m.brokers[0].connection.losses == 1 &&
           m.brokers[0].connection.state != rmq::connection_state::connected;
  }));
  std::vector<rmq::message> batch(5, rmq::message("TopicTest", "abc"));
  std::error_code ec;
  (void)f.producer->send_batch(batch, ec);
  REQUIRE_FALSE(ec);

  const rmq::producer_metrics m = f.producer->metrics();
  REQUIRE(m.brokers.size() == 1);
  const rmq::connection_figures& c = m.brokers[0].connection;
  CHECK(c.connects == 2);
  CHECK(c.reconnects == 1);
  CHECK(c.losses == 1);
  CHECK(c.state == rmq::connection_state::connected);
  const rmq::topic_figures* t = topic_in(m, "TopicTest");
  REQUIRE(t != nullptr);
  CHECK(t->sends.sends == 6);
  CHECK(t->sends.succeeded == 6);
  CHECK(t->sends.bytes == 7 + 15);
  CHECK(t->sends.latency.count == 2);  // one sample per send
  CHECK(m.brokers[0].attempts.succeeded == 6);
}

TEST_CASE("the metrics callback gets a snapshot every interval, even after one that threw") {
  struct reports {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::uint64_t> sends;
  };
  auto seen = std::make_shared<reports>();
  rmq::producer_config config;
  config.metrics_interval = 100ms;
  config.metrics_callback = [seen](const rmq::producer_metrics& m) {
    std::size_t calls = 0;
    {
      const std::lock_guard lock(seen->mutex);
      seen->sends.push_back(m.totals.sends);
      calls = seen->sends.size();
    }
    seen->changed.notify_all();
    if (calls == 1) throw std::runtime_error("the first report throws");
  };
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  (void)f.producer->send(rmq::message("TopicTest", "payload"));
  std::unique_lock lock(seen->mutex);
  // Reports go on after the one that threw, and a later one sees the send.
  CHECK(seen->changed.wait_for(lock, 20s,
                               [&] { return seen->sends.size() >= 3 && seen->sends.back() >= 1; }));
}

TEST_CASE("metrics_interval and metrics_callback go together, the interval within bounds") {
  rmq::producer_config config;
  config.metrics_interval = 1s;
  CHECK(config.validate() == rmq::errc::configuration_invalid);
  config.metrics_callback = [](const rmq::producer_metrics&) {};
  CHECK(config.validate() == std::error_code{});
  config.metrics_interval = 50ms;
  CHECK(config.validate() == rmq::errc::configuration_invalid);
  config.metrics_interval = 0ms;
  CHECK(config.validate() == rmq::errc::configuration_invalid);
}

TEST_CASE("a metrics callback that destroys its producer: no report after it, nothing hangs") {
  sim::simulator server(sim_with(1, sim::personality::v5));
  server.start();
  struct state {
    std::unique_ptr<rmq::producer> producer;
    std::promise<void> destroyed;
    std::atomic<bool> sent{false};  // the test's own calls are over: destroying it is allowed
    std::atomic<int> reports{0};
  };
  auto shared = std::make_shared<state>();
  rmq::producer_config config;
  config.name_servers = server.namesrv_address();
  config.group = "MetricsDestroys";
  config.metrics_interval = 100ms;
  // Runs on the producer's loop: the destructor there starts the shutdown and returns at once.
  // Holds the state: the producer's own state (and this callback) outlives the destructor.
  config.metrics_callback = [shared](const rmq::producer_metrics&) {
    if (!shared->sent.load()) return;
    if (shared->reports.fetch_add(1) != 0) return;  // counted: a report after the first is a bug
    std::unique_ptr<rmq::producer> doomed = std::move(shared->producer);
    doomed.reset();
    shared->destroyed.set_value();
  };
  shared->producer = std::make_unique<rmq::producer>(config);
  REQUIRE_FALSE(shared->producer->start());
  REQUIRE(shared->producer->send(rmq::message("TopicTest", "payload")).status ==
          rmq::send_status::send_ok);
  shared->sent.store(true);
  CHECK(shared->destroyed.get_future().wait_for(20s) == std::future_status::ready);
  CHECK(shared->reports.load() == 1);
  server.stop();
}
