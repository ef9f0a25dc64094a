// sysFlag bits of SEND_MESSAGE headers and stored messages (Java MessageSysFlag).
#pragma once

#include <cstdint>

namespace rmq::wire::sys_flag {

inline constexpr std::int32_t compressed = 0x1;
/// Set by the broker for MULTI_TAG topics; a producer never sends it.
inline constexpr std::int32_t multi_tags = 0x2;

// Bits 2-3: transaction type. A producer sends `transaction_prepared` for half messages.
inline constexpr std::int32_t transaction_not_type = 0x0;
inline constexpr std::int32_t transaction_prepared = 0x4;
inline constexpr std::int32_t transaction_commit = 0x8;
inline constexpr std::int32_t transaction_rollback = 0xC;
inline constexpr std::int32_t transaction_mask = 0xC;

inline constexpr std::int32_t bornhost_v6 = 0x10;
inline constexpr std::int32_t storehost_v6 = 0x20;
inline constexpr std::int32_t need_unwrap = 0x40;
inline constexpr std::int32_t inner_batch = 0x80;

// Bits 8-10: compression type (4.9.4+ and 5.x). A field value of 0 means zlib, because
// releases <= 4.9.3 set only `compressed` and always used zlib.
inline constexpr std::int32_t compression_lz4 = 0x100;
inline constexpr std::int32_t compression_zstd = 0x200;
inline constexpr std::int32_t compression_zlib = 0x300;
inline constexpr std::int32_t compression_type_mask = 0x700;
inline constexpr int compression_type_shift = 8;

[[nodiscard]] constexpr bool is_compressed(std::int32_t flag) noexcept {
  return (flag & compressed) != 0;
}

/// The 3-bit compression type field (0..7) of `flag`.
[[nodiscard]] constexpr int compression_type_field(std::int32_t flag) noexcept {
  return (flag & compression_type_mask) >> compression_type_shift;
}

[[nodiscard]] constexpr std::int32_t transaction_type(std::int32_t flag) noexcept {
  return flag & transaction_mask;
}

[[nodiscard]] constexpr std::int32_t with_transaction_type(std::int32_t flag,
                                                           std::int32_t type) noexcept {
  return (flag & ~transaction_mask) | type;
}

}  // namespace rmq::wire::sys_flag
