/// \file
/// rmq::producer_stats: the producer's counters (producer::stats()), the cheap subset of
/// producer::metrics() (rmq/metrics.hpp).
#pragma once

#include <cstdint>

namespace rmq {

/// Counters of a producer, cheap to read from any thread.
struct producer_stats {
  std::uint64_t sends = 0;             ///< sends started
  std::uint64_t succeeded = 0;         ///< completed with a result
  std::uint64_t failed = 0;            ///< completed with an error
  std::uint64_t retries = 0;           ///< attempts beyond the first
  std::uint64_t timeouts = 0;          ///< sends that ran out of budget
  std::uint64_t in_flight = 0;         ///< sends admitted and not completed (whole producer)
  std::uint64_t in_flight_bytes = 0;   ///< their body bytes
  std::uint64_t waiting_for_room = 0;  ///< sends waiting for room (blocked or suspended)
  std::uint64_t room_waits = 0;        ///< sends that had to wait for room, ever (back-pressure)
  std::uint64_t route_queries = 0;     ///< GET_ROUTEINFO_BY_TOPIC sent
  std::uint64_t cached_topics = 0;     ///< topic routes cached (per loop that sent to it)
  std::uint64_t evicted_topics = 0;    ///< forgotten, unused for route_idle_timeout
  std::uint64_t frame_pool_fallbacks = 0;  ///< coroutine frames that had to come from the heap
  std::uint64_t slot_fallbacks = 0;        ///< completion handlers too large for a send slot
  std::uint64_t handler_exceptions = 0;    ///< user handlers that threw on a producer loop
  std::uint64_t transactions = 0;          ///< transactional sends started
  std::uint64_t transaction_checks = 0;    ///< CHECK_TRANSACTION_STATE requests answered
  std::uint64_t checks_ignored = 0;   ///< checks not answered: no checker, too many, undecodable
  std::uint64_t requests = 0;         ///< requests started (async_request, request)
  std::uint64_t replies = 0;          ///< replies pushed to us and matched to their request
  std::uint64_t replies_dropped = 0;  ///< replies that came late, were not ours or did not decode
  std::uint64_t hook_exceptions = 0;  ///< exceptions that escaped a send hook (caught)
  /// Automatic batches sent (producer_config::auto_batch): SEND_BATCH_MESSAGE requests made of
  /// single sends, retries not counted.
  std::uint64_t auto_batches = 0;
  /// Sends that joined an automatic batch (auto_batched ÷ auto_batches: their mean size).
  std::uint64_t auto_batched = 0;
  /// Message trace (producer_config::trace): records handed to the trace producer, in trace
  /// messages sent (or being sent).
  std::uint64_t trace_records = 0;
  /// Trace records dropped: the buffer was full, or shutdown's time was up before they went.
  std::uint64_t trace_dropped = 0;
  /// Trace messages whose send failed (their records are lost; the traced sends are not).
  std::uint64_t trace_send_failures = 0;
};

}  // namespace rmq
