// rmq-send's command line.
#pragma once

#include "options.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace rmq::send_tool {

struct send_options {
  tools::client_options client;
  tools::message_options message;
  tools::send_mode mode = tools::send_mode::sync;
  std::optional<std::string> body;  ///< --body TEXT; otherwise --size bytes of filler
  std::uint64_t count = 1;
  std::size_t inflight = 256;  ///< async: sends in flight at most
  bool quiet = false;
};

/// The options, or the exit code to end with (0 after --help, 2 after a bad command line).
[[nodiscard]] std::variant<send_options, int> parse_command_line(int argc, const char* const* argv);

}  // namespace rmq::send_tool
