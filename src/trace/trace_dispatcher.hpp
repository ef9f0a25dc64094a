// Message trace (producer_config::trace): a send hook that turns each traced send into a record
// in the bounded buffer, and a thread that sends the records in batches through an internal
// producer of its own (the Java client's AsyncTraceDispatcher and SendMessageTraceHookImpl).
#pragma once

#include "rmq/producer.hpp"
#include "rmq/send_hook.hpp"
#include "trace/trace_buffer.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace rmq::trace {

/// The trace producer's configuration, derived from the traced producer's (Java's
/// AsyncTraceDispatcher settings): its own group and instance, the same servers and account.
[[nodiscard]] producer_config trace_producer_config(const producer_config& traced,
                                                    const std::string& name_servers);

class trace_dispatcher final : public send_hook {
 public:
  /// `traced` must have `trace` set; `name_servers` as resolved (NAMESRV_ADDR included).
  trace_dispatcher(const producer_config& traced, const std::string& name_servers);
  /// stop() with no time left, if it has not run.
  ~trace_dispatcher() override;
  trace_dispatcher(const trace_dispatcher&) = delete;
  trace_dispatcher& operator=(const trace_dispatcher&) = delete;

  /// Starts the trace producer and the dispatching thread (the producer's start() errors).
  std::error_code start();
  /// Sends what is buffered, then shuts the trace producer down, all by `deadline` (records
  /// left then are dropped, trace messages unanswered fail). Off the producers' loop threads;
  /// a second call waits for the first.
  void stop(std::chrono::steady_clock::time_point deadline);

  void before_send(send_context& context) override;
  /// Builds the record of a traced send into the buffer (or drops it when full).
  void after_send(const send_context& context, const send_outcome& outcome) override;

  [[nodiscard]] std::uint64_t records() const noexcept {
    return records_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return buffer_.dropped(); }
  [[nodiscard]] std::uint64_t send_failures() const noexcept {
    return send_failures_.load(std::memory_order_relaxed);
  }

 private:
  void run();
  void send_records(std::span<const trace_record> records);
  void send_message(std::string& body, std::string& keys, std::size_t count);
  /// Waits for room among the trace messages in flight; false once stop()'s deadline passed.
  bool reserve_flight();
  void release_flight();

  trace_config settings_;
  std::string group_;  // the traced producer's, as records name it
  trace_buffer buffer_;
  rmq::producer producer_;
  std::thread thread_;
  // Trace messages in flight, bounded here rather than at the trace producer's gate, so that
  // stop() can end the wait at its deadline.
  std::mutex flight_mutex_;
  std::condition_variable flight_room_;
  std::size_t in_flight_ = 0;
  std::optional<std::chrono::steady_clock::time_point> stop_deadline_;
  std::mutex stop_mutex_;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<std::uint64_t> records_{0};
  std::atomic<std::uint64_t> send_failures_{0};
};

}  // namespace rmq::trace
