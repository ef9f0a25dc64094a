// Block-at-a-time scanning of JSON string contents, for the header encoder and decoder.
//
// Header strings (group, topic, ids, names, the properties string) are mostly plain ASCII, so
// both sides look at sixteen bytes at a time and get a bit mask of the bytes that need handling;
// only those are handled one by one. SSE2 (every x86-64) does a block in a few instructions;
// elsewhere the same masks are computed byte by byte.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace rmq::wire::json_scan {

inline constexpr std::size_t block = 16;

/// Bytes that may need escaping when written: quote, backslash, C0 controls, DEL, and the lead
/// bytes of the C1 controls (0xC2) and of U+2028/U+2029 (0xE2). The block masks below mark
/// exactly these.
inline constexpr std::array<bool, 256> escape_candidate = [] {
  std::array<bool, 256> table{};
  for (unsigned c = 0; c < 0x20; ++c) table[c] = true;
  for (const unsigned c : {unsigned{'"'}, unsigned{'\\'}, 0x7Fu, 0xC2u, 0xE2u}) table[c] = true;
  return table;
}();

#if defined(__SSE2__)

namespace detail {
[[nodiscard]] inline __m128i load(const char* p) noexcept {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
[[nodiscard]] inline __m128i equal(__m128i v, char c) noexcept {
  return _mm_cmpeq_epi8(v, _mm_set1_epi8(c));
}
/// Bytes 0x00..0x1F: the unsigned saturating subtraction leaves zero exactly for them.
[[nodiscard]] inline __m128i control(__m128i v) noexcept {
  return _mm_cmpeq_epi8(_mm_subs_epu8(v, _mm_set1_epi8(0x1F)), _mm_setzero_si128());
}
[[nodiscard]] inline std::uint32_t mask(__m128i m) noexcept {
  return static_cast<std::uint32_t>(_mm_movemask_epi8(m));
}
}  // namespace detail

/// Bit i set: byte p[i] ends or escapes a string being read (quote, backslash, control byte).
/// Reads p[0..15].
[[nodiscard]] inline std::uint32_t string_specials(const char* p) noexcept {
  const __m128i v = detail::load(p);
  return detail::mask(_mm_or_si128(_mm_or_si128(detail::equal(v, '"'), detail::equal(v, '\\')),
                                   detail::control(v)));
}

/// Bit i set: byte p[i] may need escaping when written (quote, backslash, control byte, DEL,
/// and the lead bytes 0xC2/0xE2 of the escaped C1 controls and U+2028/U+2029). Reads p[0..15].
[[nodiscard]] inline std::uint32_t escape_candidates(const char* p) noexcept {
  const __m128i v = detail::load(p);
  const __m128i quote_or_backslash = _mm_or_si128(detail::equal(v, '"'), detail::equal(v, '\\'));
  const __m128i del_or_lead = _mm_or_si128(detail::equal(v, '\x7F'),
                                           _mm_or_si128(detail::equal(v, static_cast<char>(0xC2)),
                                                        detail::equal(v, static_cast<char>(0xE2))));
  return detail::mask(
      _mm_or_si128(_mm_or_si128(quote_or_backslash, detail::control(v)), del_or_lead));
}

/// Copies the sixteen bytes at `from` to `to` (the encoder's run copy; both in bounds).
inline void copy_block(char* to, const char* from) noexcept {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(to), detail::load(from));
}

#else

[[nodiscard]] inline std::uint32_t string_specials(const char* p) noexcept {
  std::uint32_t m = 0;
  for (unsigned i = 0; i < block; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c == '"' || c == '\\' || c < 0x20) m |= 1u << i;
  }
  return m;
}

[[nodiscard]] inline std::uint32_t escape_candidates(const char* p) noexcept {
  std::uint32_t m = 0;
  for (unsigned i = 0; i < block; ++i) {
    if (escape_candidate[static_cast<unsigned char>(p[i])]) m |= 1u << i;
  }
  return m;
}

inline void copy_block(char* to, const char* from) noexcept {
  std::memcpy(to, from, block);
}

#endif

/// The decoder's skip: the first quote, backslash or control byte at or after `p`, or the point
/// where fewer than sixteen bytes remain (the caller goes on byte by byte).
[[nodiscard]] inline const char* skip_plain(const char* p, const char* end) noexcept {
  while (static_cast<std::size_t>(end - p) >= block) {
    if (const std::uint32_t m = string_specials(p)) return p + __builtin_ctz(m);
    p += block;
  }
  return p;
}

}  // namespace rmq::wire::json_scan
