/// \file
/// rmq::send_error: the exception a failed send throws, with what the send learnt.
#pragma once

#include "rmq/send_result.hpp"

#include <string>
#include <system_error>

namespace rmq {

/// Thrown by the blocking send() and by the throwing completion tokens (asio::use_awaitable,
/// asio::use_future). A std::system_error whose code() is the send's error, carrying the
/// diagnostics that the error-code forms find in send_result (as Boost.MySQL's
/// error_with_diagnostics): what() reads like the Java client's failure message.
class send_error : public std::system_error {
 public:
  /// The error `ec` of a send whose result (diagnostics, attempts, topic) is `result`.
  send_error(std::error_code ec, const send_result& result)
      : std::system_error(ec, result.diagnostics.describe(result.queue.topic, result.attempts)),
        diagnostics_(result.diagnostics),
        attempts_(result.attempts),
        topic_(result.queue.topic) {}

  /// The broker's remark, the brokers tried and the time spent.
  [[nodiscard]] const send_diagnostics& diagnostics() const noexcept { return diagnostics_; }
  /// Attempts made (0: the send failed before any attempt, e.g. validation).
  [[nodiscard]] int attempts() const noexcept { return attempts_; }
  /// The topic of the failed send.
  [[nodiscard]] const std::string& topic() const noexcept { return topic_; }

 private:
  send_diagnostics diagnostics_;
  int attempts_;
  std::string topic_;
};

}  // namespace rmq
