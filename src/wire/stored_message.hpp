// A message in the broker's store format (Java MessageDecoder.decode / MessageExtEncoder): what a
// broker sends as the body of CHECK_TRANSACTION_STATE (one message) and of a PULL_MESSAGE FOUND
// response (several, back to back).
//
// Layout, big-endian:
//   TOTALSIZE int32 | MAGICCODE int32 | BODYCRC int32 | QUEUEID int32 | FLAG int32 |
//   QUEUEOFFSET int64 | PHYSICALOFFSET int64 | SYSFLAG int32 | BORNTIMESTAMP int64 |
//   BORNHOST 4 or 16 bytes (sysFlag BORNHOST_V6) + port int32 | STORETIMESTAMP int64 |
//   STOREHOST 4 or 16 bytes (sysFlag STOREHOSTADDRESS_V6) + port int32 | RECONSUMETIMES int32 |
//   PREPAREDTRANSACTIONOFFSET int64 | body length int32 + body |
//   topic length (int8 with magic V1, int16 with V2) + topic | properties length int16 + properties
// The body is as stored: compressed when sysFlag has COMPRESSED (see compression.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace rmq::wire {

/// MAGICCODE of the store format (MessageDecoder.MESSAGE_MAGIC_CODE, 0xDAA320A7): 1-byte topic
/// length.
inline constexpr std::int32_t stored_message_magic_v1 = -626843481;
/// MESSAGE_MAGIC_CODE_V2 (0xDAA320AB, 5.x): 2-byte topic length. A 5.x broker stores a message
/// this way when its topic is longer than 127 bytes.
inline constexpr std::int32_t stored_message_magic_v2 = -626843477;

/// Bytes of a stored message besides body, topic and properties, with IPv4 hosts and magic V1.
inline constexpr std::size_t stored_message_min_size = 91;

/// One decoded message: views into the decoded buffer.
struct stored_message_view {
  std::int32_t total_size = 0;
  std::int32_t magic = 0;     ///< stored_message_magic_v1 or _v2
  std::int32_t body_crc = 0;  ///< as the broker computed it: see stored_body_crc
  std::int32_t queue_id = 0;
  std::int32_t flag = 0;
  std::int64_t queue_offset = 0;
  std::int64_t commit_log_offset = 0;
  std::int32_t sys_flag = 0;
  std::int64_t born_timestamp = 0;
  std::string_view born_host;  ///< raw address bytes: 4 (IPv4) or 16 (sysFlag BORNHOST_V6)
  std::int32_t born_port = 0;
  std::int64_t store_timestamp = 0;
  std::string_view store_host;  ///< raw address bytes: 4 or 16 (sysFlag STOREHOSTADDRESS_V6)
  std::int32_t store_port = 0;
  std::int32_t reconsume_times = 0;
  std::int64_t prepared_transaction_offset = 0;
  std::string_view body;  ///< as stored: compressed if sysFlag says so
  std::string_view topic;
  std::string_view properties;  ///< the properties string (properties.hpp decodes it)
};

/// Decodes the message at the front of `in` and advances `in` past it (so a PULL body is read by
/// calling it until `in` is empty). Stricter than Java, which ignores TOTALSIZE: the message must
/// fill exactly TOTALSIZE bytes, all of them inside `in`; the magic must be V1 or V2; no length
/// may be negative. Anything else is errc::invalid_response, with `in` and `out` left unchanged.
/// Never reads outside `in`, never allocates.
[[nodiscard]] std::error_code decode_stored_message(std::string_view& in,
                                                    stored_message_view& out) noexcept;

/// What encode_stored_message writes. TOTALSIZE is computed; hosts are raw address bytes.
struct stored_message_fields {
  /// stored_message_magic_v1 or _v2; 0 picks V1, or V2 when the topic is longer than 127 bytes
  /// (as a 5.x broker does).
  std::int32_t magic = 0;
  std::int32_t body_crc = 0;  ///< stored_body_crc(body) for what a broker writes
  std::int32_t queue_id = 0;
  std::int32_t flag = 0;
  std::int64_t queue_offset = 0;
  std::int64_t commit_log_offset = 0;
  /// Written as given, except the BORNHOST_V6 / STOREHOSTADDRESS_V6 bits, which are set from
  /// the host sizes so that the bytes always decode.
  std::int32_t sys_flag = 0;
  std::int64_t born_timestamp = 0;
  std::string_view born_host;  ///< 4 or 16 raw address bytes, e.g. "\x7f\x00\x00\x01"
  std::int32_t born_port = 0;
  std::int64_t store_timestamp = 0;
  std::string_view store_host;  ///< 4 or 16 raw address bytes
  std::int32_t store_port = 0;
  std::int32_t reconsume_times = 0;
  std::int64_t prepared_transaction_offset = 0;
  std::string_view body;  ///< as stored (compress it first and set sysFlag if wanted)
  std::string_view topic;
  std::string_view properties;
};

/// The fields of a decoded message, so that encoding them gives back its bytes.
[[nodiscard]] stored_message_fields fields_of(const stored_message_view& m) noexcept;

/// Appends one message in the store format (what a broker sends in check-backs and pulls).
/// Allocation-free once `out` has the capacity. Throws std::invalid_argument for a host that is
/// not 4 or 16 bytes or an unknown magic, std::length_error for a topic longer than the magic
/// allows (127 bytes for V1, 32767 for V2), properties longer than 32767 bytes or a message of
/// 2 GiB or more; `out` is then unchanged.
void encode_stored_message(std::string& out, const stored_message_fields& m);

/// BODYCRC as a broker computes it (UtilAll.crc32): the CRC-32 of the stored body, top bit
/// cleared.
[[nodiscard]] std::int32_t stored_body_crc(std::string_view body) noexcept;

}  // namespace rmq::wire
