#include "cli.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace rmq::bench {

std::variant<bench_options, int> parse_command_line(int argc, const char* const* argv) {
  bench_options o;
  o.message.topic = "BenchTopic";
  o.message.size = {128, 128};
  o.client.group = "rmq_bench_producer";

  CLI::App app{
      "rmq-bench: load generator and latency profiler for rmq-coro.\n"
      "Without --namesrv it starts rmq-sim on loopback, drives it and stops it.",
      "rmq-bench"};
  // A later flag overrides an earlier one, so wrappers can pass defaults and users override them
  // (tools/run.sh passes --mode async --inflight 1024, then the user's own flags).
  app.option_defaults()->always_capture_default()->multi_option_policy(
      CLI::MultiOptionPolicy::TakeLast);
  tools::add_client_options(app, o.client, true);
  tools::add_message_options(app, o.message, false);
  std::string mode = "async";
  app.add_option("--mode", mode, "async | sync | oneway")
      ->check(CLI::IsMember({"async", "sync", "oneway"}));
  app.add_option("--count", o.count, "stop after this many messages (0: no limit)");
  auto* duration =
      app.add_option("--duration", o.duration_s, "measured seconds")->check(CLI::Range(0.0, 1e7));
  app.add_option("--warmup", o.warmup_s, "seconds of load before the measured window")
      ->check(CLI::Range(0.0, 1e6));
  auto* inflight = app.add_option("--inflight", o.inflight,
                                  "async/oneway: sends in flight (open loop: the most)")
                       ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  std::string api = "callback";
  app.add_option("--api", api,
                 "async/oneway closed loop: callback (each completion starts the next send) | "
                 "coroutine (asio coroutines that co_await each send)")
      ->check(CLI::IsMember({"callback", "coroutine"}));
  auto* threads = app.add_option("--threads", o.threads, "sync: sending threads")
                      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));
  app.add_option("--rate", o.rate,
                 "open loop: messages/s in total, latency from each intended send time")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--producers", o.producers, "producer instances (load spread over them)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{256}));
  auto* brokers = app.add_option("--brokers", o.brokers, "brokers of the embedded rmq-sim")
                      ->check(CLI::Range(std::size_t{1}, std::size_t{26}));
  app.add_flag("--raw-echo", o.raw_echo,
               "also measure a blocking-socket echo of the same sizes (the sync floor)");
  bool no_pin = false;
  app.add_flag("--no-pin", no_pin, "do not pin rmq-bench and rmq-sim to separate CPUs");
  app.add_option("--sim", o.sim_path, "rmq-sim binary (default: next to rmq-bench)");
  auto* sim_cert = app.add_option("--sim-tls-cert", o.sim_tls_cert,
                                  "the embedded rmq-sim serves TLS only, with this certificate "
                                  "(PEM; with --tls and --sim-tls-key)")
                       ->check(CLI::ExistingFile)
                       ->type_name("FILE");
  auto* sim_key =
      app.add_option("--sim-tls-key", o.sim_tls_key, "the embedded rmq-sim's TLS key (PEM)")
          ->check(CLI::ExistingFile)
          ->type_name("FILE");
  sim_cert->needs(sim_key);
  sim_key->needs(sim_cert);
  app.add_option("--json", o.json_file, "write the report as JSON");
  app.add_option("--hist", o.hist_file, "write the latency distribution (.hgrm, ms)");
  app.add_option("--plot", o.plot_file, "draw latency by percentile (SVG)");
  app.add_option_function<std::string>(
         "--send-hook", [&o](const std::string& text) { (void)parse_hook_kind(text, o.send_hook); },
         "a send hook on every producer, to measure its cost: none | observe (counts each send "
         "and its latency) | property (also adds a property to each message)")
      ->check(CLI::IsMember({"none", "observe", "property"}))
      ->type_name("KIND");

  if (auto code = tools::parse_command_line(app, argc, argv)) return *code;
  o.mode = *tools::parse_send_mode(mode);
  o.pin = !no_pin;
  o.coroutines = api == "coroutine";

  const auto bad = [](std::string_view what) { return tools::bad_arguments("rmq-bench", what); };
  if (o.count > 0 && duration->count() == 0) o.duration_s = 0;
  if (o.duration_s <= 0 && o.count == 0) return bad("--duration must be > 0 (or give --count)");
  if (o.message.topic.empty()) return bad("--topic must not be empty");
  if (brokers->count() > 0 && !o.embedded_sim()) {
    return bad("--brokers sets up the embedded rmq-sim; it cannot go with --namesrv");
  }
  if (sim_cert->count() > 0 && !o.embedded_sim()) {
    return bad("--sim-tls-cert sets up the embedded rmq-sim; it cannot go with --namesrv");
  }
  if (o.embedded_sim() && (o.client.tls.has_value() != (sim_cert->count() > 0))) {
    return bad("with the embedded rmq-sim, --tls and --sim-tls-cert/--sim-tls-key go together");
  }
  // Flags of the other mode are harmless (wrappers pass them for the default mode): say so.
  if (threads->count() > 0 && o.mode != tools::send_mode::sync) {
    std::cerr << "rmq-bench: note: --threads is for --mode sync; async and oneway use "
                 "--inflight\n";
  }
  if (inflight->count() > 0 && o.mode == tools::send_mode::sync) {
    std::cerr << "rmq-bench: note: --inflight is for --mode async|oneway; sync uses --threads\n";
  }
  if (o.client.busy_poll_us > 0 && o.mode == tools::send_mode::sync) {
    std::cerr << "rmq-bench: note: --busy-poll with --mode sync: the polling loop shares its "
                 "core with the sending threads\n";
  }
  if (o.producers > o.inflight && o.mode != tools::send_mode::sync) {
    return bad("--producers must not exceed --inflight (each producer needs a sender)");
  }
  if (o.producers > o.threads && o.mode == tools::send_mode::sync) {
    return bad("--producers must not exceed --threads (each producer needs a sender)");
  }
  return o;
}

}  // namespace rmq::bench
