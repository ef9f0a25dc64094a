// The floor of a sync send: blocking sockets with TCP_NODELAY, one write of the request's size
// and one read of the response's size per round trip, against an echo peer thread that answers
// every request with a fixed-size reply. Nothing here parses or allocates per round trip.
#pragma once

#include "histogram.hpp"

#include <chrono>
#include <cstddef>
#include <string>

namespace rmq::bench {

struct raw_echo_options {
  std::size_t request_bytes = 0;
  std::size_t response_bytes = 0;
  std::size_t warmup_round_trips = 1000;
  std::size_t round_trips = 20000;
  std::chrono::milliseconds max_time{3000};  ///< stop measuring early past this
  int peer_cpu = -1;                         ///< CPU of the echo thread; -1: not pinned
};

/// Runs the echo; round-trip latencies (ns) go to `out`. false with `error` set on failure.
bool run_raw_echo(const raw_echo_options& options, histogram& out, std::string& error);

}  // namespace rmq::bench
