// A binary min-heap whose items know their position, so that any item can be removed in
// O(log n) — the deadline order of the loop's timers and of a connection's requests.
//
// `Order` supplies `bool before(Item a, Item b)` (the heap's order) and
// `void moved(Item item, std::size_t position)` (called whenever an item lands at a position,
// so the item's owner can record it). Items are small handles: pointers or indices.
// Sift operations move a hole instead of swapping, one write per level. No allocation once
// reserve() covered the largest size.
#pragma once

#include <cassert>
#include <cstddef>
#include <vector>

namespace rmq {

template <class Item, class Order>
class indexed_heap {
 public:
  explicit indexed_heap(Order order = {}) noexcept : order_(order) {}

  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] Item front() const noexcept { return items_.front(); }
  [[nodiscard]] Item operator[](std::size_t position) const noexcept { return items_[position]; }
  void reserve(std::size_t n) { items_.reserve(n); }

  void push(Item item) {
    items_.push_back(item);
    sift_up(items_.size() - 1, item);
  }

  /// Removes the item at `position` (as last reported through Order::moved).
  void remove(std::size_t position) noexcept {
    assert(position < items_.size());
    const Item last = items_.back();
    items_.pop_back();
    if (position == items_.size()) return;  // it was the last one
    if (position > 0 && order_.before(last, items_[(position - 1) / 2])) {
      sift_up(position, last);
    } else {
      sift_down(position, last);
    }
  }

  /// Replaces the contents with the items of [first, last) and restores the order.
  template <class It>
  void assign(It first, It last) {
    items_.assign(first, last);
    for (std::size_t i = 0; i < items_.size(); ++i) order_.moved(items_[i], i);
    for (std::size_t i = items_.size() / 2; i-- > 0;) sift_down(i, items_[i]);
  }

 private:
  void place(std::size_t position, Item item) noexcept {
    items_[position] = item;
    order_.moved(item, position);
  }
  // `item` goes into the hole at `position`, moving up past later-ordered parents.
  void sift_up(std::size_t position, Item item) noexcept {
    while (position > 0) {
      const std::size_t parent = (position - 1) / 2;
      if (!order_.before(item, items_[parent])) break;
      place(position, items_[parent]);
      position = parent;
    }
    place(position, item);
  }
  // `item` goes into the hole at `position`, moving down past earlier-ordered children.
  void sift_down(std::size_t position, Item item) noexcept {
    const std::size_t n = items_.size();
    for (;;) {
      std::size_t child = 2 * position + 1;
      if (child >= n) break;
      if (child + 1 < n && order_.before(items_[child + 1], items_[child])) ++child;
      if (!order_.before(items_[child], item)) break;
      place(position, items_[child]);
      position = child;
    }
    place(position, item);
  }

  std::vector<Item> items_;
  Order order_;
};

}  // namespace rmq
