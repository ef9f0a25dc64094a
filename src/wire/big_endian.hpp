// Big-endian (network order) integers in byte buffers: the remoting frame's length and header
// words, the binary header's fields, a batch record's fixed fields. No bounds: the caller has
// the room.
#pragma once

#include <cstdint>

namespace rmq::wire {

/// Writes `v` at `p`; returns the byte after it.
inline char* put_be32(char* p, std::uint32_t v) noexcept {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
  return p + 4;
}

/// Writes `v` at `p`; returns the byte after it.
inline char* put_be16(char* p, std::uint16_t v) noexcept {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
  return p + 2;
}

[[nodiscard]] inline std::uint32_t load_be32(const char* p) noexcept {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

[[nodiscard]] inline std::uint16_t load_be16(const char* p) noexcept {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}

}  // namespace rmq::wire
