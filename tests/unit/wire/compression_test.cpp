#include "wire/compression.hpp"

#include "captured_frames.hpp"
#include "rmq/error.hpp"
#include "wire/sys_flag.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>

using namespace rmq::wire;

namespace {

constexpr compression_type all_types[] = {compression_type::zlib, compression_type::zstd,
                                          compression_type::lz4};

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string text_body(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; s.size() < n; ++i) s += "message " + std::to_string(i % 97) + ", ";
  s.resize(n);
  return s;
}

std::string hex_prefix(const std::string& s, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n && i < s.size(); ++i) {
    out += digits[static_cast<unsigned char>(s[i]) >> 4];
    out += digits[static_cast<unsigned char>(s[i]) & 0xF];
  }
  return out;
}

}  // namespace

TEST_CASE("compression: round trips for zlib, zstd and lz4") {
  body_codec codec;
  const std::string inputs[] = {std::string(),           std::string("x"),
                                text_body(4096),         text_body(300'000),
                                random_bytes(70'000, 1), std::string(1 << 20, '\0')};
  for (const auto type : all_types) {
    for (const auto& input : inputs) {
      CAPTURE(to_string(type));
      CAPTURE(input.size());
      std::string packed;
      std::string unpacked = "stale";
      REQUIRE_FALSE(codec.compress(type, default_compression_level, input, packed));
      REQUIRE_FALSE(codec.decompress(type, packed, unpacked));
      CHECK(unpacked == input);
    }
  }
}

TEST_CASE("compression: stream formats (zlib header, zstd and lz4 frame magic)") {
  body_codec codec;
  const std::string body = text_body(8192);
  std::string out;
  REQUIRE_FALSE(codec.compress(compression_type::zlib, 5, body, out));
  CHECK(hex_prefix(out, 2) == "785e");  // RFC 1950, deflate 32K window, level 2..5
  REQUIRE_FALSE(codec.compress(compression_type::zlib, 9, body, out));
  CHECK(hex_prefix(out, 2) == "78da");
  REQUIRE_FALSE(codec.compress(compression_type::zlib, 1, body, out));
  CHECK(hex_prefix(out, 2) == "7801");
  REQUIRE_FALSE(codec.compress(compression_type::zstd, 5, body, out));
  CHECK(hex_prefix(out, 4) == "28b52ffd");
  REQUIRE_FALSE(codec.compress(compression_type::lz4, 5, body, out));
  CHECK(hex_prefix(out, 4) == "04224d18");
}

TEST_CASE("compression: the captured 4.9.8 compressed body (sysFlag 769)") {
  const std::string captured =
      rmq::test::captured_body("json/send_message_v2_compressed_request.hex");
  REQUIRE(captured.size() == 31);
  CHECK(hex_prefix(captured, 2) == "785e");
  CHECK(compression_from_sys_flag(769) == compression_type::zlib);

  body_codec codec;
  std::string body;
  REQUIRE_FALSE(codec.decompress(compression_type::zlib, captured, body));
  CHECK(body == std::string(8192, 'z'));

  // The same zlib settings as java.util.zip.Deflater(5) give the very same bytes.
  std::string ours;
  REQUIRE_FALSE(codec.compress(compression_type::zlib, 5, body, ours));
  CHECK(ours == captured);

  const std::string v5 = rmq::test::captured_body("v5/json/send_message_v2_compressed_request.hex");
  REQUIRE_FALSE(codec.decompress(compression_type::zlib, v5, body));
  CHECK(body.size() == 8192);
}

TEST_CASE("compression: sysFlag type bits") {
  CHECK(compression_sys_flag(compression_type::zlib) == 0x301);
  CHECK(compression_sys_flag(compression_type::zstd) == 0x201);
  CHECK(compression_sys_flag(compression_type::lz4) == 0x101);
  CHECK(compression_from_sys_flag(sys_flag::compressed) == compression_type::zlib);  // <= 4.9.3
  CHECK(compression_from_sys_flag(0x301) == compression_type::zlib);
  CHECK(compression_from_sys_flag(0x201) == compression_type::zstd);
  CHECK(compression_from_sys_flag(0x101) == compression_type::lz4);
  CHECK_FALSE(compression_from_sys_flag(0x401).has_value());
  CHECK_FALSE(compression_from_sys_flag(0x701).has_value());
  CHECK(sys_flag::compression_type_field(0x305) == 3);
  CHECK(compression_from_string("zstd") == compression_type::zstd);
  CHECK(compression_from_string("LZ4") == compression_type::lz4);
  CHECK(compression_from_string("ZLIB") == compression_type::zlib);
  CHECK_FALSE(compression_from_string("gzip").has_value());
  CHECK(to_string(compression_type::zlib) == "ZLIB");
}

TEST_CASE("compression: decompression stops at the output limit") {
  body_codec codec;
  const std::string body(8192, 'z');
  for (const auto type : all_types) {
    CAPTURE(to_string(type));
    std::string packed;
    std::string out;
    REQUIRE_FALSE(codec.compress(type, 5, body, packed));
    CHECK_FALSE(codec.decompress(type, packed, out, 8192));
    CHECK(out == body);
    CHECK(codec.decompress(type, packed, out, 8191) == rmq::errc::decompression_failed);
    CHECK(out.empty());
  }
}

TEST_CASE("compression: a zip bomb fails fast instead of filling memory") {
  body_codec codec;
  const std::string zeros(16u << 20, '\0');
  for (const auto type : all_types) {
    CAPTURE(to_string(type));
    std::string packed;
    REQUIRE_FALSE(codec.compress(type, 5, zeros, packed));
    CHECK(packed.size() < zeros.size() / 200);
    std::string out;
    CHECK(codec.decompress(type, packed, out, 1u << 20) == rmq::errc::decompression_failed);
    CHECK(out.capacity() <= (2u << 20) + 64);  // never grew far beyond the limit
  }
}

TEST_CASE("compression: corrupt, truncated and trailing data") {
  body_codec codec;
  const std::string body = text_body(50'000);
  for (const auto type : all_types) {
    CAPTURE(to_string(type));
    std::string packed;
    std::string out;
    REQUIRE_FALSE(codec.compress(type, 5, body, packed));
    CHECK(codec.decompress(type, packed.substr(0, packed.size() / 2), out) ==
          rmq::errc::decompression_failed);
    CHECK(codec.decompress(type, packed.substr(0, packed.size() - 1), out) ==
          rmq::errc::decompression_failed);
    CHECK(codec.decompress(type, "", out) == rmq::errc::decompression_failed);
    CHECK(codec.decompress(type, random_bytes(1000, 7), out) == rmq::errc::decompression_failed);
    // The codec recovers after errors.
    REQUIRE_FALSE(codec.decompress(type, packed, out));
    CHECK(out == body);
  }
  std::string packed;
  std::string out;
  // zstd and lz4 frames may be concatenated; anything else after the last frame is an error.
  for (const auto type : {compression_type::zstd, compression_type::lz4}) {
    REQUIRE_FALSE(codec.compress(type, 5, "abc", packed));
    const std::string twice = packed + packed;
    REQUIRE_FALSE(codec.decompress(type, twice, out));
    CHECK(out == "abcabc");
    CHECK(codec.decompress(type, packed + "junk", out) == rmq::errc::decompression_failed);
  }
  // zlib: like Java's InflaterInputStream, bytes after the end of the stream are ignored.
  REQUIRE_FALSE(codec.compress(compression_type::zlib, 5, "abc", packed));
  REQUIRE_FALSE(codec.decompress(compression_type::zlib, packed + "junk", out));
  CHECK(out == "abc");
  // A raw deflate or gzip stream is not what Java writes: rejected.
  CHECK(codec.decompress(compression_type::zlib, packed.substr(2), out) ==
        rmq::errc::decompression_failed);
}

TEST_CASE("compression: Java's rule for single messages") {
  body_codec codec;
  std::string out;
  const compression_options zlib{};
  CHECK(zlib.threshold == 4096);
  CHECK(zlib.level == 5);
  CHECK(zlib.type == compression_type::zlib);

  CHECK(codec.compress_if_needed(text_body(4095), zlib, out) == 0);
  CHECK(codec.compress_if_needed(text_body(4096), zlib, out) == 0x301);
  CHECK(out.size() < 4096);

  // A body that does not shrink is still sent compressed, as Java does.
  const std::string noise = random_bytes(5000, 3);
  CHECK(codec.compress_if_needed(noise, zlib, out) == 0x301);
  CHECK(out.size() > noise.size());

  const compression_options zstd{.type = compression_type::zstd, .level = 3, .threshold = 10};
  CHECK(codec.compress_if_needed(text_body(10), zstd, out) == 0x201);
  const compression_options off{.threshold = SIZE_MAX};
  CHECK(codec.compress_if_needed(text_body(100'000), off, out) == 0);

  // A bad level: sent uncompressed, the error reported.
  std::error_code ec;
  const compression_options bad{.level = 42};
  CHECK(codec.compress_if_needed(text_body(5000), bad, out, &ec) == 0);
  CHECK(ec == rmq::errc::invalid_argument);
}

TEST_CASE("compression: changing the zlib level between calls") {
  body_codec codec;
  const std::string body = text_body(20'000);
  std::string a;
  std::string b;
  std::string c;
  REQUIRE_FALSE(codec.compress(compression_type::zlib, 1, body, a));
  REQUIRE_FALSE(codec.compress(compression_type::zlib, 9, body, b));
  REQUIRE_FALSE(codec.compress(compression_type::zlib, 1, body, c));
  CHECK(a == c);
  CHECK(a != b);
}
