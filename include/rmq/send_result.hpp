/// \file
/// The outcome of one send.
#pragma once

#include "rmq/inline_string.hpp"
#include "rmq/message_queue.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace rmq {

/// The broker stored the message (send_ok), or stored it without the guarantee asked for; or
/// the send failed (`failed`: no broker confirmed storing it — one that timed out after its
/// request was written may still have stored it).
enum class send_status {
  send_ok,              ///< SEND_OK: stored as the broker's policy requires
  flush_disk_timeout,   ///< stored, but not flushed to disk in time (synchronous flush)
  flush_slave_timeout,  ///< stored, but not replicated to the slave in time
  slave_not_available,  ///< stored, but no slave to replicate to
  failed,               ///< the send failed: see its error code and diagnostics
};

/// The Java client's name of `status` (e.g. "SEND_OK").
[[nodiscard]] std::string_view to_string(send_status status) noexcept;

/// What a failed send knows beyond its error code, like the Java client's failure message:
/// the broker's remark (for broker errors), the attempts made, the brokers tried and the time
/// spent. Empty when the send succeeded at the first attempt.
struct send_diagnostics {
  std::string remark;   ///< the broker's remark of the last broker error
  std::string brokers;  ///< brokers tried, in order, comma-separated (only when retried/failed)
  std::int64_t elapsed_ms = 0;  ///< time from the call to the failure

  /// "Send [3] times, still failed, cost [3001]ms, Topic: T, BrokersSent: [a, b, a]: remark"
  [[nodiscard]] std::string describe(std::string_view topic, int attempts) const;
};

/// The outcome of one send (SendResult), as the broker described it.
struct send_result {
  send_status status = send_status::failed;  ///< set by every send that succeeds
  inline_string msg_id;                      ///< the client's UNIQ_KEY (comma-joined for a batch)
  inline_string offset_msg_id;               ///< the broker's id: store host + commit-log offset
  /// Where it was stored. A failed send names only its topic here. Its names are std::strings:
  /// a topic or broker name longer than 15 characters (the small-string buffer) costs one heap
  /// allocation per send; shorter names none (the whole send allocates nothing then).
  message_queue queue;
  std::int64_t queue_offset = 0;  ///< the message's offset in that queue
  inline_string transaction_id;   ///< 5.x brokers
  /// 5.3 brokers, a timer message only: what producer::async_recall takes to recall it before
  /// its delivery time. Empty otherwise (no allocation).
  std::string recall_handle;
  inline_string region_id;       ///< MSG_REGION (DefaultRegion when absent)
  bool trace_on = true;          ///< TRACE_ON property of the response (message tracing)
  int attempts = 0;              ///< attempts this send made (1 = no retry)
  send_diagnostics diagnostics;  ///< filled when the send failed (or was retried)
};

}  // namespace rmq
