#include "net/request_table.hpp"

#include <bit>
#include <utility>

namespace rmq::net {

request_table::request_table(std::size_t initial_capacity) {
  const std::size_t capacity = std::bit_ceil(initial_capacity < 2 ? std::size_t{2} : initial_capacity);
  slots_.resize(capacity);
  heap_.reserve(capacity);
  mask_ = static_cast<std::uint32_t>(capacity - 1);
}

std::uint32_t request_table::acquire(clock::time_point deadline, response_waiter waiter,
                                     bool oneway) {
  if (heap_.size() == slots_.size()) grow();
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
  slot.oneway = oneway;
  slot.deadline = deadline;
  slot.waiter = waiter;
  heap_push(index);
  return index;
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
  if (index == npos || slots_[index].state == request_state::queued) return npos;
  return index;
}

response_waiter request_table::release(std::uint32_t index) noexcept {
  request_slot& slot = slots_[index];
  assert(slot.state != request_state::free);
  heap_remove(slot.heap_index);
  slot.state = request_state::free;
  return std::exchange(slot.waiter, {});
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
  heap_.reserve(slots_.size());
  // Slot indices changed: rebuild the heap over the new indices.
  std::uint32_t position = 0;
  for (std::uint32_t index = 0; index < slots_.size(); ++index) {
    if (slots_[index].state != request_state::free) heap_set(position++, index);
  }
  for (std::uint32_t i = static_cast<std::uint32_t>(heap_.size()) / 2; i-- > 0;) sift_down(i);
}

void request_table::heap_push(std::uint32_t index) {
  heap_.push_back(index);
  slots_[index].heap_index = static_cast<std::uint32_t>(heap_.size() - 1);
  sift_up(slots_[index].heap_index);
}

void request_table::heap_remove(std::uint32_t position) {
  const auto last = static_cast<std::uint32_t>(heap_.size() - 1);
  if (position != last) {
    heap_set(position, heap_[last]);
    heap_.pop_back();
    sift_down(position);
    sift_up(position);
  } else {
    heap_.pop_back();
  }
}

void request_table::sift_up(std::uint32_t position) {
  while (position > 0) {
    const std::uint32_t parent = (position - 1) / 2;
    if (!earlier(position, parent)) break;
    const std::uint32_t moved = heap_[parent];
    heap_set(parent, heap_[position]);
    heap_set(position, moved);
    position = parent;
  }
}

void request_table::sift_down(std::uint32_t position) {
  const auto size = static_cast<std::uint32_t>(heap_.size());
  for (;;) {
    std::uint32_t smallest = position;
    const std::uint32_t left = 2 * position + 1;
    const std::uint32_t right = left + 1;
    if (left < size && earlier(left, smallest)) smallest = left;
    if (right < size && earlier(right, smallest)) smallest = right;
    if (smallest == position) return;
    const std::uint32_t moved = heap_[smallest];
    heap_set(smallest, heap_[position]);
    heap_set(position, moved);
    position = smallest;
  }
}

}  // namespace rmq::net
