#include "result_printer.hpp"

#include "rmq/error.hpp"

namespace rmq::send_tool {

void result_printer::success(std::uint64_t index, const rmq::send_result& r) {
  std::lock_guard lock(mutex_);
  if (r.status == rmq::send_status::send_ok) {
    ++ok_;
  } else {
    ++not_ok_status_;
  }
  if (quiet_) return;
  out_ << '#' << index << ' ' << rmq::to_string(r.status) << " msgId=" << r.msg_id.view()
       << " offsetMsgId=" << r.offset_msg_id.view() << " broker=" << r.queue.broker_name
       << " queue=" << r.queue.queue_id << " offset=" << r.queue_offset;
  if (!r.recall_handle.empty()) out_ << " recallHandle=" << r.recall_handle;
  out_ << '\n';
}

void result_printer::transaction(std::uint64_t index, const rmq::transaction_result& r) {
  success(index, r.send);
  const std::lock_guard lock(mutex_);
  if (r.end_error) ++failed_;
  if (quiet_) return;
  out_ << '#' << index << ' ' << rmq::to_string(r.state);
  if (r.end_error) out_ << " END_TRANSACTION not sent: " << r.end_error.message();
  if (!r.local_error.empty()) out_ << " local transaction " << r.local_error;
  out_ << '\n';
}

void result_printer::recall(std::uint64_t index, std::error_code ec, const rmq::recall_result& r) {
  const std::lock_guard lock(mutex_);
  if (ec) {
    ++failed_;
  } else {
    ++ok_;
  }
  if (quiet_) return;
  out_ << '#' << index;
  if (ec) {
    out_ << " FAILED " << ec.message();
    if (ec.category() == rmq::broker_category()) out_ << " code=" << ec.value();
    if (!r.remark.empty()) out_ << " remark=\"" << r.remark << '"';
  } else {
    out_ << " RECALLED msgId=" << r.msg_id;
  }
  out_ << '\n';
}

void result_printer::reply(std::uint64_t index, const rmq::request_result& r) {
  success(index, r.request);
  const std::lock_guard lock(mutex_);
  if (quiet_) return;
  out_ << '#' << index << " REPLY correlationId=" << r.correlation_id
       << " topic=" << r.reply.topic() << " body=" << r.reply.body() << '\n';
}

void result_printer::written(std::uint64_t index) {
  std::lock_guard lock(mutex_);
  ++ok_;
  if (!quiet_) out_ << '#' << index << " SENT (oneway, no result)\n";
}

void result_printer::failure(std::uint64_t index, std::error_code ec,
                             const rmq::send_result& result) {
  std::lock_guard lock(mutex_);
  ++failed_;
  if (quiet_) return;
  out_ << '#' << index << " FAILED " << ec.message();
  if (ec.category() == rmq::broker_category()) out_ << " code=" << ec.value();
  const rmq::send_diagnostics& d = result.diagnostics;
  if (result.attempts != 0) out_ << " attempts=" << result.attempts;
  if (!d.brokers.empty()) out_ << " brokers=" << d.brokers;
  if (d.elapsed_ms != 0) out_ << " elapsed_ms=" << d.elapsed_ms;
  if (!d.remark.empty()) out_ << " remark=\"" << d.remark << '"';
  out_ << '\n';
}

void result_printer::summary(std::chrono::steady_clock::duration elapsed) {
  std::lock_guard lock(mutex_);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  out_ << "sent " << (ok_ + not_ok_status_ + failed_) << ": ok " << ok_;
  if (not_ok_status_ != 0) out_ << ", stored without SEND_OK " << not_ok_status_;
  out_ << ", failed " << failed_ << " in " << ms << " ms\n";
  out_.flush();
}

bool result_printer::all_ok() const {
  std::lock_guard lock(mutex_);
  return not_ok_status_ == 0 && failed_ == 0;
}

}  // namespace rmq::send_tool
