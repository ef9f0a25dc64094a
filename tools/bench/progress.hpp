// The live progress line, once a second: msgs/s, MB/s, in flight, errors and the p50/p99 of the
// last interval. On a terminal one line rewritten with '\r'; otherwise one line per interval.
#pragma once

#include "histogram.hpp"
#include "run_state.hpp"

#include <cstdint>
#include <cstdio>

namespace rmq::bench {

class progress_printer {
 public:
  progress_printer(run_state& state, std::FILE* out);

  /// Prints one interval's line (call about once a second).
  void tick(clock::time_point now);
  /// Ends the progress output (a newline after a '\r' line).
  void finish();

 private:
  run_state& state_;
  std::FILE* out_;
  bool tty_;
  clock::time_point last_time_;
  std::uint64_t last_acked_ = 0;
  std::uint64_t last_bytes_ = 0;
  histogram interval_;
  bool printed_ = false;
};

}  // namespace rmq::bench
