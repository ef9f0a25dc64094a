// rmq-send's command line.
#pragma once

#include "options.hpp"
#include "rmq/transaction.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace rmq::send_tool {

struct send_options {
  tools::client_options client;
  tools::message_options message;
  tools::send_mode mode = tools::send_mode::sync;
  std::optional<std::string> body;  ///< --body TEXT; otherwise --size bytes of filler
  std::uint64_t count = 1;
  std::size_t inflight = 256;  ///< async: sends in flight at most
  bool quiet = false;
  /// --transaction: each message is a transactional send whose local transaction decides this.
  std::optional<rmq::transaction_state> transaction;
  /// --check-answer: the checker's answer to the brokers' checks (none: no checker).
  std::optional<rmq::transaction_state> check_answer;
  std::int64_t check_wait_ms = 70'000;     ///< --check-wait: how long to stay up for checks
  bool request = false;                    ///< --request: each message is a request
  std::int64_t request_timeout_ms = 3000;  ///< --request-timeout
  /// --recall HANDLE: recalls that timer message of --topic instead of sending (repeatable).
  std::vector<std::string> recall;
};

/// The options, or the exit code to end with (0 after --help, 2 after a bad command line).
[[nodiscard]] std::variant<send_options, int> parse_command_line(int argc, const char* const* argv);

}  // namespace rmq::send_tool
