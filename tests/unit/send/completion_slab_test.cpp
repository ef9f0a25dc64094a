#include "send/send_op.hpp"

#include <doctest/doctest.h>

#include <cstdint>

using rmq::send::completion_slab;

TEST_CASE("completion_slab reuses a freed block of the same class, never a heap fallback") {
  completion_slab slab;
  void* small = slab.allocate(40, alignof(std::max_align_t));
  slab.deallocate(small, 40, alignof(std::max_align_t));
  CHECK(slab.allocate(90, 8) == small);  // the same 96-byte class, last freed first
  CHECK(slab.fallbacks() == 0);

  // Over-aligned: from the heap, aligned as asked, and given back to the heap, so that the
  // next small block is not this (possibly shorter) heap allocation.
  void* aligned = slab.allocate(40, 64);
  CHECK(slab.fallbacks() == 1);
  CHECK(reinterpret_cast<std::uintptr_t>(aligned) % 64 == 0);
  slab.deallocate(aligned, 40, 64);
  void* next = slab.allocate(40, 8);
  CHECK(next != aligned);
  slab.deallocate(next, 40, 8);

  void* big = slab.allocate(600, 8);
  CHECK(slab.fallbacks() == 2);
  slab.deallocate(big, 600, 8);
}

TEST_CASE("completion_slab keeps each class apart") {
  completion_slab slab;
  void* a = slab.allocate(96, 8);
  void* b = slab.allocate(128, 8);
  void* c = slab.allocate(512, 8);
  CHECK(a != b);
  CHECK(b != c);
  slab.deallocate(b, 128, 8);
  CHECK(slab.allocate(100, 8) == b);  // 100 bytes: the 128-byte class
  slab.deallocate(a, 96, 8);
  slab.deallocate(c, 512, 8);
  CHECK(slab.allocate(200, 8) == c);
  CHECK(slab.fallbacks() == 0);
}
