#include "message_supply.hpp"

#include <doctest/doctest.h>

#include <algorithm>

namespace {

rmq::tools::message_options options_with(std::size_t min, std::size_t max) {
  rmq::tools::message_options options;
  options.topic = "BenchTopic";
  options.size = {min, max};
  return options;
}

}  // namespace

TEST_CASE("one body size: every sender sends the same message, built once") {
  const auto options = options_with(128, 128);
  const rmq::tools::body_source bodies(options.size);
  const rmq::bench::message_supply supply(options, bodies);
  CHECK(supply.shared());
  rmq::bench::message_supply::sender_message a(supply);
  rmq::bench::message_supply::sender_message b(supply);
  std::uint64_t rng = 7;
  std::size_t bytes = 0;
  const rmq::message& first = a.next(rng, bytes);
  CHECK(bytes == 128);
  CHECK(first.body().size() == 128);
  CHECK(first.topic() == "BenchTopic");
  CHECK(&b.next(rng, bytes) == &first);
  CHECK(&a.next(rng, bytes) == &first);
}

TEST_CASE("a size range: each sender has its own message, sized anew for every send") {
  const auto options = options_with(10, 1000);
  const rmq::tools::body_source bodies(options.size);
  const rmq::bench::message_supply supply(options, bodies);
  CHECK_FALSE(supply.shared());
  rmq::bench::message_supply::sender_message a(supply);
  rmq::bench::message_supply::sender_message b(supply);
  std::uint64_t rng = 7;
  std::size_t bytes = 0;
  const rmq::message& mine = a.next(rng, bytes);
  CHECK(&b.next(rng, bytes) != &mine);
  std::size_t smallest = 1000;
  std::size_t largest = 0;
  for (int i = 0; i < 200; ++i) {
    const rmq::message& m = a.next(rng, bytes);
    CHECK(&m == &mine);
    CHECK(m.body().size() == bytes);
    CHECK(m.topic() == "BenchTopic");
    smallest = std::min(smallest, bytes);
    largest = std::max(largest, bytes);
  }
  CHECK(smallest >= 10);
  CHECK(largest <= 1000);
  CHECK(smallest < largest);
}
