// A free-list allocator for coroutine frames, owned by one thread (an event loop).
//
// Asio 1.22 recycles asio::awaitable frames only through a 2-slot per-thread cache, so an
// internal pipeline of awaitables would allocate on every send. Our own coroutines (coro.hpp)
// take their frames from the frame_pool installed on the current thread instead: one free list
// per 64-byte size class, carved from large chunks, never returned to the system while the pool
// lives. On a thread without a pool, or for frames larger than the biggest class, frames come
// from operator new and are counted, so a test can prove the hot path never falls back.
#pragma once

#include "common/block_pool.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rmq {

class frame_pool {
 public:
  static constexpr std::size_t granule = 64;
  static constexpr std::size_t classes = 64;  // frames up to 4 KiB are pooled
  static constexpr std::size_t chunk_bytes = 256 * 1024;

  frame_pool() = default;
  frame_pool(const frame_pool&) = delete;
  frame_pool& operator=(const frame_pool&) = delete;
  ~frame_pool();

  /// Memory for a frame of `size` bytes, from the pool installed on this thread if any.
  [[nodiscard]] static void* allocate_frame(std::size_t size);
  /// Returns a frame to the pool it came from (which must belong to this thread), or to the
  /// global heap.
  static void deallocate_frame(void* frame) noexcept;

  /// Installs `pool` on the calling thread for good (an event loop's own thread); nullptr
  /// uninstalls.
  static void install(frame_pool* pool) noexcept;
  /// The pool installed on this thread, or nullptr.
  [[nodiscard]] static frame_pool* current() noexcept;

  /// Installs a pool on the calling thread for the scope's lifetime.
  class scope {
   public:
    explicit scope(frame_pool& pool) noexcept;
    ~scope();
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    frame_pool* previous_;
  };

  /// Frames served from the heap because no pool was installed or they were too large.
  [[nodiscard]] static std::uint64_t fallback_allocations() noexcept {
    return fallbacks_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t chunks() const noexcept { return blocks_.chunks(); }
  /// Frames of this pool's thread alive now (owner thread only).
  [[nodiscard]] std::size_t frames_in_use() const noexcept { return blocks_.in_use(); }

 private:
  // Every frame is preceded by this header, so deallocation needs no size and finds its pool.
  struct alignas(std::max_align_t) header {
    frame_pool* pool;  // nullptr: from the global heap
    std::size_t size_class;
  };

  block_pool<classes> blocks_{chunk_bytes};  // class c: blocks of (c + 1) * granule bytes
  static std::atomic<std::uint64_t> fallbacks_;
};

}  // namespace rmq
