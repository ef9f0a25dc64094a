#include "wire/compression.hpp"

#include "rmq/error.hpp"
#include "wire/sys_flag.hpp"

#include <climits>
#include <lz4frame.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cstdint>

namespace rmq::wire {
namespace {

constexpr std::size_t min_chunk = 4096;

// Output buffers may hold one byte more than the limit, so "exactly at the limit" and "over it"
// can be told apart without a second pass.
[[nodiscard]] std::size_t output_cap(std::size_t max_output) noexcept {
  return max_output == SIZE_MAX ? max_output : max_output + 1;
}

[[nodiscard]] std::size_t first_size(std::size_t in, std::size_t cap) noexcept {
  const std::size_t guess = in > SIZE_MAX / 4 ? SIZE_MAX : std::max(in * 4, min_chunk);
  return std::min(guess, cap);
}

[[nodiscard]] std::size_t grown_size(std::size_t size, std::size_t cap) noexcept {
  const std::size_t doubled = size > SIZE_MAX / 2 ? SIZE_MAX : std::max(size * 2, min_chunk);
  return std::min(doubled, cap);
}

[[nodiscard]] std::error_code failed_decompression() noexcept {
  return make_error_code(errc::decompression_failed);
}

[[nodiscard]] std::error_code failed_compression() noexcept {
  return make_error_code(errc::compression_failed);
}

constexpr unsigned max_zlib_chunk = UINT_MAX;

}  // namespace

std::string_view to_string(compression_type type) noexcept {
  switch (type) {
    case compression_type::lz4:
      return "LZ4";
    case compression_type::zstd:
      return "ZSTD";
    case compression_type::zlib:
      return "ZLIB";
  }
  return "UNKNOWN";
}

std::optional<compression_type> compression_from_string(std::string_view name) noexcept {
  const auto equals = [&](std::string_view upper) {
    return name.size() == upper.size() &&
           std::equal(name.begin(), name.end(), upper.begin(), [](char a, char b) {
             return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == b;
           });
  };
  if (equals("ZLIB")) return compression_type::zlib;
  if (equals("ZSTD")) return compression_type::zstd;
  if (equals("LZ4")) return compression_type::lz4;
  return std::nullopt;
}

std::optional<compression_type> compression_from_sys_flag(std::int32_t flag) noexcept {
  switch (sys_flag::compression_type_field(flag)) {
    case 0:  // set only COMPRESSED: releases <= 4.9.3 always used zlib
    case 3:
      return compression_type::zlib;
    case 1:
      return compression_type::lz4;
    case 2:
      return compression_type::zstd;
    default:
      return std::nullopt;
  }
}

body_codec::~body_codec() {
  if (deflate_ready_) deflateEnd(&deflate_);
  if (inflate_ready_) inflateEnd(&inflate_);
  ZSTD_freeCCtx(zstd_c_);
  ZSTD_freeDCtx(zstd_d_);
  if (lz4_c_ != nullptr) LZ4F_freeCompressionContext(lz4_c_);
  if (lz4_d_ != nullptr) LZ4F_freeDecompressionContext(lz4_d_);
}

std::error_code body_codec::compress(compression_type type, int level, std::string_view in,
                                     std::string& out) {
  switch (type) {
    case compression_type::zlib:
      return zlib_compress(level, in, out);
    case compression_type::zstd:
      return zstd_compress(level, in, out);
    case compression_type::lz4:
      return lz4_compress(in, out);
  }
  return make_error_code(errc::invalid_argument);
}

std::error_code body_codec::decompress(compression_type type, std::string_view in, std::string& out,
                                       std::size_t max_output) {
  switch (type) {
    case compression_type::zlib:
      return zlib_decompress(in, out, max_output);
    case compression_type::zstd:
      return zstd_decompress(in, out, max_output);
    case compression_type::lz4:
      return lz4_decompress(in, out, max_output);
  }
  return make_error_code(errc::invalid_argument);
}

std::int32_t body_codec::compress_if_needed(std::string_view body,
                                            const compression_options& options, std::string& out,
                                            std::error_code* error) {
  if (options.threshold == SIZE_MAX || body.size() < options.threshold) return 0;
  if (const auto ec = compress(options.type, options.level, body, out)) {
    if (error != nullptr) *error = ec;
    return 0;
  }
  return compression_sys_flag(options.type);
}

// --- zlib (RFC 1950 stream, window 15, memLevel 8: java.util.zip.Deflater's settings) ---------

std::error_code body_codec::zlib_compress(int level, std::string_view in, std::string& out) {
  if (level < Z_DEFAULT_COMPRESSION || level > Z_BEST_COMPRESSION) {
    return make_error_code(errc::invalid_argument);
  }
  if (in.size() > max_zlib_chunk) return failed_compression();
  if (deflate_ready_ && deflate_level_ != level) {
    deflateEnd(&deflate_);
    deflate_ready_ = false;
  }
  if (!deflate_ready_) {
    deflate_ = z_stream{};
    if (deflateInit2(&deflate_, level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      return failed_compression();
    }
    deflate_ready_ = true;
    deflate_level_ = level;
  } else if (deflateReset(&deflate_) != Z_OK) {
    return failed_compression();
  }
  const uLong bound = deflateBound(&deflate_, static_cast<uLong>(in.size()));
  if (bound > max_zlib_chunk) return failed_compression();
  out.resize(bound);
  deflate_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  deflate_.avail_in = static_cast<uInt>(in.size());
  deflate_.next_out = reinterpret_cast<Bytef*>(out.data());
  deflate_.avail_out = static_cast<uInt>(bound);
  // deflateBound covers a single Z_FINISH call, so one call always completes.
  const int rc = deflate(&deflate_, Z_FINISH);
  if (rc != Z_STREAM_END) {
    out.clear();
    return failed_compression();
  }
  out.resize(deflate_.total_out);
  return {};
}

std::error_code body_codec::zlib_decompress(std::string_view in, std::string& out,
                                            std::size_t max_output) {
  if (in.size() > max_zlib_chunk) return failed_decompression();
  if (!inflate_ready_) {
    inflate_ = z_stream{};
    if (inflateInit(&inflate_) != Z_OK) return failed_decompression();  // zlib format only
    inflate_ready_ = true;
  } else if (inflateReset(&inflate_) != Z_OK) {
    return failed_decompression();
  }
  const std::size_t cap = output_cap(max_output);
  out.resize(first_size(in.size(), cap));
  std::size_t produced = 0;
  inflate_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  inflate_.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    if (produced == out.size()) {
      if (out.size() >= cap) break;  // more output than allowed
      out.resize(grown_size(out.size(), cap));
    }
    const std::size_t room = std::min<std::size_t>(out.size() - produced, max_zlib_chunk);
    inflate_.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    inflate_.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&inflate_, Z_NO_FLUSH);
    produced += room - inflate_.avail_out;
    if (produced > max_output) break;
    if (rc == Z_STREAM_END) {
      out.resize(produced);
      return {};
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && inflate_.avail_out == 0) continue;  // needs more room
    break;  // corrupt data, or input ended before the stream did
  }
  out.clear();
  return failed_decompression();
}

// --- zstd (standard frames) ---------------------------------------------------------------

std::error_code body_codec::zstd_compress(int level, std::string_view in, std::string& out) {
  if (zstd_c_ == nullptr && (zstd_c_ = ZSTD_createCCtx()) == nullptr) return failed_compression();
  if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
    return make_error_code(errc::invalid_argument);
  }
  out.resize(ZSTD_compressBound(in.size()));
  const std::size_t n =
      ZSTD_compressCCtx(zstd_c_, out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) {
    out.clear();
    return failed_compression();
  }
  out.resize(n);
  return {};
}

std::error_code body_codec::zstd_decompress(std::string_view in, std::string& out,
                                            std::size_t max_output) {
  if (zstd_d_ == nullptr && (zstd_d_ = ZSTD_createDCtx()) == nullptr) {
    return failed_decompression();
  }
  ZSTD_DCtx_reset(zstd_d_, ZSTD_reset_session_only);
  // A frame header may ask for a window far larger than the output limit (a memory bomb); allow
  // what a body of max_output bytes can need, but not less than 2^24 (Java's high levels stream
  // without a pledged size and declare large windows).
  const int wanted_log = static_cast<int>(std::bit_width(std::max<std::size_t>(max_output, 1)));
  ZSTD_DCtx_setParameter(zstd_d_, ZSTD_d_windowLogMax, std::clamp(wanted_log, 24, 30));

  const std::size_t cap = output_cap(max_output);
  std::size_t size = first_size(in.size(), cap);
  const unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
    if (declared > max_output) {
      out.clear();
      return failed_decompression();
    }
    size = std::max<std::size_t>(static_cast<std::size_t>(declared), 1);
  }
  out.resize(size);
  std::size_t produced = 0;
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  for (;;) {
    if (produced == out.size()) {
      if (out.size() >= cap) break;
      out.resize(grown_size(out.size(), cap));
    }
    ZSTD_outBuffer output{out.data(), out.size(), produced};
    const std::size_t rc = ZSTD_decompressStream(zstd_d_, &output, &input);
    if (ZSTD_isError(rc)) break;
    produced = output.pos;
    if (produced > max_output) break;
    if (rc == 0 && input.pos == input.size) {  // last frame complete, nothing left over
      out.resize(produced);
      return {};
    }
    // All input read and room left: the decoder wants bytes that do not exist.
    if (input.pos == input.size && output.pos < output.size) break;
  }
  out.clear();
  return failed_decompression();
}

// --- lz4 (frame format; independent blocks, which lz4-java's reader requires) --------------

std::error_code body_codec::lz4_compress(std::string_view in, std::string& out) {
  if (lz4_c_ == nullptr && LZ4F_isError(LZ4F_createCompressionContext(&lz4_c_, LZ4F_VERSION))) {
    lz4_c_ = nullptr;
    return failed_compression();
  }
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentSize = in.size();
  out.resize(LZ4F_HEADER_SIZE_MAX + LZ4F_compressBound(in.size(), &prefs));
  std::size_t pos = LZ4F_compressBegin(lz4_c_, out.data(), out.size(), &prefs);
  if (!LZ4F_isError(pos)) {
    const std::size_t body = LZ4F_compressUpdate(lz4_c_, out.data() + pos, out.size() - pos,
                                                 in.data(), in.size(), nullptr);
    if (!LZ4F_isError(body)) {
      pos += body;
      const std::size_t tail =
          LZ4F_compressEnd(lz4_c_, out.data() + pos, out.size() - pos, nullptr);
      if (!LZ4F_isError(tail)) {
        out.resize(pos + tail);
        return {};
      }
    }
  }
  out.clear();
  return failed_compression();
}

std::error_code body_codec::lz4_decompress(std::string_view in, std::string& out,
                                           std::size_t max_output) {
  if (lz4_d_ == nullptr && LZ4F_isError(LZ4F_createDecompressionContext(&lz4_d_, LZ4F_VERSION))) {
    lz4_d_ = nullptr;
    return failed_decompression();
  }
  LZ4F_resetDecompressionContext(lz4_d_);
  const std::size_t cap = output_cap(max_output);
  out.resize(first_size(in.size(), cap));
  std::size_t produced = 0;
  std::size_t consumed = 0;
  for (;;) {
    if (produced == out.size()) {
      if (out.size() >= cap) break;
      out.resize(grown_size(out.size(), cap));
    }
    std::size_t dst_size = out.size() - produced;
    std::size_t src_size = in.size() - consumed;
    const std::size_t rc = LZ4F_decompress(lz4_d_, out.data() + produced, &dst_size,
                                           in.data() + consumed, &src_size, nullptr);
    if (LZ4F_isError(rc)) break;
    produced += dst_size;
    consumed += src_size;
    if (produced > max_output) break;
    if (rc == 0 && consumed == in.size()) {  // last frame complete
      out.resize(produced);
      return {};
    }
    if (consumed == in.size() && produced < out.size()) break;  // truncated
  }
  out.clear();
  return failed_decompression();
}

}  // namespace rmq::wire
