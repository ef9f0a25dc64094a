// The sends of one topic or one broker, as one loop counts them: counters, failures by error
// and a latency histogram. Written by the loop thread only, read by any (producer::metrics).
#pragma once

#include "metrics/counter.hpp"
#include "metrics/latency_histogram.hpp"
#include "rmq/metrics.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <system_error>
#include <vector>

namespace rmq::metrics {

/// Failures by error: the first 16 distinct errors get a slot each; later ones are not told
/// apart (the table never grows). A slot is filled before it is published (release), so a
/// reader never sees a half-written one.
class error_tally {
 public:
  static constexpr std::size_t slots = 16;
  /// The writer's thread only.
  void add(std::error_code ec, std::uint64_t n) noexcept;
  /// Any thread: appends each error counted, merging equal ones already in `out`.
  void read_into(std::vector<error_count>& out) const;

 private:
  struct slot {
    const std::error_category* category = nullptr;
    int value = 0;
    counter count;
  };
  std::array<slot, slots> slots_;
  std::atomic<std::size_t> used_{0};  // published slots
};

/// What one topic or broker counts (send_figures, rmq/metrics.hpp, says what each means).
struct send_tally {
  counter sends, succeeded, retries, timeouts, bytes;
  error_tally failures;
  latency_histogram latency;

  /// The writer's thread: `messages` of `body_bytes` in all, stored or failed with `ec`.
  void count(std::uint64_t messages, std::uint64_t body_bytes, std::error_code ec) noexcept {
    sends.bump(messages);
    bytes.bump(body_bytes);
    if (!ec) [[likely]] {
      succeeded.bump(messages);
      return;
    }
    count_failure(messages, ec);
  }

 private:
  void count_failure(std::uint64_t messages, std::error_code ec) noexcept;
};

/// What readers gather from the tallies of one topic or broker on every loop.
struct send_figures_sum {
  send_figures figures;
  histogram_counts latency;

  /// Adds what `t` holds now (any thread).
  void add(const send_tally& t);
  /// Fills figures.failed, sorts the failures and summarises the latency.
  [[nodiscard]] send_figures finish() &&;
};

}  // namespace rmq::metrics
