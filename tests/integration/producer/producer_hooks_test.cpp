// Send hooks (rmq/send_hook.hpp) against rmq-sim: properties into the request, once per send
// whatever the attempts, once per message of a batch, and hooks that throw.
#include "producer_fixture.hpp"
#include "rmq/error.hpp"
#include "wire/codes.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

// What one hook saw, copied out of the call (contexts and outcomes live only during it).
struct hook_call_record {
  std::string topic;
  std::string group;
  std::size_t index = 0;
  std::size_t size = 0;
  rmq::send_hook_kind kind = rmq::send_hook_kind::message;
  rmq::send_hook_mode mode = rmq::send_hook_mode::async;
  std::error_code error;
  std::string msg_id;
  std::string result_broker;
  int attempts = 0;
  std::string broker;
  std::string broker_address;
  bool latency_set = false;
};

// Adds "hook-index" (the message's batch index) and counts every call; runs on the loop thread
// while the test reads from its own.
class recording_hook : public rmq::send_hook {
 public:
  void before_send(rmq::send_context& context) override {
    const std::error_code added =
        context.add_property("hook-index", std::to_string(context.batch_index()));
    const std::error_code reserved = context.add_property("KEYS", "x");
    const std::error_code separator = context.add_property("bad\x01name", "x");
    const std::error_code blank = context.add_property("name", " ");
    std::lock_guard lock(mutex_);
    add_errors_.insert(add_errors_.end(), {added, reserved, separator, blank});
    before_.push_back({std::string(context.topic()), std::string(context.group()),
                       context.batch_index(), context.batch_size(), context.kind(),
                       context.mode()});
  }
  void after_send(const rmq::send_context& context, const rmq::send_outcome& outcome) override {
    std::lock_guard lock(mutex_);
    // An after-hook cannot add: the request is gone.
    late_add_ = const_cast<rmq::send_context&>(context).add_property("late", "x");
    after_.push_back({std::string(context.topic()), std::string(context.group()),
                      context.batch_index(), context.batch_size(), context.kind(), context.mode(),
                      outcome.error, std::string(outcome.result.msg_id.view()),
                      outcome.result.queue.broker_name, outcome.attempts,
                      std::string(outcome.broker), std::string(outcome.broker_address),
                      outcome.latency.count() > 0});
  }
  [[nodiscard]] std::vector<hook_call_record> before() const {
    std::lock_guard lock(mutex_);
    return before_;
  }
  [[nodiscard]] std::vector<hook_call_record> after() const {
    std::lock_guard lock(mutex_);
    return after_;
  }
  [[nodiscard]] std::vector<std::error_code> add_errors() const {
    std::lock_guard lock(mutex_);
    return add_errors_;
  }
  [[nodiscard]] std::error_code late_add() const {
    std::lock_guard lock(mutex_);
    return late_add_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<hook_call_record> before_;
  std::vector<hook_call_record> after_;
  std::vector<std::error_code> add_errors_;
  std::error_code late_add_;
};

// Throws from both calls, after adding a property in before_send.
class throwing_hook : public rmq::send_hook {
 public:
  void before_send(rmq::send_context& context) override {
    (void)context.add_property("thrower", "was-here");
    throw std::runtime_error("before");
  }
  void after_send(const rmq::send_context&, const rmq::send_outcome&) override { throw 42; }
};

rmq::producer_config hooked_config(const std::shared_ptr<rmq::send_hook>& hook) {
  rmq::producer_config config;
  config.send_hooks.push_back(hook);
  return config;
}

}  // namespace

TEST_CASE("send hooks: a property added before the send is stored; the message is unchanged") {
  auto hook = std::make_shared<recording_hook>();
  producer_fixture f(sim_with(1, sim::personality::v5), hooked_config(hook));
  const rmq::message msg("TopicTest", "hooked");
  const rmq::message copy = msg;
  const rmq::send_result r = f.producer->send(msg);
  CHECK(msg == copy);
  CHECK(msg.properties().empty());
  const auto stored = f.sim.messages();
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].property("hook-index") == std::optional<std::string_view>("0"));
  CHECK_FALSE(stored[0].property("late").has_value());
  CHECK(stored[0].keys.empty());  // the refused KEYS did not reach the request

  const auto errors = hook->add_errors();
  REQUIRE(errors.size() == 4);
  CHECK_FALSE(errors[0]);
  CHECK(errors[1] == rmq::errc::property_name_reserved);
  CHECK(errors[2] == rmq::errc::illegal_separator_character);
  CHECK(errors[3] == rmq::errc::property_value_blank);
  CHECK(hook->late_add() == rmq::errc::invalid_argument);

  const auto before = hook->before();
  const auto after = hook->after();
  REQUIRE(before.size() == 1);
  REQUIRE(after.size() == 1);
  CHECK(before[0].topic == "TopicTest");
  CHECK(before[0].group == "TestGroup");
  CHECK(before[0].kind == rmq::send_hook_kind::message);
  CHECK(before[0].mode == rmq::send_hook_mode::sync);
  CHECK_FALSE(after[0].error);
  CHECK(after[0].msg_id == r.msg_id.view());
  CHECK(after[0].attempts == 1);
  CHECK(after[0].broker == "broker-a");
  CHECK(after[0].broker_address == f.sim.broker_address("broker-a"));
  CHECK(after[0].result_broker == "broker-a");
  CHECK(after[0].latency_set);
  CHECK(f.producer->stats().hook_exceptions == 0);
}

TEST_CASE("send hooks: once per send, not per attempt, for results and failures") {
  auto hook = std::make_shared<recording_hook>();
  producer_fixture f(sim_with(2, sim::personality::v5), hooked_config(hook));
  f.sim.set_broker_faults("broker-a", {.error_code = rmq::wire::response_code::system_busy});
  int retried = 0;
  constexpr int sends = 20;
  for (int i = 0; i < sends; ++i) {
    const rmq::send_result r = f.producer->send(rmq::message("TopicTest", "retried"));
    if (r.attempts > 1) ++retried;
  }
  CHECK(retried >= 1);
  CHECK(hook->before().size() == sends);
  auto after = hook->after();
  REQUIRE(after.size() == sends);
  int retried_seen = 0;
  for (const auto& call : after) {
    CHECK_FALSE(call.error);
    CHECK(call.broker == "broker-b");  // the last attempt's, where it was stored
    CHECK(call.broker_address == f.sim.broker_address("broker-b"));
    if (call.attempts > 1) ++retried_seen;
  }
  CHECK(retried_seen == retried);
  for (const auto& m : f.sim.messages()) CHECK(m.property("hook-index").has_value());

  // Every attempt fails: still one call each, with the error and every attempt counted.
  f.sim.set_broker_faults("*", {.error_code = rmq::wire::response_code::system_busy});
  std::error_code ec;
  (void)f.producer->send(rmq::message("TopicTest", "failing"), ec);
  CHECK(ec == rmq::make_broker_error(rmq::wire::response_code::system_busy));
  CHECK(hook->before().size() == sends + 1);
  after = hook->after();
  REQUIRE(after.size() == sends + 1);
  CHECK(after.back().error == ec);
  CHECK(after.back().attempts == 3);
  CHECK_FALSE(after.back().broker.empty());
}

TEST_CASE("send hooks: a send that times out completes its hooks once, with timed_out") {
  auto hook = std::make_shared<recording_hook>();
  rmq::producer_config config = hooked_config(hook);
  config.send_timeout = 400ms;
  producer_fixture f(sim_with(1, sim::personality::v4_9), config);
  (void)f.producer->send(rmq::message("TopicTest", "warm"));
  f.sim.set_broker_faults("broker-a", {.silent = true});
  std::error_code ec;
  (void)f.producer->send(rmq::message("TopicTest", "silent"), ec);
  CHECK(ec == rmq::errc::timed_out);
  const auto after = hook->after();
  REQUIRE(after.size() == 2);
  CHECK(hook->before().size() == 2);
  CHECK(after[1].error == rmq::errc::timed_out);
  CHECK(after[1].broker == "broker-a");
}

TEST_CASE("send hooks: once per message of a batch, each message's property in its record") {
  auto hook = std::make_shared<recording_hook>();
  producer_fixture f(sim_with(1, sim::personality::v5), hooked_config(hook));
  std::vector<rmq::message> batch;
  for (int i = 0; i < 3; ++i) batch.emplace_back("TopicTest", "batched " + std::to_string(i));
  std::error_code ec;
  const rmq::send_result r = f.producer->send_batch(batch, ec);
  REQUIRE_FALSE(ec);
  const auto stored = f.sim.messages();
  REQUIRE(stored.size() == 3);
  for (std::size_t i = 0; i < stored.size(); ++i) {
    CHECK(stored[i].body == batch[i].body());
    CHECK(stored[i].property("hook-index") == std::optional<std::string_view>(std::to_string(i)));
    CHECK(batch[i].properties().empty());
  }
  const auto before = hook->before();
  const auto after = hook->after();
  REQUIRE(before.size() == 3);
  REQUIRE(after.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(before[i].index == i);
    CHECK(before[i].size == 3);
    CHECK(after[i].index == i);
    CHECK(after[i].msg_id == r.msg_id.view());
    CHECK_FALSE(after[i].error);
  }
}

TEST_CASE("send hooks: properties added to a batch count against max_message_size") {
  // A hook that adds 1000 bytes to each record takes a batch validated just under the limit
  // past it: the send fails before any I/O, as the unhooked batch would if it were that large.
  class padding_hook final : public rmq::send_hook {
   public:
    void before_send(rmq::send_context& context) override {
      (void)context.add_property("padding", std::string(1000, 'p'));
    }
    void after_send(const rmq::send_context&, const rmq::send_outcome& outcome) override {
      errors_.push_back(outcome.error);  // the loop thread only; read after the send returned
    }
    std::vector<std::error_code> errors_;
  };
  auto hook = std::make_shared<padding_hook>();
  rmq::producer_config config = hooked_config(hook);
  config.max_message_size = 16 * 1024;
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  std::vector<rmq::message> batch;
  for (int i = 0; i < 10; ++i) batch.emplace_back("TopicTest", std::string(1400, 'b'));
  REQUIRE(rmq::split_batch(batch, config.max_message_size).size() == 1);  // fits unhooked
  std::error_code ec;
  (void)f.producer->send_batch(batch, ec);
  CHECK(ec == rmq::errc::body_too_large);
  CHECK(f.sim.message_count() == 0);
  CHECK(hook->errors_ ==
        std::vector<std::error_code>(10, make_error_code(rmq::errc::body_too_large)));
}

TEST_CASE("send hooks: a request and a reply are hooked, with their kinds; the property travels") {
  // The requester's hook sees its request; the responder's hook sees its reply (sent with
  // send_reply); each adds its property to what the broker stores.
  auto requester_hook = std::make_shared<recording_hook>();
  sim::sim_config config = sim_with(1, sim::personality::v5, {"RequestTopic"});
  producer_fixture requester(config, hooked_config(requester_hook));
  auto responder_hook = std::make_shared<recording_hook>();
  rmq::producer_config responder_config = hooked_config(responder_hook);
  responder_config.name_servers = requester.sim.namesrv_address();
  responder_config.group = "Responders";
  rmq::producer responder(responder_config);
  REQUIRE_FALSE(responder.start());

  const rmq::message question("RequestTopic", "2+2");  // outlives the request, as it must
  auto outcome = requester.producer->async_request(question, asio::use_future);
  REQUIRE(requester.sim.wait_for_messages(1, 10s));
  const sim::stored_message stored_request = requester.sim.messages().front();
  CHECK(stored_request.property("hook-index") == std::optional<std::string_view>("0"));
  rmq::request_properties request;
  for (const auto& [name, value] : stored_request.properties) request[name] = value;
  std::error_code ec;
  (void)responder.send_reply(request, "4", ec);
  REQUIRE_FALSE(ec);
  const rmq::request_result result = outcome.get();
  CHECK(result.reply.body() == "4");
  REQUIRE(requester.sim.wait_for_messages(2, 10s));
  CHECK(requester.sim.messages().back().property("hook-index") ==
        std::optional<std::string_view>("0"));  // the reply, as stored

  const auto request_before = requester_hook->before();
  const auto request_after = requester_hook->after();
  REQUIRE(request_before.size() == 1);
  REQUIRE(request_after.size() == 1);
  CHECK(request_before[0].kind == rmq::send_hook_kind::request);
  CHECK(request_after[0].kind == rmq::send_hook_kind::request);
  CHECK_FALSE(request_after[0].error);  // the request's send: stored
  const auto reply_before = responder_hook->before();
  const auto reply_after = responder_hook->after();
  REQUIRE(reply_before.size() == 1);
  REQUIRE(reply_after.size() == 1);
  CHECK(reply_before[0].kind == rmq::send_hook_kind::reply);
  CHECK(reply_after[0].topic == "DefaultCluster_REPLY_TOPIC");
  CHECK_FALSE(reply_after[0].error);
  REQUIRE_FALSE(responder.shutdown());
}

TEST_CASE("send hooks: a oneway send's after-hook runs once its request is written") {
  auto hook = std::make_shared<recording_hook>();
  producer_fixture f(sim_with(1, sim::personality::v5), hooked_config(hook));
  REQUIRE_FALSE(f.producer->send_oneway(rmq::message("TopicTest", "oneway")));
  const auto after = hook->after();
  REQUIRE(after.size() == 1);
  CHECK_FALSE(after[0].error);
  CHECK(after[0].mode == rmq::send_hook_mode::oneway);
  CHECK(after[0].attempts == 1);
}

TEST_CASE("send hooks: a hook that throws is counted; the send and the other hooks go on") {
  auto recorder = std::make_shared<recording_hook>();
  rmq::producer_config config;
  config.send_hooks = {std::make_shared<throwing_hook>(), recorder};
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  const rmq::send_result r =
      f.producer->async_send(rmq::message("TopicTest", "thrown at"), asio::use_future).get();
  CHECK(recorder->before().at(0).mode == rmq::send_hook_mode::async);
  CHECK(r.status == rmq::send_status::send_ok);
  CHECK(f.producer->stats().hook_exceptions == 2);
  CHECK(recorder->before().size() == 1);
  CHECK(recorder->after().size() == 1);
  const auto stored = f.sim.messages();
  REQUIRE(stored.size() == 1);
  // What it added before throwing stays; the next hook still added its own.
  CHECK(stored[0].property("thrower") == std::optional<std::string_view>("was-here"));
  CHECK(stored[0].property("hook-index") == std::optional<std::string_view>("0"));
}

TEST_CASE("send hooks: a null hook is an invalid configuration") {
  rmq::producer_config config;
  config.send_hooks.push_back(nullptr);
  CHECK(config.validate() == rmq::errc::configuration_invalid);
}

TEST_CASE("send hooks: a transactional send's half message is hooked, with its kind") {
  auto hook = std::make_shared<recording_hook>();
  producer_fixture f(sim_with(1, sim::personality::v5), hooked_config(hook));
  std::error_code ec;
  const rmq::transaction_result result = f.producer->send_in_transaction(
      rmq::message("TopicTest", "half"),
      [](const rmq::message&, const rmq::send_result&) { return rmq::transaction_state::commit; },
      ec);
  REQUIRE_FALSE(ec);
  CHECK(result.state == rmq::transaction_state::commit);
  const auto before = hook->before();
  const auto after = hook->after();
  REQUIRE(before.size() == 1);  // the half message; END_TRANSACTION is not a send
  REQUIRE(after.size() == 1);
  CHECK(before[0].kind == rmq::send_hook_kind::half_message);
  CHECK_FALSE(after[0].error);
}

TEST_CASE("send hooks: sends failed by shutdown or cancelled complete their hooks once each") {
  auto hook = std::make_shared<recording_hook>();
  producer_fixture f(sim_with(1, sim::personality::v5), hooked_config(hook));
  (void)f.producer->send(rmq::message("TopicTest", "warm"));
  f.sim.set_broker_faults("*", {.latency_min = 200ms, .latency_max = 200ms});
  constexpr std::size_t in_flight = 50;
  std::atomic<std::size_t> completed{0};
  std::atomic<std::size_t> aborted{0};
  asio::cancellation_signal cancel;
  // The first is cancelled (terminal: it ends even after its write), the rest meet shutdown.
  f.producer->async_send(
      rmq::message("TopicTest", "cancelled"),
      asio::bind_cancellation_slot(cancel.slot(), [&](std::error_code ec, const rmq::send_result&) {
        if (ec == asio::error::operation_aborted) aborted.fetch_add(1);
        completed.fetch_add(1);
      }));
  for (std::size_t i = 1; i < in_flight; ++i) {
    f.producer->async_send(
        rmq::message("TopicTest", "in flight"),
        [&](std::error_code, const rmq::send_result&) { completed.fetch_add(1); });
  }
  asio::post(f.producer->get_executor(), [&] { cancel.emit(asio::cancellation_type::terminal); });
  f.producer->shutdown(10ms);
  CHECK(completed.load() == in_flight);
  CHECK(aborted.load() == 1);
  const auto after = hook->after();
  CHECK(hook->before().size() == in_flight + 1);
  REQUIRE(after.size() == in_flight + 1);
  std::size_t aborted_seen = 0;
  std::size_t shut_down_seen = 0;
  for (const auto& call : after) {
    if (call.error == asio::error::operation_aborted) ++aborted_seen;
    if (call.error == rmq::errc::shutting_down) ++shut_down_seen;
  }
  CHECK(aborted_seen == 1);
  CHECK(shut_down_seen == in_flight - 1);
}
