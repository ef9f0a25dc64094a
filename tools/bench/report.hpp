// The final report: what a run measured, as text for people and as JSON for scripts.
#pragma once

#include "histogram.hpp"
#include "recorder.hpp"
#include "rmq/metrics.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace rmq::bench {

/// Latency percentiles in microseconds.
struct latency_summary {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, p9999 = 0, max = 0, mean = 0;
  std::uint64_t count = 0;
};
[[nodiscard]] latency_summary summarize(const histogram& ns);

struct raw_echo_summary {
  std::size_t request_bytes = 0;
  std::size_t response_bytes = 0;
  latency_summary latency;
};

struct report {
  std::string mode;         ///< async | sync | oneway
  std::string target;       ///< what was driven
  bool open_loop = false;   ///< latency from intended send times
  double rate = 0;          ///< open loop: msgs/s asked for
  std::uint64_t sent = 0;   ///< measured sends (acked + errors)
  std::uint64_t acked = 0;  ///< acknowledged (oneway: written)
  std::uint64_t errors = 0;
  std::uint64_t acked_bytes = 0;
  std::map<std::string, std::uint64_t> errors_by_kind;
  std::map<std::string, std::uint64_t> errors_by_response_code;
  /// Per broker, from the producers' own metrics (producer::metrics): messages its attempts
  /// stored and failed in the window, and the latency of those attempts (request to response,
  /// over the whole run, warm-up included; the highest among producers).
  struct broker_line {
    std::uint64_t acked = 0;
    std::uint64_t failed = 0;
    rmq::latency_summary attempt_latency;
  };
  std::map<std::string, broker_line> per_broker;
  double duration_s = 0;      ///< measured window (warm-up excluded)
  double msgs_per_s = 0;      ///< acked ÷ duration_s
  double mb_per_s = 0;        ///< body bytes acknowledged ÷ duration_s, 10^6 bytes
  double cpu_us_per_msg = 0;  ///< client user+sys CPU over the window ÷ acked
  std::int64_t peak_rss_kib = 0;
  /// Steal time over the window (the hypervisor running something else), where the machine
  /// reports it: all CPUs, and the CPUs rmq-bench and its peer were pinned to.
  struct steal_line {
    std::int64_t total_ms = 0;
    std::map<int, std::int64_t> ms_by_cpu;
  };
  std::optional<steal_line> steal;
  latency_summary latency;
  std::optional<raw_echo_summary> raw_echo;
  bool interrupted = false;
  bool tls = false;           ///< the producers spoke TLS (--tls)
  std::uint64_t retries = 0;  ///< producer counters over the whole run
  std::uint64_t timeouts = 0;
  /// --auto-batch: the batches the producers sent and the sends that joined them (whole run).
  std::uint64_t auto_batches = 0;
  std::uint64_t auto_batched = 0;
  /// --trace: the producers' trace counters once shut down (their buffers flushed).
  struct trace_counts {
    std::uint64_t records = 0;        ///< producer_stats::trace_records
    std::uint64_t dropped = 0;        ///< producer_stats::trace_dropped
    std::uint64_t send_failures = 0;  ///< producer_stats::trace_send_failures
  };
  std::optional<trace_counts> trace;
};

/// Fills the counters, errors, brokers and latency of `r` from the merged totals.
void fill_from_totals(report& r, const totals& t);
/// The per-broker split: the producers' metrics when the window began and when it ended (one
/// entry per producer, in the same order).
void fill_per_broker(report& r, const std::vector<rmq::producer_metrics>& at_window,
                     const std::vector<rmq::producer_metrics>& at_end);

void print_report(std::ostream& out, const report& r);
[[nodiscard]] nlohmann::json to_json(const report& r);

}  // namespace rmq::bench
