// rmq-bench: drives a cluster (or an embedded rmq-sim) with rmq::producer and reports
// throughput, latency percentiles, errors, per-broker results and client CPU per message.
#include "affinity.hpp"
#include "body_source.hpp"
#include "cli.hpp"
#include "frame_sizes.hpp"
#include "hgrm.hpp"
#include "plot.hpp"
#include "progress.hpp"
#include "raw_echo.hpp"
#include "report.hpp"
#include "resource_usage.hpp"
#include "rmq/producer.hpp"
#include "run_state.hpp"
#include "runner.hpp"
#include "sim_process.hpp"
#include "steal_time.hpp"
#include "wire/namespace.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

using rmq::bench::clock;

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_stop_signal(int) {
  g_interrupted.store(true, std::memory_order_relaxed);
  // A second Ctrl-C ends rmq-bench at once.
  signal(SIGINT, SIG_DFL);
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

template <class Fn>
bool write_file(const std::string& path, const char* what, Fn&& write) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) write(out);
  if (!out.good()) {
    std::cerr << "rmq-bench: cannot write the " << what << " to " << path << '\n';
    return false;
  }
  return true;
}

std::string describe(const rmq::bench::bench_options& o) {
  std::string text = std::string(rmq::tools::to_string(o.mode));
  if (o.open_loop()) {
    text += ", open loop " + std::to_string(static_cast<long long>(o.rate)) + " msg/s";
  }
  if (o.mode == rmq::tools::send_mode::sync) {
    text += ", " + std::to_string(o.threads) + " thread(s)";
  } else {
    text += ", " + std::to_string(o.inflight) + (o.open_loop() ? " max" : "") + " in flight";
    if (!o.open_loop()) text += o.coroutines ? " (coroutines)" : " (callbacks)";
  }
  text += ", " + std::to_string(o.producers) + " producer(s) × " +
          std::to_string(o.client.loop_threads) + " loop thread(s), body " +
          std::to_string(o.message.size.min) +
          (o.message.size.max != o.message.size.min ? "-" + std::to_string(o.message.size.max)
                                                    : std::string()) +
          " B, topic " + o.message.topic +
          (o.client.binary_headers ? ", binary headers" : ", JSON headers");
  if (o.client.credentials.enabled()) {
    text += ", signed (access key " + o.client.credentials.access_key + ")";
  }
  if (o.client.tls) text += ", TLS";
  if (o.send_hook == rmq::bench::hook_kind::observe) text += ", an observing send hook";
  if (o.send_hook == rmq::bench::hook_kind::property) text += ", a property-adding send hook";
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = rmq::bench::parse_command_line(argc, argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  rmq::bench::bench_options options = std::get<rmq::bench::bench_options>(std::move(parsed));
  install_signal_handlers();

  // --- the cluster and the pinning -----------------------------------------------------
  std::optional<std::pair<int, int>> cpus;
  if (options.pin && (options.embedded_sim() || options.raw_echo)) {
    cpus = rmq::bench::pick_cpus();
    if (!cpus) std::cerr << "rmq-bench: fewer than two CPUs allowed; not pinning\n";
  }
  if (cpus) rmq::bench::pin_this_thread(cpus->first);  // before any thread: all inherit it

  rmq::bench::sim_process sim;
  std::string target;
  if (options.embedded_sim()) {
    rmq::bench::sim_options sim_options;
    sim_options.path = options.sim_path.empty() ? rmq::bench::find_sim_binary() : options.sim_path;
    if (sim_options.path.empty()) {
      std::cerr << "rmq-bench: no rmq-sim next to rmq-bench; give --sim PATH or --namesrv\n";
      return 1;
    }
    sim_options.brokers = options.brokers;
    // The topic as the producer's route lookups name it (in its namespace, if any).
    sim_options.topic = rmq::wire::wrap_namespace(options.client.name_space, options.message.topic);
    sim_options.cpu = cpus ? cpus->second : -1;
    // Signed sends meet brokers that check them, as a cluster with ACL does.
    const rmq::access_credentials& credentials = options.client.credentials;
    if (credentials.enabled()) {
      sim_options.acl_account = credentials.access_key + ":" + credentials.secret_key;
    }
    sim_options.tls_cert = options.sim_tls_cert;
    sim_options.tls_key = options.sim_tls_key;
    std::string error;
    if (!sim.start(sim_options, error)) {
      std::cerr << "rmq-bench: " << error << '\n';
      return 1;
    }
    options.client.namesrv = sim.namesrv();
    target = "embedded rmq-sim, " + std::to_string(options.brokers) + " broker(s), namesrv " +
             sim.namesrv() +
             (cpus ? ", rmq-bench on CPU " + std::to_string(cpus->first) + ", rmq-sim on CPU " +
                         std::to_string(cpus->second)
                   : std::string(", not pinned"));
  } else {
    target = "namesrv " + options.client.namesrv;
  }
  std::cout << "rmq-bench: " << target << "\nrmq-bench: " << describe(options) << std::endl;

  rmq::bench::report report;
  report.mode = std::string(rmq::tools::to_string(options.mode));
  report.target = target;
  report.open_loop = options.open_loop();
  report.rate = options.rate;
  report.tls = options.client.tls.has_value();

  const rmq::tools::body_source bodies(options.message.size);

  // --- the raw-echo baseline, before any producer thread exists ----------------------------
  if (options.raw_echo) {
    rmq::message sample = rmq::tools::make_message(options.message);
    sample.set_body(
        rmq::tools::make_filler((options.message.size.min + options.message.size.max) / 2));
    rmq::bench::raw_echo_options echo;
    echo.request_bytes = rmq::bench::send_request_frame_size(
        sample, options.client.group, options.client.name_space, options.client.binary_headers);
    echo.response_bytes = rmq::bench::send_response_frame_size(options.client.binary_headers);
    echo.peer_cpu = cpus ? cpus->second : -1;
    rmq::bench::histogram echo_latency;
    std::string error;
    if (!rmq::bench::run_raw_echo(echo, echo_latency, error)) {
      std::cerr << "rmq-bench: " << error << '\n';
      return 1;
    }
    report.raw_echo = rmq::bench::raw_echo_summary{echo.request_bytes, echo.response_bytes,
                                                   rmq::bench::summarize(echo_latency)};
    std::cout << "rmq-bench: raw echo p50 " << report.raw_echo->latency.p50 << " us, p99 "
              << report.raw_echo->latency.p99 << " us (" << echo.request_bytes << " B / "
              << echo.response_bytes << " B)" << std::endl;
  }

  // --- the producers -----------------------------------------------------------------------
  std::vector<std::unique_ptr<rmq::producer>> producers;
  std::vector<rmq::producer*> producer_ptrs;
  for (std::size_t i = 0; i < options.producers; ++i) {
    rmq::producer_config config = rmq::tools::make_producer_config(options.client);
    config.instance_name = "rmq-bench-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    // The bench measures the client; let back-pressure never be the limit of a closed loop.
    config.max_in_flight_sends =
        std::max<std::size_t>(config.max_in_flight_sends, options.inflight * 2);
    if (options.send_hook != rmq::bench::hook_kind::none) {
      config.send_hooks.push_back(std::make_shared<rmq::bench::bench_hook>(
          options.send_hook == rmq::bench::hook_kind::property));
    }
    auto producer = std::make_unique<rmq::producer>(std::move(config));
    if (const std::error_code ec = producer->start()) {
      std::cerr << "rmq-bench: producer start failed: " << ec.message() << '\n';
      return 1;
    }
    producer_ptrs.push_back(producer.get());
    producers.push_back(std::move(producer));
  }

  // --- the run -------------------------------------------------------------------------------
  const clock::time_point start = clock::now();
  const clock::time_point window_start =
      start +
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(options.warmup_s));
  const clock::time_point end_time =
      options.duration_s > 0 ? window_start + std::chrono::duration_cast<clock::duration>(
                                                  std::chrono::duration<double>(options.duration_s))
                             : clock::time_point::max();
  rmq::bench::run_state state(start, window_start, options.count);
  const rmq::bench::message_supply messages(options.message, bodies);
  const rmq::bench::runner_context context{options, producer_ptrs, state, messages};
  std::vector<std::thread> threads;
  if (options.mode == rmq::tools::send_mode::sync) {
    threads = rmq::bench::start_sync_senders(context);
  } else if (options.open_loop()) {
    threads = rmq::bench::start_paced_async_senders(context);
  } else {
    threads = rmq::bench::start_async_senders(context);
  }

  rmq::bench::progress_printer progress(state, stdout);
  rmq::bench::resource_sample at_window{};
  std::optional<rmq::bench::steal_sample> steal_at_window;
  std::vector<rmq::producer_metrics> metrics_at_window;  // the per-broker split starts here
  bool window_sampled = false;
  clock::time_point next_tick = start + std::chrono::seconds(1);
  clock::time_point drain_deadline = clock::time_point::max();
  const auto drain_budget =
      std::chrono::milliseconds(options.client.timeout_ms) + std::chrono::seconds(2);
  bool all_done = false;
  bool forced_shutdown = false;
  for (;;) {
    clock::time_point wake = std::min(next_tick, clock::now() + std::chrono::milliseconds(100));
    if (!window_sampled) wake = std::min(wake, window_start);
    if (!state.stopping()) wake = std::min(wake, end_time);
    all_done = state.wait_senders_until(wake);
    const clock::time_point now = clock::now();
    if (!window_sampled && now >= window_start) {
      at_window = rmq::bench::sample_resources();
      steal_at_window = rmq::bench::sample_steal();
      for (auto& p : producers) metrics_at_window.push_back(p->metrics());
      window_sampled = true;
    }
    if (all_done) break;
    if (!state.stopping() && (now >= end_time || g_interrupted.load(std::memory_order_relaxed))) {
      report.interrupted = g_interrupted.load(std::memory_order_relaxed);
      state.request_stop();
      drain_deadline = now + drain_budget;
    }
    if (now >= drain_deadline && !forced_shutdown) {
      // Sends still pending past their deadline: shutting down fails them (shutting_down).
      std::cerr << "\nrmq-bench: " << state.in_flight()
                << " sends still in flight after the drain; shutting the producers down\n";
      for (auto& p : producers) p->shutdown(std::chrono::milliseconds(500));
      forced_shutdown = true;
      drain_deadline = now + std::chrono::seconds(5);
    } else if (now >= drain_deadline) {
      std::cerr << "rmq-bench: senders did not finish; giving up\n";
      break;
    }
    if (now >= next_tick) {
      progress.tick(now);
      next_tick += std::chrono::seconds(1);
      if (next_tick < now) next_tick = now + std::chrono::seconds(1);
    }
  }
  const clock::time_point end = clock::now();
  const rmq::bench::resource_sample at_end = rmq::bench::sample_resources();
  const std::optional<rmq::bench::steal_sample> steal_at_end = rmq::bench::sample_steal();
  progress.finish();
  if (!all_done) {
    // Senders still reference the producers and the run state: leave without destroying them.
    std::cout.flush();
    std::_Exit(1);
  }
  for (std::thread& t : threads) t.join();
  if (g_interrupted.load(std::memory_order_relaxed)) report.interrupted = true;

  // --- the report ------------------------------------------------------------------------
  rmq::bench::totals totals;
  state.for_each_recorder([&totals](rmq::bench::recorder& r) { r.merge_into(totals); });
  std::vector<rmq::producer_metrics> metrics_at_end;
  for (auto& p : producers) metrics_at_end.push_back(p->metrics());
  rmq::bench::fill_per_broker(report, metrics_at_window, metrics_at_end);
  for (auto& p : producers) {
    const rmq::producer_stats s = p->stats();
    report.retries += s.retries;
    report.timeouts += s.timeouts;
    report.auto_batches += s.auto_batches;
    report.auto_batched += s.auto_batched;
  }
  for (auto& p : producers) p->shutdown();
  if (options.client.trace) {
    report.trace.emplace();
    for (auto& p : producers) {
      const rmq::producer_stats s = p->stats();
      report.trace->records += s.trace_records;
      report.trace->dropped += s.trace_dropped;
      report.trace->send_failures += s.trace_send_failures;
    }
  }
  sim.stop();

  if (window_sampled) {
    report.duration_s = std::chrono::duration<double>(end - window_start).count();
    if (totals.acked > 0) {
      report.cpu_us_per_msg =
          (at_end.cpu_s - at_window.cpu_s) * 1e6 / static_cast<double>(totals.acked);
    }
    if (steal_at_window && steal_at_end) {
      report.steal.emplace();
      report.steal->total_ms = steal_at_end->total_ms - steal_at_window->total_ms;
      if (cpus) {
        for (const int cpu : {cpus->first, cpus->second}) {
          const auto n = static_cast<std::size_t>(cpu);
          if (n < steal_at_end->ms_by_cpu.size() && n < steal_at_window->ms_by_cpu.size()) {
            report.steal->ms_by_cpu[cpu] =
                steal_at_end->ms_by_cpu[n] - steal_at_window->ms_by_cpu[n];
          }
        }
      }
    }
  } else {
    std::cerr << "rmq-bench: the run ended within the warm-up; nothing was measured\n";
  }
  report.peak_rss_kib = at_end.peak_rss_kib;
  rmq::bench::fill_from_totals(report, totals);
  rmq::bench::print_report(std::cout, report);

  bool files_ok = true;
  if (!options.json_file.empty()) {
    files_ok &= write_file(options.json_file, "JSON report", [&](std::ostream& out) {
      out << rmq::bench::to_json(report).dump(2) << '\n';
    });
  }
  if (!options.hist_file.empty()) {
    files_ok &= write_file(options.hist_file, "histogram",
                           [&](std::ostream& out) { rmq::bench::write_hgrm(out, totals.latency); });
  }
  if (!options.plot_file.empty()) {
    files_ok &= write_file(options.plot_file, "plot", [&](std::ostream& out) {
      out << rmq::bench::render_percentile_svg(
          totals.latency, "rmq-bench " + report.mode + " latency by percentile");
    });
  }
  return files_ok ? 0 : 1;
}
