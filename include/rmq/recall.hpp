/// \file
/// rmq::recall_result: what recalling a timer message (producer::async_recall) reports.
#pragma once

#include <exception>
#include <string>
#include <system_error>

namespace rmq {

/// The outcome of a recall (RECALL_MESSAGE, 5.3 brokers with recallMessageEnable=true).
struct recall_result {
  /// The recalled message's id (its UNIQ_KEY, send_result::msg_id), as the broker confirms it.
  std::string msg_id;
  /// The broker's remark when it refused ("recall failed, operation is forbidden" when recall is
  /// disabled, "recall failed, timestamp invalid" once the message is due, ...).
  std::string remark;
};

/// A recall's error with a throwing token: a std::system_error whose text is the broker's remark.
inline std::exception_ptr failure_of(std::error_code ec, const recall_result& result) {
  return std::make_exception_ptr(std::system_error(ec, result.remark));
}

}  // namespace rmq
