// JSON remoting header (serialize type 0): a strict, allocation-free reader and the fastjson-style
// string escaper used by frame_writer.
//
// The reader accepts exactly RFC 8259 JSON (one object, optional surrounding whitespace) with
// these rules for the RemotingCommand shape:
//   code, version, opaque, flag   integer numbers within int32, or null (= 0)
//   language                      enum name string ("CPP"; unknown names read as OTHER), an
//                                 integer 0..255, or null (= JAVA, the Java default)
//   remark                        string or null (= absent)
//   extFields                     object of scalars or null; a string value is unescaped, a
//                                 number/true/false keeps its literal text, null is dropped
//   any other key                 any JSON value, skipped (serializeTypeCurrentRPC included)
// Duplicate keys: the last one wins (for extFields, command_view::field finds the last entry).
// Bytes >= 0x80 inside strings are passed through unchecked, as the Java side tolerates them.
#pragma once

#include "wire/command.hpp"

#include <string>
#include <string_view>
#include <system_error>

namespace rmq::wire {

/// Deepest nesting accepted (the header object itself is depth 1).
inline constexpr int json_max_depth = 32;

/// Decodes a JSON header into `out` (type, fields, remark, ext_fields; body untouched). Strings
/// without escapes are views into `header`; unescaped ones live in `scratch`.
[[nodiscard]] std::error_code decode_json_header(std::string_view header, decode_scratch& scratch,
                                                 command_view& out) noexcept;

/// Most bytes write_json_string writes for a text of `n` bytes (quotes, every byte as \uXXXX).
[[nodiscard]] constexpr std::size_t json_string_max_size(std::size_t n) noexcept {
  return 2 + 6 * n;
}

/// Writes `text` as a quoted JSON string escaped like fastjson: \" \\ \b \t \n \f \r short
/// forms; other C0 controls, DEL, U+0080..U+009F and U+2028/U+2029 as \uXXXX (upper-case hex).
/// `out` must have room for json_string_max_size(text.size()) bytes; returns the end written.
char* write_json_string(char* out, std::string_view text) noexcept;
/// The same, appended to a string.
void append_json_string(std::string& out, std::string_view text);

}  // namespace rmq::wire
