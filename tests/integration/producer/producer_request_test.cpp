// Request-reply against rmq-sim, whose brokers store requests, push replies to the requester's
// connection (PUSH_REPLY_MESSAGE_TO_CLIENT) and answer a reply send whose requester has gone as
// real ones do; its responder plays the consumer that answers requests.
#include "producer_fixture.hpp"
#include "wire/codes.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <future>
#include <string>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

sim::sim_config with_responder(sim::personality version, std::size_t brokers = 1,
                               sim::responder_config responder = {.enabled = true}) {
  sim::sim_config config = sim_with(brokers, version, {"RequestTopic"});
  config.responder = std::move(responder);
  return config;
}

rmq::message request_message(const std::string& body = "Hello request") {
  rmq::message msg("RequestTopic", "TagReq", body);
  msg.put_property("caller", "test");
  return msg;
}

/// The request as the broker stored it, as a consumer would hand it to a responder.
rmq::request_properties stored_request(sim::simulator& s, std::string_view correlation_id) {
  for (const sim::stored_message& m : s.messages()) {
    if (m.property("CORRELATION_ID") != correlation_id) continue;
    rmq::request_properties properties;
    for (const auto& [name, value] : m.properties) properties[name] = value;
    return properties;
  }
  return {};
}

}  // namespace

TEST_CASE(
    "a request gets its reply, on both server versions; the request carries its correlation") {
  for (auto version : {sim::personality::v4_9, sim::personality::v5}) {
    CAPTURE(version == sim::personality::v5);
    producer_fixture f(with_responder(version));
    const rmq::message msg = request_message();
    std::error_code ec;
    const rmq::request_result result = f.producer->request(msg, 5s, ec);
    REQUIRE_FALSE(ec);
    CHECK(result.reply.body() == "reply:Hello request");
    CHECK(result.reply.topic() == "DefaultCluster_REPLY_TOPIC");
    CHECK(result.correlation_id.size() == 36);
    CHECK(result.request.status == rmq::send_status::send_ok);
    const rmq::request_properties stored = stored_request(f.sim, result.correlation_id);
    REQUIRE_FALSE(stored.empty());
    CHECK(stored.at("REPLY_TO_CLIENT").find('@') != std::string::npos);
    CHECK(stored.at("TTL") == "5000");
    CHECK(stored.at("CLUSTER") == "DefaultCluster");  // added by the broker
    CHECK(stored.at("caller") == "test");
    CHECK(f.producer->stats().replies == 1);
  }
}

TEST_CASE("the reply may come from the other broker: every master knows our connection first") {
  producer_fixture f(with_responder(sim::personality::v5, 2,
                                    {.enabled = true, .broker = "broker-b", .delay = 20ms}));
  const rmq::message msg = request_message();
  rmq::send_options to_a;
  to_a.queue = rmq::message_queue{"RequestTopic", "broker-a", 0};
  to_a.timeout = 5s;
  auto outcome = f.producer->async_request(msg, to_a, asio::use_future);
  const rmq::request_result result = outcome.get();
  CHECK(result.request.queue.broker_name == "broker-a");
  CHECK(result.reply.body() == "reply:Hello request");
  // Our answer to the push reaches broker-b after the reply reached us.
  REQUIRE(
      f.sim.wait_until([](const sim::sim_counters& c) { return c.replies().delivered >= 1; }, 10s));
  const std::vector<sim::reply_record> replies = f.sim.replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies.front().broker_name == "broker-b");
  CHECK(replies.front().outcome == sim::reply_outcome::delivered);
}

TEST_CASE("a blocking request returns the reply that comes after its send succeeded") {
  // The Java 5.3.3 client's blocking request() fails at once after a successful send (its send
  // callback counts the reply latch down); ours waits for the reply.
  producer_fixture f(with_responder(sim::personality::v5, 1, {.enabled = true, .delay = 200ms}));
  std::error_code ec;
  const rmq::request_result result = f.producer->request(request_message(), 5s, ec);
  CHECK_FALSE(ec);
  CHECK(result.reply.body() == "reply:Hello request");
}

TEST_CASE("no reply in time: timed_out; a late reply is answered and dropped") {
  producer_fixture f(with_responder(sim::personality::v4_9, 1, {.enabled = true, .delay = 400ms}));
  std::error_code ec;
  const rmq::request_result result = f.producer->request(request_message(), 150ms, ec);
  CHECK(ec == rmq::errc::timed_out);
  CHECK(result.request.status == rmq::send_status::send_ok);  // stored; no reply in time
  CHECK(result.reply.body().empty());
  // The reply still comes: the producer answers the push (delivered) and drops it.
  REQUIRE(
      f.sim.wait_until([](const sim::sim_counters& c) { return c.replies().delivered >= 1; }, 10s));
  CHECK(f.sim.replies().front().outcome == sim::reply_outcome::delivered);
  CHECK_FALSE(f.producer->shutdown(3s));
  CHECK(f.producer->stats().replies_dropped == 1);
  CHECK(f.producer->stats().replies == 0);
}

TEST_CASE("a request's timeout is 1 ms..1 h, as a send's") {
  producer_fixture f(with_responder(sim::personality::v4_9));
  std::error_code ec;
  (void)f.producer->request(request_message(), std::chrono::milliseconds::max(), ec);
  CHECK(ec == rmq::errc::invalid_argument);
  (void)f.producer->request(request_message(), -1ms, ec);
  CHECK(ec == rmq::errc::invalid_argument);
}

TEST_CASE("a service answers a request with send_reply; a reply to a gone requester fails") {
  sim::sim_config config = sim_with(1, sim::personality::v5, {"RequestTopic"});
  producer_fixture requester(config);
  rmq::producer_config responder_config;
  responder_config.name_servers = requester.sim.namesrv_address();
  responder_config.group = "Responders";
  rmq::producer responder(responder_config);
  REQUIRE_FALSE(responder.start());

  const rmq::message msg = request_message("2+2");
  auto outcome = requester.producer->async_request(msg, asio::use_future);
  // The request as a consumer of RequestTopic gets it.
  REQUIRE(requester.sim.wait_for_messages(1, 10s));
  const sim::stored_message stored = requester.sim.messages().front();
  rmq::request_properties request;
  for (const auto& [name, value] : stored.properties) request[name] = value;
  std::error_code ec;
  const rmq::send_result sent = responder.send_reply(request, "4", ec);
  REQUIRE_FALSE(ec);
  CHECK(sent.queue.topic == "DefaultCluster_REPLY_TOPIC");
  const rmq::request_result result = outcome.get();
  CHECK(result.reply.body() == "4");
  CHECK(result.correlation_id == request.at("CORRELATION_ID"));

  // A requester that has gone: the broker stores the reply but cannot push it.
  request["REPLY_TO_CLIENT"] = "192.0.2.9@gone";
  const rmq::send_result orphan = responder.send_reply(request, "late", ec);
  CHECK(ec == rmq::make_broker_error(1));  // SYSTEM_ERROR
  CHECK(orphan.diagnostics.remark.find("push reply message fail") != std::string::npos);

  // A request without CLUSTER cannot be answered.
  request.erase("CLUSTER");
  (void)responder.send_reply(request, "x", ec);
  CHECK(ec == rmq::errc::invalid_argument);
  responder.shutdown();
}

TEST_CASE("a coroutine awaits its reply; cancelling a request that waits for its reply aborts it") {
  producer_fixture f(with_responder(sim::personality::v5, 1, {.enabled = true, .withhold = true}));
  rmq::producer& p = *f.producer;
  const rmq::message msg = request_message();
  asio::cancellation_signal cancel;
  std::promise<std::error_code> done;
  asio::post(p.get_executor(), [&] {
    p.async_request(
        msg, rmq::send_options{.timeout = 30s},
        asio::bind_cancellation_slot(cancel.slot(), [&](std::error_code ec, rmq::request_result r) {
          CHECK(r.request.status == rmq::send_status::send_ok);
          done.set_value(ec);
        }));
  });
  // Once the request is stored (withheld: no reply will come), cancel it on the loop.
  REQUIRE(
      f.sim.wait_until([](const sim::sim_counters& c) { return c.replies().withheld >= 1; }, 10s));
  asio::post(p.get_executor(), [&] { cancel.emit(asio::cancellation_type::terminal); });
  CHECK(done.get_future().get() == asio::error::operation_aborted);

  // The coroutine form, with a responder that answers.
  f.sim.set_responder({.enabled = true});
  auto outcome = asio::co_spawn(
      p.get_executor(),
      [&]() -> asio::awaitable<std::string> {
        const rmq::request_result r = co_await p.async_request(msg, asio::use_awaitable);
        co_return r.reply.body();
      },
      asio::use_future);
  CHECK(outcome.get() == "reply:Hello request");
}

TEST_CASE("a request waiting for the brokers to know it ends at a cancellation or a shutdown") {
  // The broker never answers heartbeats: a request waits before its send until its deadline.
  producer_fixture f(with_responder(sim::personality::v5));
  f.sim.set_broker_faults("broker-a",
                          {.codes = {rmq::wire::request_code::heart_beat}, .silent = true});
  rmq::producer& p = *f.producer;
  const rmq::message msg = request_message();
  asio::cancellation_signal cancel;
  std::promise<std::error_code> cancelled;
  asio::post(p.get_executor(), [&] {
    p.async_request(
        msg, rmq::send_options{.timeout = 30s},
        asio::bind_cancellation_slot(cancel.slot(), [&](std::error_code ec, rmq::request_result) {
          cancelled.set_value(ec);
        }));
  });
  REQUIRE(f.sim.wait_until(
      [](const sim::sim_counters& c) {
        return c.broker_requests(rmq::wire::request_code::heart_beat) >= 1;
      },
      10s));
  asio::post(p.get_executor(), [&] { cancel.emit(asio::cancellation_type::terminal); });
  CHECK(cancelled.get_future().get() == asio::error::operation_aborted);
  CHECK(f.sim.message_count() == 0);  // never sent

  auto waiting = p.async_request(msg, rmq::send_options{.timeout = 30s}, asio::use_future);
  CHECK_FALSE(p.shutdown(100ms));  // does not wait the request's 30 s
  try {
    (void)waiting.get();
    FAIL("a request ended by the shutdown completes with an error");
  } catch (const rmq::send_error& e) {
    CHECK(e.code() == rmq::errc::shutting_down);
  }
}
