// What a chaos run is made of: the send forms and shapes, and the settings a seed decides
// (the producer's configuration, the phases, the pacing), with how late a send may complete.
#pragma once

#include "chaos_random.hpp"
#include "rmq/producer.hpp"
#include "rmq/producer_config.hpp"
#include "support/test_scale.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#if defined(__SANITIZE_THREAD__)
#define RMQ_CHAOS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RMQ_CHAOS_TSAN 1
#endif
#endif
#ifndef RMQ_CHAOS_TSAN
#define RMQ_CHAOS_TSAN 0
#endif

#if RMQ_CHAOS_TSAN || defined(__SANITIZE_ADDRESS__)
#define RMQ_CHAOS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RMQ_CHAOS_SANITIZED 1
#endif
#endif
#ifndef RMQ_CHAOS_SANITIZED
#define RMQ_CHAOS_SANITIZED 0
#endif

namespace rmq::test::chaos {

using std::chrono::milliseconds;

constexpr milliseconds slack{RMQ_CHAOS_SANITIZED ? 200 : 50};  // allowed lateness
constexpr int late_topic_count = 4;  // topics first used during the faults (route lookups)

/// How a send was made. `callback`, `coroutine` (on the producer's executor) and `future`
/// complete on the producer's loop: these must all have completed when shutdown() returns. A
/// `user_coroutine` completes by being handed to the user's io_context, and a `blocking` call
/// when the calling thread wakes: both may be observed after shutdown() returned.
enum class form : std::uint8_t { callback, coroutine, user_coroutine, future, blocking, count };
enum class shape : std::uint8_t { single, ordered_queue, ordered_selector, batch, oneway, count };

constexpr std::array<const char*, static_cast<std::size_t>(form::count)> form_names = {
    "callback", "coroutine", "user_coroutine", "future", "blocking"};
constexpr std::array<const char*, static_cast<std::size_t>(shape::count)> shape_names = {
    "single", "ordered_queue", "ordered_selector", "batch", "oneway"};

/// Everything a seed decides besides the fault schedule.
struct run_settings {
  std::uint64_t seed = 0;
  milliseconds fault_phase{6000};
  milliseconds warmup{1000};
  milliseconds recovery{1500};
  milliseconds shutdown_timeout{1000};
  // A fault set after the recovery, so that sends are in flight when shutdown() is called
  // (empty: none, the shutdown finds a healthy cluster).
  std::string shutdown_fault;
  std::string personality;  // "4.9" or "5"
  rmq::producer_config config;
  milliseconds future_timeout{1500};  // one timeout for every future: FIFO is deadline order
  std::array<milliseconds, late_topic_count> late_topic_at{};  // from the fault phase's start
  // Pacing of the issuers (sends started per second stay in the low thousands, so that the
  // loops are never the bottleneck and a late completion means a late deadline, not a busy CPU).
  std::chrono::microseconds issuer_tick{RMQ_CHAOS_TSAN ? 8000 : 2500};
  milliseconds blocking_pause{RMQ_CHAOS_TSAN ? 12 : 4};
  milliseconds future_pause{RMQ_CHAOS_TSAN ? 16 : 6};
  int async_window = 120;  // chains and coroutines in flight at most
  std::size_t future_window = 24;
  int blocking_threads = 2;
  // Coroutines on the user's io_context (one thread). Their async_send blocks that thread while
  // the producer is full (sends started off the loops wait at the gate, whatever the token), and
  // every completion handed to the context meanwhile waits with it: a delay the test cannot
  // tell from a late completion. So they run only where the gate never blocks: with room for
  // far more sends than the run has in flight, or with fail_fast_when_full.
  bool user_coroutines = true;
  // The most sends one loop can have in flight: every chain, coroutine, future and blocking
  // call at once, and a margin for the chains that go on into the shutdown.
  [[nodiscard]] int peak_in_flight() const {
    return async_window + static_cast<int>(future_window) + blocking_threads + 16;
  }
};

inline run_settings settings_from(std::uint64_t seed) {
  seeded_random rng(seed);
  run_settings s;
  s.seed = seed;
  const double scaled = 6000.0 * rmq::test::scale();
  s.fault_phase = milliseconds(static_cast<std::int64_t>(std::max(4000.0, scaled)));
  s.personality = rng.chance(0.5) ? "4.9" : "5";
  auto& c = s.config;
  c.group = "ChaosGroup";
  c.send_timeout = milliseconds(rng.between(800, 3000));
  if (rng.chance(0.4)) c.attempt_timeout = milliseconds(rng.between(200, 1500));
  c.retries_sync = static_cast<int>(rng.between(0, 3));
  c.retries_async = static_cast<int>(rng.between(0, 3));
  c.retry_another_broker_when_not_stored_ok = rng.chance(0.5);
  c.fault_tolerance = rng.chance(0.8);
  c.heartbeat_interval = milliseconds(rng.between(300, 2000));
  c.route_refresh_interval = milliseconds(rng.between(200, 1000));
  c.connect_timeout = milliseconds(rng.between(100, 1000));
  c.max_in_flight_sends = rng.chance(0.5) ? 65536 : rng.between(32, 256);
  c.fail_fast_when_full = rng.chance(0.3);
  c.loop_threads = rng.between(1, 2);
  s.user_coroutines = c.fail_fast_when_full || c.max_in_flight_sends >= 4096;
  c.serialization =
      rng.chance(0.5) ? rmq::header_serialization::json : rmq::header_serialization::binary;
  c.compress_type = std::array{rmq::compression::zlib, rmq::compression::zstd,
                               rmq::compression::lz4}[rng.below(3)];
  s.future_timeout = milliseconds(rng.between(600, 2500));
  s.shutdown_timeout = milliseconds(rng.between(200, 1500));
  s.shutdown_fault =
      std::array{"", "fault * latency=1000-4000", "fault * silent nth=2"}[rng.below(3)];
  for (auto& at : s.late_topic_at) {
    at = milliseconds(
        static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(s.fault_phase.count()))));
  }
  return s;
}

inline std::string describe(const run_settings& s) {
  const auto& c = s.config;
  std::ostringstream out;
  out << "fault phase " << s.fault_phase.count() << " ms, rmq-sim --broker-version "
      << s.personality << ", send_timeout " << c.send_timeout.count() << " ms, attempt_timeout "
      << (c.attempt_timeout ? std::to_string(c.attempt_timeout->count()) + " ms" : "shared")
      << ", retries sync/async " << c.retries_sync << "/" << c.retries_async
      << ", retry_another_broker_when_not_stored_ok " << c.retry_another_broker_when_not_stored_ok
      << ", fault_tolerance " << c.fault_tolerance << ", heartbeat " << c.heartbeat_interval.count()
      << " ms, route refresh " << c.route_refresh_interval.count() << " ms, connect_timeout "
      << c.connect_timeout.count() << " ms, max_in_flight_sends " << c.max_in_flight_sends
      << (c.fail_fast_when_full ? " (fail fast)" : "")
      << (s.user_coroutines ? "" : ", no user_coroutine") << ", loop_threads " << c.loop_threads
      << ", serialization "
      << (c.serialization == rmq::header_serialization::json ? "json" : "binary")
      << ", future timeout " << s.future_timeout.count() << " ms, shutdown("
      << s.shutdown_timeout.count() << " ms) under "
      << (s.shutdown_fault.empty() ? "no fault" : "'" + s.shutdown_fault + "'");
  return out.str();
}

}  // namespace rmq::test::chaos
