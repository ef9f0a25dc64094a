#include "trace/trace_buffer.hpp"

#include <utility>

namespace rmq::trace {

namespace {

// A message id: 32 hex digits (a batch member's own, split from the batch's list).
constexpr std::size_t id_size = 32;

std::vector<trace_record> reserved_records(std::size_t capacity) {
  std::vector<trace_record> records(capacity);
  for (trace_record& r : records) {
    r.msg_id.reserve(id_size);
    r.offset_msg_id.reserve(id_size);
  }
  return records;
}

}  // namespace

trace_buffer::trace_buffer(std::size_t capacity, std::size_t batch)
    : filling_(reserved_records(capacity)), taken_(reserved_records(capacity)), batch_(batch) {}

std::span<const trace_record> trace_buffer::take(std::chrono::milliseconds linger) {
  std::unique_lock lock(mutex_);
  ready_.wait(lock, [&] { return count_ > 0 || closed_; });
  if (!closed_ && count_ < batch_ && linger.count() > 0) {
    ready_.wait_for(lock, linger, [&] { return count_ >= batch_ || closed_; });
  }
  // The array taken last goes back as the free storage, its strings with their capacity.
  std::swap(taken_, filling_);
  return {taken_.data(), std::exchange(count_, 0)};
}

void trace_buffer::close() {
  {
    const std::lock_guard lock(mutex_);
    closed_ = true;
  }
  ready_.notify_all();
}

}  // namespace rmq::trace
