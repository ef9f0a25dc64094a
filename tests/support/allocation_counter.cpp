// Replaces every replaceable global allocation function (plain, array, aligned, nothrow) of the
// executable it is linked into, counting while a scope of allocation_counter.hpp asks for it.
#include "support/allocation_counter.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace rmq::test {
namespace {

std::atomic<bool> counting_all_threads{false};
thread_local bool counting_this_thread = false;
std::atomic<std::uint64_t> counted{0};

void* counted_alloc(std::size_t size, std::size_t align = 0) noexcept {
  if (counting_this_thread || counting_all_threads.load(std::memory_order_relaxed)) {
    counted.fetch_add(1, std::memory_order_relaxed);
  }
  if (size == 0) size = 1;
  return align > __STDCPP_DEFAULT_NEW_ALIGNMENT__
             ? std::aligned_alloc(align, (size + align - 1) / align * align)
             : std::malloc(size);
}

void* counted_or_throw(std::size_t size, std::size_t align = 0) {
  if (void* p = counted_alloc(size, align)) return p;
  throw std::bad_alloc();
}

}  // namespace

void start_counting_allocations(count_threads who) noexcept {
  counted.store(0, std::memory_order_relaxed);
  if (who == count_threads::all) {
    counting_all_threads.store(true, std::memory_order_seq_cst);
  } else {
    counting_this_thread = true;
  }
}

std::uint64_t stop_counting_allocations() noexcept {
  counting_this_thread = false;
  counting_all_threads.store(false, std::memory_order_seq_cst);
  return counted.load(std::memory_order_relaxed);
}

std::uint64_t allocations_so_far() noexcept {
  return counted.load(std::memory_order_relaxed);
}

}  // namespace rmq::test

using rmq::test::counted_alloc;
using rmq::test::counted_or_throw;

void* operator new(std::size_t n) {
  return counted_or_throw(n);
}
void* operator new[](std::size_t n) {
  return counted_or_throw(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return counted_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
