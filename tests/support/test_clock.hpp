// The instant that tests of time-taking policies count from (they are given the time, never read
// it): an hour past the steady clock's epoch, so that times before it are still valid.
#pragma once

#include <chrono>

namespace rmq::test {

inline constexpr std::chrono::steady_clock::time_point t0 =
    std::chrono::steady_clock::time_point{} + std::chrono::hours(1);

}  // namespace rmq::test
