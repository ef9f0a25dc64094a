// The send pipeline's own coroutine frame, measured by its first attempt: the lines the
// connection fetches ahead of a response reach from the frame's start over the whole awaiter.
#include "producer_fixture.hpp"
#include "send/frame_prefetch.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <set>

using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

TEST_CASE("a send measures where its attempt's awaiter sits; the prefetched lines cover it") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  REQUIRE(f.producer->send(rmq::message("TopicTest", "layout")).status ==
          rmq::send_status::send_ok);
  const auto placement = rmq::send::last_measured_placement();
  REQUIRE(placement.has_value());
  MESSAGE("attempt awaiter: " << placement->offset << " bytes into the frame, " << placement->size
                              << " bytes");
  // Inside the frame, after its resume and destroy pointers, and near enough for the plan to
  // reach the frame's start (max_lines_behind).
  CHECK(placement->offset >= static_cast<std::ptrdiff_t>(2 * sizeof(void*)));
  CHECK(placement->offset <= rmq::send::max_lines_behind * 64);
  CHECK(placement->size >= sizeof(void*));
  const rmq::net::waiter_prefetch plan = rmq::send::frame_lines(*placement, nullptr);
  for (std::int64_t alignment = 0; alignment < 64; alignment += 8) {
    CAPTURE(alignment);
    const std::int64_t context = 64 * 1000 + alignment;
    std::set<std::int64_t> fetched;
    for (int k = plan.first_line; k <= plan.last_line; ++k) {
      fetched.insert((context + k * 64) / 64);
    }
    CHECK(fetched.count((context - placement->offset) / 64) == 1);  // the frame's start
    for (std::int64_t byte = 0; byte < static_cast<std::int64_t>(placement->size); ++byte) {
      CHECK(fetched.count((context + byte) / 64) == 1);  // the awaiter
    }
  }
}
