#include "pacing.hpp"

#include "run_state.hpp"

#include <doctest/doctest.h>

#include <thread>

using namespace rmq::bench;
using std::chrono::nanoseconds;

TEST_CASE("intended send times are start + i / rate, without drift") {
  const clock::time_point start{};
  const pacer at_1000(start, 1000.0);
  CHECK(at_1000.intended(0) == start);
  CHECK(at_1000.intended(1) == start + std::chrono::milliseconds(1));
  CHECK(at_1000.intended(1'000'000) == start + std::chrono::seconds(1000));

  // A rate whose period is not a whole number of nanoseconds: no accumulated rounding.
  const pacer at_3(start, 3.0);
  CHECK(at_3.intended(3) == start + std::chrono::seconds(1));
  CHECK(at_3.intended(1) == start + nanoseconds(333'333'333));
  CHECK(at_3.intended(2) == start + nanoseconds(666'666'667));
  CHECK(at_3.intended(3'000'000'000ULL) == start + std::chrono::seconds(1'000'000'000));

  const pacer slow(start, 0.5);
  CHECK(slow.intended(1) == start + std::chrono::seconds(2));
}

TEST_CASE("messages due by a time") {
  const clock::time_point start{};
  const pacer p(start + std::chrono::seconds(1), 100.0);
  CHECK(p.due_by(start) == 0);
  CHECK(p.due_by(start + std::chrono::seconds(1)) == 1);
  CHECK(p.due_by(start + std::chrono::milliseconds(1015)) == 2);
  CHECK(p.due_by(start + std::chrono::seconds(2)) == 101);
}

TEST_CASE("the run state hands out each index once and honours the count") {
  const clock::time_point now = clock::now();
  run_state state(now, now, 3);
  CHECK(state.claim_index() == 0u);
  CHECK(state.claim_index() == 1u);
  CHECK(state.claim());
  CHECK_FALSE(state.claim_index().has_value());
  CHECK_FALSE(state.claim());
  CHECK(state.started() == 3);
  state.count_success(10);
  CHECK(state.in_flight() == 2);

  run_state unlimited(now, now, 0);
  CHECK(unlimited.claim_index() == 0u);
  CHECK(unlimited.claim());
  unlimited.request_stop();
  CHECK_FALSE(unlimited.claim_index().has_value());
  CHECK_FALSE(unlimited.claim());
  CHECK(unlimited.started() == 2);
}

TEST_CASE("the run state sums the counts of every sending thread, each run its own") {
  const clock::time_point now = clock::now();
  for (int run = 0; run < 2; ++run) {  // the second run starts from zero on the same threads
    run_state state(now, now, 0);
    const auto sends = [&state](int n) {
      // CHECK, not REQUIRE: a REQUIRE that throws on another thread would end the test binary.
      for (int i = 0; i < n; ++i) {
        CHECK(state.claim());
        if (i % 2 == 0) {
          state.count_success(100);
        } else {
          state.count_failure();
        }
      }
      CHECK(state.claim());
      state.abandon();
    };
    std::thread other(sends, 5);
    sends(4);
    other.join();
    REQUIRE(state.claim());  // one still in flight
    CHECK(state.started() == 10);
    CHECK(state.acked() == 5);
    CHECK(state.failed() == 4);
    CHECK(state.bytes() == 500);
    CHECK(state.in_flight() == 1);
  }
}
