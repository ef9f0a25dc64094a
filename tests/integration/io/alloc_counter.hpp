// Counts the heap allocations (global operator new) of a thread while it sets
// `count_allocations`: evidence that a steady-state path allocates nothing.
#pragma once

#include <atomic>
#include <cstddef>

namespace rmq::io::test {
extern thread_local bool count_allocations;
extern std::atomic<std::size_t> allocations;
}  // namespace rmq::io::test
