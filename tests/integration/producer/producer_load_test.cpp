// Many concurrent sends from several threads: each completes exactly once, and what rmq-sim
// stored matches what was acknowledged.
#include "producer_fixture.hpp"
#include "support/test_scale.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

TEST_CASE("100k concurrent async sends from 4 threads: each completes once") {
  // Exactly-once is the point here, not speed: a generous budget keeps a slow (sanitized,
  // shared) machine from turning this into a timeout test.
  rmq::producer_config config;
  config.send_timeout = 120s;
  producer_fixture f(sim_with(2, sim::personality::v4_9), config);
  const std::size_t per_thread = rmq::test::scaled(25000, 500);
  const std::size_t n = 4 * per_thread;
  std::vector<rmq::message> messages;
  messages.reserve(n);
  for (std::size_t i = 0; i < n; ++i) messages.emplace_back("TopicTest", "m" + std::to_string(i));

  std::vector<std::atomic<int>> completions(n);
  std::vector<rmq::inline_string> ids(n);
  std::atomic<std::size_t> ok{0};
  std::atomic<std::size_t> done{0};
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t k = 0; k < per_thread; ++k) {
        const std::size_t i = t * per_thread + k;
        f.producer->async_send(messages[i], [&, i](std::error_code ec, rmq::send_result r) {
          completions[i].fetch_add(1);
          if (!ec) {
            ids[i] = r.msg_id;
            ok.fetch_add(1);
          }
          if (done.fetch_add(1) + 1 == n) {
            std::lock_guard lock(mutex);
            cv.notify_all();
          }
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  {
    std::unique_lock lock(mutex);
    REQUIRE(cv.wait_for(lock, 120s, [&] { return done.load() == n; }));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (completions[i].load() != 1) FAIL("send " << i << " completed " << completions[i].load());
  }
  CHECK(ok.load() == n);
  const auto stored = f.sim.messages();
  std::set<std::string> distinct;
  for (const auto& m : stored) distinct.insert(std::string(m.property("UNIQ_KEY").value_or("")));
  CHECK(distinct.size() == ok.load());
  std::set<std::string> acknowledged;
  for (std::size_t i = 0; i < n; ++i) acknowledged.insert(ids[i].str());
  CHECK(acknowledged == distinct);
}
