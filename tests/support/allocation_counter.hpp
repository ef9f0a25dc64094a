// Counts heap allocations (every replaceable global operator new) while a scope asks for it:
// evidence that a steady-state path allocates nothing. Link `rmq_test_allocation_counter` into
// the test executable: it replaces the global allocation functions for that executable only.
#pragma once

#include <cstdint>
#include <utility>

namespace rmq::test {

/// Whose allocations a counting scope sees.
enum class count_threads {
  this_one,  ///< only the thread that started counting (the others may allocate freely)
  all,       ///< every thread of the process (e.g. a loop thread running the measured path)
};

/// Starts counting from zero; returns what was counted when it stops. Counting scopes do not nest.
void start_counting_allocations(count_threads who = count_threads::this_one) noexcept;
[[nodiscard]] std::uint64_t stop_counting_allocations() noexcept;
/// Allocations counted so far by the running scope (without stopping it).
[[nodiscard]] std::uint64_t allocations_so_far() noexcept;

/// The allocations made while `f` runs.
template <class F>
[[nodiscard]] std::uint64_t allocations_during(F&& f, count_threads who = count_threads::this_one) {
  start_counting_allocations(who);
  std::forward<F>(f)();
  return stop_counting_allocations();
}

}  // namespace rmq::test
