// Intrusive work items of the io loop: a queued task, and the lock-free MPSC queue that lets any
// thread hand a task to the loop thread.
#pragma once

#include <atomic>

namespace rmq::io {

/// A unit of work for the loop. The node is owned by whoever queued it (it is never allocated
/// by the loop) and must stay alive until `fn_` has been called on it exactly once: with
/// `action::run` on the loop thread, or with `action::destroy` when the loop is destroyed
/// before running it (the counterpart of Asio destroying handlers it never invoked).
struct task {
  enum class action { run, destroy };
  using fn_type = void (*)(task*, action) noexcept;

  explicit task(fn_type fn) noexcept : fn_(fn) {}
  task(const task&) = delete;
  task& operator=(const task&) = delete;

  void invoke(action a) noexcept { fn_(this, a); }

  std::atomic<task*> next_{nullptr};
  fn_type fn_;
};

/// Vyukov's intrusive multi-producer single-consumer queue. `push` is wait-free (one exchange
/// and one store, no allocation); `pop` belongs to the consumer only. `pop` can briefly return
/// nullptr while a producer sits between its exchange and its link; `maybe_nonempty` still
/// reports such a queue as non-empty, which is what the loop's sleep check needs.
class mpsc_queue {
 public:
  mpsc_queue() noexcept : head_(&stub_), tail_(&stub_) {}
  mpsc_queue(const mpsc_queue&) = delete;
  mpsc_queue& operator=(const mpsc_queue&) = delete;

  /// Any thread. seq_cst on the exchange pairs with the loop's seq_cst store of its sleeping
  /// flag (Dekker): either the loop sees this node before sleeping or we see it asleep.
  void push(task* node) noexcept {
    node->next_.store(nullptr, std::memory_order_relaxed);
    task* prev = head_.exchange(node, std::memory_order_seq_cst);
    prev->next_.store(node, std::memory_order_release);
  }

  /// Consumer only.
  [[nodiscard]] task* pop() noexcept {
    task* tail = tail_;
    task* next = tail->next_.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (next == nullptr) return nullptr;
      tail_ = next;
      tail = next;
      next = next->next_.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    if (tail != head_.load(std::memory_order_acquire)) return nullptr;  // producer mid-push
    push(&stub_);
    next = tail->next_.load(std::memory_order_acquire);
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    return nullptr;
  }

  /// Consumer only. False only when every pushed node has been popped.
  [[nodiscard]] bool maybe_nonempty() const noexcept {
    // tail_ off the stub means a node not yet handed out (possibly a half-linked one).
    return tail_ != &stub_ || head_.load(std::memory_order_seq_cst) != &stub_;
  }

 private:
  static void stub_fn(task*, task::action) noexcept {}

  alignas(64) std::atomic<task*> head_;
  alignas(64) task* tail_;
  task stub_{&stub_fn};
};

/// FIFO of tasks owned by the loop thread (no atomics contended; `next_` is reused).
class task_list {
 public:
  void push_back(task* node) noexcept {
    node->next_.store(nullptr, std::memory_order_relaxed);
    if (tail_ == nullptr) {
      head_ = node;
    } else {
      tail_->next_.store(node, std::memory_order_relaxed);
    }
    tail_ = node;
  }
  [[nodiscard]] task* pop_front() noexcept {
    task* node = head_;
    if (node == nullptr) return nullptr;
    head_ = node->next_.load(std::memory_order_relaxed);
    if (head_ == nullptr) tail_ = nullptr;
    return node;
  }
  [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }

 private:
  task* head_ = nullptr;
  task* tail_ = nullptr;
};

}  // namespace rmq::io
