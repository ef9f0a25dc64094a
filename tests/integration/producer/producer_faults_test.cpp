// Retries, fault tolerance, deadlines and route changes against rmq-sim's fault knobs.
#include "producer_fixture.hpp"
#include "support/test_scale.hpp"
#include "wire/codes.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/post.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <future>
#include <map>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {
rmq::message payload_message() {
  return rmq::message("TopicTest", "payload");
}

std::map<std::string, int> per_broker(const std::vector<sim::stored_message>& stored) {
  std::map<std::string, int> counts;
  for (const auto& m : stored) ++counts[m.broker_name];
  return counts;
}

// Sends until one is stored by `broker` (true) or `limit` passes (false): for changes the
// producer notices at a refresh or when an isolation ends.
bool sends_reach(producer_fixture& f, std::string_view broker, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    std::error_code ec;
    const auto r = f.producer->send(payload_message(), ec);
    if (!ec && r.queue.broker_name == broker) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("SYSTEM_BUSY on one broker: retried on another, then avoided") {
  producer_fixture f(sim_with(2, sim::personality::v5));
  f.sim.set_broker_faults("broker-a", {.error_code = rmq::wire::response_code::system_busy});
  int retried = 0;
  for (int i = 0; i < 40; ++i) {
    const rmq::send_result r = f.producer->send(payload_message());
    CHECK(r.queue.broker_name == "broker-b");
    if (r.attempts > 1) ++retried;
  }
  CHECK(retried >= 1);
  CHECK(retried <= 2);  // after the first failure fault tolerance keeps sends off broker-a
  CHECK(per_broker(f.sim.messages()).count("broker-a") == 0);
}

TEST_CASE("a broker error that is not retriable fails at once with its code and remark") {
  producer_fixture f(sim_with(2, sim::personality::v4_9));
  f.sim.set_broker_faults("*", {.error_code = rmq::wire::response_code::message_illegal,
                                .error_remark = "bad message"});
  std::error_code ec;
  const auto r = f.producer->send(payload_message(), ec);
  CHECK(ec == rmq::make_broker_error(rmq::wire::response_code::message_illegal));
  CHECK(r.attempts == 1);
  CHECK(r.diagnostics.remark == "bad message");
  CHECK_FALSE(rmq::is_retriable(ec));
  try {
    (void)f.producer->send(payload_message());
    FAIL("send should throw");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("Send [1] times, still failed") != std::string::npos);
  }
}

TEST_CASE("a retried send keeps its UNIQ_KEY at both brokers and as the result's msgId") {
  rmq::producer_config config;
  config.retry_another_broker_when_not_stored_ok = true;
  config.fault_tolerance = false;
  producer_fixture f(sim_with(2, sim::personality::v4_9), config);
  f.sim.set_broker_faults("broker-a", {.error_code = rmq::wire::response_code::flush_disk_timeout});
  rmq::send_result r;
  do {
    r = f.producer->send(payload_message());
  } while (r.attempts == 1);  // round robin reaches broker-a within two sends
  CHECK(r.attempts == 2);
  CHECK(r.status == rmq::send_status::send_ok);
  CHECK(r.queue.broker_name == "broker-b");
  int copies = 0;
  for (const auto& m : f.sim.messages()) {
    if (m.property("UNIQ_KEY") == std::optional<std::string_view>(r.msg_id.view())) ++copies;
  }
  CHECK(copies == 2);
}

TEST_CASE("a stored-but-not-OK attempt is the result when the retries after it fail, as in Java") {
  // Two attempts, two brokers: broker-a stores but answers FLUSH_DISK_TIMEOUT (retried on the
  // other broker, as configured), broker-b answers SERVICE_NOT_AVAILABLE (retriable). Whichever
  // the first attempt reaches, the message was stored once at broker-a and that is the result.
  rmq::producer_config config;
  config.retry_another_broker_when_not_stored_ok = true;
  config.fault_tolerance = false;
  config.retries_sync = 1;
  producer_fixture f(sim_with(2, sim::personality::v4_9), config);
  f.sim.set_broker_faults("broker-a", {.error_code = rmq::wire::response_code::flush_disk_timeout});
  f.sim.set_broker_faults("broker-b",
                          {.error_code = rmq::wire::response_code::service_not_available});
  int stored_first = 0;
  for (int i = 0; i < 10; ++i) {  // round robin starts at broker-a in about half of them
    std::error_code ec;
    const auto r = f.producer->send(payload_message(), ec);
    REQUIRE_FALSE(ec);
    CHECK(r.status == rmq::send_status::flush_disk_timeout);
    CHECK(r.queue.broker_name == "broker-a");
    CHECK(r.attempts == 2);
    CHECK(r.offset_msg_id.size() > 0);
    if (r.diagnostics.brokers == "broker-a, broker-b") ++stored_first;
  }
  CHECK(stored_first > 0);
}

TEST_CASE("stored-but-not-OK statuses are results, not errors") {
  rmq::producer_config config;
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  f.sim.set_broker_faults("broker-a",
                          {.error_code = rmq::wire::response_code::flush_slave_timeout});
  const auto r = f.producer->send(payload_message());
  CHECK(r.status == rmq::send_status::flush_slave_timeout);
  CHECK(r.attempts == 1);
}

TEST_CASE("a silent broker: the send fails at its deadline, never before") {
  rmq::producer_config config;
  config.send_timeout = 400ms;
  producer_fixture f(sim_with(1, sim::personality::v4_9), config);
  (void)f.producer->send(payload_message());  // route cached, connection up
  f.sim.set_broker_faults("broker-a", {.silent = true});
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  const auto r = f.producer->send(payload_message(), ec);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(ec == rmq::errc::timed_out);
  CHECK(elapsed >= 400ms);
  CHECK(elapsed <= 400ms + 2s);
  CHECK(r.attempts == 3);  // the budget was shared: every retry got its turn
}

TEST_CASE("a silent broker among two: the per-attempt cap leaves room for a retry elsewhere") {
  rmq::producer_config config;
  config.send_timeout = 900ms;
  config.fault_tolerance = false;
  producer_fixture f(sim_with(2, sim::personality::v4_9), config);
  f.sim.set_broker_faults("broker-a", {.silent = true});
  for (int i = 0; i < 4; ++i) {
    std::error_code ec;
    const auto r = f.producer->send(payload_message(), ec);
    REQUIRE_FALSE(ec);
    CHECK(r.queue.broker_name == "broker-b");
  }
}

TEST_CASE("a broker killed mid-run: sends go elsewhere, and it is used again when back") {
  // Fault tables whose isolation lasts 1 s (the 5.x tables' 10 s would only make the test wait).
  rmq::producer_config config;
  config.custom_fault_tables = rmq::fault_table_config{{50ms, 1000ms}, {0ms, 1000ms}, 1000ms};
  producer_fixture f(sim_with(2, sim::personality::v4_9), config);
  for (int i = 0; i < 10; ++i) (void)f.producer->send(payload_message());
  f.sim.stop_broker("broker-a");
  for (int i = 0; i < 20; ++i) {
    std::error_code ec;
    const auto r = f.producer->send(payload_message(), ec);
    REQUIRE_FALSE(ec);
    CHECK(r.queue.broker_name == "broker-b");
  }
  f.sim.start_broker("broker-a");
  // Once its isolation (1 s, counted from its last failure) is over, broker-a is used again.
  CHECK(sends_reach(f, "broker-a", 30s));
}

TEST_CASE("NameServer down after the first route: cached routes keep working") {
  producer_fixture f(sim_with(2, sim::personality::v4_9));
  (void)f.producer->send(payload_message());
  f.sim.namesrv_down();
  for (int i = 0; i < 10; ++i)
    CHECK(f.producer->send(payload_message()).status == rmq::send_status::send_ok);
  std::error_code ec;
  (void)f.producer->send(rmq::message("OtherTopic", "x"), ec);
  CHECK(ec);  // a new topic cannot be resolved
  f.sim.namesrv_up();
}

TEST_CASE("a broker moved to another port: sends follow it after the route refresh") {
  rmq::producer_config config;
  config.route_refresh_interval = 100ms;
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  (void)f.producer->send(payload_message());
  const std::string moved_to = f.sim.restart_broker_on_new_port("broker-a");
  bool delivered = false;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!delivered && std::chrono::steady_clock::now() < until) {
    std::error_code ec;
    (void)f.producer->send(payload_message(), ec);
    delivered = !ec;
  }
  CHECK(delivered);
  CHECK(f.sim.messages().back().broker_name == "broker-a");
}

TEST_CASE("queues that lose WRITE permission leave the publish set at the next refresh") {
  rmq::producer_config config;
  config.route_refresh_interval = 100ms;
  producer_fixture f(sim_with(2, sim::personality::v5), config);
  for (int i = 0; i < 8; ++i) (void)f.producer->send(payload_message());
  CHECK(per_broker(f.sim.messages()).size() == 2);  // round robin uses both brokers

  // broker-a now serves TopicTest read-only, as after `updateTopic -p 4` there.
  f.sim.create_topic({.name = "TopicTest", .perm = sim::perm_read, .brokers = {"broker-a"}});
  // Until a refresh, round robin still alternates; afterwards no send may reach broker-a. The
  // refresh is seen as a run of sends that never touched broker-a.
  const auto until = std::chrono::steady_clock::now() + 20s;
  int run_on_b = 0;
  while (run_on_b < 20 && std::chrono::steady_clock::now() < until) {
    const auto r = f.producer->send(payload_message());
    run_on_b = r.queue.broker_name == "broker-b" ? run_on_b + 1 : 0;
  }
  REQUIRE(run_on_b == 20);
  f.sim.clear_messages();
  for (int i = 0; i < 50; ++i)
    CHECK(f.producer->send(payload_message()).queue.broker_name == "broker-b");
  CHECK(per_broker(f.sim.messages()) == std::map<std::string, int>{{"broker-b", 50}});

  // WRITE permission back: broker-a returns to the rotation at a later refresh.
  f.sim.create_topic({.name = "TopicTest", .brokers = {"broker-a"}});
  CHECK(sends_reach(f, "broker-a", 20s));
}

TEST_CASE("a retry uses the route cached now, not the one its send began with") {
  auto sim_config = sim_with(3, sim::personality::v4_9, {});
  sim_config.topics.push_back({.name = "TopicTest", .brokers = {"broker-a", "broker-b"}});
  rmq::producer_config config;
  config.route_refresh_interval = 50ms;
  config.send_timeout = 30s;  // each of the three attempts may wait a third of it
  producer_fixture f(sim_config, config);
  (void)f.producer->send(payload_message());  // the route is cached
  sim::fault_spec silent;
  silent.silent = true;
  f.sim.set_broker_faults("broker-a", silent);
  f.sim.set_broker_faults("broker-b", silent);
  const auto sends_received = [](const sim::sim_counters& c) {
    return c.broker_requests(rmq::wire::request_code::send_message_v2);
  };
  const auto before = sends_received(f.sim.counters());
  auto pending = f.producer->async_send(payload_message(), asio::use_future);
  REQUIRE(f.sim.wait_until([&](const sim::sim_counters& c) { return sends_received(c) > before; },
                           20s));

  // While its first attempt waits: broker-a and broker-b turn read-only, broker-c takes the topic.
  f.sim.create_topic(
      {.name = "TopicTest", .perm = sim::perm_read, .brokers = {"broker-a", "broker-b"}});
  f.sim.create_topic({.name = "TopicTest", .brokers = {"broker-c"}});
  // Refreshes run one after another: two more queries mean one saw the new route and ended.
  const auto queries =
      f.sim.counters().namesrv.count(rmq::wire::request_code::get_routeinfo_by_topic);
  REQUIRE(f.sim.wait_until(
      [&](const sim::sim_counters& c) {
        return c.namesrv.count(rmq::wire::request_code::get_routeinfo_by_topic) >= queries + 2;
      },
      20s));
  // The first attempt fails now. With the route the send began with, its retries would go to
  // the silent brokers and time out; with the current one, broker-c stores it.
  f.sim.drop_broker_connections("broker-a");
  f.sim.drop_broker_connections("broker-b");
  const rmq::send_result result = pending.get();
  CHECK(result.queue.broker_name == "broker-c");
  CHECK(result.attempts == 2);
  CHECK(f.sim.messages().back().broker_name == "broker-c");
}

TEST_CASE("a broker that leaves every route is dropped, and connected afresh when it returns") {
  rmq::producer_config config;
  config.route_refresh_interval = 100ms;
  config.heartbeat_interval = 100ms;
  producer_fixture f(sim_with(2, sim::personality::v4_9), config);
  for (int i = 0; i < 8; ++i) (void)f.producer->send(payload_message());
  const auto route_queries = [&] {
    return f.sim.counters().namesrv.count(rmq::wire::request_code::get_routeinfo_by_topic);
  };
  const auto heartbeats_to_a = [](const sim::sim_counters& c) {
    for (const auto& [name, broker] : c.brokers) {
      if (name == "broker-a") return broker.count(rmq::wire::request_code::heart_beat);
    }
    return std::uint64_t{0};
  };

  f.sim.stop_broker("broker-a");  // unregistered: routes no longer name it
  // Refreshes run one after another, so once two more queries arrived, the refresh that saw
  // the route without broker-a has ended and released broker-a's connection.
  const auto queries = route_queries();
  REQUIRE(f.sim.wait_until(
      [&](const sim::sim_counters& c) {
        return c.namesrv.count(rmq::wire::request_code::get_routeinfo_by_topic) >= queries + 2;
      },
      20s));
  for (int i = 0; i < 10; ++i)
    CHECK(f.producer->send(payload_message()).queue.broker_name == "broker-b");

  // Back at the same address: a new connection, registered by a heartbeat, used for sends.
  const auto heartbeats = heartbeats_to_a(f.sim.counters());
  f.sim.start_broker("broker-a");
  CHECK(sends_reach(f, "broker-a", 30s));
  CHECK(f.sim.wait_until(
      [&](const sim::sim_counters& c) { return heartbeats_to_a(c) > heartbeats; }, 20s));
}

TEST_CASE("a send with any timer form to a 4.9 broker fails clearly") {
  producer_fixture f(sim_with(1, sim::personality::v4_9));
  (void)f.producer->send(payload_message());  // the broker's version becomes known
  rmq::message timed("TopicTest", "later");
  for (int form = 0; form < 3; ++form) {
    CAPTURE(form);
    if (form == 0) timed.set_delivery_time(std::chrono::system_clock::now() + 10s);
    if (form == 1) timed.set_delay_time_sec(10);
    if (form == 2) timed.set_delay_time_ms(10000);
    std::error_code ec;
    (void)f.producer->send(timed, ec);
    CHECK(ec == rmq::errc::delivery_time_unsupported);
  }
}

TEST_CASE(
    "a fresh producer's first timer send decides as a warm one's: refused by 4.9, sent to 5") {
  // No send before: the broker's version is not known yet when the timer send picks it; the
  // send waits for the heartbeat's answer and decides then.
  for (auto version : {sim::personality::v4_9, sim::personality::v5}) {
    CAPTURE(rmq::test::version_name(version));
    producer_fixture f(sim_with(2, version));
    rmq::message timed("TopicTest", "later");
    timed.set_delay_time_sec(10);
    std::error_code ec;
    const rmq::send_result r = f.producer->send(timed, ec);
    if (version == sim::personality::v4_9) {
      CHECK(ec == rmq::errc::delivery_time_unsupported);
      CHECK(f.sim.message_count() == 0);  // never written to a broker that would deliver it now
    } else {
      REQUIRE_FALSE(ec);
      CHECK(r.status == rmq::send_status::send_ok);
      CHECK(f.sim.message_count() == 1);
    }
  }
}

TEST_CASE(
    "a fresh timer send waits for its own broker's heartbeat only; cancelled there, at once") {
  sim::sim_config config = sim_with(2, sim::personality::v5);
  // broker-b never answers a heartbeat: a send to broker-a must not wait for it (it would wait
  // until its deadline and then time out).
  config.broker_faults.push_back(
      {"broker-b", {.codes = {rmq::wire::request_code::heart_beat}, .silent = true}});
  producer_fixture f(config);
  std::vector<rmq::message_queue> queues;
  REQUIRE_FALSE(f.producer->fetch_queues("TopicTest", queues));
  const auto on = [&](std::string_view broker) {
    return *std::find_if(queues.begin(), queues.end(),
                         [&](const rmq::message_queue& q) { return q.broker_name == broker; });
  };
  rmq::message timed("TopicTest", "later");
  timed.set_delay_time_sec(10);
  std::error_code ec;
  const rmq::send_result r =
      f.producer->send(timed, rmq::send_options{.queue = on("broker-a")}, ec);
  REQUIRE_FALSE(ec);
  CHECK(r.queue.broker_name == "broker-a");

  // To broker-b the send waits for an answer that does not come; a cancellation ends it at
  // once, and says nothing of a message that may have been stored (nothing was written).
  asio::cancellation_signal cancel;
  std::promise<std::pair<std::error_code, std::string>> done;
  asio::post(f.producer->get_executor(), [&] {
    f.producer->async_send(
        timed, rmq::send_options{.queue = on("broker-b")},
        asio::bind_cancellation_slot(cancel.slot(), [&](std::error_code e, rmq::send_result s) {
          done.set_value({e, s.diagnostics.remark});
        }));
  });
  REQUIRE(f.sim.wait_until(
      [](const sim::sim_counters& c) {
        return c.broker_requests(rmq::wire::request_code::heart_beat) >= 2;  // a's and b's
      },
      10s));
  asio::post(f.producer->get_executor(), [&] { cancel.emit(asio::cancellation_type::terminal); });
  const auto [cancelled, remark] = done.get_future().get();
  CHECK(cancelled == asio::error::operation_aborted);
  CHECK(remark.empty());
  CHECK(f.sim.message_count() == 1);
}

TEST_CASE("a fresh timer send whose broker's heartbeat failed moves to another broker") {
  sim::sim_config config = sim_with(2, sim::personality::v5);
  // broker-a drops the connection at the heartbeat: its version stays unknown, which is not
  // "older than 5.0" but a failure there, and another broker takes the send.
  config.broker_faults.push_back(
      {"broker-a", {.codes = {rmq::wire::request_code::heart_beat}, .reset_after = 1}});
  producer_fixture f(config);
  rmq::message timed("TopicTest", "later");
  timed.set_delay_time_sec(10);
  for (int i = 0; i < 4; ++i) {  // round robin: some sends pick broker-a first
    CAPTURE(i);
    std::error_code ec;
    const rmq::send_result r = f.producer->send(timed, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.queue.broker_name == "broker-b");
  }
}

TEST_CASE("the three timer forms reach a 5.x broker as TIMER_* properties; levels are capped") {
  rmq::producer_config config;
  config.max_delay_level = 3;
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  rmq::message sec("TopicTest", "in 30 s");
  sec.set_delay_time_sec(30);
  rmq::message ms("TopicTest", "in 45 s");
  ms.set_delay_time_ms(45000);
  rmq::message at("TopicTest", "at a time");
  at.set_delivery_time_ms(1796406761684);
  for (const rmq::message* m : {&sec, &ms, &at}) {
    CHECK(f.producer->send(*m).status == rmq::send_status::send_ok);
  }
  const auto stored = f.sim.messages();
  REQUIRE(stored.size() == 3);
  CHECK(stored[0].property("TIMER_DELAY_SEC") == std::optional<std::string_view>("30"));
  CHECK(stored[1].property("TIMER_DELAY_MS") == std::optional<std::string_view>("45000"));
  CHECK(stored[2].property("TIMER_DELIVER_MS") == std::optional<std::string_view>("1796406761684"));
  // Above the configured table: refused before any I/O, nothing stored.
  rmq::message level4("TopicTest", "level 4");
  level4.set_delay_level(4);
  std::error_code ec;
  (void)f.producer->send(level4, ec);
  CHECK(ec == rmq::errc::delay_level_invalid);
  level4.set_delay_level(3);
  CHECK(f.producer->send(level4).status == rmq::send_status::send_ok);
  CHECK(f.sim.messages().size() == 4);
}

TEST_CASE("shutdown with thousands of sends in flight completes each exactly once") {
  producer_fixture f(sim_with(2, sim::personality::v4_9));
  f.sim.set_broker_faults("*", {.latency_min = 50ms, .latency_max = 50ms});
  const std::size_t n = rmq::test::scaled(10000, 500);
  const rmq::message msg = payload_message();
  std::vector<std::atomic<int>> completions(n);
  std::atomic<std::size_t> done{0};
  for (std::size_t i = 0; i < n; ++i) {
    f.producer->async_send(msg, [&, i](std::error_code, rmq::send_result) {
      completions[i].fetch_add(1);
      done.fetch_add(1);
    });
  }
  f.producer->shutdown(10ms);
  CHECK(done.load() == n);
  for (std::size_t i = 0; i < n; ++i) {
    if (completions[i].load() != 1) FAIL("send " << i << " completed " << completions[i].load());
  }
}

TEST_CASE("back-pressure: a full gate fails fast when asked, otherwise waits for room") {
  {
    rmq::producer_config config;
    config.max_in_flight_sends = 2;
    config.fail_fast_when_full = true;
    producer_fixture f(sim_with(1, sim::personality::v4_9), config);
    (void)f.producer->send(payload_message());  // route and connection ready
    f.sim.set_broker_faults("broker-a", {.latency_min = 200ms, .latency_max = 200ms});
    const rmq::message msg = payload_message();  // must outlive the sends
    std::vector<std::future<rmq::send_result>> pending;
    for (int i = 0; i < 3; ++i) pending.push_back(f.producer->async_send(msg, asio::use_future));
    int full = 0;
    for (auto& p : pending) {
      try {
        (void)p.get();
      } catch (const std::system_error& e) {
        if (e.code() == rmq::errc::backpressure_full) ++full;
      }
    }
    CHECK(full == 1);
  }
  {
    rmq::producer_config config;
    config.max_in_flight_sends = 2;
    producer_fixture f(sim_with(1, sim::personality::v4_9), config);
    f.sim.set_broker_faults("broker-a", {.latency_min = 20ms, .latency_max = 20ms});
    const rmq::message msg = payload_message();
    std::vector<std::future<rmq::send_result>> pending;
    for (int i = 0; i < 10; ++i) pending.push_back(f.producer->async_send(msg, asio::use_future));
    for (auto& p : pending) CHECK(p.get().status == rmq::send_status::send_ok);
  }
}

TEST_CASE("a route entry that is not host:port fails the send with invalid_address, no I/O") {
  for (const char* address : {"not-an-address", "127.0.0.1:99999", "1.2.3.4"}) {
    CAPTURE(address);
    sim::sim_config sim_config = sim_with(1, sim::personality::v5);
    sim_config.brokers[0].advertised_address = address;
    rmq::producer_config config;
    config.send_timeout = 1h;  // the outcome is checked, not how long it took
    producer_fixture f(std::move(sim_config), config);
    std::error_code ec;
    const auto r = f.producer->send(payload_message(), ec);
    CHECK(ec == rmq::errc::invalid_address);
    // Retriable like a broker without a writable master: with no other broker, each attempt
    // comes back at once, refused by the connection without connecting.
    CHECK(r.attempts == 3);
    CHECK(r.diagnostics.brokers.find("broker-a") != std::string::npos);
    const auto counters = f.sim.counters();
    REQUIRE(counters.brokers.size() == 1);
    CHECK(counters.brokers[0].second.connections_accepted == 0);
    CHECK(f.sim.message_count() == 0);
  }
}

TEST_CASE("a route entry that is not host:port on one broker: sends go to the other") {
  sim::sim_config sim_config = sim_with(2, sim::personality::v5);
  sim_config.brokers[0].advertised_address = "not-an-address";
  rmq::producer_config config;
  config.send_timeout = 1h;  // the outcome is checked, not how long it took
  producer_fixture f(std::move(sim_config), config);
  for (int i = 0; i < 10; ++i) {
    std::error_code ec;
    const auto r = f.producer->send(payload_message(), ec);
    REQUIRE_FALSE(ec);
    CHECK(r.queue.broker_name == "broker-b");
  }
  const auto stored = per_broker(f.sim.messages());
  CHECK(stored.count("broker-a") == 0);
  CHECK(stored.at("broker-b") == 10);
}

TEST_CASE("max_message_size: what no frame can carry is refused at start, a larger body at once") {
  constexpr std::size_t mib = 1024 * 1024;
  {
    rmq::producer_config config;
    config.name_servers = "127.0.0.1:9876";
    config.group = "G";
    config.max_message_size = 20 * mib;  // frames over 16 MiB make the broker close
    rmq::producer p(config);
    CHECK(p.start() == rmq::errc::configuration_invalid);
  }
  rmq::producer_config config;
  config.max_message_size = 15 * mib;
  config.compress_type = rmq::compression::lz4;  // the codec that grows a body the most
  config.send_timeout = 1h;  // 15 MiB through sanitizers: an outcome, not a race with the clock
  producer_fixture f(sim_with(1, sim::personality::v5), config);

  // The largest body, incompressible, with the largest header: 32767 bytes of properties, most
  // of them escaped six-fold in the JSON header. The frame still fits 16 MiB.
  std::string body(15 * mib, '\0');
  std::uint64_t x = 88172645463325252ULL;
  for (char& c : body) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  rmq::message big("TopicTest", body);
  big.put_property("p", "v" + std::string(32600, '\x03'));
  std::error_code ec;
  (void)f.producer->send(big, ec);
  CHECK_FALSE(ec);
  CHECK(f.sim.message_count() == 1);

  // One byte more is refused before any I/O.
  const auto requests_before =
      f.sim.counters().broker_requests(rmq::wire::request_code::send_message_v2);
  big.set_body(body + "x");
  (void)f.producer->send(big, ec);
  CHECK(ec == rmq::errc::body_too_large);
  CHECK(f.sim.counters().broker_requests(rmq::wire::request_code::send_message_v2) ==
        requests_before);
  CHECK(f.sim.message_count() == 1);
}
