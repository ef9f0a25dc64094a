// Replaces the global operator new/delete of the test executable (its own translation unit, so
// that nothing inlines across the replacement).
#include "integration/io/alloc_counter.hpp"

#include <cstdlib>
#include <new>

namespace rmq::io::test {
thread_local bool count_allocations = false;
std::atomic<std::size_t> allocations{0};
}  // namespace rmq::io::test

void* operator new(std::size_t n) {
  if (rmq::io::test::count_allocations) {
    rmq::io::test::allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return ::operator new(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
