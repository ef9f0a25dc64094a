#include "progress.hpp"

#include <unistd.h>

namespace rmq::bench {

progress_printer::progress_printer(run_state& state, std::FILE* out)
    : state_(state), out_(out), tty_(isatty(fileno(out)) != 0), last_time_(state.start()) {}

void progress_printer::tick(clock::time_point now) {
  const double dt = std::chrono::duration<double>(now - last_time_).count();
  if (dt <= 0) return;
  const std::uint64_t acked = state_.acked();
  const std::uint64_t bytes = state_.bytes();
  interval_.reset();
  state_.for_each_recorder([this](recorder& r) { r.take_interval(interval_); });
  const double elapsed = std::chrono::duration<double>(now - state_.start()).count();
  const bool warming = now < state_.window_start();
  std::fprintf(out_,
               "%s[%6.1fs]%s %9.0f msg/s %8.2f MB/s  in flight %5llu  errors %llu  "
               "p50 %8.1f us  p99 %8.1f us%s",
               tty_ ? "\r" : "", elapsed, warming ? " warm-up" : "",
               static_cast<double>(acked - last_acked_) / dt,
               static_cast<double>(bytes - last_bytes_) / dt / 1e6,
               static_cast<unsigned long long>(state_.in_flight()),
               static_cast<unsigned long long>(state_.failed()),
               static_cast<double>(interval_.value_at_percentile(50)) / 1e3,
               static_cast<double>(interval_.value_at_percentile(99)) / 1e3, tty_ ? "   " : "\n");
  std::fflush(out_);
  printed_ = true;
  last_time_ = now;
  last_acked_ = acked;
  last_bytes_ = bytes;
}

void progress_printer::finish() {
  if (tty_ && printed_) std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace rmq::bench
