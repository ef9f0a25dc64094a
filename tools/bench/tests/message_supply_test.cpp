#include "message_supply.hpp"

#include <doctest/doctest.h>

#include <algorithm>

namespace {

// A run's messages of topic BenchTopic with bodies of MIN to MAX bytes, and two senders.
struct run_messages {
  run_messages(std::size_t min, std::size_t max)
      : options([&] {
          rmq::tools::message_options o;
          o.topic = "BenchTopic";
          o.size = {min, max};
          return o;
        }()),
        bodies(options.size),
        supply(options, bodies),
        a(supply),
        b(supply) {}

  rmq::tools::message_options options;
  rmq::tools::body_source bodies;
  rmq::bench::message_supply supply;
  rmq::bench::message_supply::sender_message a;
  rmq::bench::message_supply::sender_message b;
  std::uint64_t rng = 7;
  std::size_t bytes = 0;
};

}  // namespace

TEST_CASE("one body size: every sender sends the same message, built once") {
  run_messages run(128, 128);
  CHECK(run.supply.shared());
  const rmq::message& first = run.a.next(run.rng, run.bytes);
  CHECK(run.bytes == 128);
  CHECK(first.body().size() == 128);
  CHECK(first.topic() == "BenchTopic");
  CHECK(&run.b.next(run.rng, run.bytes) == &first);
  CHECK(&run.a.next(run.rng, run.bytes) == &first);
}

TEST_CASE("a size range: each sender has its own message, sized anew for every send") {
  run_messages run(10, 1000);
  CHECK_FALSE(run.supply.shared());
  const rmq::message& mine = run.a.next(run.rng, run.bytes);
  CHECK(&run.b.next(run.rng, run.bytes) != &mine);
  std::size_t smallest = 1000;
  std::size_t largest = 0;
  for (int i = 0; i < 200; ++i) {
    const rmq::message& m = run.a.next(run.rng, run.bytes);
    CHECK(&m == &mine);
    CHECK(m.body().size() == run.bytes);
    CHECK(m.topic() == "BenchTopic");
    smallest = std::min(smallest, run.bytes);
    largest = std::max(largest, run.bytes);
  }
  CHECK(smallest >= 10);
  CHECK(largest <= 1000);
  CHECK(smallest < largest);
}
