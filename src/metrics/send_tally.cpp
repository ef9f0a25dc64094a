#include "metrics/send_tally.hpp"

#include "rmq/error.hpp"

#include <algorithm>
#include <utility>

namespace rmq::metrics {

void error_tally::add(std::error_code ec, std::uint64_t n) noexcept {
  const std::size_t used = used_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < used; ++i) {
    if (slots_[i].value == ec.value() && *slots_[i].category == ec.category()) {
      slots_[i].count.bump(n);
      return;
    }
  }
  if (used == slots) return;  // counted in `sends` − `succeeded` only
  slots_[used].category = &ec.category();
  slots_[used].value = ec.value();
  slots_[used].count.bump(n);
  used_.store(used + 1, std::memory_order_release);
}

void error_tally::read_into(std::vector<error_count>& out) const {
  const std::size_t used = used_.load(std::memory_order_acquire);
  const auto merge = [&](const slot& s) {
    const std::uint64_t n = s.count.get();
    if (n == 0) return;
    const std::error_code ec(s.value, *s.category);
    for (error_count& e : out) {
      if (e.error == ec) {
        e.count += n;
        return;
      }
    }
    out.push_back({ec, n});
  };
  for (std::size_t i = 0; i < used; ++i) merge(slots_[i]);
}

void send_tally::count_failure(std::uint64_t messages, std::error_code ec) noexcept {
  failures.add(ec, messages);
  if (ec == errc::timed_out) timeouts.bump(messages);
}

void send_figures_sum::add(const send_tally& t) {
  figures.sends += t.sends.get();
  figures.succeeded += t.succeeded.get();
  figures.retries += t.retries.get();
  figures.timeouts += t.timeouts.get();
  figures.bytes += t.bytes.get();
  t.failures.read_into(figures.failures);
  latency.add(t.latency);
}

send_figures send_figures_sum::finish() && {
  // Read a moment apart, `succeeded` may be ahead of `sends`: never report a negative count.
  figures.failed = figures.sends > figures.succeeded ? figures.sends - figures.succeeded : 0;
  std::stable_sort(figures.failures.begin(), figures.failures.end(),
                   [](const error_count& a, const error_count& b) { return a.count > b.count; });
  figures.latency = latency.summary();
  return std::move(figures);
}

}  // namespace rmq::metrics
