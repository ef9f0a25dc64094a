// Helpers shared by the wire unit tests: a seeded generator of random commands and comparisons.
#pragma once

#include "wire/command.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace rmq::wire::test {

/// Seed of every randomized wire test; printed on failure through doctest's INFO.
inline constexpr std::uint64_t seed = 0x5eed'2026'0001ULL;

class generator {
 public:
  explicit generator(std::uint64_t s) : rng_(s) {}

  [[nodiscard]] std::uint64_t next() { return rng_(); }
  [[nodiscard]] std::size_t below(std::size_t n) { return n == 0 ? 0 : next() % n; }
  [[nodiscard]] bool chance(unsigned percent) { return below(100) < percent; }

  /// Random valid UTF-8: ASCII, control characters (0x01/0x02 often), quotes, backslashes,
  /// 2-, 3- and 4-byte sequences including U+2028 and C1 controls.
  [[nodiscard]] std::string text(std::size_t max_len) {
    std::string s;
    const std::size_t n = below(max_len + 1);
    while (s.size() < n) {
      switch (below(10)) {
        case 0:
          s.push_back(static_cast<char>(below(0x20)));
          break;
        case 1:
          s.push_back(chance(50) ? '\x01' : '\x02');
          break;
        case 2:
          s.push_back("\"\\/\x7f"[below(4)]);
          break;
        case 3:
          append_utf8(s, 0x80 + static_cast<std::uint32_t>(below(0x780)));
          break;
        case 4: {
          std::uint32_t cp = 0x800 + static_cast<std::uint32_t>(below(0x10000 - 0x800));
          if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0x2028 + static_cast<std::uint32_t>(below(2));
          append_utf8(s, cp);
          break;
        }
        case 5:
          append_utf8(s, 0x10000 + static_cast<std::uint32_t>(below(0x100000)));
          break;
        default:
          s.push_back(static_cast<char>(0x20 + below(0x5F)));
          break;
      }
    }
    return s;
  }

  /// A random command that survives a round trip in the given serialization.
  [[nodiscard]] remoting_command command(serialize_type type, std::size_t max_body) {
    remoting_command c;
    const bool binary = type == serialize_type::rocketmq;
    // Binary carries code and version as shorts.
    c.fields.code = binary ? static_cast<std::int16_t>(next())
                           : static_cast<std::int32_t>(static_cast<std::uint32_t>(next()));
    c.fields.language = static_cast<language_code>(below(14));
    c.fields.version = binary ? static_cast<std::int16_t>(next())
                              : static_cast<std::int32_t>(static_cast<std::uint32_t>(next()));
    c.fields.opaque = static_cast<std::int32_t>(static_cast<std::uint32_t>(next()));
    c.fields.flag = static_cast<std::int32_t>(below(4));
    if (chance(40)) {
      c.remark = text(80);
      if (binary && c.remark->empty()) c.remark.reset();  // binary: empty remark reads as null
    }
    const std::size_t n = below(20);
    for (std::size_t i = 0; i < n; ++i) {
      std::string key = text(12) + "#" + std::to_string(i);  // unique keys
      c.ext_fields.emplace_back(std::move(key), text(chance(10) ? 300 : 40));
    }
    const std::size_t body_len = chance(10) ? below(max_body + 1) : below(200);
    c.body.resize(body_len);
    for (auto& b : c.body) b = static_cast<char>(next());
    return c;
  }

  static void append_utf8(std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

 private:
  std::mt19937_64 rng_;
};

[[nodiscard]] inline bool same_command(const remoting_command& a, const remoting_command& b) {
  return a.fields.code == b.fields.code && a.fields.language == b.fields.language &&
         a.fields.version == b.fields.version && a.fields.opaque == b.fields.opaque &&
         a.fields.flag == b.fields.flag && a.remark == b.remark && a.ext_fields == b.ext_fields &&
         a.body == b.body;
}

/// Big-endian 4-byte word.
[[nodiscard]] inline std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
[[nodiscard]] inline std::string be16(std::uint16_t v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v)};
}

/// A frame around a raw header: length word, header word, header, body.
[[nodiscard]] inline std::string raw_frame(std::uint8_t type, const std::string& header,
                                           const std::string& body = {}) {
  return be32(static_cast<std::uint32_t>(4 + header.size() + body.size())) +
         be32((std::uint32_t{type} << 24) | static_cast<std::uint32_t>(header.size())) + header +
         body;
}

}  // namespace rmq::wire::test
