// The senders of one run. Each start_* function announces its senders to the run state, starts
// them and returns at once; every sender leaves (run_state::sender_done) after its last send
// completed. Returned threads are joined by the caller after that.
#pragma once

#include "cli.hpp"
#include "message_supply.hpp"
#include "recorder.hpp"
#include "rmq/producer.hpp"
#include "run_state.hpp"

#include <thread>
#include <vector>

namespace rmq::bench {

struct runner_context {
  const bench_options& options;
  std::vector<rmq::producer*> producers;
  run_state& state;
  const message_supply& messages;
};

/// Closed loop, async or oneway: --inflight senders spread over the producers, each running on
/// its producer's loop (no thread hop) with one send at a time: a completion handler that starts
/// the next send (--api callback), or an asio coroutine that co_awaits each (--api coroutine).
std::vector<std::thread> start_async_senders(const runner_context& context);

/// Sync: --threads threads calling the blocking send; with --rate each waits for its message's
/// intended time and measures from it.
std::vector<std::thread> start_sync_senders(const runner_context& context);

/// Open loop, async or oneway: each producer's loop paces its share itself (a loop timer starts
/// what has fallen due, with at most --inflight in flight; later ones wait for a slot); no pacer
/// thread; latency runs from the intended time.
std::vector<std::thread> start_paced_async_senders(const runner_context& context);

/// Sleeps until `until` in short steps; false when the run was stopped meanwhile.
bool sleep_until_or_stopped(const run_state& state, clock::time_point until);

/// Counts one finished send in the run state and records its latency from `start`; returns the
/// clock reading it ended at.
clock::time_point record_send(run_state& state, recorder& rec, clock::time_point start,
                              std::error_code ec, std::size_t bytes);

}  // namespace rmq::bench
