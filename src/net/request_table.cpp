#include "net/request_table.hpp"

#include <bit>
#include <utility>

namespace rmq::net {

request_table::request_table(std::size_t initial_capacity) {
  const std::size_t capacity =
      std::bit_ceil(initial_capacity < 2 ? std::size_t{2} : initial_capacity);
  slots_.resize(capacity);
  heap_.reserve(capacity);
  mask_ = static_cast<std::uint32_t>(capacity - 1);
}

std::uint32_t request_table::acquire(clock::time_point deadline, response_waiter waiter,
                                     request_kind kind) {
  if (live_ == slots_.size()) grow();
  // At least one slot is free, so this scans at most capacity opaques; in steady state the
  // next opaque's slot is almost always free (requests complete roughly in order).
  std::uint32_t index = next_opaque_ & mask_;
  while (slots_[index].state != request_state::free) {
    ++next_opaque_;
    index = next_opaque_ & mask_;
  }
  request_slot& slot = slots_[index];
  slot.opaque = static_cast<std::int32_t>(next_opaque_++);
  slot.state = request_state::queued;
  slot.oneway = kind == request_kind::oneway;
  slot.deadline = deadline;
  slot.waiter = waiter;
  slot.in_heap = deadline < run_back_deadline_;
  if (slot.in_heap) {
    heap_.push(index);
  } else {
    run_.push_back(slot.opaque);
    run_back_deadline_ = deadline;
  }
  ++live_;
  return index;
}

void request_table::trim_run() noexcept {
  while (!run_.empty() && find(run_.front()) == npos) run_.pop_front();
  if (run_.empty()) run_back_deadline_ = clock::time_point::min();
}

std::uint32_t request_table::find(std::int32_t opaque) const noexcept {
  const std::uint32_t index = static_cast<std::uint32_t>(opaque) & mask_;
  const request_slot& slot = slots_[index];
  return slot.state != request_state::free && slot.opaque == opaque ? index : npos;
}

std::uint32_t request_table::find_written(std::int32_t opaque) const noexcept {
  const std::uint32_t index = find(opaque);
  // A response can overtake our bookkeeping of a send (the kernel delivered the request and the
  // peer answered before the send's completion was processed): `writing` counts as written.
  const request_state state = index == npos ? request_state::free : slots_[index].state;
  if (state == request_state::free || state == request_state::deferred ||
      state == request_state::queued) {
    return npos;
  }
  return index;
}

response_waiter request_table::release(std::uint32_t index) noexcept {
  request_slot& slot = slots_[index];
  assert(slot.state != request_state::free);
  if (slot.in_heap) heap_.remove(slot.heap_index);
  slot.state = request_state::free;
  --live_;
  const response_waiter waiter = std::exchange(slot.waiter, {});
  trim_run();  // in the run, it leaves when it reaches the front
  return waiter;
}

void request_table::grow() {
  std::vector<request_slot> bigger(slots_.size() * 2);
  const auto new_mask = static_cast<std::uint32_t>(bigger.size() - 1);
  for (request_slot& slot : slots_) {
    if (slot.state == request_state::free) continue;
    const std::uint32_t index = static_cast<std::uint32_t>(slot.opaque) & new_mask;
    assert(bigger[index].state == request_state::free);
    bigger[index] = slot;
  }
  slots_ = std::move(bigger);
  mask_ = new_mask;
  // Slot indices changed: rebuild the heap over the new indices (the run holds opaques).
  std::vector<std::uint32_t> live;
  live.reserve(slots_.size());
  for (std::uint32_t index = 0; index < slots_.size(); ++index) {
    if (slots_[index].state != request_state::free && slots_[index].in_heap) live.push_back(index);
  }
  heap_.reserve(slots_.size());
  heap_.assign(live.begin(), live.end());
}

}  // namespace rmq::net
