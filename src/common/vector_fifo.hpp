// A FIFO in one vector: popping advances a head, and the taken front is dropped in one move once
// it is at least half of the vector, so a queue that never runs empty stays bounded by what is
// in it. Capacity is kept: once grown, pushing and popping allocate nothing. For small
// trivially copyable items on a loop thread (a connection's deferred requests, a request
// table's deadline run).
#pragma once

#include <cstddef>
#include <vector>

namespace rmq {

template <class T>
class vector_fifo {
 public:
  [[nodiscard]] bool empty() const noexcept { return head_ == items_.size(); }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size() - head_; }
  [[nodiscard]] const T& front() const noexcept { return items_[head_]; }

  void push_back(const T& item) { items_.push_back(item); }
  void pop_front() noexcept {
    ++head_;
    if (head_ == items_.size()) {
      clear();
    } else if (head_ >= compact_after && 2 * head_ >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() noexcept {
    items_.clear();
    head_ = 0;
  }

 private:
  static constexpr std::size_t compact_after = 1024;  // a short taken front is not worth a move
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace rmq
