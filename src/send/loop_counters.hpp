// The send counters of one loop: written by its thread, read by any (producer::stats).
#pragma once

#include "metrics/counter.hpp"

namespace rmq::send {

/// Counters written by the loop thread, read by any (relaxed, no read-modify-write).
struct loop_counters {
  using counter = metrics::counter;
  counter sends, succeeded, failed, retries, timeouts, in_flight;
  counter transactions, transaction_checks, checks_ignored;
  counter requests, replies, replies_dropped;
  counter hook_exceptions;
  counter auto_batches, auto_batched;
};

}  // namespace rmq::send
