// A hash map keyed by std::string and looked up by std::string_view, without building a string
// per lookup (routes by topic, connections by address, brokers by name).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rmq {

/// Hashes std::string and std::string_view alike (heterogeneous lookup).
struct string_hash {
  using is_transparent = void;
  [[nodiscard]] std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

template <class Value>
using string_map = std::unordered_map<std::string, Value, string_hash, std::equal_to<>>;

}  // namespace rmq
