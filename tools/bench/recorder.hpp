// What the senders of one thread (or one loop) measured. A lock per recorder that only the
// once-a-second progress reader contends for; the completion path takes it uncontended and
// allocates only the first time it meets an error kind. The split per broker comes from the
// producers' own metrics (report.hpp), not from here.
#pragma once

#include "histogram.hpp"
#include "pacing.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

namespace rmq::bench {

/// Totals of the measured window, merged over recorders.
struct totals {
  std::uint64_t acked = 0;
  std::uint64_t failed = 0;
  std::uint64_t acked_bytes = 0;
  histogram latency;  // ns
  std::map<std::string, std::uint64_t, std::less<>> errors_by_kind;
  std::map<int, std::uint64_t> errors_by_response_code;  ///< broker failures only

  void merge(const totals& other);
};

/// A lock taken by the sending thread once per send and by the progress line once a second:
/// uncontended, a test-and-set and a plain store, where a mutex would pay two atomic
/// read-modify-writes on every send (the load generator's cost, counted as the client's).
/// Waiting yields: both threads may share one CPU (rmq-bench pins itself to one), and the
/// holder must get it back to let go.
class spin_lock {
 public:
  void lock() noexcept {
    while (flag_.test_and_set(std::memory_order_acquire)) {
      while (flag_.test(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void unlock() noexcept { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_;
};

class recorder {
 public:
  /// Sends whose (intended) start is before `window_start` are warm-up: shown live only.
  explicit recorder(clock::time_point window_start) : window_start_(window_start) {}

  /// One send acknowledged (or written, for oneway).
  void on_success(clock::time_point start, clock::time_point end, std::size_t bytes);
  /// One send failed; a broker failure (rmq::broker_category) also counts by response code.
  void on_failure(clock::time_point start, clock::time_point end, std::error_code ec);

  /// Moves the latencies recorded since the last call into `out` (the progress line).
  void take_interval(histogram& out);
  /// Adds this recorder's measured totals to `out`.
  void merge_into(totals& out);

 private:
  spin_lock lock_;
  clock::time_point window_start_;
  totals totals_;
  histogram interval_;
};

}  // namespace rmq::bench
