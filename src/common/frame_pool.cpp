#include "common/frame_pool.hpp"

#include <new>

namespace rmq {
namespace {
thread_local frame_pool* current_pool = nullptr;
}

std::atomic<std::uint64_t> frame_pool::fallbacks_{0};

frame_pool::~frame_pool() = default;

frame_pool* frame_pool::current() noexcept {
  return current_pool;
}

void frame_pool::install(frame_pool* pool) noexcept {
  current_pool = pool;
}

frame_pool::scope::scope(frame_pool& pool) noexcept : previous_(current_pool) {
  current_pool = &pool;
}

frame_pool::scope::~scope() {
  current_pool = previous_;
}

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
  auto* h = static_cast<header*>(pool->blocks_.take(size_class, (size_class + 1) * granule));
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
  h->pool->blocks_.give(h, h->size_class);
}

}  // namespace rmq
