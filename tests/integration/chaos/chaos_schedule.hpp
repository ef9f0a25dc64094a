// The fault schedule of the chaos test: a list of rmq-sim control commands at time offsets,
// generated up front from a seed (the same seed gives the same schedule), so that a failing run
// can be replayed and its schedule printed.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace rmq::test::chaos {

/// One control command (tools/sim/README.md, "Control channel") and when to send it, counted
/// from the start of the fault phase.
struct fault_event {
  std::chrono::milliseconds at{0};
  std::string command;
};

/// Faults for `duration` over `brokers` and the NameServer. Every kind the chaos test promises
/// appears in a long enough schedule: broker stop/start/restart on a new port, reset after N,
/// silence, latency 0–5 s, SYSTEM_BUSY and stored-not-OK codes, split writes, refused
/// connections, NameServer down/up/silent. The last events (at `duration`) bring every server
/// back: NameServer up, stopped brokers started, `clear`.
///
/// The generator keeps to what rmq-sim models consistently: `refuse` only on a broker that is
/// up (and taken off before that broker is stopped), never on the NameServer or on `*`, so that
/// `clear` reopens only listeners of running brokers.
[[nodiscard]] std::vector<fault_event> make_schedule(std::uint64_t seed,
                                                     std::chrono::milliseconds duration,
                                                     const std::vector<std::string>& brokers);

/// One line per event: "+1234ms fault broker-a error=SYSTEM_BUSY nth=2".
[[nodiscard]] std::string describe(const std::vector<fault_event>& schedule);

}  // namespace rmq::test::chaos
