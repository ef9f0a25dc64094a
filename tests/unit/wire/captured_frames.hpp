// Frames captured from real Java clients and servers (tests/conformance/frames, and the requests
// kept in fuzz/captures): their files, their bytes and their bodies.
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace rmq::test {

/// Path of a file under tests/conformance/frames, e.g. frame_path("json/heartbeat_request.hex").
[[nodiscard]] inline std::string frame_path(std::string_view relative) {
  return std::string(RMQ_TEST_FRAMES_DIR) + "/" + std::string(relative);
}

[[nodiscard]] inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

#ifdef RMQ_TEST_CAPTURES_DIR
/// Path of a file under fuzz/captures: captured requests kept out of tests/conformance/frames,
/// whose every *_request.hex is replayed to rmq-sim (see fuzz/captures/README.md).
[[nodiscard]] inline std::string capture_path(std::string_view relative) {
  return std::string(RMQ_TEST_CAPTURES_DIR) + "/" + std::string(relative);
}
#endif

[[nodiscard]] inline std::string with_hex_extension(std::string_view name) {
  std::string relative(name);
  if (!relative.ends_with(".hex")) relative += ".hex";
  return relative;
}

/// The bytes of a hex dump file.
[[nodiscard]] inline std::string read_hex_file(const std::string& path) {
  std::string hex;
  for (const char c : read_text_file(path)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += c;
  }
  if (hex.size() % 2 != 0) throw std::runtime_error("odd hex length in " + path);
  std::string bytes;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return bytes;
}

/// The bytes of a captured frame, from its hex dump (".hex" may be left out of `name`).
[[nodiscard]] inline std::string read_frame_hex(std::string_view name) {
  return read_hex_file(frame_path(with_hex_extension(name)));
}

#ifdef RMQ_TEST_CAPTURES_DIR
/// The bytes of a captured request in fuzz/captures (".hex" may be left out of `name`).
[[nodiscard]] inline std::string read_capture_hex(std::string_view name) {
  return read_hex_file(capture_path(with_hex_extension(name)));
}
#endif

[[nodiscard]] inline std::uint32_t read_be32(const std::string& bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes.at(at + i));
  return v;
}

/// A captured Java JSON frame as frame_writer writes it: without "serializeTypeCurrentRPC" (Java
/// adds it, every decoder ignores it) and with `language` as the language name; the length words
/// follow.
[[nodiscard]] inline std::string as_we_write_it(const std::string& frame,
                                                std::string_view language) {
  const auto put_be32 = [](std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(v >> shift);
  };
  const std::uint32_t header_length = read_be32(frame, 4) & 0xFFFFFF;
  std::string header = frame.substr(8, header_length);
  const std::string body = frame.substr(8 + header_length);
  const std::string java_only = R"(,"serializeTypeCurrentRPC":"JSON")";
  const auto at = header.find(java_only);
  if (at == std::string::npos) throw std::runtime_error("not a Java JSON frame");
  header.erase(at, java_only.size());
  const std::string java_language = R"("language":"JAVA")";
  const auto lang = header.find(java_language);
  if (lang == std::string::npos) throw std::runtime_error("not a Java frame");
  header.replace(lang, java_language.size(), R"("language":")" + std::string(language) + '"');
  std::string out;
  put_be32(out, static_cast<std::uint32_t>(4 + header.size() + body.size()));
  put_be32(out, static_cast<std::uint32_t>(header.size()));  // type 0: JSON
  return out + header + body;
}

/// Body of a frame: [length][type | header length (low 24 bits)][header][body].
[[nodiscard]] inline std::string body_of_frame(const std::string& frame, std::string_view name) {
  const std::uint32_t length = read_be32(frame, 0);
  if (length + 4 != frame.size())
    throw std::runtime_error(std::string(name) + ": length word mismatch");
  const std::uint32_t header_length = read_be32(frame, 4) & 0xFFFFFF;
  const std::size_t body_start = 8 + header_length;
  if (body_start > frame.size())
    throw std::runtime_error(std::string(name) + ": header past the frame");
  return frame.substr(body_start);
}

/// Body of a captured frame of tests/conformance/frames.
[[nodiscard]] inline std::string captured_body(std::string_view name) {
  return body_of_frame(read_frame_hex(name), name);
}

#ifdef RMQ_TEST_CAPTURES_DIR
/// Body of a captured request of fuzz/captures.
[[nodiscard]] inline std::string capture_body(std::string_view name) {
  return body_of_frame(read_capture_hex(name), name);
}
#endif

}  // namespace rmq::test
