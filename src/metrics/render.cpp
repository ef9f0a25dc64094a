// producer_metrics as JSON (nlohmann) and as Prometheus text exposition (format 0.0.4).
#include "rmq/metrics.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace rmq {

std::string_view to_string(connection_state state) noexcept {
  switch (state) {
    case connection_state::idle:
      return "idle";
    case connection_state::connecting:
      return "connecting";
    case connection_state::connected:
      return "connected";
    case connection_state::retiring:
      return "retiring";
    case connection_state::backing_off:
      return "backing_off";
    case connection_state::closed:
      return "closed";
  }
  return "unknown";
}

namespace {

using nlohmann::json;

enum class kind : bool { counter, gauge };

/// Every field of producer_stats, named as in C++ (JSON) and in Prometheus.
template <class F>
void for_each_total(const producer_stats& s, F&& f) {
  f("sends", s.sends, kind::counter, "Sends started.");
  f("succeeded", s.succeeded, kind::counter, "Sends completed with a result.");
  f("failed", s.failed, kind::counter, "Sends completed with an error.");
  f("retries", s.retries, kind::counter, "Attempts beyond each send's first.");
  f("timeouts", s.timeouts, kind::counter, "Sends that ran out of budget.");
  f("in_flight", s.in_flight, kind::gauge, "Sends admitted and not completed.");
  f("in_flight_bytes", s.in_flight_bytes, kind::gauge, "Body bytes of the sends in flight.");
  f("waiting_for_room", s.waiting_for_room, kind::gauge, "Sends waiting for room now.");
  f("room_waits", s.room_waits, kind::counter, "Sends that had to wait for room.");
  f("route_queries", s.route_queries, kind::counter, "Route lookups sent to NameServers.");
  f("cached_topics", s.cached_topics, kind::gauge, "Topic routes cached (per loop).");
  f("evicted_topics", s.evicted_topics, kind::counter, "Topic routes forgotten when unused.");
  f("frame_pool_fallbacks", s.frame_pool_fallbacks, kind::counter,
    "Coroutine frames allocated from the heap.");
  f("slot_fallbacks", s.slot_fallbacks, kind::counter,
    "Completion handlers too large for a send slot.");
  f("handler_exceptions", s.handler_exceptions, kind::counter,
    "Exceptions thrown by handlers on a producer loop.");
  f("transactions", s.transactions, kind::counter, "Transactional sends started.");
  f("transaction_checks", s.transaction_checks, kind::counter,
    "Transaction state checks answered.");
  f("checks_ignored", s.checks_ignored, kind::counter, "Transaction state checks not answered.");
  f("requests", s.requests, kind::counter, "Request-reply requests started.");
  f("replies", s.replies, kind::counter, "Replies matched to their request.");
  f("replies_dropped", s.replies_dropped, kind::counter, "Replies late, not ours or undecodable.");
  f("hook_exceptions", s.hook_exceptions, kind::counter, "Exceptions thrown by send hooks.");
  f("auto_batches", s.auto_batches, kind::counter, "Automatic batches sent.");
  f("auto_batched", s.auto_batched, kind::counter, "Sends that joined an automatic batch.");
  f("trace_records", s.trace_records, kind::counter, "Trace records handed to the trace producer.");
  f("trace_dropped", s.trace_dropped, kind::counter, "Trace records dropped.");
  f("trace_send_failures", s.trace_send_failures, kind::counter, "Trace messages that failed.");
}

[[nodiscard]] json latency_json(const latency_summary& l) {
  return {{"count", l.count},       {"p50", l.p50.count()}, {"p99", l.p99.count()},
          {"p999", l.p999.count()}, {"max", l.max.count()}, {"sum", l.sum.count()}};
}

[[nodiscard]] json error_json(const error_count& e) {
  return {{"category", e.error.category().name()},
          {"code", e.error.value()},
          {"message", e.error.message()},
          {"count", e.count}};
}

void add_figures(json& out, const send_figures& f) {
  out["sends"] = f.sends;
  out["succeeded"] = f.succeeded;
  out["failed"] = f.failed;
  out["retries"] = f.retries;
  out["timeouts"] = f.timeouts;
  out["bytes"] = f.bytes;
  json failures = json::array();
  for (const error_count& e : f.failures) failures.push_back(error_json(e));
  out["failures"] = std::move(failures);
  out["latency_us"] = latency_json(f.latency);
}

[[nodiscard]] json connection_json(const connection_figures& c) {
  return {{"address", c.address},
          {"state", std::string(to_string(c.state))},
          {"connected_loops", c.connected_loops},
          {"connects", c.connects},
          {"reconnects", c.reconnects},
          {"connect_failures", c.connect_failures},
          {"losses", c.losses},
          {"go_aways", c.go_aways}};
}

// --- Prometheus text ------------------------------------------------------------------------

/// A label value as the exposition format quotes it: backslash, double quote and line feed
/// escaped. Names come from brokers and routes: a byte outside printable ASCII becomes '?', so
/// that a scrape never fails on bytes that are not UTF-8.
void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < ' ' || c > '~') {
      out += '?';
    } else {
      out += c;
    }
  }
}

struct label {
  std::string_view name;
  std::string_view value;
};

class exposition {
 public:
  /// Starts the family `name` (HELP and TYPE lines); its samples must follow.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  template <class Number>
  void sample(std::string_view name, std::initializer_list<label> labels, Number value) {
    out_ += name;
    if (labels.size() != 0) {
      out_ += '{';
      bool first = true;
      for (const label& l : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += l.name;
        out_ += "=\"";
        append_label_value(out_, l.value);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += json(value).dump();  // integers exactly, doubles shortest round-trip
    out_ += '\n';
  }
  [[nodiscard]] std::string take() && { return std::move(out_); }

 private:
  std::string out_;
};

[[nodiscard]] double seconds(std::chrono::microseconds us) noexcept {
  return static_cast<double>(us.count()) / 1e6;
}

/// The send figures of each subject (topic or broker) as families named
/// rmq_producer_<prefix>_*, with the subject in `label_name`.
template <class Subjects, class Name, class Figures>
void send_families(exposition& out, std::string_view prefix, std::string_view label_name,
                   std::string_view what, const Subjects& subjects, Name&& name_of,
                   Figures&& figures_of) {
  const std::string base = "rmq_producer_" + std::string(prefix) + "_";
  const auto counter = [&](std::string_view field, std::string_view help, auto value_of) {
    const std::string name = base + std::string(field) + "_total";
    out.family(name, "counter", std::string(help) + " (" + std::string(what) + ")");
    for (const auto& s : subjects)
      out.sample(name, {{label_name, name_of(s)}}, value_of(figures_of(s)));
  };
  counter("sends", "Messages counted", [](const send_figures& f) { return f.sends; });
  counter("succeeded", "Messages stored", [](const send_figures& f) { return f.succeeded; });
  counter("failed", "Messages failed", [](const send_figures& f) { return f.failed; });
  counter("retries", "Retries", [](const send_figures& f) { return f.retries; });
  counter("timeouts", "Timeouts", [](const send_figures& f) { return f.timeouts; });
  counter("bytes", "Body bytes", [](const send_figures& f) { return f.bytes; });
  const std::string failures = base + "failures_total";
  out.family(failures, "counter", "Failures by error (" + std::string(what) + ")");
  for (const auto& s : subjects) {
    for (const error_count& e : figures_of(s).failures) {
      const std::string error =
          std::string(e.error.category().name()) + ":" + std::to_string(e.error.value());
      const std::string message = e.error.message();
      out.sample(failures, {{label_name, name_of(s)}, {"error", error}, {"message", message}},
                 e.count);
    }
  }
  const std::string latency = base + "latency_seconds";
  out.family(latency, "summary", "Latency (" + std::string(what) + ")");
  for (const auto& s : subjects) {
    const latency_summary& l = figures_of(s).latency;
    out.sample(latency, {{label_name, name_of(s)}, {"quantile", "0.5"}}, seconds(l.p50));
    out.sample(latency, {{label_name, name_of(s)}, {"quantile", "0.99"}}, seconds(l.p99));
    out.sample(latency, {{label_name, name_of(s)}, {"quantile", "0.999"}}, seconds(l.p999));
    out.sample(latency, {{label_name, name_of(s)}, {"quantile", "1"}}, seconds(l.max));
    out.sample(latency + "_sum", {{label_name, name_of(s)}}, seconds(l.sum));
    out.sample(latency + "_count", {{label_name, name_of(s)}}, l.count);
  }
}

constexpr connection_state all_states[] = {
    connection_state::idle,     connection_state::connecting,  connection_state::connected,
    connection_state::retiring, connection_state::backing_off, connection_state::closed};

void connection_families(exposition& out, const producer_metrics& m) {
  struct row {
    const connection_figures* figures;
    std::string_view role;
  };
  std::vector<row> rows;
  for (const connection_figures& c : m.name_servers) rows.push_back({&c, "name_server"});
  for (const broker_figures& b : m.brokers) {
    // Two broker names may share a master address: one series per address, or the scrape
    // would hold duplicates (which Prometheus rejects).
    const bool listed = std::any_of(rows.begin(), rows.end(), [&](const row& r) {
      return r.figures->address == b.connection.address;
    });
    if (!b.connection.address.empty() && !listed) rows.push_back({&b.connection, "broker"});
  }
  const auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                          auto value_of) {
    out.family(name, type, help);
    for (const row& r : rows) {
      out.sample(name, {{"address", r.figures->address}, {"role", r.role}}, value_of(*r.figures));
    }
  };
  family("rmq_producer_connection_connected_loops", "gauge",
         "Loops whose connection to the address is connected.",
         [](const connection_figures& c) { return c.connected_loops; });
  family("rmq_producer_connection_connects_total", "counter", "Connections established.",
         [](const connection_figures& c) { return c.connects; });
  family("rmq_producer_connection_reconnects_total", "counter",
         "Connections established after a loop's first.",
         [](const connection_figures& c) { return c.reconnects; });
  family("rmq_producer_connection_connect_failures_total", "counter",
         "Connects or name resolutions that failed.",
         [](const connection_figures& c) { return c.connect_failures; });
  family("rmq_producer_connection_losses_total", "counter", "Established connections that failed.",
         [](const connection_figures& c) { return c.losses; });
  family("rmq_producer_connection_go_aways_total", "counter", "Connections told to go away.",
         [](const connection_figures& c) { return c.go_aways; });
  // Every state, 1 for the current one: series that never come and go.
  out.family("rmq_producer_connection_state", "gauge",
             "1 for the address's state (the best of its loops), 0 for the others.");
  for (const row& r : rows) {
    for (const connection_state state : all_states) {
      out.sample("rmq_producer_connection_state",
                 {{"address", r.figures->address}, {"role", r.role}, {"state", to_string(state)}},
                 r.figures->state == state ? 1 : 0);
    }
  }
}

}  // namespace

std::string producer_metrics::to_json() const {
  json out;
  out["taken_at_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(taken_at.time_since_epoch()).count();
  json t = json::object();
  for_each_total(totals, [&](std::string_view name, std::uint64_t value, kind, std::string_view) {
    t[std::string(name)] = value;
  });
  out["totals"] = std::move(t);
  out["latency_us"] = latency_json(latency);
  json b = json::array();
  for (const broker_figures& f : brokers) {
    json one = {{"name", f.name}, {"address", f.address}};
    add_figures(one, f.attempts);
    one["connection"] = connection_json(f.connection);
    b.push_back(std::move(one));
  }
  out["brokers"] = std::move(b);
  json tp = json::array();
  for (const topic_figures& f : topics) {
    json one = {{"topic", f.topic}};
    add_figures(one, f.sends);
    tp.push_back(std::move(one));
  }
  out["topics"] = std::move(tp);
  json ns = json::array();
  for (const connection_figures& c : name_servers) ns.push_back(connection_json(c));
  out["name_servers"] = std::move(ns);
  // Names and remarks come from brokers: replace invalid UTF-8 rather than throw.
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string producer_metrics::to_prometheus() const {
  exposition out;
  for_each_total(totals,
                 [&](std::string_view field, std::uint64_t value, kind k, std::string_view help) {
                   const std::string name =
                       "rmq_producer_" + std::string(field) + (k == kind::counter ? "_total" : "");
                   out.family(name, k == kind::counter ? "counter" : "gauge", help);
                   out.sample(name, {}, value);
                 });
  out.family("rmq_producer_latency_seconds", "summary",
             "From a send's start to its completion (every topic).");
  out.sample("rmq_producer_latency_seconds", {{"quantile", "0.5"}}, seconds(latency.p50));
  out.sample("rmq_producer_latency_seconds", {{"quantile", "0.99"}}, seconds(latency.p99));
  out.sample("rmq_producer_latency_seconds", {{"quantile", "0.999"}}, seconds(latency.p999));
  out.sample("rmq_producer_latency_seconds", {{"quantile", "1"}}, seconds(latency.max));
  out.sample("rmq_producer_latency_seconds_sum", {}, seconds(latency.sum));
  out.sample("rmq_producer_latency_seconds_count", {}, latency.count);
  send_families(
      out, "topic", "topic", "per topic, each send once", topics,
      [](const topic_figures& t) -> std::string_view { return t.topic; },
      [](const topic_figures& t) -> const send_figures& { return t.sends; });
  send_families(
      out, "broker", "broker", "per broker, each attempt", brokers,
      [](const broker_figures& b) -> std::string_view { return b.name; },
      [](const broker_figures& b) -> const send_figures& { return b.attempts; });
  connection_families(out, *this);
  return std::move(out).take();
}

}  // namespace rmq
