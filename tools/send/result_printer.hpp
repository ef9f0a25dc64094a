// One line per send result, or only the summary with --quiet; safe to call from the
// producer's loop thread and the main thread at once.
#pragma once

#include "rmq/recall.hpp"
#include "rmq/request_reply.hpp"
#include "rmq/send_result.hpp"
#include "rmq/transaction.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <system_error>

namespace rmq::send_tool {

class result_printer {
 public:
  result_printer(std::ostream& out, bool quiet) : out_(out), quiet_(quiet) {}

  void success(std::uint64_t index, const rmq::send_result& result);
  void written(std::uint64_t index);  ///< oneway: the request went out
  /// `result` carries the diagnostics of the failed send (remark, brokers tried, attempts).
  void failure(std::uint64_t index, std::error_code ec, const rmq::send_result& result);
  /// A transactional send whose half message was stored: its state and END_TRANSACTION.
  void transaction(std::uint64_t index, const rmq::transaction_result& result);
  /// A request's reply.
  void reply(std::uint64_t index, const rmq::request_result& result);
  /// A recall (--recall): its message id, or why it failed (the broker's remark).
  void recall(std::uint64_t index, std::error_code ec, const rmq::recall_result& result);
  void summary(std::chrono::steady_clock::duration elapsed);

  /// Every send completed with SEND_OK (or, oneway, was written).
  [[nodiscard]] bool all_ok() const;

 private:
  mutable std::mutex mutex_;
  std::ostream& out_;
  bool quiet_;
  std::uint64_t ok_ = 0;
  std::uint64_t not_ok_status_ = 0;
  std::uint64_t failed_ = 0;
};

}  // namespace rmq::send_tool
