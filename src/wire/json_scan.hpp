// Word-at-a-time scanning of JSON string contents for the header decoder.
//
// Header strings (group, topic, ids, names) are mostly plain ASCII without escapes, so the
// decoder skips eight bytes at a time while no byte of the word can end or escape the string,
// then falls back to its byte-by-byte handling. Each test below is exact for "some byte of the
// word matches" (the classic has-zero-byte trick); the byte loop finds which one.
#pragma once

#include <cstdint>
#include <cstring>

namespace rmq::wire::json_scan {

inline constexpr std::uint64_t ones = 0x0101010101010101ULL;
inline constexpr std::uint64_t highs = 0x8080808080808080ULL;

[[nodiscard]] constexpr std::uint64_t any_zero_byte(std::uint64_t x) noexcept {
  return (x - ones) & ~x & highs;
}
[[nodiscard]] constexpr std::uint64_t any_byte_equal(std::uint64_t x, unsigned char b) noexcept {
  return any_zero_byte(x ^ (ones * b));
}
/// Some byte is below `n` (n <= 128).
[[nodiscard]] constexpr std::uint64_t any_byte_below(std::uint64_t x, unsigned char n) noexcept {
  return (x - ones * n) & ~x & highs;
}

/// Bytes a JSON string cannot hold raw: quote, backslash, control characters.
[[nodiscard]] constexpr std::uint64_t any_string_special(std::uint64_t x) noexcept {
  return any_byte_equal(x, '"') | any_byte_equal(x, '\\') | any_byte_below(x, 0x20);
}

/// The decoder's skip: the first word at or after `p` holding a quote, backslash or control
/// byte, or the point where fewer than eight bytes remain.
[[nodiscard]] inline const char* skip_plain(const char* p, const char* end) noexcept {
  while (end - p >= 8) {
    std::uint64_t x;
    std::memcpy(&x, p, sizeof x);
    if (any_string_special(x) != 0) break;
    p += 8;
  }
  return p;
}

}  // namespace rmq::wire::json_scan
