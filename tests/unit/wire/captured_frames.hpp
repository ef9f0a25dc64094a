// Frames captured from real Java clients and servers (tests/conformance/frames): their files,
// their bytes and their bodies.
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

/// The bytes of a captured frame, from its hex dump (".hex" may be left out of `name`).
[[nodiscard]] inline std::string read_frame_hex(std::string_view name) {
  std::string relative(name);
  if (!relative.ends_with(".hex")) relative += ".hex";
  const std::string path = frame_path(relative);
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

[[nodiscard]] inline std::uint32_t read_be32(const std::string& bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes.at(at + i));
  return v;
}

/// Body of a captured frame: [length][type | header length (low 24 bits)][header][body].
[[nodiscard]] inline std::string captured_body(std::string_view name) {
  const std::string frame = read_frame_hex(name);
  const std::uint32_t length = read_be32(frame, 0);
  if (length + 4 != frame.size())
    throw std::runtime_error(std::string(name) + ": length word mismatch");
  const std::uint32_t header_length = read_be32(frame, 4) & 0xFFFFFF;
  const std::size_t body_start = 8 + header_length;
  if (body_start > frame.size())
    throw std::runtime_error(std::string(name) + ": header past the frame");
  return frame.substr(body_start);
}

}  // namespace rmq::test
