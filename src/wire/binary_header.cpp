#include "wire/binary_header.hpp"

#include "rmq/error.hpp"
#include "wire/big_endian.hpp"

namespace rmq::wire {
namespace {

// A bounds-checked reader over the header bytes.
class cursor {
 public:
  explicit cursor(std::string_view bytes) noexcept : bytes_(bytes) {}

  [[nodiscard]] std::size_t left() const noexcept { return bytes_.size() - pos_; }
  [[nodiscard]] std::size_t pos() const noexcept { return pos_; }

  // Callers check left() first; these read fixed-size integers.
  [[nodiscard]] std::int16_t i16() noexcept {
    const auto v = static_cast<std::int16_t>(load_be16(bytes_.data() + pos_));
    pos_ += 2;
    return v;
  }
  [[nodiscard]] std::int32_t i32() noexcept {
    const auto v = static_cast<std::int32_t>(load_be32(bytes_.data() + pos_));
    pos_ += 4;
    return v;
  }
  [[nodiscard]] std::uint8_t u8() noexcept { return static_cast<std::uint8_t>(bytes_[pos_++]); }

  /// Takes `n` bytes, validated against `limit` (the largest length that may ever be valid)
  /// and then against the bytes left.
  [[nodiscard]] std::error_code take(std::int64_t n, std::size_t limit,
                                     std::string_view& out) noexcept {
    if (n < 0 || static_cast<std::uint64_t>(n) > limit)
      return make_error_code(errc::overlong_binary_field);
    if (static_cast<std::size_t>(n) > left()) return make_error_code(errc::truncated_binary_header);
    out = bytes_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return {};
  }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

}  // namespace

std::error_code decode_binary_header(std::string_view header, decode_scratch& scratch,
                                     command_view& out) noexcept {
  auto& fields = header_decoder_access::fields(scratch);
  header_decoder_access::strings(scratch).clear();
  fields.clear();
  out.type = serialize_type::rocketmq;
  out.remark.reset();
  out.ext_fields = {};
  out.has_ext_fields = false;
  if (header.size() < binary_header_fixed_size)
    return make_error_code(errc::truncated_binary_header);

  cursor c(header);
  out.fields.code = c.i16();
  out.fields.language = static_cast<language_code>(c.u8());
  out.fields.version = c.i16();
  out.fields.opaque = c.i32();
  out.fields.flag = c.i32();

  std::string_view remark;
  if (auto ec = c.take(c.i32(), header.size(), remark)) return ec;
  if (!remark.empty()) out.remark = remark;  // length 0 means null

  if (c.left() < 4) return make_error_code(errc::truncated_binary_header);
  std::string_view region;
  if (auto ec = c.take(c.i32(), header.size(), region)) return ec;

  cursor e(region);
  while (e.left() > 0) {
    if (fields.size() >= max_ext_fields) return make_error_code(errc::overlong_binary_field);
    ext_field f;
    if (e.left() < 2) return make_error_code(errc::truncated_binary_header);
    if (auto ec = e.take(e.i16(), region.size(), f.name)) return ec;
    if (e.left() < 4) return make_error_code(errc::truncated_binary_header);
    if (auto ec = e.take(e.i32(), region.size(), f.value)) return ec;
    try {
      fields.push_back(f);  // allocates only until the largest header has been seen
    } catch (...) {
      fields.clear();
      return make_error_code(errc::overlong_binary_field);
    }
  }
  out.ext_fields = std::span<const ext_field>(fields.data(), fields.size());
  out.has_ext_fields = !fields.empty();
  return {};
}

}  // namespace rmq::wire
