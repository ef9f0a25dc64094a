// Helpers shared by the io tests: a loop on its own thread, blocking calls onto it, and an
// exactly-once ledger.
#pragma once

#include "io/loop.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <future>
#include <memory>
#include <type_traits>
#include <vector>

namespace rmq::io::test {

using namespace std::chrono_literals;

/// Generous bound for waits on completions: only a hang (a bug) ever reaches it.
inline constexpr auto hang_limit = std::chrono::seconds(60);

struct running_loop {
  explicit running_loop(loop_options options = {}) : l(options) { l.start(); }
  ~running_loop() { l.stop(); }

  /// Runs `f` on the loop thread and returns its result to the caller.
  template <typename F>
  auto call(F f) {
    using result_t = std::invoke_result_t<F&>;
    auto p = std::make_shared<std::promise<result_t>>();
    auto fut = p->get_future();
    l.post([p, f]() mutable {
      if constexpr (std::is_void_v<result_t>) {
        f();
        p->set_value();
      } else {
        p->set_value(f());
      }
    });
    REQUIRE(fut.wait_for(hang_limit) == std::future_status::ready);
    return fut.get();
  }

  loop l;
};

/// Counts completions per operation id; every id must end with exactly one.
class ledger {
 public:
  explicit ledger(std::size_t n) : counts_(n) {}
  void hit(std::size_t id) { counts_.at(id).fetch_add(1, std::memory_order_relaxed); }
  [[nodiscard]] std::size_t total() const {
    std::size_t sum = 0;
    for (const auto& c : counts_) sum += c.load(std::memory_order_relaxed);
    return sum;
  }
  [[nodiscard]] bool exactly_once() const {
    for (const auto& c : counts_) {
      if (c.load(std::memory_order_relaxed) != 1) return false;
    }
    return true;
  }

 private:
  std::vector<std::atomic<unsigned>> counts_;
};

/// A one-shot event to wait on (no sleeps as synchronisation).
class event {
 public:
  void set() { p_.set_value(); }
  [[nodiscard]] bool wait() { return f_.wait_for(hang_limit) == std::future_status::ready; }

 private:
  std::promise<void> p_;
  std::future<void> f_ = p_.get_future();
};

}  // namespace rmq::io::test
