// Command-line options shared by rmq-send and rmq-bench: one definition of the flags that mean
// the same in both (client, message), their parsing and their translation into the public API.
#pragma once

#include "rmq/message.hpp"
#include "rmq/producer_config.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace rmq::tools {

/// Exit code of a command line that does not parse or does not make sense.
inline constexpr int exit_bad_arguments = 2;

enum class send_mode { sync, async, oneway };

[[nodiscard]] std::optional<send_mode> parse_send_mode(std::string_view text) noexcept;
[[nodiscard]] std::string_view to_string(send_mode mode) noexcept;

/// Body sizes: one size ("N") or uniform in a range ("MIN-MAX"); bytes.
struct size_range {
  std::size_t min = 128;
  std::size_t max = 128;
};
/// "N" or "MIN-MAX" with 0 < MIN <= MAX; accepts k/m suffixes (×1024).
[[nodiscard]] std::optional<size_range> parse_size_range(std::string_view text) noexcept;

/// "k=v" with a non-empty k (an empty v is left to the send, which refuses it with
/// property_value_blank).
[[nodiscard]] std::optional<std::pair<std::string, std::string>> parse_property(
    std::string_view text);

/// "none" → nullopt; "zlib" | "zstd" | "lz4".
[[nodiscard]] bool parse_compression(std::string_view text,
                                     std::optional<rmq::compression>& out) noexcept;

/// How to reach the cluster and how the producer behaves.
struct client_options {
  std::string namesrv;                       ///< "H:P;H:P"; empty: NAMESRV_ADDR
  std::optional<rmq::compression> compress;  ///< nullopt: never compress
  std::int64_t timeout_ms = 3000;            ///< the whole budget of one send
  std::size_t loop_threads = 1;
  std::int64_t busy_poll_us = 0;  ///< producer_config::busy_poll
  std::string group = "rmq_tools_producer";
  std::string name_space;               ///< producer_config::name_space (empty: none)
  rmq::access_credentials credentials;  ///< producer_config::credentials (empty: unsigned)
  bool binary_headers = false;          ///< ROCKETMQ binary headers instead of JSON
  rmq::io_backend backend = rmq::io_backend::automatic;  ///< producer_config::backend
  /// The producer's log level (spdlog's names, "off" included); its lines go to stderr, so the
  /// tool's own output stays clean.
  std::string log_level = "warn";
  /// producer_config::auto_batch (--auto-batch and its limits); nullopt: off.
  std::optional<rmq::auto_batch_config> auto_batch;
  /// producer_config::trace (--trace [TOPIC]); nullopt: off.
  std::optional<rmq::trace_config> trace;
  /// producer_config::tls (--tls and its files); nullopt: plain TCP.
  std::optional<rmq::tls_config> tls;
};

/// What each message carries.
struct message_options {
  std::string topic;
  std::string tags;
  std::string keys;
  std::vector<std::pair<std::string, std::string>> properties;
  size_range size;
  int delay_level = 0;
  std::optional<std::int64_t> delay_sec;  ///< TIMER_DELAY_SEC (5.x brokers)
  std::optional<std::int64_t> delay_ms;   ///< TIMER_DELAY_MS (5.x brokers)
};

/// Registers --namesrv, --compress, --timeout, --group, --namespace, --access-key,
/// --secret-key, --security-token, --headers, --backend, --log-level, --auto-batch, --linger-us,
/// --batch-max-bytes, --batch-max-messages, --trace, --tls, --tls-ca, --tls-cert, --tls-key,
/// --tls-no-verify, --tls-server-name (and --loop-threads and --busy-poll when asked).
void add_client_options(CLI::App& app, client_options& out, bool with_loop_threads);
/// Registers --topic, --tags, --keys, --property (repeatable), --size (and --delay-level,
/// --delay-sec and --delay-ms, at most one of them, when asked).
void add_message_options(CLI::App& app, message_options& out, bool with_delay_level);

/// The producer configuration the options describe; its logger writes to stderr at
/// options.log_level.
[[nodiscard]] rmq::producer_config make_producer_config(const client_options& options);

/// A message with every field but the body set from `options`.
[[nodiscard]] rmq::message make_message(const message_options& options);

/// Pseudo-random lowercase letters: compressible about as well as text, so --compress has
/// realistic work; deterministic for a given seed.
[[nodiscard]] std::string make_filler(std::size_t size, std::uint64_t seed = 0x9e3779b97f4a7c15);

/// Parses argv into `app`. nullopt: go on; otherwise the process exit code (0 after --help,
/// exit_bad_arguments with a one-line message on stderr for anything wrong).
[[nodiscard]] std::optional<int> parse_command_line(CLI::App& app, int argc,
                                                    const char* const* argv);

/// Prints "NAME: error: what" and the --help hint to stderr; returns exit_bad_arguments.
int bad_arguments(std::string_view program, std::string_view what);

}  // namespace rmq::tools
