// A producer with a namespace against rmq-sim, whose NameServer and brokers know topics and groups
// only by their wrapped names ("ns1%TopicTest"), as real ones do: route lookups, sends, batches,
// heartbeats, unregistering and transactions use the wrapped names; results and checks name the
// user's topic; system topics, TBW102 and names already in the namespace are left as they are.
#include "producer_fixture.hpp"
#include "wire/codes.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

/// A simulator that knows `topics` (wrapped names) and creates no other.
sim::sim_config knowing_only(std::vector<std::string> topics,
                             sim::personality version = sim::personality::v4_9) {
  sim::sim_config config = sim_with(1, version, std::move(topics));
  config.auto_create = false;
  return config;
}

rmq::producer_config in_namespace(std::string name_space = "ns1") {
  rmq::producer_config config;
  config.name_space = std::move(name_space);
  return config;
}

}  // namespace

TEST_CASE(
    "namespace: a send lands on ns%Topic with INSTANCE_ID; its result names the user's topic") {
  for (auto version : {sim::personality::v4_9, sim::personality::v5}) {
    CAPTURE(static_cast<int>(version));
    producer_fixture f(knowing_only({"ns1%TopicTest"}, version), in_namespace());
    const rmq::message msg("TopicTest", "TagA", "hello namespace");
    const rmq::send_result r = f.producer->send(msg);
    CHECK(r.status == rmq::send_status::send_ok);
    CHECK(r.queue.topic == "TopicTest");
    const auto stored = f.sim.messages();
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].topic == "ns1%TopicTest");
    CHECK(stored[0].producer_group == "ns1%TestGroup");
    CHECK(stored[0].property("INSTANCE_ID") == std::optional<std::string_view>("ns1"));
    CHECK(stored[0].body == msg.body());
    // The user's message is not touched.
    CHECK(msg.topic() == "TopicTest");
    CHECK(msg.properties().empty());
  }
}

TEST_CASE("namespace: queues, ordered sends and batches name the user's topic") {
  producer_fixture f(knowing_only({"ns1%TopicTest"}), in_namespace());
  std::vector<rmq::message_queue> queues;
  REQUIRE_FALSE(f.producer->fetch_queues("TopicTest", queues));
  REQUIRE_FALSE(queues.empty());
  for (const rmq::message_queue& q : queues) CHECK(q.topic == "TopicTest");
  std::error_code ec;
  const rmq::send_result ordered =
      f.producer->send(rmq::message("TopicTest", "ordered"), queues.back(), ec);
  REQUIRE_FALSE(ec);
  CHECK(ordered.queue == queues.back());

  std::vector<rmq::message> batch;
  for (int i = 0; i < 3; ++i) batch.emplace_back("TopicTest", "batch " + std::to_string(i));
  const rmq::send_result batched = f.producer->send_batch(batch, ec);
  REQUIRE_FALSE(ec);
  CHECK(batched.queue.topic == "TopicTest");
  const auto stored = f.sim.messages();
  REQUIRE(stored.size() == 4);
  for (const sim::stored_message& m : stored) CHECK(m.topic == "ns1%TopicTest");
}

TEST_CASE("namespace: heartbeats and unregistering name the wrapped group") {
  std::vector<sim::client_record> after;
  {
    producer_fixture f(knowing_only({"ns1%TopicTest"}), in_namespace());
    (void)f.producer->send(rmq::message("TopicTest", "x"));
    REQUIRE(f.sim.wait_until(
        [](const sim::sim_counters& c) {
          return c.broker_requests(rmq::wire::request_code::heart_beat) >= 1;
        },
        5s));
    f.producer->shutdown(3s);
    CHECK(f.sim.counters().broker_requests(rmq::wire::request_code::unregister_client) == 1);
    after = f.sim.clients();
  }
  REQUIRE(after.size() == 1);
  const std::vector<std::string>& groups = after.front().producer_groups;
  CHECK(std::count(groups.begin(), groups.end(), "ns1%TestGroup") == 1);
  CHECK(std::count(groups.begin(), groups.end(), "CLIENT_INNER_PRODUCER") == 1);
  CHECK(std::count(groups.begin(), groups.end(), "TestGroup") == 0);
  CHECK(after.front().unregistered);
}

TEST_CASE("namespace: retry topics keep their prefix; system topics and wrapped names stay") {
  producer_fixture f(knowing_only({"%RETRY%ns1%TestGroup", "BenchmarkTest", "ns1%TopicTest"}),
                     in_namespace());
  struct expectation {
    const char* topic;   // as the user sends it
    const char* stored;  // as the broker stores it
  };
  for (const auto& [topic, stored] : {expectation{"%RETRY%TestGroup", "%RETRY%ns1%TestGroup"},
                                      expectation{"BenchmarkTest", "BenchmarkTest"},
                                      expectation{"ns1%TopicTest", "ns1%TopicTest"}}) {
    CAPTURE(topic);
    const std::size_t before = f.sim.messages().size();
    std::error_code ec;
    const rmq::send_result r = f.producer->send(rmq::message(topic, "body"), ec);
    REQUIRE_FALSE(ec);
    CHECK(r.queue.topic == topic);
    const auto messages = f.sim.messages();
    REQUIRE(messages.size() == before + 1);
    CHECK(messages.back().topic == stored);
  }
}

TEST_CASE("namespace: an unknown topic borrows TBW102, unwrapped, and is created wrapped") {
  sim::sim_config config = sim_with(1, sim::personality::v4_9, {});
  config.auto_create = true;
  producer_fixture f(config, in_namespace());
  const rmq::send_result r = f.producer->send(rmq::message("FreshTopic", "created on send"));
  CHECK(r.status == rmq::send_status::send_ok);
  CHECK(r.queue.topic == "FreshTopic");
  const auto stored = f.sim.messages();
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].topic == "ns1%FreshTopic");
}

TEST_CASE("namespace: a topic too long once wrapped is refused before any I/O") {
  producer_fixture f(knowing_only({"ns1%TopicTest"}), in_namespace());
  std::error_code ec;
  (void)f.producer->send(rmq::message(std::string(124, 't'), "body"), ec);
  CHECK(ec == rmq::errc::topic_too_long);  // 124 characters, 128 with "ns1%"
  CHECK(f.sim.message_count() == 0);
}

TEST_CASE("namespace: a transaction's half message, END_TRANSACTION and check-back") {
  sim::sim_config config = knowing_only({"ns1%TxTopic"}, sim::personality::v5);
  config.transactions.check_interval = 50ms;
  config.transactions.timeout = 50ms;
  std::vector<rmq::transaction_check> seen;
  std::mutex seen_mutex;
  rmq::producer_config producer_config = in_namespace();
  producer_config.checker = [&](const rmq::transaction_check& check) {
    std::lock_guard lock(seen_mutex);
    seen.push_back(check);
    return rmq::transaction_state::commit;
  };
  producer_fixture f(config, producer_config);
  std::error_code ec;
  const rmq::transaction_result result = f.producer->send_in_transaction(
      rmq::message("TxTopic", "order-1"),
      [](const rmq::message&, const rmq::send_result&) { return rmq::transaction_state::unknown; },
      ec);
  REQUIRE_FALSE(ec);
  CHECK(result.send.queue.topic == "TxTopic");
  REQUIRE(f.sim.wait_until(
      [&](const sim::sim_counters&) {
        for (const sim::transaction_record& r : f.sim.transactions()) {
          if (r.state == sim::transaction_state::committed) return true;
        }
        return false;
      },
      10s));
  const auto records = f.sim.transactions();
  REQUIRE(records.size() == 1);
  CHECK(records[0].producer_group == "ns1%TestGroup");  // PGROUP
  CHECK(records[0].topic == "ns1%TxTopic");
  CHECK(records[0].resolved_by_check);
  const auto ends = f.sim.end_transactions();
  REQUIRE(ends.size() >= 2);  // the unknown outcome, then the check's answer (or answers)
  for (const sim::end_transaction_record& end : ends) {
    std::map<std::string, std::string> fields(end.fields.begin(), end.fields.end());
    CHECK(fields["producerGroup"] == "ns1%TestGroup");
    // 5.x names the half message's topic; a check's answer copies the check's own.
    if (fields["fromTransactionCheck"] == "false") CHECK(fields["topic"] == "ns1%TxTopic");
  }
  std::lock_guard lock(seen_mutex);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.front().topic == "TxTopic");  // the checker sees the user's topic
}
