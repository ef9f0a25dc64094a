// The frame lines fetched ahead of a send attempt's response cover the frame's start and the
// whole awaiter, for any placement and any alignment of the awaiter.
#include "send/frame_prefetch.hpp"

#include <doctest/doctest.h>

#include <coroutine>
#include <cstdint>
#include <set>

using rmq::send::attempt_prefetch;
using rmq::send::awaiter_placement;
using rmq::send::frame_lines;

namespace {

// Whether fetching context + k * 64 for k in the plan's lines, with the context at `alignment`
// bytes into a cache line, touches every line from the frame's start to the awaiter's end.
bool covers(const awaiter_placement& p, const rmq::net::waiter_prefetch& plan,
            std::int64_t alignment) {
  const std::int64_t context = 64 * 1000 + alignment;
  std::set<std::int64_t> fetched;
  for (int k = plan.first_line; k <= plan.last_line; ++k) fetched.insert((context + k * 64) / 64);
  const std::int64_t from = (context - p.offset) / 64;
  const std::int64_t to = (context + static_cast<std::int64_t>(p.size) - 1) / 64;
  for (std::int64_t line = from; line <= to; ++line) {
    if (fetched.count(line) == 0) return false;
  }
  return true;
}

void no_state(const void*) noexcept {}

}  // namespace

TEST_CASE("the lines cover the frame's start and the awaiter, whatever the alignment") {
  for (std::ptrdiff_t offset = 16; offset <= rmq::send::max_lines_behind * 64; offset += 8) {
    for (std::size_t size : {8u, 64u, 96u, 120u, 200u}) {
      const awaiter_placement p{offset, size};
      const auto plan = frame_lines(p, &no_state);
      CHECK((plan.state == &no_state));
      for (std::int64_t alignment = 0; alignment < 64; alignment += 8) {
        CAPTURE(offset);
        CAPTURE(size);
        CAPTURE(alignment);
        CHECK(covers(p, plan, alignment));
      }
    }
  }
}

TEST_CASE("no more lines than needed: one line of slack on each side at most") {
  const auto plan = frame_lines({312, 96}, nullptr);
  CHECK(plan.first_line == -5);  // 312 bytes back: 4.9 lines
  CHECK(plan.last_line == 2);    // 96 bytes: the awaiter's line and the next two
  const auto tight = frame_lines({64, 64}, nullptr);
  CHECK(tight.first_line == -1);
  CHECK(tight.last_line == 1);
}

TEST_CASE("a frame start farther than the limit is not chased") {
  const auto plan = frame_lines({100000, 96}, nullptr);
  CHECK(plan.first_line == -rmq::send::max_lines_behind);
  CHECK(plan.last_line == 2);
}

namespace {

// A coroutine whose awaiter records where it sits in the frame, as a send attempt does.
struct probe_task {
  struct promise_type {
    probe_task get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept {}
  };
};

struct recording_awaiter {
  attempt_prefetch& prefetch;
  std::coroutine_handle<>& parked;
  char payload[40] = {};
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    prefetch.measure(this, sizeof(*this), h.address());
    parked = h;
  }
  void await_resume() const noexcept {}
};

probe_task probe(attempt_prefetch& prefetch, std::coroutine_handle<>& parked) {
  char before[200] = {};
  co_await recording_awaiter{prefetch, parked};
  (void)before;
}

}  // namespace

TEST_CASE("measured in a real frame: the awaiter lies behind the frame's start, and is covered") {
  attempt_prefetch prefetch(&no_state);
  CHECK_FALSE(prefetch.measured());
  CHECK(prefetch.plan()->first_line > prefetch.plan()->last_line);  // nothing before measuring
  std::coroutine_handle<> parked;
  probe(prefetch, parked);
  REQUIRE(prefetch.measured());
  const auto placement = rmq::send::last_measured_placement();
  REQUIRE(placement.has_value());
  CHECK(placement->size == sizeof(recording_awaiter));
  // The resume and destroy pointers come first: the awaiter is after them.
  CHECK(placement->offset >= static_cast<std::ptrdiff_t>(2 * sizeof(void*)));
  for (std::int64_t alignment = 0; alignment < 64; alignment += 8) {
    CHECK(covers(*placement, *prefetch.plan(), alignment));
  }
  parked.resume();  // runs to its end; the frame frees itself
}
