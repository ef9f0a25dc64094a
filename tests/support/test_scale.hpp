// Load-sized tests multiply their counts by RMQ_TEST_SCALE (default 1), so that the same tests
// stay small under TSan and can be made larger by hand.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <string>

namespace rmq::test {

[[nodiscard]] inline double scale() {
  const char* text = std::getenv("RMQ_TEST_SCALE");
  if (text == nullptr || *text == '\0') return 1.0;
  const double value = std::strtod(text, nullptr);
  return value > 0 ? value : 1.0;
}

/// `count` scaled, never below `minimum`.
[[nodiscard]] inline std::size_t scaled(std::size_t count, std::size_t minimum = 1) {
  return std::max(minimum, static_cast<std::size_t>(static_cast<double>(count) * scale()));
}

}  // namespace rmq::test
