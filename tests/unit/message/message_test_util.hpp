// Helpers for the message tests: captured frames from tests/conformance/frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace rmq::test {

[[nodiscard]] inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

[[nodiscard]] inline std::string from_hex(std::string_view hex) {
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::runtime_error("bad hex");
  };
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    if (hex[i] == '\n' || hex[i] == '\r') break;
    bytes.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return bytes;
}

/// Path of a captured frame file, e.g. frame_path("json/send_batch_message_request.hex").
[[nodiscard]] inline std::string frame_path(std::string_view relative) {
  return std::string(RMQ_TEST_FRAMES_DIR) + "/" + std::string(relative);
}

/// The body of a captured frame (after the length word, the header word and the header).
[[nodiscard]] inline std::string captured_body(std::string_view relative_hex_path) {
  const std::string frame = from_hex(read_text_file(frame_path(relative_hex_path)));
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(frame.at(i)));
  };
  const std::uint32_t header_length = byte(5) << 16 | byte(6) << 8 | byte(7);
  return frame.substr(8 + header_length);
}

}  // namespace rmq::test
