// The state of one send, from the user's call to its completion. Pooled per loop and reused:
// its strings keep their capacity, so a steady stream of sends allocates nothing here.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "io/loop.hpp"
#include "io/task.hpp"
#include "rmq/message.hpp"
#include "rmq/producer.hpp"
#include "rmq/send_result.hpp"
#include "wire/uniq_key.hpp"

namespace rmq::send {

class shard;

/// How the user asked (detail::send_kind): it decides the retry budget (sync and async have
/// their own counts) and whether a response is awaited.
using send_mode = detail::send_kind;

struct send_op final : io::task {
  send_op() noexcept : io::task(&start_on_loop) {}

  // --- the request, set by the initiating call --------------------------------------------
  detail::send_completion* completion = nullptr;
  const message* msg = nullptr;
  std::span<const message> batch;  ///< non-empty: SEND_BATCH_MESSAGE
  send_mode mode = send_mode::async;
  detail::send_target target;
  io::clock::time_point started{};
  io::clock::time_point deadline{};
  shard* owner = nullptr;

  // --- per-send scratch, reused across sends (capacity kept) ------------------------------
  std::array<char, wire::uniq_key_max_size> uniq_key{};
  std::size_t uniq_key_size = 0;
  std::string properties;  ///< encoded properties string
  std::string body;        ///< compressed body or batch body, when the message's own is not used
  std::string batch_ids;   ///< comma-joined UNIQ_KEYs of a batch
  send_result result;

  void reset() noexcept {
    completion = nullptr;
    msg = nullptr;
    batch = {};
    target = {};
    uniq_key_size = 0;
    properties.clear();
    body.clear();
    batch_ids.clear();
  }

 private:
  static void start_on_loop(io::task* t, action a) noexcept;
};

/// Free list of send_ops owned by one loop (loop thread only).
class send_op_pool {
 public:
  [[nodiscard]] send_op* acquire() {
    if (free_.empty()) {
      all_.push_back(std::make_unique<send_op>());
      return all_.back().get();
    }
    send_op* op = free_.back();
    free_.pop_back();
    return op;
  }
  void release(send_op* op) noexcept {
    op->reset();
    free_.push_back(op);  // capacity reserved in acquire's growth: never allocates here
  }
  void reserve_free_list() { free_.reserve(all_.size()); }
  [[nodiscard]] std::size_t size() const noexcept { return all_.size(); }

 private:
  std::vector<std::unique_ptr<send_op>> all_;
  std::vector<send_op*> free_;
};

/// Fixed-size blocks for completion handlers of sends started on the loop thread.
class completion_slab {
 public:
  static constexpr std::size_t block_size = 512;
  static constexpr std::align_val_t heap_alignment{64};  // for the rare oversized handler

  void* allocate(std::size_t size, std::size_t align) {
    if (size > block_size || align > alignof(std::max_align_t)) {
      fallbacks_.store(fallbacks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return ::operator new(size, heap_alignment);
    }
    if (free_ == nullptr) {
      blocks_.push_back(std::make_unique<block>());
      return blocks_.back().get();
    }
    block* b = free_;
    free_ = b->next;
    return b;
  }
  void deallocate(void* p, std::size_t size) noexcept {
    if (size > block_size) {
      ::operator delete(p, heap_alignment);
      return;
    }
    auto* b = static_cast<block*>(p);
    b->next = free_;
    free_ = b;
  }
  /// Any thread: handlers too large for a block (each cost a heap allocation).
  [[nodiscard]] std::uint64_t fallbacks() const noexcept {
    return fallbacks_.load(std::memory_order_relaxed);
  }

 private:
  union block {
    block* next;
    alignas(std::max_align_t) unsigned char bytes[block_size];
  };
  std::vector<std::unique_ptr<block>> blocks_;
  block* free_ = nullptr;
  std::atomic<std::uint64_t> fallbacks_{0};  // written by the loop thread only
};

}  // namespace rmq::send
