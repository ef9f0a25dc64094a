#include "common/vector_fifo.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <random>

TEST_CASE("vector_fifo keeps FIFO order through compaction, as a deque would") {
  // A queue that never runs empty (more pushed than popped for a while, then drained), checked
  // against std::deque at every step; the taken front is compacted many times on the way.
  rmq::vector_fifo<int> fifo;
  std::deque<int> model;
  std::mt19937 rng(5);
  int next = 0;
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
  }
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
