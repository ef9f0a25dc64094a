// What every harness shares: a check that aborts (libFuzzer then saves the input as a crash) and
// the round trip of a decoded remoting command through the encoder.
#pragma once

#include "wire/command.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond) ((cond) ? void() : ::rmq::fuzz::check_failed(#cond, __FILE__, __LINE__))

namespace rmq::fuzz {

[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
  std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) noexcept {
  return {reinterpret_cast<const char*>(data), size};
}

inline bool same(const wire::remoting_command& a, const wire::remoting_command& b) {
  return a.fields.code == b.fields.code && a.fields.language == b.fields.language &&
         a.fields.version == b.fields.version && a.fields.opaque == b.fields.opaque &&
         a.fields.flag == b.fields.flag && a.remark == b.remark && a.ext_fields == b.ext_fields &&
         a.body == b.body && a.has_ext_fields == b.has_ext_fields;
}

/// What a command decoded from `type` becomes after one trip through that encoder, per the
/// documented limits (command.hpp, json_header.hpp): binary cannot tell an empty remark from
/// none nor an empty extFields map from none; JSON writes a language it has no name for as OTHER.
inline wire::remoting_command expected_after_encoding(wire::remoting_command cmd,
                                                      wire::serialize_type type) {
  if (type == wire::serialize_type::rocketmq) {
    if (cmd.remark && cmd.remark->empty()) cmd.remark.reset();
    cmd.has_ext_fields = !cmd.ext_fields.empty();
  } else if (wire::to_string(cmd.fields.language).empty()) {
    cmd.fields.language = wire::language_code::other;
  }
  return cmd;
}

/// decode(encode(x)) == x for a decoded command, and encoding is stable: encoding the decoded
/// re-encoding gives the same bytes.
inline void check_command_round_trip(const wire::command_view& view) {
  const auto decoded = wire::remoting_command::from_view(view);
  const std::string bytes = decoded.encode(view.type);
  FUZZ_CHECK(bytes.size() >= 8);
  wire::decode_scratch scratch;
  wire::command_view again;
  const auto ec = wire::decode_frame(std::string_view(bytes).substr(4), scratch, again);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(again.type == view.type);
  const auto redecoded = wire::remoting_command::from_view(again);
  FUZZ_CHECK(same(redecoded, expected_after_encoding(decoded, view.type)));
  FUZZ_CHECK(redecoded.encode(view.type) == bytes);
}

/// A header decoder (decode_json_header, decode_binary_header) on arbitrary bytes: a header that
/// decodes has the decoder's serialization and survives the round trip.
template <class Decoder>
void check_header_decoder(Decoder decode, wire::serialize_type type, std::string_view header) {
  wire::decode_scratch scratch;
  wire::command_view view;
  if (decode(header, scratch, view)) return;
  FUZZ_CHECK(view.type == type);
  check_command_round_trip(view);
}

}  // namespace rmq::fuzz
