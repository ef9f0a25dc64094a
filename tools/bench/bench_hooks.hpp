// Send hooks rmq-bench can register (--send-hook), to measure what hooks cost a send: one that
// only observes (what a metrics or tracing hook does at least: a counter and the latency), and
// one that also adds a property to every message (what a trace-context hook does).
#pragma once

#include "rmq/send_hook.hpp"

#include <atomic>
#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace rmq::bench {

enum class hook_kind { none, observe, property };

/// "none" | "observe" | "property"; false (and `out` unchanged) for anything else.
[[nodiscard]] inline bool parse_hook_kind(std::string_view text, hook_kind& out) noexcept {
  if (text == "none") {
    out = hook_kind::none;
  } else if (text == "observe") {
    out = hook_kind::observe;
  } else if (text == "property") {
    out = hook_kind::property;
  } else {
    return false;
  }
  return true;
}

/// Counts sends and sums their latency (relaxed atomics: hooks of several loops may run at
/// once); with `add_property`, adds "bench-trace"=<a running number> to every message.
class bench_hook final : public send_hook {
 public:
  explicit bench_hook(bool add_property) noexcept : add_property_(add_property) {}

  void before_send(send_context& context) override {
    if (!add_property_) return;
    const std::uint64_t n = started_.fetch_add(1, std::memory_order_relaxed);
    char text[24];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, n);
    (void)ec;
    (void)context.add_property("bench-trace", std::string_view(text, end - text));
  }
  void after_send(const send_context&, const send_outcome& outcome) override {
    completed_.fetch_add(1, std::memory_order_relaxed);
    latency_ns_.fetch_add(static_cast<std::uint64_t>(outcome.latency.count()),
                          std::memory_order_relaxed);
  }

  [[nodiscard]] std::uint64_t completed() const noexcept {
    return completed_.load(std::memory_order_relaxed);
  }

 private:
  const bool add_property_;
  std::atomic<std::uint64_t> started_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> latency_ns_{0};
};

}  // namespace rmq::bench
