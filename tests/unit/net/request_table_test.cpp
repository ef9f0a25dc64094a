#include "net/request_table.hpp"

#include "support/test_clock.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

using net_clock = rmq::net::clock;
using rmq::net::request_state;
using rmq::net::request_table;

namespace {
using rmq::test::t0;
net_clock::time_point at(int ms) {
  return t0 + std::chrono::milliseconds(ms);
}
}  // namespace

TEST_CASE("request_table gives unique opaques and finds only live requests") {
  request_table table(4);
  std::set<std::int32_t> opaques;
  std::vector<std::uint32_t> slots;
  for (int i = 0; i < 100; ++i) {
    const std::uint32_t slot = table.acquire(at(i), {}, rmq::net::request_kind::two_way);
    CHECK(opaques.insert(table[slot].opaque).second);
    slots.push_back(slot);
  }
  CHECK(table.size() == 100);
  CHECK(table.capacity() >= 100);
  // Every live request is found by its opaque (indices move when the table grows).
  for (const std::int32_t opaque : opaques) {
    const std::uint32_t slot = table.find(opaque);
    REQUIRE(slot != request_table::npos);
    CHECK(table[slot].opaque == opaque);
    CHECK(table.find_written(opaque) == request_table::npos);  // still queued
    table[slot].state = request_state::written;
    CHECK(table.find_written(opaque) == slot);
  }
  for (const std::int32_t opaque : opaques) table.release(table.find(opaque));
  CHECK(table.empty());
  for (const std::int32_t opaque : opaques) CHECK(table.find(opaque) == request_table::npos);
}

TEST_CASE("request_table skips opaques whose slot is still taken and reuses freed slots") {
  request_table table(4);
  const std::uint32_t long_running = table.acquire(at(1000), {}, rmq::net::request_kind::two_way);
  const std::int32_t first = table[long_running].opaque;
  // Churn many short requests through the other slots: the table must not grow.
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t slot = table.acquire(at(i), {}, rmq::net::request_kind::two_way);
    CHECK(table[slot].opaque != first);
    table.release(slot);
  }
  CHECK(table.capacity() == 4);
  CHECK(table.find(first) == long_running);
}

TEST_CASE("request_table keeps deadlines in order through growth and random removals") {
  std::mt19937 rng(1234);
  request_table table(2);
  std::vector<std::int32_t> live;
  for (int i = 0; i < 2000; ++i) {
    const std::uint32_t slot =
        table.acquire(at(static_cast<int>(rng() % 100000)), {}, rmq::net::request_kind::two_way);
    live.push_back(table[slot].opaque);
    if (rng() % 3 == 0) {
      const std::size_t victim = rng() % live.size();
      table.release(table.find(live[victim]));
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(victim));
    }
  }
  REQUIRE(table.size() == live.size());
  net_clock::time_point previous = net_clock::time_point::min();
  while (!table.empty()) {
    const std::uint32_t slot = table.earliest();
    CHECK(table[slot].deadline == table.next_deadline());
    CHECK(table[slot].deadline >= previous);
    previous = table[slot].deadline;
    table.release(slot);
  }
  CHECK(table.next_deadline() == net_clock::time_point::max());
}

TEST_CASE("request_table: nearly ordered deadlines and releases, checked against every live one") {
  // The usual traffic (deadline = now + one timeout, responses nearly in order) goes through
  // the in-order run; an earlier deadline now and then (a retry's smaller budget) through the
  // heap. At every step the earliest must be the minimum over all live requests.
  std::mt19937 rng(99);
  request_table table(2);
  std::vector<std::int32_t> live;  // in acquire order
  int clock_ms = 0;
  const auto check_earliest = [&] {
    if (live.empty()) {
      CHECK(table.empty());
      CHECK(table.next_deadline() == net_clock::time_point::max());
      return;
    }
    net_clock::time_point minimum = net_clock::time_point::max();
    std::size_t missing = 0;
    for (const std::int32_t opaque : live) {
      const std::uint32_t slot = table.find(opaque);
      if (slot == request_table::npos) {
        ++missing;
        continue;
      }
      minimum = std::min(minimum, table[slot].deadline);
    }
    CHECK(missing == 0);
    CHECK(table.next_deadline() == minimum);
    CHECK(table[table.earliest()].deadline == minimum);
  };
  for (int step = 0; step < 20000; ++step) {
    const unsigned r = rng() % 100;
    if (r < 55 || live.empty()) {
      clock_ms += static_cast<int>(rng() % 3);
      const int deadline = r < 5 ? clock_ms + static_cast<int>(rng() % 500) : clock_ms + 1000;
      live.push_back(
          table[table.acquire(at(deadline), {}, rmq::net::request_kind::two_way)].opaque);
    } else {
      // Mostly the oldest, sometimes one further in (responses overtaking each other).
      const std::size_t victim = r < 90 ? 0 : rng() % live.size();
      table.release(table.find(live[victim]));
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(victim));
    }
    if (step % 7 == 0) check_earliest();
  }
  CHECK(table.size() == live.size());
  // Expiry order: draining by earliest() yields non-decreasing deadlines.
  net_clock::time_point previous = net_clock::time_point::min();
  while (!table.empty()) {
    const std::uint32_t slot = table.earliest();
    CHECK(table[slot].deadline >= previous);
    previous = table[slot].deadline;
    table.release(slot);
  }
  CHECK(table.next_deadline() == net_clock::time_point::max());
}
