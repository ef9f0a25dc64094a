#include "send/fault_tolerance.hpp"

#include "support/test_clock.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using rmq::send::fault_clock;
using rmq::send::fault_tables;
using rmq::send::fault_tolerance;

namespace {
using rmq::test::t0;
}

TEST_CASE("the 5.x table maps latencies to not-available windows") {
  fault_tolerance faults;
  CHECK(faults.not_available_for(10ms) == 0ms);
  CHECK(faults.not_available_for(100ms) == 0ms);
  CHECK(faults.not_available_for(549ms) == 0ms);
  CHECK(faults.not_available_for(550ms) == 2000ms);
  CHECK(faults.not_available_for(1800ms) == 5000ms);
  CHECK(faults.not_available_for(3000ms) == 6000ms);
  CHECK(faults.not_available_for(10000ms) == 10000ms);
  CHECK(faults.not_available_for(20000ms) == 30000ms);
  CHECK(fault_tables::v5().valid());
  CHECK(fault_tables::v4_9().valid());
}

TEST_CASE("the 4.9 table isolates for up to 600 s; isolation counts as 30 s of latency") {
  fault_tolerance faults(fault_tables::v4_9());
  CHECK(faults.not_available_for(1000ms) == 60000ms);
  faults.update(3, 5ms, {.isolating = true, .reachable = true}, t0);
  CHECK_FALSE(faults.available(3, t0 + 599s));
  CHECK(faults.available(3, t0 + 600s));
}

TEST_CASE("an isolating failure makes a broker unavailable for the isolation window only") {
  fault_tolerance faults;
  CHECK(faults.available(0, t0));  // unknown brokers are available
  CHECK(faults.reachable(0));
  faults.update(0, 3ms, {.isolating = true, .reachable = false}, t0);
  CHECK_FALSE(faults.available(0, t0));
  CHECK_FALSE(faults.available(0, t0 + 9999ms));
  CHECK(faults.available(0, t0 + 10000ms));
  CHECK_FALSE(faults.reachable(0));
  CHECK(faults.available(1, t0));  // other brokers unaffected
}

TEST_CASE("a fast answer never shortens an isolation; success marks the broker reachable") {
  fault_tolerance faults;
  faults.update(2, 3ms, {.isolating = true, .reachable = false}, t0);
  faults.update(2, 3ms, {.isolating = false, .reachable = true}, t0 + 1s);
  CHECK_FALSE(faults.available(2, t0 + 5s));
  CHECK(faults.reachable(2));
  CHECK(faults.available(2, t0 + 10s));
}

TEST_CASE("configurable millisecond tables") {
  fault_tables tables{{1ms, 5ms}, {0ms, 20ms}, 5ms};
  REQUIRE(tables.valid());
  fault_tolerance faults(tables);
  faults.update(0, 6ms, {.isolating = false, .reachable = true}, t0);
  CHECK_FALSE(faults.available(0, t0 + 19ms));
  CHECK(faults.available(0, t0 + 20ms));
  CHECK_FALSE((fault_tables{{5ms, 1ms}, {0ms, 0ms}, 1ms}.valid()));  // not sorted
  CHECK_FALSE((fault_tables{{1ms}, {0ms, 0ms}, 1ms}.valid()));       // sizes differ
}

TEST_CASE("update says when a broker is isolated and when it is back, once each") {
  using rmq::send::fault_change;
  fault_tolerance faults;
  const rmq::send::fault_report failed{.isolating = true, .reachable = false};
  const rmq::send::fault_report answered{};
  CHECK(faults.update(0, 3ms, answered, t0) == fault_change::none);  // healthy
  CHECK(faults.update(0, 3ms, failed, t0) == fault_change::isolated);
  CHECK(faults.available_from(0) == t0 + 10s);
  // Attempts that were in flight when it was isolated change nothing more.
  CHECK(faults.update(0, 3ms, failed, t0 + 1s) == fault_change::none);
  CHECK(faults.update(0, 3ms, answered, t0 + 2s) == fault_change::none);
  // A failure after the window keeps it isolated: no second line for a dead broker.
  CHECK(faults.update(0, 3ms, failed, t0 + 12s) == fault_change::none);
  CHECK(faults.update(0, 3ms, answered, t0 + 30s) == fault_change::back);
  CHECK(faults.update(0, 3ms, answered, t0 + 31s) == fault_change::none);
  // A slow answer isolates too (550 ms: 2 s in the 5.x table).
  CHECK(faults.update(0, 600ms, answered, t0 + 40s) == fault_change::isolated);
  CHECK(faults.update(1, 3ms, answered, t0 + 40s) == fault_change::none);  // others unaffected
}
