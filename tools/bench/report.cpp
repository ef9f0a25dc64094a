#include "report.hpp"

#include <algorithm>
#include <cstdio>

namespace rmq::bench {

namespace {

double us(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e3;
}

nlohmann::json latency_json(const latency_summary& l) {
  return {{"p50", l.p50},     {"p90", l.p90}, {"p99", l.p99},   {"p999", l.p999},
          {"p9999", l.p9999}, {"max", l.max}, {"mean", l.mean}, {"count", l.count}};
}

std::string line(const char* format, double a, double b = 0, double c = 0, double d = 0,
                 double e = 0, double f = 0) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, format, a, b, c, d, e, f);
  return buffer;
}

}  // namespace

latency_summary summarize(const histogram& ns) {
  latency_summary l;
  l.count = ns.count();
  l.p50 = us(ns.value_at_percentile(50));
  l.p90 = us(ns.value_at_percentile(90));
  l.p99 = us(ns.value_at_percentile(99));
  l.p999 = us(ns.value_at_percentile(99.9));
  l.p9999 = us(ns.value_at_percentile(99.99));
  l.max = us(ns.max());
  l.mean = ns.mean() / 1e3;
  return l;
}

void fill_from_totals(report& r, const totals& t) {
  r.acked = t.acked;
  r.errors = t.failed;
  r.sent = t.acked + t.failed;
  r.acked_bytes = t.acked_bytes;
  r.latency = summarize(t.latency);
  for (const auto& [kind, n] : t.errors_by_kind) r.errors_by_kind[kind] = n;
  for (const auto& [code, n] : t.errors_by_response_code) {
    r.errors_by_response_code[std::to_string(code)] = n;
  }
  if (r.duration_s > 0) {
    r.msgs_per_s = static_cast<double>(r.acked) / r.duration_s;
    r.mb_per_s = static_cast<double>(r.acked_bytes) / r.duration_s / 1e6;
  }
}

void fill_per_broker(report& r, const std::vector<rmq::producer_metrics>& at_window,
                     const std::vector<rmq::producer_metrics>& at_end) {
  for (std::size_t i = 0; i < at_end.size(); ++i) {
    for (const rmq::broker_figures& b : at_end[i].brokers) {
      report::broker_line& line = r.per_broker[b.name];
      line.acked += b.attempts.succeeded;
      line.failed += b.attempts.failed;
      rmq::latency_summary& l = line.attempt_latency;
      const rmq::latency_summary& mine = b.attempts.latency;
      l.count += mine.count;
      l.sum += mine.sum;
      l.p50 = std::max(l.p50, mine.p50);
      l.p99 = std::max(l.p99, mine.p99);
      l.p999 = std::max(l.p999, mine.p999);
      l.max = std::max(l.max, mine.max);
    }
    if (i >= at_window.size()) continue;
    // What the warm-up counted is not the window's.
    for (const rmq::broker_figures& b : at_window[i].brokers) {
      report::broker_line& line = r.per_broker[b.name];
      line.acked -= std::min(line.acked, b.attempts.succeeded);
      line.failed -= std::min(line.failed, b.attempts.failed);
    }
  }
}

void print_report(std::ostream& out, const report& r) {
  out << "\n== rmq-bench report" << (r.interrupted ? " (interrupted)" : "") << " ==\n";
  out << "target     " << r.target << '\n';
  out << "mode       " << r.mode
      << (r.open_loop ? line(", open loop at %.0f msg/s (latency from intended send times)", r.rate)
                      : std::string(", closed loop"))
      << '\n';
  out << line("window     %.3f s (warm-up excluded)\n", r.duration_s);
  out << "messages   sent " << r.sent << ", " << (r.mode == "oneway" ? "written " : "acked ")
      << r.acked << ", errors " << r.errors << ", retries " << r.retries << ", timeouts "
      << r.timeouts << '\n';
  out << line("throughput %.0f msg/s, %.2f MB/s\n", r.msgs_per_s, r.mb_per_s);
  if (r.auto_batches != 0) {
    out << line("batching   %.0f automatic batches, %.1f messages each on average\n",
                static_cast<double>(r.auto_batches),
                static_cast<double>(r.auto_batched) / static_cast<double>(r.auto_batches));
  }
  if (r.trace) {
    out << "trace      records " << r.trace->records << ", dropped " << r.trace->dropped
        << ", failed trace messages " << r.trace->send_failures << '\n';
  }
  const latency_summary& l = r.latency;
  out << line("latency us p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  p99.99 %.1f", l.p50, l.p90,
              l.p99, l.p999, l.p9999)
      << line("  max %.1f  mean %.1f\n", l.max, l.mean);
  if (r.raw_echo) {
    const raw_echo_summary& e = *r.raw_echo;
    out << line("raw echo   p50 %.1f us  p99 %.1f us", e.latency.p50, e.latency.p99)
        << " (blocking sockets, " << e.request_bytes << " B request, " << e.response_bytes
        << " B response)"
        << line("; real p50 / echo p50 = %.2f\n", e.latency.p50 > 0 ? l.p50 / e.latency.p50 : 0.0);
  }
  out << line("client cpu %.2f us/msg (user+sys over the window), peak RSS %.0f KiB\n",
              r.cpu_us_per_msg, static_cast<double>(r.peak_rss_kib));
  if (r.steal) {
    out << "host steal " << r.steal->total_ms << " ms over the window";
    const char* sep = " (";
    for (const auto& [cpu, ms] : r.steal->ms_by_cpu) {
      out << sep << "CPU " << cpu << ": " << ms << " ms";
      sep = ", ";
    }
    out << (r.steal->ms_by_cpu.empty() ? "" : ")") << ", the hypervisor running something else\n";
  }
  if (!r.per_broker.empty()) {
    out << "per broker (the producers' metrics; attempt latency over the whole run)\n";
    for (const auto& [name, b] : r.per_broker) {
      const rmq::latency_summary& a = b.attempt_latency;
      out << "  " << name << ": " << b.acked << " acked, " << b.failed << " failed"
          << line(", attempts p50 %.0f us, p99 %.0f us, max %.0f us\n",
                  static_cast<double>(a.p50.count()), static_cast<double>(a.p99.count()),
                  static_cast<double>(a.max.count()));
    }
  }
  if (!r.errors_by_kind.empty()) {
    out << "errors by kind\n";
    for (const auto& [kind, n] : r.errors_by_kind) out << "  " << n << "  " << kind << '\n';
  }
  if (!r.errors_by_response_code.empty()) {
    out << "errors by broker response code\n";
    for (const auto& [code, n] : r.errors_by_response_code) {
      out << "  " << n << "  code " << code << '\n';
    }
  }
  out.flush();
}

nlohmann::json to_json(const report& r) {
  nlohmann::json per_broker = nlohmann::json::object();
  for (const auto& [name, b] : r.per_broker) {
    const rmq::latency_summary& l = b.attempt_latency;
    per_broker[name] = {{"acked", b.acked},
                        {"failed", b.failed},
                        {"attempt_latency_us",
                         {{"p50", l.p50.count()},
                          {"p99", l.p99.count()},
                          {"p999", l.p999.count()},
                          {"max", l.max.count()},
                          {"count", l.count}}}};
  }
  nlohmann::json j = {
      {"mode", r.mode},
      {"target", r.target},
      {"open_loop", r.open_loop},
      {"rate", r.rate},
      {"interrupted", r.interrupted},
      {"tls", r.tls},
      {"sent", r.sent},
      {"acked", r.acked},
      {"errors", r.errors},
      {"errors_by_kind", r.errors_by_kind},
      {"errors_by_response_code", r.errors_by_response_code},
      {"per_broker", per_broker},
      {"duration_s", r.duration_s},
      {"msgs_per_s", r.msgs_per_s},
      {"mb_per_s", r.mb_per_s},
      {"cpu_us_per_msg", r.cpu_us_per_msg},
      {"peak_rss_kib", r.peak_rss_kib},
      {"retries", r.retries},
      {"timeouts", r.timeouts},
      {"latency_us", latency_json(r.latency)},
  };
  if (r.auto_batches != 0) {
    j["auto_batches"] = r.auto_batches;
    j["messages_per_batch"] =
        static_cast<double>(r.auto_batched) / static_cast<double>(r.auto_batches);
  }
  if (r.trace) {
    j["trace_records"] = r.trace->records;
    j["trace_dropped"] = r.trace->dropped;
    j["trace_send_failures"] = r.trace->send_failures;
  }
  if (r.steal) {
    nlohmann::json steal = {{"total", r.steal->total_ms}};
    for (const auto& [cpu, ms] : r.steal->ms_by_cpu) steal["cpu" + std::to_string(cpu)] = ms;
    j["steal_ms"] = steal;
  }
  // The keys are documented as objects: keep them objects when empty too.
  if (r.errors_by_kind.empty()) j["errors_by_kind"] = nlohmann::json::object();
  if (r.errors_by_response_code.empty()) j["errors_by_response_code"] = nlohmann::json::object();
  if (r.raw_echo) {
    j["raw_echo"] = {{"request_bytes", r.raw_echo->request_bytes},
                     {"response_bytes", r.raw_echo->response_bytes},
                     {"latency_us", latency_json(r.raw_echo->latency)}};
  }
  return j;
}

}  // namespace rmq::bench
