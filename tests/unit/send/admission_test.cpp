// The producer-wide admission gate: limits, FIFO across blocking and loop waiters, fail-fast,
// deadlines, close, where loop waiters resume, the timer-versus-release race, a stress of many
// threads and two loops, and idleness.
#include "send/admission.hpp"

#include "rmq/error.hpp"
#include "support/test_scale.hpp"
#include "unit/io/io_test_support.hpp"

#include <asio/error.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <future>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace {

using rmq::errc;
using rmq::io::clock;
using rmq::io::loop;
using rmq::io::test::event;
using rmq::io::test::hang_limit;
using rmq::io::test::running_loop;
using rmq::send::admission_gate;
using namespace std::chrono_literals;

constexpr auto no_deadline = clock::time_point::max();

std::error_code code(errc e) {
  return make_error_code(e);
}

/// Spins (yielding) until `f` holds; false only on a hang.
template <typename F>
bool eventually(F f) {
  const auto limit = clock::now() + hang_limit;
  while (!f()) {
    if (clock::now() > limit) return false;
    std::this_thread::yield();
  }
  return true;
}

/// A coroutine that starts at once and frees its frame when it ends.
struct detached_coro {
  struct promise_type {
    detached_coro get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

// Set around release()/close() calls made by the tests: a coroutine resumed inside their stack
// would see it set on its own thread.
thread_local bool inside_gate_call = false;

void marked_release(admission_gate& g, std::size_t bytes) {
  inside_gate_call = true;
  g.release(bytes);
  inside_gate_call = false;
}

void marked_close(admission_gate& g, std::error_code ec) {
  inside_gate_call = true;
  g.close(ec);
  inside_gate_call = false;
}

/// What one loop waiter saw. Written on the loop thread before `done` is set.
struct outcome {
  std::atomic<int> ends{0};
  std::error_code ec;
  std::thread::id thread;
  bool inside_gate_call = false;
  event done;
};

/// co_awaits the gate on `l` (call it on l's thread); releases at once when admitted if asked.
detached_coro wait_on_loop(admission_gate& g, loop& l, std::size_t bytes,
                           clock::time_point deadline, outcome& out, bool release = false) {
  const std::error_code ec = co_await g.acquire_async(l, bytes, deadline);
  out.ec = ec;
  out.thread = std::this_thread::get_id();
  out.inside_gate_call = inside_gate_call;
  if (!ec && release) g.release(bytes);
  out.ends.fetch_add(1, std::memory_order_relaxed);
  out.done.set();
}

/// Starts wait_on_loop on the loop thread and returns once it has either ended or suspended.
void start_waiter(running_loop& rl, admission_gate& g, std::size_t bytes,
                  clock::time_point deadline, outcome& out, bool release = false) {
  rl.call([&, bytes, deadline, release] { wait_on_loop(g, rl.l, bytes, deadline, out, release); });
}

/// Admits one send of `bytes` at once: the usual start of a test that then waits for room.
void admit(admission_gate& g, std::size_t bytes) {
  std::error_code ec;
  REQUIRE(g.try_acquire(bytes, ec));
  REQUIRE(!ec);
}

/// acquire_blocking on a thread of its own.
std::future<std::error_code> block_on(admission_gate& g, std::size_t bytes,
                                      clock::time_point deadline = no_deadline) {
  return std::async(std::launch::async,
                    [&g, bytes, deadline] { return g.acquire_blocking(bytes, deadline); });
}

bool ready(std::future<std::error_code>& f) {
  return f.wait_for(hang_limit) == std::future_status::ready;
}

// Admitted sends and bytes as the tests' own code sees them: counted after an admission and
// uncounted before its release, so never more than the gate holds.
struct in_flight_tracker {
  std::atomic<std::size_t> sends{0};
  std::atomic<std::size_t> bytes{0};
  std::atomic<std::size_t> max_sends{0};
  std::atomic<std::size_t> max_bytes{0};

  static void raise(std::atomic<std::size_t>& max, std::size_t value) {
    std::size_t seen = max.load(std::memory_order_relaxed);
    while (seen < value && !max.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
  }
  void enter(std::size_t b) {
    raise(max_sends, sends.fetch_add(1, std::memory_order_relaxed) + 1);
    raise(max_bytes, bytes.fetch_add(b, std::memory_order_relaxed) + b);
  }
  void leave(std::size_t b) {
    sends.fetch_sub(1, std::memory_order_relaxed);
    bytes.fetch_sub(b, std::memory_order_relaxed);
  }
};

/// co_await yield_to{l}: resumes on the next round of l's posted tasks.
struct yield_to {
  struct node final : rmq::io::task {
    node() noexcept : task(&run) {}
    static void run(rmq::io::task* t, action) noexcept { static_cast<node*>(t)->h.resume(); }
    std::coroutine_handle<> h;
  };
  loop& l;
  node n;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    n.h = h;
    l.post(n);
  }
  void await_resume() const noexcept {}
};

/// A task that records that it ran, where, and how.
struct idle_probe final : rmq::io::task {
  idle_probe() noexcept : task(&run) {}
  static void run(rmq::io::task* t, action a) noexcept {
    auto* self = static_cast<idle_probe*>(t);
    self->how = a;
    self->thread = std::this_thread::get_id();
    self->runs.fetch_add(1, std::memory_order_relaxed);
    self->done.set();
  }
  std::atomic<int> runs{0};
  action how = action::destroy;
  std::thread::id thread;
  event done;
};

// ---- limits ---------------------------------------------------------------------------------

TEST_CASE("admission_gate: the count limit") {
  admission_gate g(2, 1000, false);
  std::error_code ec = code(errc::timed_out);
  REQUIRE(g.try_acquire(10, ec));
  CHECK(!ec);
  REQUIRE(g.try_acquire(20, ec));
  CHECK(!ec);
  CHECK(g.sends() == 2);
  CHECK(g.bytes() == 30);
  CHECK_FALSE(g.try_acquire(1, ec));  // full by count, far from the byte limit
  g.release(10);
  CHECK(g.sends() == 1);
  CHECK(g.bytes() == 20);
  REQUIRE(g.try_acquire(1, ec));
  CHECK(!ec);
  g.release(1);
  g.release(20);
  CHECK(g.sends() == 0);
  CHECK(g.bytes() == 0);
  CHECK(g.waiting() == 0);
}

TEST_CASE("admission_gate: the byte limit") {
  admission_gate g(100, 100, false);
  admit(g, 60);
  std::error_code ec;
  CHECK_FALSE(g.try_acquire(41, ec));
  REQUIRE(g.try_acquire(40, ec));  // exactly at the limit
  CHECK(!ec);
  CHECK(g.bytes() == 100);
  CHECK_FALSE(g.try_acquire(1, ec));
  g.release(60);
  REQUIRE(g.try_acquire(50, ec));
  CHECK(!ec);
  g.release(40);
  g.release(50);
  CHECK(g.sends() == 0);
  CHECK(g.bytes() == 0);
}

TEST_CASE("admission_gate: release_many gives back several sends at once") {
  admission_gate g(4, 1000, false);
  admit(g, 10);
  admit(g, 20);
  admit(g, 30);
  admit(g, 40);
  std::error_code ec;
  CHECK_FALSE(g.try_acquire(1, ec));  // full by count
  g.release_many(3, admission_gate::charge_of(10) + admission_gate::charge_of(20) +
                        admission_gate::charge_of(30));
  CHECK(g.sends() == 1);
  CHECK(g.bytes() == 40);
  REQUIRE(g.try_acquire(1, ec));
  g.release_many(2, admission_gate::charge_of(40) + admission_gate::charge_of(1));
  CHECK(g.sends() == 0);
  CHECK(g.bytes() == 0);
}

TEST_CASE("admission_gate: a body above the byte limit goes alone") {
  admission_gate g(10, 100, false);
  std::error_code ec;
  REQUIRE(g.try_acquire(500, ec));  // nothing in flight: admitted
  CHECK(!ec);
  CHECK(g.bytes() == 500);
  CHECK_FALSE(g.try_acquire(1, ec));  // nothing goes with it
  g.release(500);

  // With something in flight it waits, and goes once everything is back.
  REQUIRE(g.try_acquire(10, ec));
  CHECK_FALSE(g.try_acquire(500, ec));
  auto big = block_on(g, 500);
  REQUIRE(eventually([&] { return g.waiting() == 1; }));
  g.release(10);
  REQUIRE(ready(big));
  CHECK(!big.get());
  CHECK(g.sends() == 1);
  CHECK(g.bytes() == 500);
  g.release(500);
  CHECK(g.sends() == 0);
}

TEST_CASE("admission_gate: limits above the packed state's are lowered to it") {
  admission_gate g(static_cast<std::size_t>(-1), static_cast<std::size_t>(-1), false);
  CHECK(g.max_sends() == admission_gate::max_sends_limit);
  CHECK(g.max_bytes() == admission_gate::max_bytes_limit);
  std::error_code ec;
  REQUIRE(g.try_acquire(static_cast<std::size_t>(-1), ec));  // counted as the largest it holds
  CHECK(g.bytes() == admission_gate::max_bytes_limit);
  CHECK(g.sends() == 1);
  CHECK_FALSE(g.closed());
  g.release(static_cast<std::size_t>(-1));
  CHECK(g.bytes() == 0);
  CHECK(g.sends() == 0);

  admission_gate zero(0, 0, false);  // raised to 1: admits one send at a time
  REQUIRE(zero.try_acquire(5, ec));
  CHECK(!ec);
  CHECK_FALSE(zero.try_acquire(0, ec));
  zero.release(5);
}

// ---- FIFO -----------------------------------------------------------------------------------

TEST_CASE("admission_gate: a newcomer never overtakes a waiter") {
  running_loop rl;
  admission_gate g(10, 100, false);
  admit(g, 60);
  std::error_code ec;
  outcome first;
  start_waiter(rl, g, 50, no_deadline, first);
  REQUIRE(g.waiting() == 1);
  CHECK(first.ends.load() == 0);

  // 10 bytes would fit, but the waiter came first.
  CHECK_FALSE(g.try_acquire(10, ec));
  CHECK(g.acquire_blocking(10, clock::now() - 1s) == code(errc::timed_out));
  outcome second;
  start_waiter(rl, g, 10, clock::now() - 1s, second);
  REQUIRE(second.done.wait());
  CHECK(second.ec == code(errc::timed_out));
  CHECK(g.sends() == 1);
  CHECK(g.waiting() == 1);

  g.release(60);
  REQUIRE(first.done.wait());
  CHECK(!first.ec);
  CHECK(g.bytes() == 50);
  REQUIRE(g.try_acquire(10, ec));  // nobody waits now
  CHECK(!ec);
  g.release(10);
  g.release(50);
  CHECK(g.sends() == 0);
}

TEST_CASE("admission_gate: blocking and loop waiters are served in one FIFO") {
  running_loop rl;
  admission_gate g(1, 1000, false);
  admit(g, 1);
  std::error_code ec;

  auto b1 = block_on(g, 1);
  REQUIRE(eventually([&] { return g.waiting() == 1; }));
  outcome l2;
  start_waiter(rl, g, 1, no_deadline, l2);
  REQUIRE(g.waiting() == 2);
  auto b3 = block_on(g, 1);
  REQUIRE(eventually([&] { return g.waiting() == 3; }));
  outcome l4;
  start_waiter(rl, g, 1, no_deadline, l4);
  REQUIRE(g.waiting() == 4);

  g.release(1);
  REQUIRE(ready(b1));
  CHECK(!b1.get());
  CHECK(g.waiting() == 3);
  CHECK(l2.ends.load() == 0);

  g.release(1);  // b1's
  REQUIRE(l2.done.wait());
  CHECK(!l2.ec);
  CHECK(g.waiting() == 2);
  CHECK(b3.wait_for(0s) != std::future_status::ready);

  g.release(1);  // l2's
  REQUIRE(ready(b3));
  CHECK(!b3.get());
  CHECK(l4.ends.load() == 0);

  g.release(1);  // b3's
  REQUIRE(l4.done.wait());
  CHECK(!l4.ec);
  g.release(1);  // l4's
  CHECK(g.sends() == 0);
  CHECK(g.waiting() == 0);
}

TEST_CASE("admission_gate: a waiter that leaves lets the ones behind it in") {
  admission_gate g(10, 100, false);
  admit(g, 60);
  std::error_code ec;
  auto stopping = std::make_unique<running_loop>();
  outcome big;
  start_waiter(*stopping, g, 50, no_deadline, big);  // does not fit until the 60 go back
  auto small = block_on(g, 10);                      // fits, but queued behind it
  REQUIRE(eventually([&] { return g.waiting() == 2; }));
  stopping->l.stop();  // the head leaves (shutting_down), without any release
  REQUIRE(big.done.wait());
  CHECK(big.ec == code(errc::shutting_down));
  REQUIRE(ready(small));
  CHECK(!small.get());
  CHECK(g.sends() == 2);
  CHECK(g.bytes() == 70);
  g.release(10);
  g.release(60);
  CHECK(g.sends() == 0);
}

// ---- fail-fast ------------------------------------------------------------------------------

TEST_CASE("admission_gate: fail_fast refuses at once instead of waiting") {
  running_loop rl;
  admission_gate g(2, 100, true);
  admit(g, 90);
  std::error_code ec;
  REQUIRE(g.try_acquire(20, ec));  // decided now: refused by bytes
  CHECK(ec == code(errc::backpressure_full));
  REQUIRE(g.try_acquire(10, ec));
  CHECK(!ec);
  REQUIRE(g.try_acquire(1, ec));  // refused by count
  CHECK(ec == code(errc::backpressure_full));
  CHECK(g.acquire_blocking(1, no_deadline) == code(errc::backpressure_full));
  outcome o;
  start_waiter(rl, g, 1, no_deadline, o);
  CHECK(o.ends.load() == 1);  // never suspended
  CHECK(o.ec == code(errc::backpressure_full));
  CHECK(g.waiting() == 0);
  g.release(10);
  g.release(90);
  CHECK(g.sends() == 0);

  g.close(code(errc::not_started));
  REQUIRE(g.try_acquire(1, ec));
  CHECK(ec == code(errc::not_started));
}

// ---- deadlines ------------------------------------------------------------------------------

TEST_CASE("admission_gate: deadline of a blocking waiter") {
  admission_gate g(1, 100, false);
  admit(g, 1);
  CHECK(g.acquire_blocking(1, clock::now() - 1s) == code(errc::timed_out));  // already passed
  CHECK(g.acquire_blocking(1, clock::now() + 10ms) == code(errc::timed_out));
  CHECK(g.waiting() == 0);
  CHECK(g.sends() == 1);
  g.release(1);
  CHECK(g.sends() == 0);  // nobody left behind to admit
  // A passed deadline does not matter when the gate has room.
  CHECK(!g.acquire_blocking(1, clock::now() - 1s));
  g.release(1);
}

TEST_CASE("admission_gate: deadline of a loop waiter") {
  running_loop rl;
  admission_gate g(1, 100, false);
  admit(g, 1);
  std::error_code ec;

  outcome passed;
  start_waiter(rl, g, 1, clock::now() - 1s, passed);
  CHECK(passed.ends.load() == 1);  // decided without waiting
  CHECK(passed.ec == code(errc::timed_out));

  outcome soon;
  start_waiter(rl, g, 1, clock::now() + 10ms, soon);
  REQUIRE(soon.done.wait());
  CHECK(soon.ec == code(errc::timed_out));
  CHECK(soon.ends.load() == 1);
  CHECK(g.waiting() == 0);
  CHECK(g.sends() == 1);
  g.release(1);
  CHECK(g.sends() == 0);
}

TEST_CASE("admission_gate: a loop that stops ends its waiters with shutting_down") {
  auto rl = std::make_unique<running_loop>();
  admission_gate g(1, 100, false);
  admit(g, 1);
  std::error_code ec;
  outcome o;
  start_waiter(*rl, g, 1, no_deadline, o);
  REQUIRE(g.waiting() == 1);
  rl->l.stop();
  REQUIRE(o.done.wait());
  CHECK(o.ec == code(errc::shutting_down));
  CHECK(g.waiting() == 0);
  rl.reset();
  g.release(1);
  CHECK(g.sends() == 0);
}

// ---- close ----------------------------------------------------------------------------------

TEST_CASE("admission_gate: close ends every waiter with its code, later acquires fail") {
  running_loop rl;
  admission_gate g(1, 100, false);
  admit(g, 1);
  std::error_code ec;
  auto blocked = block_on(g, 1);
  REQUIRE(eventually([&] { return g.waiting() == 1; }));
  outcome on_loop;
  start_waiter(rl, g, 1, no_deadline, on_loop);
  REQUIRE(g.waiting() == 2);

  const std::error_code closing = code(errc::connection_lost);
  g.close(closing);
  CHECK(g.closed());
  REQUIRE(ready(blocked));
  CHECK(blocked.get() == closing);
  REQUIRE(on_loop.done.wait());
  CHECK(on_loop.ec == closing);
  CHECK(g.waiting() == 0);
  CHECK(g.sends() == 1);  // admitted sends stay until released

  REQUIRE(g.try_acquire(1, ec));
  CHECK(ec == closing);
  CHECK(g.acquire_blocking(1, no_deadline) == closing);
  outcome late;
  start_waiter(rl, g, 1, no_deadline, late);
  CHECK(late.ends.load() == 1);
  CHECK(late.ec == closing);

  g.close(code(errc::not_started));  // the first code stays
  REQUIRE(g.try_acquire(1, ec));
  CHECK(ec == closing);
  g.release(1);
  CHECK(g.sends() == 0);
  CHECK(g.bytes() == 0);
  REQUIRE(g.try_acquire(0, ec));  // even with room
  CHECK(ec == closing);

  admission_gate plain(1, 1, false);
  plain.close({});
  REQUIRE(plain.try_acquire(1, ec));
  CHECK(ec == code(errc::shutting_down));
}

// ---- where loop waiters resume --------------------------------------------------------------

TEST_CASE("admission_gate: loop waiters resume on their loop, never inside release or close") {
  running_loop rl;
  const auto loop_thread = rl.call([] { return std::this_thread::get_id(); });
  admission_gate g(1, 100, false);
  std::error_code ec;

  SUBCASE("release on the waiter's loop thread") {
    REQUIRE(rl.call([&] { return g.try_acquire(1, ec); }));
    outcome o;
    start_waiter(rl, g, 1, no_deadline, o, true);
    const int ended_inside = rl.call([&] {
      marked_release(g, 1);
      return o.ends.load();  // deferred: not run yet
    });
    CHECK(ended_inside == 0);
    REQUIRE(o.done.wait());
    CHECK(!o.ec);
    CHECK(o.thread == loop_thread);
    CHECK_FALSE(o.inside_gate_call);
  }
  SUBCASE("release on another thread") {
    REQUIRE(g.try_acquire(1, ec));
    outcome o;
    start_waiter(rl, g, 1, no_deadline, o, true);
    marked_release(g, 1);
    REQUIRE(o.done.wait());
    CHECK(!o.ec);
    CHECK(o.thread == loop_thread);
    CHECK_FALSE(o.inside_gate_call);
  }
  SUBCASE("close on the waiter's loop thread") {
    REQUIRE(g.try_acquire(1, ec));
    outcome o;
    start_waiter(rl, g, 1, no_deadline, o);
    const int ended_inside = rl.call([&] {
      marked_close(g, code(errc::shutting_down));
      return o.ends.load();
    });
    CHECK(ended_inside == 0);
    REQUIRE(o.done.wait());
    CHECK(o.ec == code(errc::shutting_down));
    CHECK(o.thread == loop_thread);
    CHECK_FALSE(o.inside_gate_call);
    g.release(1);
  }
  SUBCASE("a waiter admitted by another loop's release") {
    running_loop other;
    REQUIRE(other.call([&] { return g.try_acquire(1, ec); }));
    outcome o;
    start_waiter(rl, g, 1, no_deadline, o, true);
    other.call([&] { marked_release(g, 1); });
    REQUIRE(o.done.wait());
    CHECK(!o.ec);
    CHECK(o.thread == loop_thread);
    CHECK_FALSE(o.inside_gate_call);
  }
  CHECK(eventually([&] { return g.sends() == 0; }));
  CHECK(g.waiting() == 0);
}

// ---- races ----------------------------------------------------------------------------------

TEST_CASE("admission_gate: a release on another thread racing the waiter's timer") {
  running_loop rl;
  admission_gate g(1, 100, false);
  const std::size_t rounds = rmq::test::scaled(3000, 100);
  std::size_t admitted = 0;
  std::size_t timed_out = 0;
  for (std::size_t i = 0; i < rounds; ++i) {
    std::error_code ec;
    REQUIRE(g.try_acquire(1, ec));
    outcome o;
    // Deadlines from "now" to a few dozen microseconds out, so that the release lands on
    // either side of the timer and often in the same turn.
    const auto deadline = clock::now() + std::chrono::microseconds(i % 40);
    rl.l.post([&, deadline] { wait_on_loop(g, rl.l, 1, deadline, o, true); });
    REQUIRE(eventually([&] { return g.waiting() == 1 || o.ends.load() != 0; }));
    g.release(1);
    REQUIRE(o.done.wait());
    REQUIRE(o.ends.load() == 1);
    if (!o.ec) {
      ++admitted;
    } else {
      REQUIRE(o.ec == code(errc::timed_out));
      ++timed_out;
    }
    // The admitted waiter gave its admission back on the loop; the timed-out one held none.
    REQUIRE(eventually([&] { return g.sends() == 0; }));
    REQUIRE(g.waiting() == 0);
  }
  rl.call([] {});  // any timer left armed by mistake would fire into a dead frame by now
  CHECK(admitted + timed_out == rounds);
  MESSAGE("admitted " << admitted << ", timed out " << timed_out);
  CHECK(g.sends() == 0);
  CHECK(g.bytes() == 0);
}

TEST_CASE("admission_gate: a waiter admitted just before its timer fires ends once, admitted") {
  // A timer armed first with the same deadline runs first in the same batch of timers and
  // releases: the waiter is admitted, then its own timer fires before its resumption has run.
  struct releasing_timer final : rmq::io::timer_node {
    explicit releasing_timer(admission_gate& g) noexcept : timer_node(&fire), gate(g) {}
    static void fire(rmq::io::timer_node* t, std::error_code) noexcept {
      marked_release(static_cast<releasing_timer*>(t)->gate, 1);
    }
    admission_gate& gate;
  };
  running_loop rl;
  admission_gate g(1, 100, false);
  releasing_timer releaser(g);
  const std::size_t rounds = rmq::test::scaled(200, 20);
  for (std::size_t i = 0; i < rounds; ++i) {
    outcome o;
    REQUIRE(rl.call([&] {
      std::error_code ec;
      if (!g.try_acquire(1, ec)) return false;
      const auto deadline = rl.l.now() + 1ms;
      rl.l.add_timer(releaser, deadline);
      wait_on_loop(g, rl.l, 1, deadline, o, true);
      return g.waiting() == 1;
    }));
    REQUIRE(o.done.wait());
    rl.call([] {});  // a second completion would have come by now
    CHECK(o.ends.load() == 1);
    CHECK(!o.ec);
    CHECK_FALSE(o.inside_gate_call);
    CHECK(g.sends() == 0);
    CHECK(g.waiting() == 0);
  }
}

// Loop waiters on one loop, each acquiring `rounds` times, holding the admission across a turn.
detached_coro loop_sender(admission_gate& g, loop& l, in_flight_tracker& t, std::size_t rounds,
                          unsigned seed, std::atomic<std::size_t>& timeouts,
                          std::atomic<std::size_t>& finished) {
  std::minstd_rand rng(seed);
  for (std::size_t i = 0; i < rounds; ++i) {
    const std::size_t bytes = 1 + rng() % 300;
    const auto deadline = rng() % 4 == 0 ? clock::now() + 50us : no_deadline;
    std::error_code ec;
    if (!g.try_acquire(bytes, ec)) ec = co_await g.acquire_async(l, bytes, deadline);
    if (ec) {
      timeouts.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    t.enter(bytes);
    co_await yield_to{l};
    t.leave(bytes);
    g.release(bytes);
  }
  finished.fetch_add(1, std::memory_order_release);
}

TEST_CASE("admission_gate: threads and two loops never exceed the limits, and drain to 0") {
  constexpr std::size_t max_sends = 8;
  constexpr std::size_t max_bytes = 1000;
  admission_gate g(max_sends, max_bytes, false);
  in_flight_tracker t;
  std::atomic<std::size_t> timeouts{0};
  std::atomic<std::size_t> finished{0};
  const std::size_t thread_rounds = rmq::test::scaled(20000, 200);
  const std::size_t coro_rounds = rmq::test::scaled(5000, 100);
  constexpr unsigned threads = 3;
  constexpr unsigned coros_per_loop = 4;

  running_loop a;
  running_loop b;
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      std::minstd_rand rng(w + 1);
      for (std::size_t i = 0; i < thread_rounds; ++i) {
        const std::size_t bytes = 1 + rng() % 300;
        std::error_code ec;
        switch (rng() % 3) {
          case 0:
            if (!g.try_acquire(bytes, ec)) ec = g.acquire_blocking(bytes, no_deadline);
            break;
          case 1:
            ec = g.acquire_blocking(bytes, no_deadline);
            break;
          default:
            ec = g.acquire_blocking(bytes, clock::now() + 50us);
            break;
        }
        if (ec) {
          timeouts.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        t.enter(bytes);
        if (i % 4 == 0) std::this_thread::yield();
        t.leave(bytes);
        g.release(bytes);
      }
    });
  }
  for (running_loop* rl : {&a, &b}) {
    rl->call([&, rl] {
      for (unsigned c = 0; c < coros_per_loop; ++c) {
        loop_sender(g, rl->l, t, coro_rounds, 100 + c + (rl == &a ? 0 : 50), timeouts, finished);
      }
    });
  }
  for (auto& w : workers) w.join();
  REQUIRE(
      eventually([&] { return finished.load(std::memory_order_acquire) == 2 * coros_per_loop; }));

  MESSAGE("timeouts " << timeouts.load() << ", most in flight " << t.max_sends.load() << " sends, "
                      << t.max_bytes.load() << " bytes");
  CHECK(t.max_sends.load() <= max_sends);
  CHECK(t.max_bytes.load() <= max_bytes);
  CHECK(t.sends.load() == 0);
  CHECK(g.sends() == 0);
  CHECK(g.bytes() == 0);
  CHECK(g.waiting() == 0);
  CHECK(g.wait_idle(clock::now()));
}

// ---- idleness -------------------------------------------------------------------------------

TEST_CASE("admission_gate: wait_idle") {
  admission_gate g(4, 100, false);
  CHECK(g.wait_idle(clock::now() - 1s));  // idle now: true whatever the deadline
  admit(g, 10);
  std::error_code ec;
  REQUIRE(g.try_acquire(20, ec));
  CHECK_FALSE(g.wait_idle(clock::now() - 1s));
  CHECK_FALSE(g.wait_idle(clock::now() + 10ms));

  auto idle = std::async(std::launch::async, [&] { return g.wait_idle(no_deadline); });
  auto idle_bounded =
      std::async(std::launch::async, [&] { return g.wait_idle(clock::now() + hang_limit); });
  g.release(10);
  g.release(20);
  REQUIRE(idle.wait_for(hang_limit) == std::future_status::ready);
  CHECK(idle.get());
  REQUIRE(idle_bounded.wait_for(hang_limit) == std::future_status::ready);
  CHECK(idle_bounded.get());

  g.close({});  // closing does not make in-flight sends go away, nor the gate busy
  CHECK(g.wait_idle(clock::now()));
}

TEST_CASE("admission_gate: notify_when_idle posts its task once sends reach 0") {
  running_loop rl;
  const auto loop_thread = rl.call([] { return std::this_thread::get_id(); });
  admission_gate g(4, 100, false);

  idle_probe now;  // idle at registration: posted at once
  g.notify_when_idle(rl.l, now);
  REQUIRE(now.done.wait());
  CHECK(now.runs.load() == 1);
  CHECK(now.how == rmq::io::task::action::run);
  CHECK(now.thread == loop_thread);

  std::error_code ec;
  REQUIRE(g.try_acquire(10, ec));
  REQUIRE(g.try_acquire(20, ec));
  idle_probe later;
  g.notify_when_idle(rl.l, later);
  g.release(10);
  rl.call([] {});  // had it been posted, it would have run before this
  CHECK(later.runs.load() == 0);
  rl.call([&] { g.release(20); });  // from the loop thread itself: still a post
  REQUIRE(later.done.wait());
  CHECK(later.runs.load() == 1);
  CHECK(later.thread == loop_thread);

  // One registration after another, released from a foreign thread.
  REQUIRE(g.try_acquire(5, ec));
  idle_probe again;
  g.notify_when_idle(rl.l, again);
  g.release(5);
  REQUIRE(again.done.wait());
  CHECK(again.runs.load() == 1);
  CHECK(g.waiting() == 0);
}

}  // namespace

TEST_CASE("admission_gate: a blocked caller is woken by cancel_blocking, once, in either order") {
  admission_gate g(1, 1 << 20, false);
  admit(g, 10);
  std::atomic<std::uint32_t> requested{0};
  admission_gate::blocking_cancel cancel{&requested};

  // Requested while it waits: woken with operation_aborted, the gate unchanged.
  auto blocked =
      std::async(std::launch::async, [&] { return g.acquire_blocking(10, no_deadline, &cancel); });
  REQUIRE(eventually([&] { return g.waiting() == 1; }));
  requested = 1;
  g.cancel_blocking(cancel);
  REQUIRE(ready(blocked));
  CHECK(blocked.get() == asio::error::operation_aborted);
  CHECK(g.waiting() == 0);
  CHECK(g.sends() == 1);
  g.cancel_blocking(cancel);  // nothing waits: harmless

  // Requested before it would wait: it does not.
  CHECK(g.acquire_blocking(10, no_deadline, &cancel) == asio::error::operation_aborted);
  CHECK(g.waiting() == 0);

  // Not requested, room made: admitted as usual.
  requested = 0;
  auto admitted =
      std::async(std::launch::async, [&] { return g.acquire_blocking(10, no_deadline, &cancel); });
  REQUIRE(eventually([&] { return g.waiting() == 1; }));
  g.release(10);
  REQUIRE(ready(admitted));
  CHECK_FALSE(admitted.get());
  CHECK(g.sends() == 1);
}
