#include "report.hpp"

#include "recorder.hpp"
#include "rmq/error.hpp"

#include <doctest/doctest.h>

#include <sstream>

using namespace rmq::bench;

TEST_CASE("the JSON report has every documented key") {
  const clock::time_point window = clock::now();
  recorder rec(window);
  const auto at = [&](int us) { return window + std::chrono::microseconds(us); };
  rec.on_success(at(0), at(100), 128);
  rec.on_success(at(10), at(210), 128);
  rec.on_success(at(20), at(320), 128);
  rec.on_failure(at(30), at(3030), make_error_code(rmq::errc::timed_out));
  rec.on_failure(at(40), at(50), rmq::make_broker_error(2));
  // Warm-up: shown live only, never in the totals.
  rec.on_success(window - std::chrono::seconds(1), at(5), 128);

  totals t;
  rec.merge_into(t);
  report r;
  r.mode = "async";
  r.duration_s = 2.0;
  r.cpu_us_per_msg = 3.5;
  r.peak_rss_kib = 12345;
  fill_from_totals(r, t);
  // The producer's metrics: broker-a had stored 1 message when the window began.
  const auto with_brokers = [](std::uint64_t a, std::uint64_t b) {
    rmq::producer_metrics m;
    rmq::broker_figures broker;
    broker.name = "broker-a";
    broker.attempts.succeeded = a;
    broker.attempts.latency.p99 = std::chrono::microseconds(900);
    broker.attempts.latency.count = a;
    m.brokers.push_back(broker);
    broker.name = "broker-b";
    broker.attempts.succeeded = b;
    broker.attempts.failed = 1;
    m.brokers.push_back(broker);
    return m;
  };
  fill_per_broker(r, {with_brokers(1, 0)}, {with_brokers(3, 1)});
  const nlohmann::json j = to_json(r);

  for (const char* key : {"sent", "acked", "errors", "errors_by_kind", "per_broker", "duration_s",
                          "msgs_per_s", "cpu_us_per_msg", "peak_rss_kib", "latency_us"}) {
    CHECK_MESSAGE(j.contains(key), key);
  }
  for (const char* key : {"p50", "p90", "p99", "p999", "p9999", "max"}) {
    CHECK_MESSAGE(j["latency_us"].contains(key), key);
  }
  CHECK(j["sent"] == 5);
  CHECK(j["acked"] == 3);
  CHECK(j["errors"] == 2);
  CHECK(j["errors_by_kind"].is_object());
  CHECK(j["errors_by_kind"].size() == 2);
  CHECK(j["errors_by_response_code"]["2"] == 1);
  CHECK(j["per_broker"].is_object());
  CHECK(j["per_broker"]["broker-a"]["acked"] == 2);
  CHECK(j["per_broker"]["broker-b"]["acked"] == 1);
  CHECK(j["per_broker"]["broker-b"]["failed"] == 0);  // its one failure came before the window
  CHECK(j["per_broker"]["broker-a"]["attempt_latency_us"]["p99"] == 900);
  CHECK(j["per_broker"]["broker-a"]["attempt_latency_us"]["count"] == 3);
  CHECK(j["msgs_per_s"].get<double>() == doctest::Approx(1.5));
  CHECK(j["latency_us"]["max"].get<double>() == doctest::Approx(300.0).epsilon(0.01));
  CHECK(j["latency_us"]["p50"].get<double>() == doctest::Approx(200.0).epsilon(0.01));

  std::ostringstream text;
  print_report(text, r);
  CHECK(text.str().find("broker-a: 2 acked, 0 failed") != std::string::npos);
  CHECK_FALSE(j.contains("trace_records"));  // --trace only

  r.trace = report::trace_counts{.records = 7, .dropped = 2, .send_failures = 1};
  const nlohmann::json traced = to_json(r);
  CHECK(traced["trace_records"] == 7);
  CHECK(traced["trace_dropped"] == 2);
  CHECK(traced["trace_send_failures"] == 1);
  std::ostringstream traced_text;
  print_report(traced_text, r);
  CHECK(traced_text.str().find("trace      records 7, dropped 2, failed trace messages 1") !=
        std::string::npos);
}

TEST_CASE("an empty run still writes objects, not arrays") {
  report r;
  const nlohmann::json j = to_json(r);
  CHECK(j["errors_by_kind"].is_object());
  CHECK(j["per_broker"].is_object());
  CHECK(j["acked"] == 0);
}

TEST_CASE("recorders hand the progress line the last interval only") {
  recorder rec(clock::now());
  const clock::time_point t = clock::now();
  rec.on_success(t, t + std::chrono::microseconds(50), 1);
  histogram interval;
  rec.take_interval(interval);
  CHECK(interval.count() == 1);
  histogram next;
  rec.take_interval(next);
  CHECK(next.count() == 0);
}
