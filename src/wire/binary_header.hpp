// ROCKETMQ binary remoting header (serialize type 1), per RocketMQSerializable:
//   int16 code | uint8 language | int16 version | int32 opaque | int32 flag
//   | int32 remark length + bytes (0 = null) | int32 extFields length + entries
// where each entry is [int16 key length][key][int32 value length][value]. Big-endian.
#pragma once

#include "wire/command.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace rmq::wire {

/// Size of the fixed part, up to and including the extFields length word.
inline constexpr std::size_t binary_header_fixed_size = 21;

/// Decodes a binary header into `out` (type, fields, remark, ext_fields; body untouched). Every
/// string is a view into `header`. A length that is negative or larger than the whole header is
/// overlong_binary_field; one that fits the header but not the bytes left is
/// truncated_binary_header. Bytes after the extFields region are ignored, as Java does.
[[nodiscard]] std::error_code decode_binary_header(std::string_view header, decode_scratch& scratch,
                                                   command_view& out) noexcept;

}  // namespace rmq::wire
