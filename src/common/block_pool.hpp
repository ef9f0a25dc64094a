// Free lists of fixed-size blocks, one per size class, carved in order from large chunks and
// never returned to the system while the pool lives: the storage behind frame_pool (coroutine
// frames) and the send layer's completion_slab (completion handlers). Owned by one thread.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace rmq {

template <std::size_t Classes>
class block_pool {
 public:
  /// Blocks are aligned to alignof(std::max_align_t) when every block size is a multiple of it.
  explicit block_pool(std::size_t chunk_bytes) noexcept : chunk_bytes_(chunk_bytes) {}
  block_pool(const block_pool&) = delete;
  block_pool& operator=(const block_pool&) = delete;

  /// A block of class `size_class`, which is `bytes` long (the same for every call with that
  /// class; at most the chunk size): a freed one if any, else carved from the current chunk.
  [[nodiscard]] void* take(std::size_t size_class, std::size_t bytes) {
    assert(size_class < Classes && bytes <= chunk_bytes_);
    if (free_node* node = free_[size_class]) {
      free_[size_class] = node->next;
      return node;
    }
    if (chunk_left_ < bytes) {
      // The tail of the old chunk is abandoned; chunks are large, so little is lost. Not
      // zeroed: every block is constructed by its user, and untouched pages cost no memory.
      chunks_.push_back(std::make_unique_for_overwrite<std::byte[]>(chunk_bytes_));
      chunk_cursor_ = chunks_.back().get();
      chunk_left_ = chunk_bytes_;
    }
    void* block = chunk_cursor_;
    chunk_cursor_ += bytes;
    chunk_left_ -= bytes;
    ++carved_;
    return block;
  }
  /// Returns a block taken with the same class.
  void give(void* block, std::size_t size_class) noexcept {
    free_[size_class] = new (block) free_node{free_[size_class]};
  }
  [[nodiscard]] std::size_t chunks() const noexcept { return chunks_.size(); }
  /// Blocks taken and not given back, of every class. Walks the free lists (tests and
  /// diagnostics), so that taking and giving count nothing.
  [[nodiscard]] std::size_t in_use() const noexcept {
    std::size_t free_blocks = 0;
    for (const free_node* head : free_) {
      for (const free_node* n = head; n != nullptr; n = n->next) ++free_blocks;
    }
    return carved_ - free_blocks;
  }

 private:
  struct free_node {
    free_node* next;
  };

  std::size_t chunk_bytes_;
  std::array<free_node*, Classes> free_{};
  std::vector<std::unique_ptr<std::byte[]>> chunks_;
  std::byte* chunk_cursor_ = nullptr;
  std::size_t chunk_left_ = 0;
  std::size_t carved_ = 0;  // blocks ever cut from the chunks
};

}  // namespace rmq
