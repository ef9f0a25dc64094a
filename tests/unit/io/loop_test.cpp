// The io loop without sockets: executor properties, coroutines, callbacks and futures, the
// cross-thread queue, timers, cancellation and shutdown.
#include "io/loop.hpp"

#include "io/async.hpp"
#include "support/test_scale.hpp"
#include "unit/io/io_test_support.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

namespace {

using namespace rmq::io;
using namespace rmq::io::test;
using ex_t = loop::executor_type;
namespace execution = asio::execution;

// A deadline that never comes: what completes a wait on it is an event (a cancellation, stop).
constexpr clock::time_point never_due = clock::time_point::max();

// ---- executor concept -------------------------------------------------------------------

static_assert(execution::is_executor<ex_t>::value);
static_assert(std::is_nothrow_copy_constructible_v<ex_t>);
static_assert(std::is_convertible_v<ex_t, asio::any_io_executor>);
static_assert(asio::can_query<ex_t, execution::context_t>::value);
static_assert(asio::can_require<ex_t, execution::blocking_t::never_t>::value);
static_assert(asio::can_prefer<ex_t, execution::blocking_t::possibly_t>::value);
static_assert(asio::can_prefer<ex_t, execution::outstanding_work_t::tracked_t>::value);
static_assert(asio::can_prefer<ex_t, execution::outstanding_work_t::untracked_t>::value);
static_assert(asio::can_prefer<ex_t, execution::relationship_t::fork_t>::value);
static_assert(asio::can_prefer<ex_t, execution::relationship_t::continuation_t>::value);

TEST_CASE("executor: properties through any_io_executor") {
  loop l;
  asio::any_io_executor ex = l.get_executor();
  CHECK(&asio::query(ex, execution::context) == static_cast<asio::execution_context*>(&l));
  auto never = asio::require(l.get_executor(), execution::blocking.never);
  CHECK(asio::query(never, execution::blocking) == execution::blocking.never);
  CHECK(asio::query(l.get_executor(), execution::blocking) == execution::blocking.possibly);
  auto cont = asio::prefer(l.get_executor(), execution::relationship.continuation);
  CHECK(asio::query(cont, execution::relationship) == execution::relationship.continuation);
  CHECK(l.get_executor() == l.get_executor());
  CHECK(never != l.get_executor());
  loop other;
  CHECK(other.get_executor() != l.get_executor());
  CHECK_FALSE(l.running_in_this_thread());
}

TEST_CASE("executor: possibly-blocking execute runs inline on the loop, never queues") {
  running_loop rl;
  std::atomic<bool> ran_never{false};
  const auto [ran_inline, queued] = rl.call([&] {
    bool ran = false;
    rl.l.get_executor().execute([&ran] { ran = true; });
    asio::require(rl.l.get_executor(), execution::blocking.never).execute([&ran_never] {
      ran_never = true;
    });
    return std::pair{ran, !ran_never.load()};
  });
  CHECK(ran_inline);
  CHECK(queued);
  rl.call([] {});  // FIFO: the queued function has run by now
  CHECK(ran_never.load());
}

// ---- coroutines, callbacks, futures -------------------------------------------------------

asio::awaitable<int> sleepy(loop& l, int value) {
  co_await async_sleep_for(l, 1ms, asio::use_awaitable);  // allowed: the timer under test
  CHECK(l.running_in_this_thread());
  co_return value;
}

TEST_CASE("co_spawn + use_awaitable on the loop") {
  running_loop rl;
  auto fut = asio::co_spawn(rl.l.get_executor(), sleepy(rl.l, 42), asio::use_future);
  REQUIRE(fut.wait_for(hang_limit) == std::future_status::ready);
  CHECK(fut.get() == 42);

  // Through any_io_executor, many coroutines at once.
  asio::any_io_executor ex = rl.l.get_executor();
  std::vector<std::future<int>> futures;
  for (int i = 0; i < 100; ++i) {
    futures.push_back(asio::co_spawn(ex, sleepy(rl.l, i), asio::use_future));
  }
  for (int i = 0; i < 100; ++i) {
    REQUIRE(futures[i].wait_for(hang_limit) == std::future_status::ready);
    CHECK(futures[i].get() == i);
  }
}

TEST_CASE("run() on the calling thread") {
  loop l;
  int value = 0;
  asio::co_spawn(l.get_executor(), sleepy(l, 7), [&](std::exception_ptr e, int v) {
    CHECK(!e);
    value = v;
    l.stop();
  });
  l.run();
  CHECK(value == 7);
  // And a second run on the same thread works (a fresh ring).
  bool again = false;
  async_sleep_for(l, 0ms, [&](std::error_code ec) {  // allowed: the timer under test
    CHECK(!ec);
    again = true;
    l.stop();
  });
  l.run();
  CHECK(again);
}

TEST_CASE("a ring without DEFER_TASKRUN (the fallback) works the same") {
  loop_options options;
  options.single_issuer = false;
  running_loop rl(options);
  CHECK_FALSE(rl.call([&] { return rl.l.defer_taskrun(); }));
  auto fut = asio::co_spawn(rl.l.get_executor(), sleepy(rl.l, 5), asio::use_future);
  REQUIRE(fut.wait_for(hang_limit) == std::future_status::ready);
  CHECK(fut.get() == 5);
  for (int i = 0; i < 100; ++i) rl.call([] {});
}

TEST_CASE("callbacks: completion resumes inline on the loop thread") {
  running_loop rl;
  event done;
  std::thread::id cb_thread;
  std::thread::id loop_thread = rl.call([] { return std::this_thread::get_id(); });
  async_sleep_for(rl.l, 1ms, [&](std::error_code ec) {  // allowed: the timer under test
    CHECK(!ec);
    cb_thread = std::this_thread::get_id();
    done.set();
  });
  REQUIRE(done.wait());
  CHECK(cb_thread == loop_thread);
}

TEST_CASE("use_future from another thread") {
  running_loop rl;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        // A handler posted to the loop from this thread, its completion a future.
        auto f = asio::post(rl.l.get_executor(), asio::use_future);
        if (f.wait_for(hang_limit) == std::future_status::ready) {
          f.get();
          ok.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok.load() == 40);
}

// ---- cross-thread queue -------------------------------------------------------------------

struct counted_task final : task {
  counted_task() : task(&run) {}
  static void run(task* t, action a) noexcept {
    auto* self = static_cast<counted_task*>(t);
    if (a != action::run) return;
    self->book->hit(self->id);
    if (self->remaining->fetch_sub(1) == 1) self->all_done->set();
  }
  std::size_t id = 0;
  ledger* book = nullptr;
  std::atomic<std::size_t>* remaining = nullptr;
  event* all_done = nullptr;
};

TEST_CASE("post from 8 threads: every item runs exactly once") {
  running_loop rl;
  constexpr std::size_t threads = 8;
  const std::size_t per_thread = rmq::test::scaled(50'000, 500);
  const std::size_t total = threads * per_thread;
  ledger book(total + threads * 16);
  std::atomic<std::size_t> remaining{total + threads * 16};
  event all_done;
  std::vector<counted_task> nodes(total);
  for (std::size_t i = 0; i < total; ++i) {
    nodes[i].id = i;
    nodes[i].book = &book;
    nodes[i].remaining = &remaining;
    nodes[i].all_done = &all_done;
  }
  std::vector<std::thread> posters;
  for (std::size_t t = 0; t < threads; ++t) {
    posters.emplace_back([&, t] {
      for (std::size_t i = 0; i < per_thread; ++i) {
        rl.l.post(nodes[t * per_thread + i]);
        // A few allocating posts mixed in.
        if (i % (per_thread / 16) == 0 && i / (per_thread / 16) < 16) {
          const std::size_t id = total + t * 16 + i / (per_thread / 16);
          rl.l.post([&book, &remaining, &all_done, id] {
            book.hit(id);
            if (remaining.fetch_sub(1) == 1) all_done.set();
          });
        }
      }
    });
  }
  for (auto& p : posters) p.join();
  REQUIRE(all_done.wait());
  CHECK(book.exactly_once());
  CHECK(book.total() == total + threads * 16);
  const auto c = rl.l.counters();
  MESSAGE("turns=" << c.turns << " enters=" << c.enters << " wakeups=" << c.wakeups
                   << " tasks=" << c.tasks);
  CHECK(c.wakeups <= c.turns);
}

TEST_CASE("sleep/wake race: no lost wake-up over many round trips") {
  loop_options options;
  // With a short busy poll the loop falls asleep between some rounds and not others.
  SUBCASE("sleeps at once") {}
  SUBCASE("polls 20 us first") {
    options.busy_poll = 20us;
  }
  running_loop rl(options);
  const std::size_t rounds = rmq::test::scaled(20'000, 1'000);
  std::atomic<std::size_t> served{0};
  for (std::size_t i = 0; i < rounds; ++i) {
    // Each round finds the loop going to sleep or asleep; a lost wake-up hangs here.
    std::promise<void> p;
    auto f = p.get_future();
    rl.l.post([&p, &served] {
      served.fetch_add(1, std::memory_order_relaxed);
      p.set_value();
    });
    REQUIRE(f.wait_for(hang_limit) == std::future_status::ready);
  }
  CHECK(served.load() == rounds);
  rl.l.stop();  // counters are exact once the loop thread has finished
  const auto c = rl.l.counters();
  MESSAGE("rounds=" << rounds << " wakeups=" << c.wakeups << " turns=" << c.turns
                    << " enters=" << c.enters);
  CHECK(c.wakeups <= rounds + 1);  // a wake-up per round at most, and the stop task's
  CHECK(c.enters == c.turns + c.sq_flushes);
}

TEST_CASE("busy poll: after work the loop keeps polling, so posts need no wake-up") {
  loop_options options;
  options.busy_poll = std::chrono::hours(1);  // longer than the test: it never falls asleep
  running_loop rl(options);
  rl.call([] {});  // work: from here on the loop polls (this first post may have woken it)
  const auto after_work = rl.l.counters();
  // Turns go on with nothing to run: it polls the ring rather than sleeping in the kernel.
  const auto limit = std::chrono::steady_clock::now() + hang_limit;
  while (rl.l.counters().turns < after_work.turns + 1000) {
    INFO("turns " << after_work.turns << " -> " << rl.l.counters().turns);
    REQUIRE(std::chrono::steady_clock::now() < limit);
    std::this_thread::yield();
  }
  for (int i = 0; i < 100; ++i) rl.call([] {});
  CHECK(rl.l.counters().wakeups == after_work.wakeups);
  // Timers still fire: the loop looks at them every turn instead of waiting in the kernel.
  event fired;
  std::error_code fired_ec = make_error_code(std::errc::interrupted);
  rl.call([&] {
    async_sleep_for(rl.l, 2ms, [&](std::error_code ec) {  // allowed: the timer under test
      fired_ec = ec;
      fired.set();
    });
  });
  REQUIRE(fired.wait());
  CHECK(!fired_ec);
  CHECK(rl.l.counters().wakeups == after_work.wakeups);
}

// ---- timers -----------------------------------------------------------------------------

struct order_timer final : timer_node {
  order_timer() : timer_node(&fire) {}
  static void fire(timer_node* t, std::error_code ec) noexcept {
    auto* self = static_cast<order_timer*>(t);
    self->fired->push_back(self->id);
    self->errors->push_back(ec);
  }
  int id = 0;
  std::vector<int>* fired = nullptr;
  std::vector<std::error_code>* errors = nullptr;
};

TEST_CASE("timers fire in deadline order; cancelled ones never fire") {
  running_loop rl;
  constexpr int n = 200;
  std::vector<order_timer> timers(n);
  std::vector<int> fired;
  std::vector<std::error_code> errors;
  std::vector<clock::time_point> deadlines(n);
  event done;
  order_timer last;
  rl.call([&] {
    std::mt19937 rng(7);
    const auto base = clock::now() + 5ms;
    for (int i = 0; i < n; ++i) {
      timers[i].id = i;
      timers[i].fired = &fired;
      timers[i].errors = &errors;
      deadlines[i] = base + std::chrono::microseconds(rng() % 20'000 / 100 * 100);
      rl.l.add_timer(timers[i], deadlines[i]);
    }
    for (int i = 0; i < n; i += 3) CHECK(rl.l.cancel_timer(timers[i]));
    CHECK_FALSE(rl.l.cancel_timer(timers[0]));
  });
  // Wait for the last deadline through an async wait (fires after every timer above).
  auto latest = *std::max_element(deadlines.begin(), deadlines.end());
  async_sleep_until(rl.l, latest, [&](std::error_code) { done.set(); });
  REQUIRE(done.wait());
  rl.call([] {});
  std::vector<int> expected;
  for (int i = 0; i < n; ++i) {
    if (i % 3 != 0) expected.push_back(i);
  }
  // Deadline order, ties in arming order.
  std::stable_sort(expected.begin(), expected.end(),
                   [&](int a, int b) { return deadlines[a] < deadlines[b]; });
  CHECK(fired == expected);
  for (auto ec : errors) CHECK(!ec);
}

TEST_CASE("the loop's clock: never ahead of the real one, never behind a fired timer") {
  running_loop rl;
  struct probe final : timer_node {
    explicit probe(loop& l) : timer_node(&fire), owner(l) {}
    static void fire(timer_node* t, std::error_code ec) noexcept {
      auto* self = static_cast<probe*>(t);
      self->ok = !ec && self->owner.now() >= self->deadline() && self->owner.now() <= clock::now();
      self->done.set();
    }
    loop& owner;
    bool ok = false;
    event done;
  };
  std::vector<clock::time_point> seen;
  const auto before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  probe p(rl.l);
  rl.call([&] {
    seen.push_back(rl.l.now());
    CHECK(rl.l.now() <= clock::now());
    rl.l.add_timer(p, clock::now() + 2ms);
  });
  REQUIRE(p.done.wait());
  CHECK(p.ok);
  std::int64_t wall = 0;
  rl.call([&] {
    seen.push_back(rl.l.now());
    wall = rl.l.wall_ms();
  });
  CHECK(seen[1] > seen[0]);  // read again after the turns in between
  CHECK(seen[1] - seen[0] >= 2ms);
  const auto after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  CHECK(wall >= before_ms);
  CHECK(wall <= after_ms);
}

TEST_CASE("async_sleep: cancellation slot completes with operation_aborted") {
  running_loop rl;
  asio::cancellation_signal signal;
  std::promise<std::error_code> result;
  rl.call([&] {
    // A wait whose deadline never comes: only the cancellation can complete it.
    async_sleep_until(rl.l, never_due,
                      asio::bind_cancellation_slot(
                          signal.slot(), [&](std::error_code ec) { result.set_value(ec); }));
  });
  rl.call([&] { signal.emit(asio::cancellation_type::terminal); });
  auto f = result.get_future();
  REQUIRE(f.wait_for(hang_limit) == std::future_status::ready);
  CHECK(f.get() == asio::error::operation_aborted);
}

asio::awaitable<std::error_code> wait_forever(loop& l) {
  try {
    co_await async_sleep_until(l, never_due, asio::use_awaitable);  // ends by cancellation or stop
  } catch (const std::system_error& e) {
    co_return e.code();
  }
  co_return std::error_code{};
}

TEST_CASE("cancellation of a waiting coroutine") {
  running_loop rl;
  asio::cancellation_signal signal;
  auto fut = asio::co_spawn(rl.l.get_executor(), wait_forever(rl.l),
                            asio::bind_cancellation_slot(signal.slot(), asio::use_future));
  // Cancel from the loop thread (cancellation signals belong to the coroutine's executor);
  // a second round trip first makes sure the coroutine is suspended in the wait.
  rl.call([] {});
  rl.call([&] { signal.emit(asio::cancellation_type::terminal); });
  REQUIRE(fut.wait_for(hang_limit) == std::future_status::ready);
  CHECK(fut.get() == asio::error::operation_aborted);
}

TEST_CASE("stop completes every pending wait exactly once") {
  const std::size_t n = rmq::test::scaled(1'000, 50);
  ledger book(n);
  std::vector<std::error_code> errors(n);
  std::atomic<std::size_t> aborted{0};
  {
    running_loop rl;
    for (std::size_t i = 0; i < n; ++i) {
      // Half of them due at once, half never: stop() completes those.
      async_sleep_until(rl.l, i % 2 == 0 ? never_due : clock::now(), [&, i](std::error_code ec) {
        book.hit(i);
        if (ec == asio::error::operation_aborted) aborted.fetch_add(1);
      });
    }
    // Also waits from coroutines.
    for (int i = 0; i < 10; ++i) {
      asio::co_spawn(rl.l.get_executor(), wait_forever(rl.l), asio::detached);
    }
    rl.call([] {});
    rl.l.stop();
  }
  CHECK(book.exactly_once());
  CHECK(aborted.load() >= n / 2);
}

TEST_CASE("posted but never run tasks are destroyed with the loop") {
  auto token = std::make_shared<int>(1);
  {
    loop l;
    l.post([token] {});
    CHECK(token.use_count() == 2);
  }
  CHECK(token.use_count() == 1);
}

}  // namespace
