// Reads a captured frame (tests/conformance/frames/*.hex) and returns its body.
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace rmq::test {

[[nodiscard]] inline std::string read_frame_hex(const std::string& name) {
  const std::string path = std::string(RMQ_TEST_FRAMES_DIR) + "/" + name + ".hex";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream text;
  text << in.rdbuf();
  std::string bytes;
  std::string hex;
  for (const char c : text.str()) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += c;
  }
  if (hex.size() % 2 != 0) throw std::runtime_error("odd hex length in " + path);
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
[[nodiscard]] inline std::string captured_body(const std::string& name) {
  const std::string frame = read_frame_hex(name);
  const std::uint32_t length = read_be32(frame, 0);
  if (length + 4 != frame.size()) throw std::runtime_error(name + ": length word mismatch");
  const std::uint32_t header_length = read_be32(frame, 4) & 0xFFFFFF;
  const std::size_t body_start = 8 + header_length;
  if (body_start > frame.size()) throw std::runtime_error(name + ": header past the frame");
  return frame.substr(body_start);
}

}  // namespace rmq::test
