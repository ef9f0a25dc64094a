/// \file
/// rmq::producer_metrics: what producer::metrics() reports — the producer's counters, and per
/// broker, per topic and per connection the sends, their failures by error and their latency
/// distribution; rendered as JSON or as Prometheus text exposition.
#pragma once

#include "rmq/producer_stats.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rmq {

/// A latency distribution, summarised from a histogram whose buckets are at most 1/8 wide
/// (a quantile is within 12.5% of the true value; max is exact). Resolution: 1 µs.
struct latency_summary {
  std::uint64_t count = 0;           ///< samples
  std::chrono::microseconds p50{};   ///< median
  std::chrono::microseconds p99{};   ///< 99th percentile
  std::chrono::microseconds p999{};  ///< 99.9th percentile
  std::chrono::microseconds max{};   ///< the largest sample, exact
  std::chrono::microseconds sum{};   ///< of every sample (their mean: sum ÷ count)
};

/// How many failures ended with one error.
struct error_count {
  std::error_code error;    ///< rmq::errc, a broker response code (broker_category) or a system one
  std::uint64_t count = 0;  ///< failures that ended with it
};

/// Sends and their outcomes, for a topic (each send once, when it completes) or a broker (each
/// attempt on it). A batch counts each of its messages; its request is one latency sample.
struct send_figures {
  std::uint64_t sends = 0;  ///< completed (topic) or attempted (broker) messages
  /// Stored by a broker (a stored-but-not-OK status included); oneway: written.
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;  ///< sends − succeeded
  /// Topic: attempts beyond each send's first (one that found no connection to write to
  /// included). Broker: attempts there that were a retry.
  std::uint64_t retries = 0;
  std::uint64_t timeouts = 0;  ///< failed with errc::timed_out
  std::uint64_t bytes = 0;     ///< body bytes of the messages counted in `sends`
  /// The failures by error, most frequent first. The first 16 distinct errors of each topic or
  /// broker (on each loop) are told apart; later ones count in `failed` only.
  std::vector<error_count> failures;
  /// Topic: from a send's start to its completion. Broker: from an attempt's request to its
  /// response. Oneway sends are not sampled (no response).
  latency_summary latency;
};

/// The state of a connection, as one word, as of its last transition.
enum class connection_state : std::uint8_t {
  idle,        ///< no socket (not yet needed, closed when idle, or after a failure)
  connecting,  ///< resolving or connecting
  connected,
  retiring,     ///< told to go away (GO_AWAY): answering what was written, no longer written to
  backing_off,  ///< connects failed (or GO_AWAY came) in a row: requests fail fast for a while
  closed,       ///< the producer shut down, or the address left every route
};

/// "idle", "connecting", "connected", "retiring", "backing_off" or "closed".
[[nodiscard]] std::string_view to_string(connection_state state) noexcept;

/// The connections to one address (a NameServer or a broker), one per producer loop.
struct connection_figures {
  std::string address;  ///< "host:port"
  /// The best of its loops' connections (connected before connecting before the others).
  connection_state state = connection_state::idle;
  std::uint32_t connected_loops = 0;   ///< loops whose connection is connected now
  std::uint64_t connects = 0;          ///< connections established
  std::uint64_t reconnects = 0;        ///< of them, those after the first of their loop
  std::uint64_t connect_failures = 0;  ///< connects or name resolutions that failed
  std::uint64_t losses = 0;            ///< established connections that failed
  std::uint64_t go_aways = 0;          ///< connections told to go away (GO_AWAY)
};

/// One broker (a master this producer sent to), by name.
struct broker_figures {
  std::string name;               ///< the broker name of the route (brokerName)
  std::string address;            ///< its master's address when last attempted
  send_figures attempts;          ///< each attempt on its master
  connection_figures connection;  ///< the connections to `address`
};

/// One topic, as the application names it.
struct topic_figures {
  std::string topic;   ///< as the application names it ("*": a loop's topics beyond its 4096th)
  send_figures sends;  ///< each send once, when it completes
};

/// Everything producer::metrics() reports. A snapshot: each counter is read once, without
/// stopping the sends, so counters read a moment apart may differ by the sends in between.
struct producer_metrics {
  /// When it was taken.
  std::chrono::system_clock::time_point taken_at{};
  /// The producer's counters, as producer::stats() returns them.
  producer_stats totals;
  /// Every send of every topic.
  latency_summary latency;
  /// Sorted by name. Brokers ever attempted, connected or not.
  std::vector<broker_figures> brokers;
  /// Sorted by topic. Each loop tells 4096 topics apart and counts later ones together under
  /// "*" (with several loops, a topic may be listed and also counted in "*").
  std::vector<topic_figures> topics;
  /// NameServer connections, sorted by address.
  std::vector<connection_figures> name_servers;

  /// One JSON object: {"taken_at_ms", "totals": {...}, "latency_us": {...}, "brokers": [...],
  /// "topics": [...], "name_servers": [...]}; docs/guide.md lists every key.
  [[nodiscard]] std::string to_json() const;
  /// Prometheus text exposition (format 0.0.4): counters named rmq_producer_*, labels broker,
  /// topic, address, error; latencies as summaries in seconds; docs/guide.md lists the names.
  [[nodiscard]] std::string to_prometheus() const;
};

}  // namespace rmq
