// Recall against rmq-sim: a 5.3 broker hands a timer message's send a recall handle, and takes
// RECALL_MESSAGE for it (when recall is enabled: off by default, as on a real broker); a 4.9
// broker has no such request. The answers are the real broker's (RecallMessageProcessor).
#include "producer_fixture.hpp"
#include "wire/codes.hpp"
#include "wire/recall.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/post.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <future>
#include <string>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

sim::sim_config recall_on(sim::personality version = sim::personality::v5) {
  sim::sim_config config = sim_with(2, version);
  config.recall_enabled = true;
  return config;
}

rmq::message timer_message(std::int64_t delay_sec = 60) {
  rmq::message msg("TopicTest", "later");
  msg.set_delay_time_sec(delay_sec);
  return msg;
}

}  // namespace

TEST_CASE("recall: a timer message's send carries its handle; recalling it names the message") {
  producer_fixture f(recall_on());
  const rmq::send_result sent = f.producer->send(timer_message());
  REQUIRE_FALSE(sent.recall_handle.empty());
  const auto parts = rmq::wire::decode_recall_handle(sent.recall_handle);
  REQUIRE(parts);
  CHECK(parts->topic == "TopicTest");
  CHECK(parts->broker_name == sent.queue.broker_name);
  CHECK(parts->message_id == sent.msg_id.view());
  // A message without a timer gets none.
  CHECK(f.producer->send(rmq::message("TopicTest", "now")).recall_handle.empty());

  std::error_code ec;
  const rmq::recall_result recalled = f.producer->recall("TopicTest", sent.recall_handle, ec);
  REQUIRE_FALSE(ec);
  CHECK(recalled.msg_id == sent.msg_id.view());
  CHECK(f.sim.recalled() == std::vector<std::string>{std::string(sent.msg_id.view())});

  // The asynchronous form, with a throwing token.
  const rmq::send_result second = f.producer->send(timer_message());
  std::future<rmq::recall_result> future =
      f.producer->async_recall("TopicTest", second.recall_handle, asio::use_future);
  CHECK(future.get().msg_id == second.msg_id.view());
  CHECK(f.sim.recalled().size() == 2);
}

TEST_CASE("recall: refusals are the broker's, with its remark; a bad handle fails before I/O") {
  SUBCASE("recall disabled (a broker's default): NO_PERMISSION") {
    producer_fixture f(sim_with(1, sim::personality::v5));
    const rmq::send_result sent = f.producer->send(timer_message());
    std::error_code ec;
    const rmq::recall_result r = f.producer->recall("TopicTest", sent.recall_handle, ec);
    CHECK(ec == rmq::make_broker_error(rmq::wire::response_code::no_permission));
    CHECK(r.remark == "recall failed, operation is forbidden");
    CHECK(r.msg_id.empty());
    // The throwing form says the same.
    auto future = f.producer->async_recall("TopicTest", sent.recall_handle, asio::use_future);
    try {
      (void)future.get();
      FAIL("a refused recall returned");
    } catch (const std::system_error& e) {
      CHECK(e.code() == rmq::make_broker_error(rmq::wire::response_code::no_permission));
      CHECK(std::string(e.what()).find("operation is forbidden") != std::string::npos);
    }
  }
  SUBCASE("a message already due: timestamp invalid") {
    producer_fixture f(recall_on());
    // A handle whose timer slot has passed (as one kept too long).
    const std::string handle =
        rmq::wire::encode_recall_handle({"TopicTest", "broker-a", 1000, "C0A8000100002A9F0000"});
    std::error_code ec;
    const rmq::recall_result r = f.producer->recall("TopicTest", handle, ec);
    CHECK(ec == rmq::make_broker_error(rmq::wire::response_code::illegal_operation));
    CHECK(r.remark == "recall failed, timestamp invalid");
  }
  SUBCASE("not a handle, or another topic's: invalid_argument, nothing sent") {
    producer_fixture f(recall_on());
    const rmq::send_result sent = f.producer->send(timer_message());
    std::error_code ec;
    (void)f.producer->recall("TopicTest", "not a handle", ec);
    CHECK(ec == rmq::errc::invalid_argument);
    (void)f.producer->recall("OtherTopic", sent.recall_handle, ec);
    CHECK(ec == rmq::errc::invalid_argument);
    CHECK(f.sim.counters().broker_requests(rmq::wire::request_code::recall_message) == 0);
  }
  SUBCASE("a 4.9 broker has no RECALL_MESSAGE") {
    producer_fixture f(recall_on(sim::personality::v4_9));
    const std::string handle = rmq::wire::encode_recall_handle(
        {"TopicTest", "broker-a", 4102444800000, "C0A8000100002A9F0000"});
    std::error_code ec;
    (void)f.producer->recall("TopicTest", handle, ec);
    CHECK(ec == rmq::make_broker_error(rmq::wire::response_code::request_code_not_supported));
  }
}

TEST_CASE(
    "recall: a namespaced producer's handle names the wrapped topic; recall takes the user's") {
  rmq::producer_config config;
  config.name_space = "ns1";
  sim::sim_config sim_config = recall_on();
  sim_config.topics = {{.name = "ns1%TopicTest"}};
  sim_config.auto_create = false;
  producer_fixture f(sim_config, config);
  const rmq::send_result sent = f.producer->send(timer_message());
  const auto parts = rmq::wire::decode_recall_handle(sent.recall_handle);
  REQUIRE(parts);
  CHECK(parts->topic == "ns1%TopicTest");
  std::error_code ec;
  const rmq::recall_result r = f.producer->recall("TopicTest", sent.recall_handle, ec);
  REQUIRE_FALSE(ec);
  CHECK(r.msg_id == sent.msg_id.view());
}

TEST_CASE("recall: a cancellation completes it at once with operation_aborted") {
  // The broker reads RECALL_MESSAGE and never answers: only the cancellation can end the wait
  // (before send_timeout, 3 s).
  producer_fixture f(recall_on());
  rmq::producer& p = *f.producer;
  const rmq::send_result sent = p.send(timer_message());
  f.sim.set_broker_faults(sent.queue.broker_name,
                          {.codes = {rmq::wire::request_code::recall_message}, .silent = true});
  asio::cancellation_signal cancel;
  std::promise<std::error_code> done;
  asio::post(p.get_executor(), [&] {
    p.async_recall(
        "TopicTest", sent.recall_handle,
        asio::bind_cancellation_slot(
            cancel.slot(), [&](std::error_code ec, rmq::recall_result) { done.set_value(ec); }));
  });
  REQUIRE(f.sim.wait_until(
      [](const sim::sim_counters& c) {
        return c.broker_requests(rmq::wire::request_code::recall_message) >= 1;
      },
      10s));
  asio::post(p.get_executor(), [&] { cancel.emit(asio::cancellation_type::terminal); });
  CHECK(done.get_future().get() == asio::error::operation_aborted);
}
