#include "common/coro.hpp"

#include "common/frame_pool.hpp"

#include <doctest/doctest.h>

#include <coroutine>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// A manually resumed event, standing in for an I/O completion.
struct event {
  std::coroutine_handle<> waiter;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
  void await_resume() const noexcept {}
  void fire() { std::exchange(waiter, {}).resume(); }
};

rmq::coro<int> leaf(event& e, int value) {
  co_await e;
  co_return value * 2;
}

rmq::coro<int> middle(event& e, int value) {
  const int a = co_await leaf(e, value);
  const int b = co_await leaf(e, value + 1);
  co_return a + b;
}

rmq::coro<void> root(event& e, std::vector<int>& out, int value) {
  out.push_back(co_await middle(e, value));
}

rmq::coro<int> deep(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await deep(depth - 1);
}

rmq::coro<void> thrower() {
  throw std::runtime_error("boom");
  co_return;
}

rmq::coro<void> catcher(std::string& what) {
  try {
    co_await thrower();
  } catch (const std::exception& e) {
    what = e.what();
  }
}

}  // namespace

TEST_CASE("nested coroutines pass values up and resume on completion") {
  rmq::frame_pool pool;
  rmq::frame_pool::scope scope(pool);
  event e;
  std::vector<int> out;
  rmq::spawn(root(e, out, 5));
  CHECK(out.empty());
  e.fire();  // first leaf
  CHECK(out.empty());
  e.fire();  // second leaf
  REQUIRE(out.size() == 1);
  CHECK(out[0] == 5 * 2 + 6 * 2);
  CHECK_FALSE(e.waiter);
}

TEST_CASE("a chain of nested coroutines returns through every level") {
  rmq::frame_pool pool;
  rmq::frame_pool::scope scope(pool);
  std::vector<int> out;
  rmq::spawn([](std::vector<int>& o) -> rmq::coro<void> { o.push_back(co_await deep(1000)); }(out));
  REQUIRE(out.size() == 1);
  CHECK(out[0] == 1000);
}

TEST_CASE("exceptions propagate to the awaiting coroutine") {
  std::string what;
  rmq::spawn(catcher(what));
  CHECK(what == "boom");
}

TEST_CASE("frames come from the installed pool, and are reused") {
  const auto fallbacks_before = rmq::frame_pool::fallback_allocations();
  rmq::frame_pool pool;
  {
    rmq::frame_pool::scope scope(pool);
    event e;
    std::vector<int> out;
    for (int i = 0; i < 1000; ++i) {
      rmq::spawn(root(e, out, i));
      e.fire();
      e.fire();
    }
    CHECK(out.size() == 1000);
  }
  CHECK(rmq::frame_pool::fallback_allocations() == fallbacks_before);
  CHECK(pool.chunks() == 1);  // freed frames were reused, the pool did not keep growing
  // Without a pool, frames fall back to the heap and are counted.
  std::vector<int> out;
  event e;
  rmq::spawn(root(e, out, 1));
  e.fire();
  e.fire();
  CHECK(rmq::frame_pool::fallback_allocations() > fallbacks_before);
}
