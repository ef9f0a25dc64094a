#include "common/frame_pool.hpp"

#include <new>

namespace rmq {
namespace {
thread_local frame_pool* current_pool = nullptr;
}

std::atomic<std::uint64_t> frame_pool::fallbacks_{0};

frame_pool::~frame_pool() = default;

frame_pool* frame_pool::current() noexcept { return current_pool; }

void frame_pool::install(frame_pool* pool) noexcept { current_pool = pool; }

frame_pool::scope::scope(frame_pool& pool) noexcept : previous_(current_pool) {
  current_pool = &pool;
}

frame_pool::scope::~scope() { current_pool = previous_; }

void* frame_pool::allocate_frame(std::size_t size) {
  const std::size_t total = size + sizeof(header);
  const std::size_t size_class = (total + granule - 1) / granule - 1;
  frame_pool* pool = current_pool;
  if (pool == nullptr || size_class >= classes) {
    fallbacks_.fetch_add(1, std::memory_order_relaxed);
    auto* h = static_cast<header*>(::operator new(total));
    h->pool = nullptr;
    h->size_class = 0;
    return h + 1;
  }
  auto* h = static_cast<header*>(pool->take(size_class));
  h->pool = pool;
  h->size_class = size_class;
  return h + 1;
}

void frame_pool::deallocate_frame(void* frame) noexcept {
  header* h = static_cast<header*>(frame) - 1;
  if (h->pool == nullptr) {
    ::operator delete(h);
    return;
  }
  h->pool->give(h, h->size_class);
}

void* frame_pool::take(std::size_t size_class) {
  if (free_node* node = free_[size_class]) {
    free_[size_class] = node->next;
    return node;
  }
  const std::size_t bytes = (size_class + 1) * granule;
  if (chunk_left_ < bytes) {
    // The tail of the old chunk is abandoned; chunks are large, so little is lost.
    chunks_.push_back(std::make_unique<std::byte[]>(chunk_bytes));
    chunk_cursor_ = chunks_.back().get();
    chunk_left_ = chunk_bytes;
  }
  void* block = chunk_cursor_;
  chunk_cursor_ += bytes;
  chunk_left_ -= bytes;
  return block;
}

void frame_pool::give(void* block, std::size_t size_class) noexcept {
  auto* node = static_cast<free_node*>(block);
  node->next = free_[size_class];
  free_[size_class] = node;
}

}  // namespace rmq
