// Command line of rmq-sim: options to sim_config, fault knobs shared with the control channel.
#pragma once

#include "config.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace rmq::sim {

struct cli_options {
  sim_config config;
  std::string stats_file;       ///< JSON counters written on exit ("" = none)
  bool stats_messages = false;  ///< include the stored messages in the stats file
  bool control_stdin = false;   ///< read control commands from standard input
  bool quiet_summary = false;
};

/// Parses argv. On --help or an error prints to stdout/stderr and returns the exit code to use.
[[nodiscard]] std::optional<int> parse_command_line(int argc, char** argv, cli_options& out);

/// Response code by number or name ("SYSTEM_BUSY", "2", ...); nullopt if unknown.
[[nodiscard]] std::optional<std::int32_t> parse_response_code(std::string_view text);

/// Latency "MS" or "MIN-MAX" in milliseconds (fractions allowed) into the spec.
[[nodiscard]] bool parse_latency(std::string_view text, fault_spec& spec);

/// Applies one "key=value" (or bare "key") fault setting, as used by the control channel:
/// latency=, error=, remark=, nth=, silent, reset-after=, split-writes, refuse, codes=,
/// drop-end-transaction, close-mid-handshake.
[[nodiscard]] bool apply_fault_setting(std::string_view setting, fault_spec& spec);

/// Applies one responder setting of the control channel: on, off, prefix=TEXT, broker=NAME
/// (empty: the request's broker), delay=MS, withhold, group=NAME.
[[nodiscard]] bool apply_responder_setting(std::string_view setting, responder_config& config);

/// Applies one transaction setting of the control channel: interval=MS, timeout=MS, max=N,
/// capacity=N.
[[nodiscard]] bool apply_transaction_setting(std::string_view setting, transaction_config& config);

}  // namespace rmq::sim
