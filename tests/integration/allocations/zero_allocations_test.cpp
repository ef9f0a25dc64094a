// Steady-state sends allocate nothing: after a warm-up, a long run of async sends co_awaited on
// the producer's own executor, 1024 in flight, with a reused message, makes exactly zero heap
// allocations in this process (rmq-sim runs as a child process, so none of its are counted).
// A count, not a timing: it belongs in a test.
#include "rmq/producer.hpp"
#include "support/allocation_counter.hpp"
#include "support/sim_process.hpp"
#include "support/test_scale.hpp"
#include "wire/namespace.hpp"

#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <vector>

TEST_CASE("the counting allocator counts") {
  const std::uint64_t made = rmq::test::allocations_during(
      [] {
        auto* p = new std::string(100, 'x');  // the string object and its buffer
        delete p;
      },
      rmq::test::count_threads::all);
  CHECK(made == 2);
}

namespace {

enum class send_form { plain, ordered_queue, ordered_selector };

// Runs `warmup` then `measured` sends of `msg` (1024 in flight, coroutines on the producer's
// own executor) by a producer in `name_space` (empty: none) and returns the heap allocations
// made during the measured ones.
std::uint64_t allocations_of_steady_sends(
    const rmq::message& msg, send_form form, std::uint64_t warmup, std::uint64_t measured,
    const std::string& name_space = {}, std::shared_ptr<rmq::send_hook> hook = nullptr,
    const rmq::access_credentials& credentials = {},
    std::optional<rmq::auto_batch_config> auto_batch = {},
    std::optional<rmq::trace_config> trace = {},
    rmq::test::count_threads who = rmq::test::count_threads::all) {
  // One broker: every send goes through one connection, so its buffers and slot table reach
  // their peak during the warm-up. (With several brokers, fault tolerance may shift the whole
  // load onto one of them later — under a sanitizer a 550 ms hiccup is enough — and that
  // connection's buffers would then grow once, inside the measured window.)
  std::vector<std::string> sim_args{
      "--port",  "0",   "--brokers", "1",
      "--store", "off", "--topics",  rmq::wire::wrap_namespace(name_space, msg.topic())};
  if (credentials.enabled()) {  // a broker that checks every signature
    sim_args.insert(sim_args.end(),
                    {"--acl-account", credentials.access_key + ":" + credentials.secret_key});
  }
  rmq::test::sim_process sim(RMQ_SIM_BINARY, sim_args);
  rmq::producer_config config;
  config.name_servers = sim.namesrv();
  config.group = "AllocGroup";
  config.name_space = name_space;
  config.credentials = credentials;
  config.auto_batch = auto_batch;
  config.trace = trace;
  config.send_timeout = std::chrono::seconds(60);  // a count, not a race against the clock
  // Background work (route refresh, heartbeats) allocates, but is not a send: keep it out of
  // the measured window.
  config.route_refresh_interval = std::chrono::hours(1);
  config.heartbeat_interval = std::chrono::hours(1);
  if (hook) config.send_hooks.push_back(std::move(hook));
  rmq::producer producer(config);
  REQUIRE_FALSE(producer.start());
  std::vector<rmq::message_queue> queues;
  REQUIRE_FALSE(producer.fetch_queues(msg.topic(), queues));
  REQUIRE_FALSE(queues.empty());

  constexpr int in_flight = 1024;
  // Loop thread only (every coroutine below runs there).
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  int finished = 0;
  std::promise<void> all_done;

  for (int c = 0; c < in_flight; ++c) {
    asio::co_spawn(
        producer.get_executor(),
        [&, c]() -> asio::awaitable<void> {
          for (;;) {
            if (completed >= warmup + measured) break;
            std::error_code ec;
            auto token = asio::redirect_error(asio::use_awaitable, ec);
            switch (form) {
              case send_form::plain:
                (void)co_await producer.async_send(msg, token);
                break;
              case send_form::ordered_queue:
                (void)co_await producer.async_send(msg, queues[c % queues.size()], token);
                break;
              case send_form::ordered_selector:
                (void)co_await producer.async_send(
                    msg,
                    [c](std::span<const rmq::message_queue> qs, const rmq::message&) {
                      return static_cast<std::size_t>(c) % qs.size();
                    },
                    token);
                break;
            }
            if (ec) ++failed;
            if (++completed == warmup) {
              rmq::test::start_counting_allocations(who);
            }
            if (completed == warmup + measured) (void)rmq::test::stop_counting_allocations();
          }
          if (++finished == in_flight) all_done.set_value();
        },
        [](std::exception_ptr) {});
  }
  all_done.get_future().wait();
  const std::uint64_t made = rmq::test::stop_counting_allocations();
  INFO("sends measured: " << measured << ", failed: " << failed);
  CHECK(failed == 0);
  CHECK(producer.stats().frame_pool_fallbacks < 2 * in_flight);  // only before the pool existed
  producer.shutdown();
  return made;
}

// Adds one property to every send and counts the completions: what a tracing hook does, with no
// allocation of its own.
class property_adding_hook : public rmq::send_hook {
 public:
  void before_send(rmq::send_context& context) override {
    if (context.add_property("trace_id", "4bf92f3577b34da6")) failures_.fetch_add(1);
  }
  void after_send(const rmq::send_context&, const rmq::send_outcome& outcome) override {
    if (outcome.error) failures_.fetch_add(1);
    completions_.fetch_add(1);
  }
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> completions_{0};
};

}  // namespace

// 300,000 measured sends turn the 1,024-send window over about 300 times: an allocation per
// send, per window or per pool growth would be counted hundreds of times. More sends find
// nothing more and cost the sanitizer builds a minute per backend.
TEST_CASE("steady-state async sends make zero heap allocations") {
  const rmq::message msg("TopicTest", std::string(128, 'x'));
  CHECK(allocations_of_steady_sends(msg, send_form::plain, rmq::test::scaled(50000, 50000),
                                    rmq::test::scaled(300000, 20000)) == 0);
}

TEST_CASE("ordered sends, to a queue or through a selector, make zero heap allocations") {
  // Names within the small-string buffer (15 characters) and a selector whose captures fit
  // std::function's small buffer.
  const rmq::message msg("TopicTest", std::string(128, 'x'));
  CHECK(allocations_of_steady_sends(msg, send_form::ordered_queue, rmq::test::scaled(50000, 20000),
                                    rmq::test::scaled(100000, 20000)) == 0);
  CHECK(allocations_of_steady_sends(msg, send_form::ordered_selector,
                                    rmq::test::scaled(50000, 20000),
                                    rmq::test::scaled(100000, 20000)) == 0);
}

TEST_CASE("a producer with a namespace makes zero heap allocations per send too") {
  // The topic is wrapped once, when its route is published: the sends build no name, and
  // INSTANCE_ID is written into the request's properties, not into the message.
  const rmq::message msg("TopicTest", std::string(128, 'x'));
  CHECK(allocations_of_steady_sends(msg, send_form::plain, rmq::test::scaled(100000, 50000),
                                    rmq::test::scaled(1000000, 20000), "ns1") == 0);
}

TEST_CASE("a producer with ACL credentials makes zero heap allocations per send too") {
  // Signing works in the loop's signer: its scratch keeps its capacity, and the MAC copies
  // precomputed SHA-1 states (OpenSSL's EVP interfaces would allocate; they are not used).
  const rmq::message msg("TopicTest", std::string(128, 'x'));
  const std::uint64_t warmup = rmq::test::scaled(50000, 20000);
  const std::uint64_t measured = rmq::test::scaled(100000, 20000);
  CHECK(allocations_of_steady_sends(msg, send_form::plain, warmup, measured, {}, nullptr,
                                    {"ak", "sk", "token"}) == 0);
}

TEST_CASE("a topic name beyond the small-string buffer costs one allocation per send, no more") {
  // The stated bound (send_result.hpp): the result's message_queue holds std::strings, so a
  // name longer than 15 characters is one heap block per result.
  const rmq::message msg(std::string(40, 't'), std::string(128, 'x'));
  const std::uint64_t measured = rmq::test::scaled(100000, 20000);
  CHECK(allocations_of_steady_sends(msg, send_form::plain, rmq::test::scaled(50000, 20000),
                                    measured) == measured);
}

TEST_CASE("a send hook that adds a property makes zero heap allocations per send too") {
  // The added property lives in the pooled op's buffers, which keep their capacity.
  const rmq::message msg("TopicTest", std::string(128, 'x'));
  auto hook = std::make_shared<property_adding_hook>();
  const std::uint64_t warmup = rmq::test::scaled(50000, 20000);
  const std::uint64_t measured = rmq::test::scaled(100000, 20000);
  CHECK(allocations_of_steady_sends(msg, send_form::plain, warmup, measured, {}, hook) == 0);
  CHECK(hook->failures_.load() == 0);
  CHECK(hook->completions_.load() >= warmup + measured);
}

TEST_CASE("automatic batching makes zero heap allocations per send too") {
  // Batches are pooled with their buffers, their coroutine frames come from the frame pool.
  const rmq::message msg("TopicTest", std::string(128, 'x'));
  const std::uint64_t warmup = rmq::test::scaled(50000, 20000);
  const std::uint64_t measured = rmq::test::scaled(100000, 20000);
  for (const auto linger : {std::chrono::microseconds(0), std::chrono::microseconds(300)}) {
    CAPTURE(linger.count());
    rmq::auto_batch_config batching;
    batching.linger = linger;
    CHECK(allocations_of_steady_sends(msg, send_form::plain, warmup, measured, {}, nullptr, {},
                                      batching) == 0);
  }
}

TEST_CASE("a traced send makes zero heap allocations on its loop thread") {
  // Its record is filled in place in the trace buffer, whose records keep their strings'
  // capacity; the trace producer's own thread and loop (which allocate per trace message, not
  // per send) are not counted: counting starts and stops on the traced producer's loop thread.
  const rmq::message msg("TopicTest", std::string(128, 'x'));
  const std::uint64_t warmup = rmq::test::scaled(50000, 20000);
  const std::uint64_t measured = rmq::test::scaled(100000, 20000);
  CHECK(allocations_of_steady_sends(msg, send_form::plain, warmup, measured, {}, nullptr, {}, {},
                                    rmq::trace_config{}, rmq::test::count_threads::this_one) == 0);
}
