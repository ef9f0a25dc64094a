#include "common/vector_fifo.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <random>

TEST_CASE("vector_fifo keeps FIFO order through wrap-around and growth, as a deque would") {
  // A queue that never runs empty (more pushed than popped for a while, then drained), checked
  // against std::deque at every step; the ring wraps and grows many times on the way.
  rmq::vector_fifo<int> fifo;
  std::deque<int> model;
  std::mt19937 rng(5);
  int next = 0;
  std::size_t max_size = 0;
  for (int step = 0; step < 100000; ++step) {
    const bool push = step < 80000 ? rng() % 5 < 3 : false;
    if (push || model.empty()) {
      fifo.push_back(next);
      model.push_back(next++);
    } else {
      REQUIRE_FALSE(fifo.empty());
      CHECK(fifo.front() == model.front());
      fifo.pop_front();
      model.pop_front();
    }
    if (step % 97 == 0) CHECK(fifo.size() == model.size());
    max_size = std::max(max_size, model.size());
  }
  // The ring never holds more than twice the most it had queued at once.
  CHECK(fifo.capacity() < 2 * max_size);
  CHECK(fifo.size() == model.size());
  while (!model.empty()) {
    CHECK(fifo.front() == model.front());
    fifo.pop_front();
    model.pop_front();
  }
  CHECK(fifo.empty());
  fifo.push_back(7);
  CHECK(fifo.front() == 7);
  fifo.clear();
  CHECK(fifo.empty());
}

TEST_CASE("vector_fifo allocates nothing once grown, however often it wraps") {
  rmq::vector_fifo<int> fifo;
  for (int i = 0; i < 100; ++i) fifo.push_back(i);
  const std::size_t grown = fifo.capacity();
  for (int i = 100; i < 100000; ++i) {
    CHECK(fifo.front() == i - 100);
    fifo.pop_front();
    fifo.push_back(i);
  }
  CHECK(fifo.size() == 100);
  CHECK(fifo.capacity() == grown);
}

TEST_CASE("vector_fifo::peek sees the items behind the front, across the wrap") {
  rmq::vector_fifo<int> fifo;
  for (int i = 0; i < 60; ++i) fifo.push_back(i);
  for (int i = 0; i < 50; ++i) fifo.pop_front();
  for (int i = 60; i < 100; ++i) fifo.push_back(i);  // wraps past the end of the 64-item ring
  REQUIRE(fifo.size() == 50);
  for (std::size_t k = 0; k < fifo.size(); ++k) {
    REQUIRE(fifo.peek(k) != nullptr);
    CHECK(*fifo.peek(k) == 50 + static_cast<int>(k));
  }
  CHECK(fifo.peek(50) == nullptr);
  CHECK(rmq::vector_fifo<int>().peek(0) == nullptr);
}
