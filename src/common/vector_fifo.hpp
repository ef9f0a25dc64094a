// A FIFO in one vector used as a ring: its capacity is a power of two, the smallest that has
// held the most items queued at once, and once grown, pushing and popping allocate nothing.
// For small trivially copyable items on a loop thread (a connection's deferred requests, a
// request table's deadline run). A ring, not a vector with a moving head: at 100k requests in
// flight the latter's taken front (kept until it was half of the vector) doubled what a burst
// of deferred requests held.
#pragma once

#include <cstddef>
#include <type_traits>
#include <vector>

namespace rmq {

template <class T>
class vector_fifo {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return items_.size(); }
  [[nodiscard]] const T& front() const noexcept { return items_[head_]; }
  /// The item `k` places behind the front, or nullptr if there are not that many.
  [[nodiscard]] const T* peek(std::size_t k) const noexcept {
    return k < size_ ? &items_[(head_ + k) & (items_.size() - 1)] : nullptr;
  }

  void push_back(const T& item) {
    if (size_ == items_.size()) grow();
    items_[(head_ + size_) & (items_.size() - 1)] = item;
    ++size_;
  }
  void pop_front() noexcept {
    head_ = (head_ + 1) & (items_.size() - 1);
    if (--size_ == 0) head_ = 0;
  }
  void clear() noexcept {
    head_ = 0;
    size_ = 0;
  }

 private:
  // Doubles the ring and lays its items out in order from the start.
  void grow() {
    std::vector<T> bigger(items_.empty() ? initial_capacity : 2 * items_.size());
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = items_[(head_ + i) & (items_.size() - 1)];
    items_.swap(bigger);
    head_ = 0;
  }

  static constexpr std::size_t initial_capacity = 64;
  std::vector<T> items_;  // size: a power of two (or 0)
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace rmq
