#include "send/frame_prefetch.hpp"

#include <algorithm>
#include <atomic>

namespace rmq::send {
namespace {

constexpr std::ptrdiff_t line_size = 64;

// Written once per loop (the same value from each), read by tests.
std::atomic<std::size_t> measured_size{0};
std::atomic<std::ptrdiff_t> measured_offset{-1};

}  // namespace

net::waiter_prefetch frame_lines(const awaiter_placement& placement,
                                 void (*state)(const void*) noexcept) noexcept {
  // Fetching context + k * 64 for every k in first..last touches every line between
  // context + first * 64 and context + last * 64 + 63. So first rounds the distance back to the
  // frame's start up to whole lines, and last reaches one line past the one that
  // context + size - 1 lies in, whatever the context's alignment.
  const std::ptrdiff_t behind = std::max<std::ptrdiff_t>(placement.offset, 0);
  const std::ptrdiff_t first =
      -std::min<std::ptrdiff_t>((behind + line_size - 1) / line_size, max_lines_behind);
  const std::ptrdiff_t size =
      std::max<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(placement.size), 1);
  const std::ptrdiff_t last = std::min<std::ptrdiff_t>((size - 1) / line_size + 1, 127);
  net::waiter_prefetch plan;
  plan.first_line = static_cast<std::int8_t>(first);
  plan.last_line = static_cast<std::int8_t>(last);
  plan.state = state;
  return plan;
}

void attempt_prefetch::measure(const void* awaiter, std::size_t awaiter_size,
                               const void* frame) noexcept {
  const awaiter_placement placement{
      static_cast<const char*>(awaiter) - static_cast<const char*>(frame), awaiter_size};
  plan_ = frame_lines(placement, plan_.state);
  measured_ = true;
  measured_size.store(placement.size, std::memory_order_relaxed);
  measured_offset.store(placement.offset, std::memory_order_release);
}

std::optional<awaiter_placement> last_measured_placement() noexcept {
  const std::ptrdiff_t offset = measured_offset.load(std::memory_order_acquire);
  if (offset == -1) return std::nullopt;
  return awaiter_placement{offset, measured_size.load(std::memory_order_relaxed)};
}

}  // namespace rmq::send
