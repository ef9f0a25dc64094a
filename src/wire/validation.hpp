// Checks run before a send does any I/O: the Java 5.3.3 client's rules (Validators,
// TopicValidator, Message.putUserProperty, MessageBatch.generateFromList) and a few stricter ones
// that turn what a broker would reject or silently mangle into a specific rmq::errc.
#pragma once

#include "rmq/message.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

namespace rmq::wire {

enum class compression_type : std::uint8_t;  // wire/compression.hpp

inline constexpr std::size_t max_topic_length = 127;  ///< Validators.TOPIC_MAX_LENGTH
inline constexpr std::size_t max_group_length = 255;  ///< Validators.CHARACTER_MAX_LENGTH
inline constexpr std::size_t default_max_message_size = 4u * 1024 * 1024;
/// Largest maximum message size a producer accepts. A body of that size (or a batch body), with
/// the largest header a send writes and what compression adds to an incompressible body, must
/// fit one remoting frame: 16 MiB (NettyDecoder's frameMaxLength, our default_max_frame); on a
/// longer frame the broker closes the connection. 1 MiB is left for the header (up to 32767
/// bytes of properties, escaped up to six-fold in JSON) and that growth (lz4's worst: 1/255).
inline constexpr std::size_t max_message_size_limit = 15u * 1024 * 1024;
/// Java's reserved prefix for retry topics; batches may not target them.
inline constexpr std::string_view retry_topic_prefix = "%RETRY%";

struct validation_limits {
  /// Largest body of a single message, and largest encoded body of a batch (Java
  /// DefaultMQProducer.maxMessageSize; the broker's own limit is also 4 MiB by default).
  std::size_t max_message_size = default_max_message_size;
  /// Highest delay level the brokers know (their `messageDelayLevel` list has 18 entries by
  /// default; a broker clamps higher levels silently, we refuse them).
  int max_delay_level = rmq::message::max_default_delay_level;
  /// Bytes of per-send properties the pipeline adds besides UNIQ_KEY (TRAN_MSG, PGROUP,
  /// INSTANCE_ID, ...), counted against the 32767-byte properties limit.
  std::size_t extra_property_bytes = 0;
  /// The producer's namespace (wire/namespace.hpp), empty for none: the topic as sent, wrapped,
  /// must fit max_topic_length, and INSTANCE_ID=<name_space> counts against the properties
  /// limit.
  std::string_view name_space;
};

/// Topic: blank (empty or only whitespace), longer than 127, characters outside
/// `[%|a-zA-Z0-9_-]`, or one of TopicValidator's not-allowed-send topics.
[[nodiscard]] std::error_code validate_topic(std::string_view topic) noexcept;

/// Producer group: blank, longer than 255, characters outside `[%|a-zA-Z0-9_-]`, or reserved:
/// DEFAULT_PRODUCER (Java refuses it) and CLIENT_INNER_PRODUCER (the group every Java client
/// registers for its internal sends; sharing it would mix our heartbeats with theirs).
[[nodiscard]] std::error_code validate_group(std::string_view group) noexcept;

/// Whether the body codec compresses with `level` for `type`: zlib -1..9 (java.util.zip.Deflater's
/// range; -1 is zlib's default, 6; 0 stores without compressing), zstd
/// ZSTD_minCLevel()..ZSTD_maxCLevel() (-131072..22 with libzstd 1.5; 0 is zstd's default, 3),
/// lz4 any level: it is not used (lz4-java's frame writer has none, and ours writes the same
/// frame).
[[nodiscard]] bool is_valid_compression_level(compression_type type, int level) noexcept;

/// Whether `s` has a character outside TopicValidator.VALID_CHAR_BIT_MAP, [%|a-zA-Z0-9_-]
/// (the characters of topic, group and namespace names).
[[nodiscard]] bool has_illegal_name_char(std::string_view s) noexcept;

/// True for the property names Java reserves for the system (MessageConst.STRING_HASH_SET).
[[nodiscard]] bool is_reserved_property_name(std::string_view name) noexcept;

/// One user property (message::set_property, a send hook's add_property): reserved name, blank
/// name, blank value (Java's trim(): only bytes <= 0x20), 0x01/0x02 in the name or value.
[[nodiscard]] std::error_code validate_user_property(std::string_view name,
                                                     std::string_view value) noexcept;

/// A single message, in this order: topic (also wrapped in limits.name_space); body empty or larger
/// than max_message_size; delay level outside 0..max_delay_level; a negative timer (delivery time
/// or delay), or a timer together with a delay level (invalid_argument); 0x01/0x02 inside tags,
/// keys or the UNIQ_KEY; each user property (validate_user_property); finally the encoded
/// properties string (with a generated UNIQ_KEY if the message has none, and
/// extra_property_bytes) above 32767 bytes.
[[nodiscard]] std::error_code validate_message(const rmq::message& msg,
                                               const validation_limits& limits = {});

/// A batch, in Java's order: not empty; for each message as MessageBatch.generateFromList: no
/// delay level (and, stricter, no delivery time: brokers ignore timers inside batches), no
/// `%RETRY%` topic, the first message's topic, its wait-store-msg-ok value; then every message
/// valid as above; finally the encoded batch body at most max_message_size bytes.
[[nodiscard]] std::error_code validate_batch(std::span<const rmq::message> messages,
                                             const validation_limits& limits = {});

/// Encoded properties of `msg` as a send writes them: its own UNIQ_KEY or a generated one.
[[nodiscard]] std::size_t sent_properties_size(const rmq::message& msg);

}  // namespace rmq::wire
