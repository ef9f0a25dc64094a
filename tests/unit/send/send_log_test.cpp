// The send pipeline's log lines, with a capturing logger and times given by the test: which are
// written, which are left out, and what a line says.
#include "send/send_log.hpp"

#include "rmq/error.hpp"
#include "support/log_capture.hpp"
#include "support/test_clock.hpp"

#include <asio/error.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace std::chrono_literals;
using rmq::errc;
using rmq::send::fault_change;
using rmq::send::send_log;
using rmq::test::log_capture;

namespace {
using rmq::test::t0;
}

TEST_CASE("send_log: final failures are rate-limited; cancellations and shutdown are not logged") {
  log_capture log;
  send_log sends(*log.logger());
  const auto refused = make_error_code(errc::connect_failed);
  for (int i = 0; i < 10; ++i) sends.failed("Orders", refused, 3, "broker-a", 5ms, t0 + i * 1ms);
  sends.failed("Orders", make_error_code(asio::error::operation_aborted), 1, "", 1ms, t0);
  sends.failed("Orders", make_error_code(errc::shutting_down), 1, "", 1ms, t0);
  const auto lines = log.lines();
  REQUIRE(lines.size() == 4);  // the 1st, 2nd, 4th and 8th of 10
  CHECK(lines[0] ==
        "warning rmq send: a send to topic Orders failed after 3 attempt(s) in 5 ms on "
        "broker-a: " +
            refused.message() + " (1 failed sends, 0 not logged since the last line)");
  CHECK(lines[3].ends_with("(8 failed sends, 3 not logged since the last line)"));
}

TEST_CASE("send_log: retries are info lines, rate-limited; nothing is counted when info is off") {
  log_capture log(spdlog::level::warn);
  send_log sends(*log.logger());
  const auto busy = make_error_code(errc::connection_lost);
  for (int i = 0; i < 5; ++i) sends.retry("Orders", 2, busy, t0);
  CHECK(log.lines().empty());
  log.logger()->set_level(spdlog::level::info);
  sends.retry("Orders", 2, busy, t0);  // a 1st: the retries while off were not counted
  REQUIRE(log.lines().size() == 1);
  CHECK(log.lines()[0] == "info rmq send: retrying a send to topic Orders (attempt 2) after: " +
                              busy.message() + " (1 retries, 0 not logged since the last line)");
}

TEST_CASE("send_log: an isolation and its end, told once each; the end only of a told one") {
  log_capture log;
  send_log sends(*log.logger());
  const auto lost = make_error_code(errc::connection_lost);
  sends.fault_changed(fault_change::none, 0, "broker-a", {}, 2ms, t0, t0);
  sends.fault_changed(fault_change::isolated, 0, "broker-a", lost, 2ms, t0 + 10s, t0);
  sends.fault_changed(fault_change::back, 0, "broker-a", {}, 3ms, t0, t0 + 11s);
  // A slow answer isolates without an error.
  sends.fault_changed(fault_change::isolated, 0, "broker-a", {}, 700ms, t0 + 13s, t0 + 11s);
  sends.fault_changed(fault_change::back, 0, "broker-a", {}, 3ms, t0, t0 + 14s);
  // The 3rd isolation of the run is left out (1st, 2nd, 4th...), and so is its end.
  sends.fault_changed(fault_change::isolated, 0, "broker-a", lost, 2ms, t0 + 24s, t0 + 14s);
  sends.fault_changed(fault_change::back, 0, "broker-a", {}, 3ms, t0, t0 + 25s);
  CHECK(log.lines() ==
        std::vector<std::string>{
            "warning rmq send: broker broker-a isolated for 10000 ms: " + lost.message() +
                " (1 isolations, 0 not logged since the last line)",
            "info rmq send: broker broker-a is back: answered in 3 ms",
            "warning rmq send: broker broker-a isolated for 2000 ms: it answered in 700 ms (2 "
            "isolations, 0 not logged since the last line)",
            "info rmq send: broker broker-a is back: answered in 3 ms",
        });
}
