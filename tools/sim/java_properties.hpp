// Message properties as a Java broker holds them: a HashMap<String, String>, whose iteration
// order is the order of the properties string the broker writes (MessageDecoder.
// messageProperties2String) into the frames it sends, such as a transaction check's body or a
// reply push. 4.9.8 maps start with 16 buckets, 5.3.3 ones with 128 (both double past 3/4 full);
// keys of one bucket keep their insertion order, across re-parsing too. With that, the strings
// come out byte for byte as the captured ones.
#pragma once

#include "config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rmq::sim {

class java_properties {
 public:
  explicit java_properties(personality version) noexcept : version_(version) {}

  /// Adds the pairs of a properties string in order, as string2messageProperties does.
  void parse(std::string_view text);
  /// HashMap.put: an existing key keeps its place and takes the new value.
  void put(std::string_view name, std::string_view value);
  void remove(std::string_view name);
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  /// The pairs in HashMap iteration order.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> ordered() const;
  /// messageProperties2String: 4.9.8 writes no separator after the last pair, 5.3.3 does.
  [[nodiscard]] std::string to_string() const;

 private:
  struct entry {
    std::string name;
    std::string value;
    std::uint64_t inserted = 0;
  };

  personality version_;
  std::vector<entry> entries_;
  std::uint64_t next_insert_ = 0;
};

/// Java String.hashCode of UTF-8 text (over its UTF-16 code units).
[[nodiscard]] std::int32_t java_string_hash(std::string_view utf8) noexcept;

}  // namespace rmq::sim
