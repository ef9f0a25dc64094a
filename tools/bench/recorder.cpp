#include "recorder.hpp"

#include "rmq/error.hpp"

namespace rmq::bench {

namespace {

std::uint64_t nanos(clock::time_point start, clock::time_point end) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count();
  return ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
}

}  // namespace

void totals::merge(const totals& other) {
  acked += other.acked;
  failed += other.failed;
  acked_bytes += other.acked_bytes;
  latency.merge(other.latency);
  for (const auto& [kind, n] : other.errors_by_kind) errors_by_kind[kind] += n;
  for (const auto& [code, n] : other.errors_by_response_code) errors_by_response_code[code] += n;
}

void recorder::on_success(clock::time_point start, clock::time_point end, std::size_t bytes) {
  const std::uint64_t ns = nanos(start, end);
  std::lock_guard lock(lock_);
  interval_.record(ns);
  if (start < window_start_) return;
  ++totals_.acked;
  totals_.acked_bytes += bytes;
  totals_.latency.record(ns);
}

void recorder::on_failure(clock::time_point start, clock::time_point end, std::error_code ec) {
  (void)end;
  const int response_code = ec.category() == rmq::broker_category() ? ec.value() : 0;
  std::lock_guard lock(lock_);
  if (start < window_start_) return;
  ++totals_.failed;
  const std::string kind = ec.message();
  ++totals_.errors_by_kind[kind];
  if (response_code != 0) ++totals_.errors_by_response_code[response_code];
}

void recorder::take_interval(histogram& out) {
  std::lock_guard lock(lock_);
  out.merge(interval_);
  interval_.reset();
}

void recorder::merge_into(totals& out) {
  std::lock_guard lock(lock_);
  out.merge(totals_);
}

}  // namespace rmq::bench
