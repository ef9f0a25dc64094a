// The producer's lifecycle and its bounds, against rmq-sim: shutdown and flush from any thread
// (the loop's included), calls after shutdown, sends racing shutdown, the destructor on a loop
// thread, producer-wide back-pressure, and a start where io_uring is refused.
#include "producer_fixture.hpp"
#include "support/test_scale.hpp"
#include "wire/codes.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::on_loop;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

rmq::message lifecycle_message() {
  return rmq::message("TopicTest", "lifecycle body");
}

}  // namespace

TEST_CASE("blocking calls on the loop thread fail at once; async_shutdown works there") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  CHECK(on_loop(*f.producer, [&] { return f.producer->shutdown(); }) ==
        rmq::errc::blocking_call_on_loop_thread);
  CHECK(on_loop(*f.producer, [&] { return f.producer->flush(1s); }) ==
        rmq::errc::blocking_call_on_loop_thread);
  CHECK(on_loop(*f.producer, [&] {
          std::vector<rmq::message_queue> queues;
          return f.producer->fetch_queues("TopicTest", queues);
        }) == rmq::errc::blocking_call_on_loop_thread);
  // The producer still works, then shuts down from its own loop without blocking it.
  CHECK(f.producer->send(lifecycle_message()).status == rmq::send_status::send_ok);
  std::promise<std::error_code> flushed, shut;
  std::atomic<int> completed{0};
  asio::post(f.producer->get_executor(), [&] {
    for (int i = 0; i < 100; ++i) {
      f.producer->async_send(lifecycle_message(),
                             [&](std::error_code, rmq::send_result) { ++completed; });
    }
    f.producer->async_flush(5s, [&](std::error_code ec) {
      flushed.set_value(ec);
      f.producer->async_shutdown(5s, [&](std::error_code e) { shut.set_value(e); });
    });
  });
  CHECK_FALSE(flushed.get_future().get());
  CHECK_FALSE(shut.get_future().get());
  CHECK(completed.load() == 100);
  CHECK(f.sim.message_count() == 101);
}

TEST_CASE("every call after shutdown fails clearly; work posted to the stopped loop is destroyed") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  REQUIRE(f.producer->send(lifecycle_message()).status == rmq::send_status::send_ok);
  CHECK_FALSE(f.producer->shutdown());
  CHECK_FALSE(f.producer->shutdown());  // a later one returns at once

  std::vector<rmq::message_queue> queues;
  CHECK(f.producer->fetch_queues("TopicTest", queues) == rmq::errc::shutting_down);
  CHECK(f.producer->flush(1s) == rmq::errc::shutting_down);
  CHECK(f.producer->start() == rmq::errc::shutting_down);
  std::error_code ec;
  (void)f.producer->send(lifecycle_message(), ec);
  CHECK(ec == rmq::errc::shutting_down);
  CHECK(f.producer->async_send(lifecycle_message(), asio::use_future).wait_for(10s) ==
        std::future_status::ready);
  std::promise<std::error_code> async_shut;
  f.producer->async_shutdown(1s, [&](std::error_code e) { async_shut.set_value(e); });
  CHECK_FALSE(async_shut.get_future().get());

  // Posted to the stopped loop: destroyed at once (its destructor runs), never run.
  struct witness {
    std::shared_ptr<std::atomic<int>> destroyed;
    std::shared_ptr<std::atomic<int>> ran;
    witness(std::shared_ptr<std::atomic<int>> d, std::shared_ptr<std::atomic<int>> r)
        : destroyed(std::move(d)), ran(std::move(r)) {}
    witness(witness&& o) noexcept = default;
    ~witness() {
      if (destroyed) ++*destroyed;
    }
    void operator()() { ++*ran; }
  };
  auto destroyed = std::make_shared<std::atomic<int>>(0);
  auto ran = std::make_shared<std::atomic<int>>(0);
  asio::post(f.producer->get_executor(), witness(destroyed, ran));
  CHECK(ran->load() == 0);
  CHECK(destroyed->load() >= 1);
}

TEST_CASE("a producer never started: sends fail with not_started, shutdown makes it final") {
  rmq::producer producer(rmq::producer_config{});
  std::error_code ec;
  (void)producer.send(lifecycle_message(), ec);
  CHECK(ec == rmq::errc::not_started);
  std::promise<std::error_code> done;
  producer.async_send(lifecycle_message(),
                      [&](std::error_code e, rmq::send_result) { done.set_value(e); });
  CHECK(done.get_future().get() == rmq::errc::not_started);
  CHECK_FALSE(producer.shutdown());
  CHECK(producer.start() == rmq::errc::shutting_down);
}

TEST_CASE("two concurrent shutdowns both return only once every send has completed") {
  rmq::producer_config config;
  config.send_timeout = 10s;
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  REQUIRE(f.producer->send(lifecycle_message()).status == rmq::send_status::send_ok);
  f.sim.set_broker_faults("broker-a", {.latency_min = 50ms, .latency_max = 150ms});
  constexpr int sends = 200;
  std::atomic<int> completed{0};
  for (int i = 0; i < sends; ++i) {
    f.producer->async_send(lifecycle_message(),
                           [&](std::error_code, rmq::send_result) { ++completed; });
  }
  std::atomic<int> seen_incomplete{0};
  auto shut = [&] {
    CHECK_FALSE(f.producer->shutdown(5s));
    if (completed.load() != sends) ++seen_incomplete;
  };
  std::thread a(shut), b(shut);
  a.join();
  b.join();
  CHECK(seen_incomplete.load() == 0);
  CHECK(completed.load() == sends);
}

TEST_CASE("sends racing shutdown from many threads each complete exactly once") {
  const int rounds = static_cast<int>(rmq::test::scaled(10, 3));
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    // A small in-flight limit: callers also block at a full gate when shutdown comes, and the
    // backlog shutdown drains stays small (the default 65,536 takes seconds under ASan).
    rmq::producer_config config;
    config.max_in_flight_sends = 1024;
    producer_fixture f(sim_with(2, sim::personality::v5), config);
    constexpr int threads = 4;
    std::atomic<std::uint64_t> started{0}, completed{0}, twice{0};
    // `refused`: a send completed with shutting_down, so the race is over; senders stop rather
    // than flood the closed producer with sends that can only be refused.
    std::atomic<bool> stop{false}, refused{false};
    std::vector<std::thread> senders;
    for (int t = 0; t < threads; ++t) {
      senders.emplace_back([&, t] {
        const rmq::message msg = lifecycle_message();
        while (!stop.load() && !refused.load()) {
          if (t % 2 == 0) {
            std::error_code ec;
            ++started;
            (void)f.producer->send(msg, ec);
            ++completed;
            if (ec == rmq::errc::shutting_down) break;
          } else {
            auto once = std::make_shared<std::atomic<int>>(0);
            ++started;
            f.producer->async_send(rmq::message(msg),
                                   [&, once](std::error_code ec, rmq::send_result) {
                                     if (once->fetch_add(1) != 0) ++twice;
                                     if (ec == rmq::errc::shutting_down) refused = true;
                                     ++completed;
                                   });
          }
        }
      });
    }
    // Let every sender get going, then shut down under them.
    while (completed.load() < 200) std::this_thread::yield();
    const std::uint64_t started_before = started.load();
    CHECK_FALSE(f.producer->shutdown(1s));
    const std::uint64_t after_shutdown = completed.load();
    // Every send started before shutdown() has completed when it returns.
    CHECK(after_shutdown >= started_before);
    stop = true;
    for (auto& s : senders) s.join();
    // Sends started after shutdown returned complete too (with shutting_down, on the system
    // executor); wait for their handlers.
    while (completed.load() != started.load()) std::this_thread::yield();
    CHECK(twice.load() == 0);
  }
}

TEST_CASE("the destructor on the producer's own loop thread neither blocks nor deadlocks") {
  sim::simulator server(sim_with(1, sim::personality::v5));
  server.start();
  rmq::producer_config config;
  config.name_servers = server.namesrv_address();
  config.group = "DestroyOnLoop";
  auto producer = std::make_unique<rmq::producer>(config);
  REQUIRE_FALSE(producer->start());
  REQUIRE(producer->send(lifecycle_message()).status == rmq::send_status::send_ok);
  server.set_broker_faults("broker-a", {.latency_min = 20ms, .latency_max = 20ms});
  std::atomic<int> completed{0};
  std::promise<void> destroyed;
  rmq::producer* raw = producer.get();
  asio::post(raw->get_executor(), [&] {
    for (int i = 0; i < 50; ++i) {
      raw->async_send(lifecycle_message(), [&](std::error_code, rmq::send_result) { ++completed; });
    }
    producer.reset();  // on the loop: returns at once
    destroyed.set_value();
  });
  destroyed.get_future().wait();
  while (completed.load() != 50) std::this_thread::yield();  // every send still completes
  server.stop();
}

TEST_CASE("flush waits for the sends started before it, and times out clearly") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  REQUIRE(f.producer->send(lifecycle_message()).status == rmq::send_status::send_ok);
  f.sim.set_broker_faults("broker-a", {.latency_min = 30ms, .latency_max = 60ms});
  std::atomic<int> completed{0};
  for (int i = 0; i < 300; ++i) {
    f.producer->async_send(lifecycle_message(),
                           [&](std::error_code, rmq::send_result) { ++completed; });
  }
  CHECK_FALSE(f.producer->flush(10s));
  CHECK(completed.load() == 300);
  CHECK_FALSE(f.producer->flush(1s));  // nothing in flight: at once

  f.sim.set_broker_faults("broker-a", {.silent = true});
  std::promise<std::error_code> silent;
  f.producer->async_send(lifecycle_message(),
                         [&](std::error_code ec, rmq::send_result) { silent.set_value(ec); });
  CHECK(f.producer->flush(100ms) == rmq::errc::timed_out);
  CHECK(silent.get_future().get() == rmq::errc::timed_out);  // at its own deadline
}

TEST_CASE("the in-flight limits hold for the whole producer, at the call, across loops") {
  rmq::producer_config config;
  config.loop_threads = 2;
  config.max_in_flight_sends = 4;
  config.send_timeout = 30s;
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  REQUIRE(f.producer->send(lifecycle_message()).status == rmq::send_status::send_ok);
  f.sim.set_broker_faults("broker-a", {.latency_min = 1ms, .latency_max = 3ms});
  constexpr int threads = 4;
  const int per_thread = static_cast<int>(rmq::test::scaled(100, 20));
  std::atomic<std::uint64_t> peak{0};
  std::atomic<int> completed{0}, failed{0};
  const auto sample_peak = [&] {
    const std::uint64_t now = f.producer->stats().in_flight;
    std::uint64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  };
  const rmq::message msg = lifecycle_message();  // outlives every send (the callers return first)
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        f.producer->async_send(msg, [&](std::error_code ec, rmq::send_result) {
          sample_peak();
          if (ec) ++failed;
          ++completed;
        });
        sample_peak();
      }
    });
  }
  for (auto& c : callers) c.join();
  while (completed.load() != threads * per_thread) std::this_thread::yield();
  CHECK(failed.load() == 0);
  CHECK(peak.load() == 4);  // reached (the gate is in the path), never exceeded
  CHECK(f.producer->stats().in_flight == 0);
}

TEST_CASE("a caller off the loop blocks while the producer is full, whatever its token") {
  rmq::producer_config config;
  config.max_in_flight_sends = 1;
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  REQUIRE(f.producer->send(lifecycle_message()).status == rmq::send_status::send_ok);
  f.sim.set_broker_faults("broker-a", {.latency_min = 100ms, .latency_max = 100ms});
  std::promise<void> first_done;
  const auto start = std::chrono::steady_clock::now();
  f.producer->async_send(lifecycle_message(),
                         [&](std::error_code, rmq::send_result) { first_done.set_value(); });
  // A future token: the call itself waits for room, which the first send gives back only once
  // its response (held 100 ms by the broker) has arrived.
  auto second = f.producer->async_send(lifecycle_message(), asio::use_future);
  CHECK(std::chrono::steady_clock::now() - start >= 100ms);
  CHECK(second.get().status == rmq::send_status::send_ok);
  first_done.get_future().wait();
}

// --- io_uring refused --------------------------------------------------------------------------

namespace {

#if defined(__x86_64__)
#define RMQ_TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define RMQ_TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

// io_uring_setup fails with EPERM from now on, for this process and its future threads, as
// under Docker's and containerd's default seccomp profiles. Everything else is allowed.
bool block_io_uring_setup() {
  sock_filter filter[] = {
#ifdef RMQ_TEST_AUDIT_ARCH
      // Another ABI's system call numbers mean other calls: let them through.
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RMQ_TEST_AUDIT_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
#endif
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// Runs in a fresh process (this test binary, started by the test below), where io_uring is
// blocked: forced io_uring fails clearly, automatic runs on epoll and sends succeed. Returns 0,
// or the number of the first check that failed.
int start_with_io_uring_blocked() {
  ::unsetenv("RMQ_IO_BACKEND");  // the choice under test is made here, not by the suite's run
  if (!block_io_uring_setup()) return 10;
  sim::simulator server(sim_with(1, sim::personality::v5));  // Asio on epoll: unaffected
  server.start();
  rmq::producer_config config;
  config.name_servers = server.namesrv_address();
  config.group = "SeccompGroup";
  {
    config.backend = rmq::io_backend::io_uring;
    rmq::producer forced(config);
    const std::error_code ec = forced.start();
    if (ec != rmq::errc::io_uring_unavailable) return 11;
    if (ec.message().find("seccomp") == std::string::npos) return 12;
    std::error_code send_ec;
    (void)forced.send(lifecycle_message(), send_ec);
    if (send_ec != rmq::errc::not_started) return 13;
  }
  config.backend = rmq::io_backend::automatic;
  config.loop_threads = 2;
  rmq::producer automatic(config);
  if (automatic.start()) return 14;
  if (automatic.backend() != rmq::io_backend::epoll) return 15;
  for (int i = 0; i < 100; ++i) {
    std::error_code ec;
    const rmq::send_result r = automatic.send(lifecycle_message(), ec);
    if (ec || r.status != rmq::send_status::send_ok) return 16;
  }
  if (automatic.stats().succeeded != 100) return 17;
  if (automatic.shutdown()) return 18;
  return server.counters().broker_requests(rmq::wire::request_code::send_message_v2) >= 100 ? 0
                                                                                            : 19;
}

}  // namespace

TEST_CASE("io_uring blocked by seccomp: automatic runs on epoll, forced io_uring fails clearly") {
  if (std::getenv("RMQ_TEST_SECCOMP_CHILD") != nullptr) {
    std::_Exit(start_with_io_uring_blocked());
  }
  // Built before fork: the child only execs (this process has threads).
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  char child_flag[] = "RMQ_TEST_SECCOMP_CHILD=1";
  env.push_back(child_flag);
  env.push_back(nullptr);
  char arg0[] = "rmq_test_producer";
  char arg1[] = "--test-case=io_uring blocked by seccomp*";
  char* argv[] = {arg0, arg1, nullptr};
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::execve("/proc/self/exe", argv, env.data());
    std::_Exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
