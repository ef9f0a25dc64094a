// What the senders of one thread (or one loop) measured. A mutex per recorder that only the
// once-a-second progress reader contends for; the completion path takes it uncontended and
// allocates only the first time it meets a broker or an error kind.
#pragma once

#include "histogram.hpp"
#include "pacing.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>

namespace rmq::bench {

struct broker_totals {
  std::uint64_t acked = 0;
  histogram latency;  // ns
};

/// Totals of the measured window, merged over recorders.
struct totals {
  std::uint64_t acked = 0;
  std::uint64_t failed = 0;
  std::uint64_t acked_bytes = 0;
  histogram latency;  // ns
  std::map<std::string, broker_totals, std::less<>> per_broker;
  std::map<std::string, std::uint64_t, std::less<>> errors_by_kind;
  std::map<int, std::uint64_t> errors_by_response_code;  ///< broker failures only

  void merge(const totals& other);
};

class recorder {
 public:
  /// Sends whose (intended) start is before `window_start` are warm-up: shown live only.
  explicit recorder(clock::time_point window_start) : window_start_(window_start) {}

  /// One send acknowledged (or written, for oneway). `broker` may be empty.
  void on_success(clock::time_point start, clock::time_point end, std::string_view broker,
                  std::size_t bytes);
  /// One send failed; a broker failure (rmq::broker_category) also counts by response code.
  void on_failure(clock::time_point start, clock::time_point end, std::error_code ec);

  /// Moves the latencies recorded since the last call into `out` (the progress line).
  void take_interval(histogram& out);
  /// Adds this recorder's measured totals to `out`.
  void merge_into(totals& out);

 private:
  std::mutex mutex_;
  clock::time_point window_start_;
  totals totals_;
  histogram interval_;
};

}  // namespace rmq::bench
