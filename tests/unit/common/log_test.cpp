// The logging helpers: the rate limiter (a pure function of the times it is given) and which
// logger a producer without one writes to.
#include "common/log.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <vector>

using namespace std::chrono_literals;
using rmq::log::rate_limiter;

namespace {

// The occurrences (1-based) a limiter lets through among `n` that come `gap` apart.
std::vector<std::uint64_t> logged_among(rate_limiter& limiter, int n,
                                        rate_limiter::clock::duration gap,
                                        rate_limiter::clock::time_point& now) {
  std::vector<std::uint64_t> logged;
  for (int i = 0; i < n; ++i) {
    now += gap;
    if (const auto v = limiter.occur(now); v.log) logged.push_back(v.count);
  }
  return logged;
}

}  // namespace

TEST_CASE("rate limiter: the 1st, 2nd, 4th, 8th... occurrence of a run is logged") {
  rate_limiter limiter(60s);
  rate_limiter::clock::time_point now{};
  CHECK(logged_among(limiter, 100, 1ms, now) == std::vector<std::uint64_t>{1, 2, 4, 8, 16, 32, 64});
  CHECK(limiter.count() == 100);
}

TEST_CASE("rate limiter: a logged line says how many were left out since the previous one") {
  rate_limiter limiter(60s);
  const rate_limiter::clock::time_point t{};
  std::vector<std::uint64_t> suppressed;
  for (int i = 1; i <= 16; ++i) {
    const auto v = limiter.occur(t + i * 1ms);
    if (v.log) suppressed.push_back(v.suppressed);
  }
  // 1, 2 follow each other; 3 is left out before 4; 5..7 before 8; 9..15 before 16.
  CHECK(suppressed == std::vector<std::uint64_t>{0, 0, 1, 3, 7});
}

TEST_CASE("rate limiter: a quiet period ends the run, and the next occurrence is a 1st again") {
  rate_limiter limiter(10s);
  rate_limiter::clock::time_point now{};
  CHECK(logged_among(limiter, 5, 1s, now) == std::vector<std::uint64_t>{1, 2, 4});
  // 9 s apart: still the same run (5 is not a power of two, 6 and 7 neither, 8 is).
  CHECK(logged_among(limiter, 3, 9s, now) == std::vector<std::uint64_t>{8});
  // 10 s of quiet: a new run.
  CHECK(logged_among(limiter, 3, 10s, now) == std::vector<std::uint64_t>{1, 1, 1});
  CHECK(logged_among(limiter, 3, 1s, now) == std::vector<std::uint64_t>{2, 4});
}

TEST_CASE("rate limiter: a run that never ends still logs once every ten quiet periods") {
  rate_limiter limiter(10s);
  rate_limiter::clock::time_point now{};
  // One occurrence every 5 s (the nth at 5n s) never lets the run end. Up to the 40th, the
  // powers of two are never 100 s apart.
  CHECK(logged_among(limiter, 40, 5s, now) == std::vector<std::uint64_t>{1, 2, 4, 8, 16, 32});
  // The 32nd was logged at 160 s: the 52nd (260 s) is logged, 100 s later, then the 64th (a
  // power of two, 320 s), then the 84th (420 s).
  const auto more = logged_among(limiter, 60, 5s, now);
  CHECK(more == std::vector<std::uint64_t>{52, 64, 84});
}

TEST_CASE("rate limiter: reset() starts a new run at once") {
  rate_limiter limiter(60s);
  rate_limiter::clock::time_point now{};
  CHECK(logged_among(limiter, 3, 1ms, now) == std::vector<std::uint64_t>{1, 2});
  limiter.reset();
  CHECK(logged_among(limiter, 3, 1ms, now) == std::vector<std::uint64_t>{1, 2});
}

TEST_CASE("log::resolve: a configured logger is used as it is") {
  auto mine =
      std::make_shared<spdlog::logger>("mine", std::make_shared<spdlog::sinks::null_sink_mt>());
  CHECK(rmq::log::resolve(mine) == mine);
  CHECK(spdlog::get("mine") == nullptr);  // not registered on the application's behalf
}

TEST_CASE("log::resolve: without one, the registry's \"rmq\" logger, created once") {
  spdlog::drop(rmq::log::default_logger_name);
  const auto created = rmq::log::resolve(nullptr);
  REQUIRE(created != nullptr);
  CHECK(created->name() == "rmq");
  CHECK(spdlog::get("rmq") == created);
  CHECK(rmq::log::resolve(nullptr) == created);  // the second producer gets the same
  // It writes where the application's default logger writes, at the registry's level.
  CHECK(created->sinks() == spdlog::default_logger()->sinks());
  CHECK(created->level() == spdlog::get_level());
  spdlog::drop(rmq::log::default_logger_name);
}

TEST_CASE("log::resolve: an \"rmq\" logger the application registered is the one used") {
  spdlog::drop(rmq::log::default_logger_name);
  auto app =
      std::make_shared<spdlog::logger>("rmq", std::make_shared<spdlog::sinks::null_sink_mt>());
  spdlog::register_logger(app);
  CHECK(rmq::log::resolve(nullptr) == app);
  spdlog::drop(rmq::log::default_logger_name);
}
