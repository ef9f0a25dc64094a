// Message body compression (Java CompressionType / *Compressor, DefaultMQProducerImpl).
//
// Formats, as the Java client writes them: zlib = RFC 1950 stream (java.util.zip.Deflater through
// DeflaterOutputStream: 2-byte header, deflate data, adler32), zstd = standard frame, lz4 = LZ4
// frame format (lz4-java LZ4FrameOutputStream), never raw blocks.
//
// When: only single messages (never batches) whose body is at least `threshold` bytes. Java then
// sends the compressed bytes even when they are not smaller than the body (its
// tryToCompressMessage has no size comparison), and so do we: the consumer side sees the same
// sysFlag and bytes whichever client sent them.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;
struct LZ4F_cctx_s;
struct LZ4F_dctx_s;

namespace rmq::wire {

/// Values of the sysFlag compression-type field (bits 8-10).
enum class compression_type : std::uint8_t { lz4 = 1, zstd = 2, zlib = 3 };

[[nodiscard]] std::string_view to_string(compression_type) noexcept;  ///< "LZ4", "ZSTD", "ZLIB"
[[nodiscard]] std::optional<compression_type> compression_from_string(std::string_view) noexcept;

/// sysFlag bits for a body compressed with `type`: COMPRESSED | type << 8 (zlib: 0x301).
[[nodiscard]] constexpr std::int32_t compression_sys_flag(compression_type type) noexcept {
  return 0x1 | static_cast<std::int32_t>(type) << 8;
}

/// How a COMPRESSED body with this sysFlag is to be read: type field 0 (releases <= 4.9.3) and 3
/// are zlib; 4..7 are unknown (nullopt).
[[nodiscard]] std::optional<compression_type> compression_from_sys_flag(
    std::int32_t sys_flag) noexcept;

inline constexpr int default_compression_level = 5;  ///< rocketmq.message.compressLevel
inline constexpr std::size_t default_compression_threshold = 4096;  ///< compressMsgBodyOverHowmuch
/// Default cap on a decompressed body: the default maximum message size, which bounds the body
/// before compression.
inline constexpr std::size_t default_max_decompressed_size = 4u * 1024 * 1024;

struct compression_options {
  compression_type type = compression_type::zlib;
  /// zlib 0..9 (Java Deflater), zstd 1..22 (negative = fast levels); ignored by lz4, whose Java
  /// writer has no level.
  int level = default_compression_level;
  /// Bodies shorter than this are sent as they are; SIZE_MAX disables compression.
  std::size_t threshold = default_compression_threshold;
};

/// Compression and decompression contexts, reused across calls (zlib and zstd states are
/// hundreds of KiB; setting them up per message would dominate small compressions). One per
/// thread; not thread-safe.
class body_codec {
 public:
  body_codec() noexcept = default;
  ~body_codec();
  body_codec(const body_codec&) = delete;
  body_codec& operator=(const body_codec&) = delete;

  /// Replaces `out` with `in` compressed (its capacity is reused). Errors: compression_failed,
  /// invalid_argument for a level the codec does not have.
  std::error_code compress(compression_type type, int level, std::string_view in, std::string& out);

  /// Replaces `out` with `in` decompressed. More than `max_output` bytes of output, a truncated
  /// or corrupt stream, or bytes after the last zstd/lz4 frame: decompression_failed, `out`
  /// empty. Like Java's InflaterInputStream, bytes after the end of a zlib stream are ignored.
  std::error_code decompress(compression_type type, std::string_view in, std::string& out,
                             std::size_t max_output = default_max_decompressed_size);

  /// Java's rule for a single message: compresses `body` into `out` when `body.size() >=
  /// options.threshold`. Returns the sysFlag bits to OR into the request (0 = not compressed:
  /// send `body` itself). On a compression error the body is sent uncompressed, as Java does, and
  /// `*error` (if given) receives the error.
  std::int32_t compress_if_needed(std::string_view body, const compression_options& options,
                                  std::string& out, std::error_code* error = nullptr);

 private:
  std::error_code zlib_compress(int level, std::string_view in, std::string& out);
  std::error_code zlib_decompress(std::string_view in, std::string& out, std::size_t max);
  std::error_code zstd_compress(int level, std::string_view in, std::string& out);
  std::error_code zstd_decompress(std::string_view in, std::string& out, std::size_t max);
  std::error_code lz4_compress(std::string_view in, std::string& out);
  std::error_code lz4_decompress(std::string_view in, std::string& out, std::size_t max);

  z_stream deflate_{};
  z_stream inflate_{};
  bool deflate_ready_ = false;
  bool inflate_ready_ = false;
  int deflate_level_ = 0;
  ZSTD_CCtx_s* zstd_c_ = nullptr;
  ZSTD_DCtx_s* zstd_d_ = nullptr;
  LZ4F_cctx_s* lz4_c_ = nullptr;
  LZ4F_dctx_s* lz4_d_ = nullptr;
};

}  // namespace rmq::wire
