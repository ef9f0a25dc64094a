#include "send/queue_selector.hpp"

#include "support/test_clock.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <vector>

using namespace std::chrono_literals;
using rmq::send::fault_clock;
using rmq::send::fault_tolerance;
using rmq::send::publish_queue;
using rmq::send::select_queue;
using rmq::send::selection_input;

namespace {
using rmq::test::t0;

// Two brokers with four queues each, as the Java client lays them out (sorted by broker).
std::vector<publish_queue> two_brokers() {
  std::vector<publish_queue> queues;
  for (rmq::send::broker_id b = 0; b < 2; ++b) {
    for (int q = 0; q < 4; ++q) queues.push_back({b, q});
  }
  return queues;
}
}  // namespace

TEST_CASE("round robin spreads sends evenly over every queue") {
  const auto queues = two_brokers();
  std::vector<int> counts(queues.size());
  std::uint32_t rr = 12345;
  for (int i = 0; i < 803; ++i) {
    const auto index = select_queue({queues, std::nullopt, nullptr, t0}, rr);
    REQUIRE(index < queues.size());
    ++counts[index];
  }
  const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
  CHECK(*hi - *lo <= 1);
}

TEST_CASE("a retry avoids the broker of the previous attempt") {
  const auto queues = two_brokers();
  std::uint32_t rr = 0;
  for (int i = 0; i < 50; ++i) {
    const auto index = select_queue({queues, rmq::send::broker_id{1}, nullptr, t0}, rr);
    CHECK(queues[index].broker == 0);
  }
}

TEST_CASE("with a single broker a retry goes back to it") {
  const std::vector<publish_queue> queues{{7, 0}, {7, 1}};
  std::uint32_t rr = 0;
  const auto index = select_queue({queues, rmq::send::broker_id{7}, nullptr, t0}, rr);
  CHECK(index < queues.size());
}

TEST_CASE("fault tolerance skips unavailable brokers, then unreachable, then gives up") {
  const auto queues = two_brokers();
  fault_tolerance faults;
  // Broker 0 isolated but reachable.
  faults.update(0, 10ms, {.isolating = true, .reachable = true}, t0);
  std::uint32_t rr = 0;
  for (int i = 0; i < 20; ++i) {
    CHECK(queues[select_queue({queues, std::nullopt, &faults, t0}, rr)].broker == 1);
  }
  // Both isolated; broker 1 unreachable: prefer the reachable one.
  faults.update(1, 10ms, {.isolating = true, .reachable = false}, t0);
  for (int i = 0; i < 20; ++i) {
    CHECK(queues[select_queue({queues, std::nullopt, &faults, t0}, rr)].broker == 0);
  }
  // Both unreachable and isolated: plain round robin still returns a queue.
  faults.update(0, 10ms, {.isolating = true, .reachable = false}, t0);
  std::map<rmq::send::broker_id, int> seen;
  for (int i = 0; i < 16; ++i)
    ++seen[queues[select_queue({queues, std::nullopt, &faults, t0}, rr)].broker];
  CHECK(seen.size() == 2);
  // Windows pass: both available again.
  seen.clear();
  for (int i = 0; i < 16; ++i) {
    ++seen[queues[select_queue({queues, std::nullopt, &faults, t0 + 11s}, rr)].broker];
  }
  CHECK(seen[0] == 8);
  CHECK(seen[1] == 8);
}

TEST_CASE("no queues, no selection") {
  std::uint32_t rr = 0;
  CHECK(select_queue({{}, std::nullopt, nullptr, t0}, rr) == rmq::send::no_queue);
}
