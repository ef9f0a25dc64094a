// rmq-bench's command line: every flag, its default and the checks that make a run meaningful.
#pragma once

#include "bench_hooks.hpp"
#include "options.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

namespace rmq::bench {

struct bench_options {
  tools::client_options client;
  tools::message_options message;
  tools::send_mode mode = tools::send_mode::async;
  std::uint64_t count = 0;    ///< 0: no limit
  double duration_s = 10;     ///< measured window; 0: no limit (only with --count)
  double warmup_s = 1;        ///< before the measured window
  std::size_t inflight = 64;  ///< async/oneway: sends kept in flight (open loop: the cap)
  std::size_t threads = 1;    ///< sync: sending threads
  bool coroutines = false;    ///< async/oneway closed loop: co_await senders instead of callbacks
  double rate = 0;            ///< messages/s for all senders together; 0: closed loop
  std::size_t producers = 1;
  std::size_t brokers = 2;  ///< brokers of the embedded rmq-sim
  bool raw_echo = false;
  bool pin = true;       ///< pin rmq-bench and the embedded rmq-sim to different CPUs
  std::string sim_path;  ///< empty: next to rmq-bench
  /// The embedded rmq-sim's TLS certificate and key (--sim-tls-cert/--sim-tls-key): it then
  /// serves TLS only (enforcing), for a producer with --tls.
  std::string sim_tls_cert;
  std::string sim_tls_key;
  std::string json_file;
  std::string hist_file;
  std::string plot_file;
  hook_kind send_hook = hook_kind::none;  ///< a send hook on every producer (its cost)

  [[nodiscard]] bool embedded_sim() const noexcept { return client.namesrv.empty(); }
  [[nodiscard]] bool open_loop() const noexcept { return rate > 0; }
};

/// The options, or the exit code to end with (0 after --help, 2 after a bad command line, with
/// the reason on stderr).
[[nodiscard]] std::variant<bench_options, int> parse_command_line(int argc,
                                                                  const char* const* argv);

}  // namespace rmq::bench
