// Reading a captured frame back through our decoder and writing it again with our encoder: the
// tests that compare our frames with the Java client's byte for byte.
#pragma once

#include "wire/command.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <string_view>

namespace rmq::test {

/// Decodes the single frame in `bytes` and hands its view to `check`.
inline void with_view(const std::string& bytes,
                      const std::function<void(const wire::command_view&)>& check) {
  wire::frame_decoder d;
  int frames = 0;
  REQUIRE(!d.feed(bytes, [&](const wire::command_view& v) {
    ++frames;
    check(v);
  }));
  REQUIRE(frames == 1);
}

/// Writes a JSON frame with the captured frame's code, version, opaque and flag, language CPP:
/// `write` adds the header fields, `body` follows.
template <class Write>
std::string write_like(const wire::command_view& captured, Write&& write, std::string_view body) {
  wire::command_fields f = captured.fields;
  f.language = wire::language_code::cpp;
  std::string out;
  wire::frame_writer w(out, wire::serialize_type::json, f);
  write(w);
  w.finish(body);
  return out;
}

}  // namespace rmq::test
