// Steady-state sends allocate nothing: after a warm-up, a long run of async sends co_awaited on
// the producer's own executor, 1024 in flight, with a reused message, makes exactly zero heap
// allocations in this process (rmq-sim runs as a child process, so none of its are counted).
// A count, not a timing: it belongs in a test.
#include <doctest/doctest.h>

#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <cstdlib>
#include <future>
#include <new>

#include "rmq/producer.hpp"
#include "support/sim_process.hpp"
#include "support/test_scale.hpp"

namespace {

std::atomic<bool> counting{false};
std::atomic<std::uint64_t> allocations{0};

void* counted(std::size_t size, std::size_t align = 0) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* p = align > __STDCPP_DEFAULT_NEW_ALIGNMENT__
                ? std::aligned_alloc(align, (size + align - 1) / align * align)
                : std::malloc(size);
  return p;
}

}  // namespace

// Every replaceable allocation function: plain, array, aligned, nothrow.
void* operator new(std::size_t n) {
  if (void* p = counted(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = counted(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

TEST_CASE("the counting allocator counts") {
  counting = true;
  const auto before = allocations.load();
  auto* p = new std::string(100, 'x');  // the string object and its buffer
  delete p;
  counting = false;
  CHECK(allocations.load() == before + 2);
}

TEST_CASE("steady-state async sends make zero heap allocations") {
  // One broker: every send goes through one connection, so its buffers and slot table reach
  // their peak during the warm-up. (With several brokers, fault tolerance may shift the whole
  // load onto one of them later — under a sanitizer a 550 ms hiccup is enough — and that
  // connection's buffers would then grow once, inside the measured window.)
  rmq::test::sim_process sim(RMQ_SIM_BINARY,
                             {"--port", "0", "--brokers", "1", "--store", "off"});
  rmq::producer_config config;
  config.name_servers = sim.namesrv();
  config.group = "AllocGroup";
  config.send_timeout = std::chrono::seconds(60);  // a count, not a race against the clock
  // Background work (route refresh, heartbeats) allocates, but is not a send: keep it out of
  // the measured window.
  config.route_refresh_interval = std::chrono::hours(1);
  config.heartbeat_interval = std::chrono::hours(1);
  rmq::producer producer(config);
  REQUIRE_FALSE(producer.start());

  const std::uint64_t warmup = rmq::test::scaled(100000, 50000);
  const std::uint64_t measured = rmq::test::scaled(1000000, 20000);
  constexpr int in_flight = 1024;
  const rmq::message msg("TopicTest", std::string(128, 'x'));

  // Loop thread only (every coroutine below runs there).
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::uint64_t counted_from = 0;
  int finished = 0;
  std::promise<void> all_done;

  for (int c = 0; c < in_flight; ++c) {
    asio::co_spawn(
        producer.get_executor(),
        [&]() -> asio::awaitable<void> {
          for (;;) {
            if (completed >= warmup + measured) break;
            std::error_code ec;
            (void)co_await producer.async_send(msg, asio::redirect_error(asio::use_awaitable, ec));
            if (ec) ++failed;
            if (++completed == warmup) {
              counted_from = allocations.load();
              counting = true;
            }
            if (completed == warmup + measured) counting = false;
          }
          if (++finished == in_flight) all_done.set_value();
        },
        [](std::exception_ptr) {});
  }
  all_done.get_future().wait();
  counting = false;
  const std::uint64_t made = allocations.load() - counted_from;
  INFO("sends measured: " << measured << ", failed: " << failed);
  CHECK(failed == 0);
  CHECK(made == 0);
  CHECK(producer.stats().frame_pool_fallbacks < 2 * in_flight);  // only before the pool existed
  producer.shutdown();
}
