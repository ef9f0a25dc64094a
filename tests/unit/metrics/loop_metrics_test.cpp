// One loop's tallies: failures by error, the topic bound, connection steps.
#include "metrics/loop_metrics.hpp"

#include "metrics/snapshot.hpp"
#include "rmq/error.hpp"

#include <doctest/doctest.h>

#include <string>

namespace m = rmq::metrics;
using rmq::net::link_event;
using rmq::net::link_state;
using rmq::net::link_step;

namespace {

link_step step_of(link_state from, link_state to, link_event event,
                  rmq::errc failure = rmq::errc::connection_lost) {
  link_step s;
  s.from = from;
  s.to = to;
  s.event = event;
  s.failure = failure;
  return s;
}

}  // namespace

TEST_CASE("a send tally counts messages, bytes, failures by error and timeouts") {
  m::send_tally t;
  t.count(3, 300, {});
  t.count(1, 10, make_error_code(rmq::errc::timed_out));
  t.count(2, 20, rmq::make_broker_error(14));
  t.count(1, 10, make_error_code(rmq::errc::timed_out));
  m::send_figures_sum sum;
  sum.add(t);
  sum.add(t);  // another loop's tally of the same topic
  const rmq::send_figures f = std::move(sum).finish();
  CHECK(f.sends == 14);
  CHECK(f.succeeded == 6);
  CHECK(f.failed == 8);
  CHECK(f.timeouts == 4);
  CHECK(f.bytes == 680);
  REQUIRE(f.failures.size() == 2);
  CHECK(f.failures[0].error == rmq::errc::timed_out);  // most frequent first (4 vs 4: stable)
  CHECK(f.failures[0].count == 4);
  CHECK(f.failures[1].error == rmq::make_broker_error(14));
  CHECK(f.failures[1].count == 4);
}

TEST_CASE("the error table keeps its first 16 errors apart and never grows") {
  m::send_tally t;
  for (int code = 1; code <= 40; ++code) t.count(1, 0, rmq::make_broker_error(code));
  m::send_figures_sum sum;
  sum.add(t);
  const rmq::send_figures f = std::move(sum).finish();
  CHECK(f.failed == 40);
  CHECK(f.failures.size() == m::error_tally::slots);
}

TEST_CASE("topics beyond the bound share one tally named *") {
  m::loop_metrics loop({"127.0.0.1:9876"});
  for (std::size_t i = 0; i < m::loop_metrics::max_topics + 10; ++i) {
    loop.topic("T" + std::to_string(i)).sends.count(1, 1, {});
  }
  CHECK(&loop.topic("T0") == &loop.topic("T0"));
  std::size_t topics = 0;
  std::uint64_t shared = 0;
  loop.read([](const m::broker_tally&, const std::string&) {},
            [&](const m::topic_tally& t) {
              ++topics;
              if (t.topic == "*") shared = t.sends.sends.get();
            },
            [](const m::link_tally&) {});
  CHECK(topics == m::loop_metrics::max_topics + 1);
  CHECK(shared == 10);
}

TEST_CASE("connection steps: connects, reconnects, failures, losses, GO_AWAY and the state") {
  m::loop_metrics loop({"127.0.0.1:9876"});
  const auto on = [&](std::string_view address, const link_step& s, bool backing_off = false) {
    m::loop_metrics::on_link_step(&loop, address, s, backing_off);
  };
  const std::string broker = "127.0.0.1:10911";
  on(broker, step_of(link_state::disconnected, link_state::connecting, link_event::demand));
  on(broker, step_of(link_state::connecting, link_state::connected, link_event::connect_succeeded));
  on(broker, step_of(link_state::connected, link_state::disconnecting, link_event::link_failed));
  on(broker,
     step_of(link_state::disconnecting, link_state::disconnected, link_event::socket_closed));
  on(broker, step_of(link_state::disconnected, link_state::connecting, link_event::demand));
  on(broker, step_of(link_state::connecting, link_state::disconnecting, link_event::connect_failed),
     true);
  on(broker,
     step_of(link_state::disconnecting, link_state::disconnected, link_event::socket_closed), true);
  on(broker, step_of(link_state::disconnected, link_state::connecting, link_event::demand));
  on(broker, step_of(link_state::connecting, link_state::connected, link_event::connect_succeeded));
  on(broker, step_of(link_state::connected, link_state::retiring, link_event::go_away));
  on("127.0.0.1:9876",
     step_of(link_state::connecting, link_state::connected, link_event::connect_succeeded));
  // A link failure of the shutdown is not a loss.
  on("127.0.0.1:9876", step_of(link_state::connected, link_state::disconnecting,
                               link_event::link_failed, rmq::errc::shutting_down));

  m::snapshot_builder builder;
  builder.add(loop);
  const rmq::producer_metrics snapshot = std::move(builder).finish({});
  REQUIRE(snapshot.name_servers.size() == 1);
  const rmq::connection_figures& ns = snapshot.name_servers[0];
  CHECK(ns.address == "127.0.0.1:9876");
  CHECK(ns.connects == 1);
  CHECK(ns.losses == 0);
  CHECK(ns.state == rmq::connection_state::idle);
  CHECK(snapshot.brokers.empty());  // no attempt was counted: connections alone name no broker

  // The broker connection, as a broker's figures show it once an attempt names it.
  m::broker_tally& b = loop.broker(0, "broker-a");
  loop.set_address(b, 1, broker);
  m::snapshot_builder again;
  again.add(loop);
  const rmq::producer_metrics with_broker = std::move(again).finish({});
  REQUIRE(with_broker.brokers.size() == 1);
  const rmq::connection_figures& c = with_broker.brokers[0].connection;
  CHECK(c.address == broker);
  CHECK(c.state == rmq::connection_state::retiring);
  CHECK(c.connects == 2);
  CHECK(c.reconnects == 1);
  CHECK(c.connect_failures == 1);
  CHECK(c.losses == 1);
  CHECK(c.go_aways == 1);
  CHECK(c.connected_loops == 0);
}

TEST_CASE("two loops: counters add up and the best state wins") {
  m::loop_metrics first({});
  m::loop_metrics second({});
  const std::string broker = "10.0.0.1:10911";
  m::loop_metrics::on_link_step(
      &first, broker,
      step_of(link_state::connecting, link_state::connected, link_event::connect_succeeded), false);
  m::loop_metrics::on_link_step(
      &second, broker,
      step_of(link_state::connecting, link_state::disconnecting, link_event::connect_failed), true);
  for (m::loop_metrics* loop : {&first, &second}) {
    m::broker_tally& b = loop->broker(3, "broker-x");
    loop->set_address(b, 1, broker);
    b.attempts.count(5, 50, {});
  }
  m::snapshot_builder builder;
  builder.add(first);
  builder.add(second);
  const rmq::producer_metrics snapshot = std::move(builder).finish({});
  REQUIRE(snapshot.brokers.size() == 1);
  CHECK(snapshot.brokers[0].attempts.sends == 10);
  CHECK(snapshot.brokers[0].connection.state == rmq::connection_state::connected);
  CHECK(snapshot.brokers[0].connection.connected_loops == 1);
  CHECK(snapshot.brokers[0].connection.connect_failures == 1);
}
