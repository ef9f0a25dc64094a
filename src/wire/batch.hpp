// The body of SEND_BATCH_MESSAGE (Java MessageDecoder.encodeMessages / MessageBatch.encode).
//
// The body is a sequence of records, one per message, big-endian:
//   TOTALSIZE int32 = 22 + body + properties | MAGICCODE int32 (0) | BODYCRC int32 (0) |
//   FLAG int32 | body length int32 + body | properties length int16 + properties
// Inner messages are never compressed; each carries its own UNIQ_KEY.
#pragma once

#include "rmq/message.hpp"
#include "wire/properties.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rmq::wire {

class uniq_key_generator;

/// Fixed bytes per record besides body and properties.
inline constexpr std::size_t batch_record_overhead = 4 + 4 + 4 + 4 + 4 + 2;

[[nodiscard]] constexpr std::size_t batch_record_size(std::size_t body_size,
                                                      std::size_t properties_size) noexcept {
  return batch_record_overhead + body_size + properties_size;
}

/// Appends one record. `properties` must be at most max_properties_size bytes.
void append_batch_record(std::string& out, std::int32_t flag, std::string_view body,
                         std::string_view properties);

/// Appends the record of one message: its properties with `per_send` (its UNIQ_KEY, the
/// properties hooks added) written in place. Returns the properties' size; above
/// max_properties_size the record is taken off again (`out` as it was) and the message cannot be
/// batched.
std::size_t append_batch_message(std::string& out, const rmq::message& msg,
                                 const send_properties& per_send,
                                 trailing_separator trailing = trailing_separator::keep);

/// Properties added to the records of a batch (send hooks): record i gets
/// pairs[bounds[i], bounds[i + 1]). Empty bounds: none added.
struct batch_added_properties {
  std::span<const property_ref> pairs;
  std::span<const std::uint32_t> bounds;  ///< messages + 1 entries, ascending
};

/// Appends the batch body of `messages` to `out`, properties written in place (no temporary
/// strings). Messages without a UNIQ_KEY of their own get one from `ids`; the UNIQ_KEYs of all
/// messages, comma-joined (Java's SendResult.msgId of a batch), are appended to `*msg_ids` if
/// given. `added` properties go last into their records. Encode once per send and reuse the bytes
/// for every retry, so the ids stay the same. Nothing else is validated (see validate_batch); a
/// record whose properties exceed max_properties_size fails with properties_too_long and leaves
/// `out` and `*msg_ids` as they were.
std::error_code encode_batch(std::span<const rmq::message> messages, uniq_key_generator& ids,
                             std::string& out, std::string* msg_ids = nullptr,
                             trailing_separator trailing = trailing_separator::keep,
                             const batch_added_properties& added = {});

/// Properties of the batch request header (`i`): WAIT, plus UNIQ_KEY when not empty (the 5.x
/// Java client gives the batch itself an id; 4.9.x sends WAIT only), plus INSTANCE_ID when
/// `instance_id` is not empty (a namespaced producer's batch, as Java's MessageBatch gets it).
void append_batch_header_properties(std::string& out, bool wait_store_msg_ok,
                                    std::string_view uniq_key, std::string_view instance_id = {},
                                    trailing_separator trailing = trailing_separator::keep);

/// One decoded record; views into the batch body.
struct batch_record {
  std::int32_t flag = 0;
  std::string_view body;
  std::string_view properties;
};

struct batch_decode_options {
  /// Also require TOTALSIZE == 22 + body + properties. Brokers ignore TOTALSIZE (they walk the
  /// body and properties lengths), but every Java client writes it exactly, so a mismatch means
  /// a broken encoder. Off = accept exactly what a broker accepts.
  bool check_total_size = true;
};

/// Decodes a batch body as a broker walks it (store MessageExtEncoder / MessageDecoder
/// .decodeMessages): records follow each other with no gap, and the last one must end exactly at
/// the end of the body. `out` is replaced by the records (its capacity reused). A record that
/// runs past the end, a negative length, trailing bytes or an empty body fail with
/// invalid_batch_body (`out` then holds the records decoded before the bad one).
std::error_code decode_batch(std::string_view body, std::vector<batch_record>& out,
                             const batch_decode_options& options = {});

}  // namespace rmq::wire
