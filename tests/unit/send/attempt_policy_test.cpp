// The attempt policy with no sockets and a fake clock: every outcome it distinguishes × every
// kind of send, each attempt's share of the deadline, and a scripted exchange failed at each
// step in turn.
#include "send/attempt_policy.hpp"

#include "rmq/error.hpp"
#include "support/test_clock.hpp"
#include "wire/codes.hpp"

#include <asio/error.hpp>
#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using rmq::errc;
using rmq::make_broker_error;
using rmq::make_error_code;
using rmq::send::attempt_deadline;
using rmq::send::attempt_outcome;
using rmq::send::attempt_plan;
using rmq::send::attempt_sequence;
using rmq::send::attempt_settings;
using rmq::send::attempt_verdict;
using rmq::send::fault_report;
using rmq::send::next_step;
using rmq::send::plan_attempts;
using rmq::send::policy_clock;
using rmq::send::send_mode;
using rmq::send::send_shape;
namespace code = rmq::wire::response_code;

namespace {

using rmq::test::t0;

struct kind {
  const char* name;
  send_shape shape;
};
// Every send form of the API, as the policy sees it.
const std::vector<kind> kinds = {
    {"sync", {send_mode::sync, false, false}},
    {"async", {send_mode::async, false, false}},
    {"oneway", {send_mode::oneway, false, false}},
    {"ordered sync", {send_mode::sync, true, false}},
    {"ordered async", {send_mode::async, true, false}},
    {"batch sync", {send_mode::sync, false, true}},
    {"batch async", {send_mode::async, false, true}},
};

// Distinct retry counts, so that a plan that reads the wrong one shows.
attempt_settings settings_with(bool retry_not_stored_ok) {
  attempt_settings s;
  s.retries_sync = 2;
  s.retries_async = 4;
  s.retry_another_broker_when_not_stored_ok = retry_not_stored_ok;
  return s;
}

constexpr fault_report isolated_reachable{.isolating = true, .reachable = true};
constexpr fault_report isolated_unreachable{.isolating = true, .reachable = false};
constexpr fault_report answered{.isolating = false, .reachable = true};

// What the table expects, before the kind's own rules (ordered keeps its queue, a last attempt
// cannot keep a stored result and retry) are applied.
enum class expect { retry, keep_stored, result, error };

struct row {
  std::string name;
  attempt_outcome outcome;
  bool retry_not_stored_ok;
  expect what;
  std::error_code error;
  std::optional<fault_report> fault;
};

std::vector<row> outcome_table() {
  std::vector<row> rows;
  const auto transport = [&](const char* name, errc e, bool retriable) {
    rows.push_back(
        {std::string("transport ") + name, attempt_outcome::transport_failure(make_error_code(e)),
         false, retriable ? expect::retry : expect::error, make_error_code(e), isolated_reachable});
  };
  transport("timeout", errc::timed_out, true);
  transport("disconnect", errc::connection_lost, true);
  transport("connect failure", errc::connect_failed, true);
  transport("unusable address", errc::invalid_address, true);
  transport("no writable queue", errc::no_writable_queue, true);
  transport("shutting down", errc::shutting_down, false);
  transport("protocol error", errc::protocol_error, false);
  transport("name resolution", errc::name_resolution_failed, false);
  transport("frame too large", errc::frame_too_large, false);

  rows.push_back(
      {"written (oneway)", attempt_outcome::write_done(), false, expect::result, {}, std::nullopt});
  // The user's cancellation: never retried, and not the broker's fault.
  rows.push_back({"cancelled", attempt_outcome::cancelled(), false, expect::error,
                  make_error_code(asio::error::operation_aborted), std::nullopt});
  rows.push_back({"cancelled, retry when not stored OK", attempt_outcome::cancelled(), true,
                  expect::error, make_error_code(asio::error::operation_aborted), std::nullopt});
  rows.push_back(
      {"SUCCESS", attempt_outcome::response(code::success), false, expect::result, {}, answered});
  rows.push_back({"SUCCESS, retry when not stored OK",
                  attempt_outcome::response(code::success),
                  true,
                  expect::result,
                  {},
                  answered});
  rows.push_back({"SUCCESS with a header that does not parse",
                  attempt_outcome::response(code::success, false), false, expect::error,
                  make_error_code(errc::invalid_response), isolated_unreachable});
  for (const auto& [name, c] : {std::pair{"FLUSH_DISK_TIMEOUT", code::flush_disk_timeout},
                                std::pair{"FLUSH_SLAVE_TIMEOUT", code::flush_slave_timeout},
                                std::pair{"SLAVE_NOT_AVAILABLE", code::slave_not_available}}) {
    rows.push_back({name, attempt_outcome::response(c), false, expect::result, {}, answered});
    rows.push_back({std::string(name) + ", retry when not stored OK",
                    attempt_outcome::response(c),
                    true,
                    expect::keep_stored,
                    {},
                    answered});
    rows.push_back({std::string(name) + " with a header that does not parse",
                    attempt_outcome::response(c, false), true, expect::error,
                    make_error_code(errc::invalid_response), isolated_unreachable});
  }
  // The codes the 5.x client retries on another broker, and some it does not.
  for (const auto& [name, c, retriable] :
       {std::tuple{"SYSTEM_ERROR", code::system_error, true},
        std::tuple{"SYSTEM_BUSY", code::system_busy, true},
        std::tuple{"TOPIC_NOT_EXIST", code::topic_not_exist, true},
        std::tuple{"SERVICE_NOT_AVAILABLE", code::service_not_available, true},
        std::tuple{"NO_PERMISSION", code::no_permission, true},
        std::tuple{"NO_BUYER_ID", code::no_buyer_id, true},
        std::tuple{"NOT_IN_CURRENT_UNIT", code::not_in_current_unit, true},
        std::tuple{"GO_AWAY", code::go_away, true},
        std::tuple{"REQUEST_CODE_NOT_SUPPORTED", code::request_code_not_supported, false},
        std::tuple{"TRANSACTION_FAILED", code::transaction_failed, false},
        std::tuple{"MESSAGE_ILLEGAL", code::message_illegal, false},
        std::tuple{"VERSION_NOT_SUPPORTED", code::version_not_supported, false},
        std::tuple{"INVALID_PARAMETER", code::invalid_parameter, false},
        std::tuple{"FLOW_CONTROL", code::flow_control, false},
        std::tuple{"NOT_LEADER_FOR_QUEUE", code::not_leader_for_queue, false},
        std::tuple{"ILLEGAL_OPERATION", code::illegal_operation, false},
        std::tuple{"an unknown code", 12345, false}}) {
    for (const bool not_stored : {false, true}) {
      rows.push_back({name, attempt_outcome::response(c), not_stored,
                      retriable ? expect::retry : expect::error, make_broker_error(c),
                      isolated_unreachable});
    }
  }
  return rows;
}

}  // namespace

TEST_CASE("attempts per kind: oneway one, ordered sync one, the rest one plus their retries") {
  const attempt_settings s = settings_with(false);
  const auto attempts_of = [&](send_shape shape) {
    return plan_attempts(shape, s, t0, t0 + 3s).max_attempts;
  };
  CHECK(attempts_of({send_mode::sync, false, false}) == 3);
  CHECK(attempts_of({send_mode::async, false, false}) == 5);
  CHECK(attempts_of({send_mode::oneway, false, false}) == 1);
  CHECK(attempts_of({send_mode::sync, true, false}) == 1);
  CHECK(attempts_of({send_mode::async, true, false}) == 5);  // retries the same queue
  CHECK(attempts_of({send_mode::sync, false, true}) == 3);
  CHECK(attempts_of({send_mode::async, false, true}) == 5);
  CHECK(plan_attempts({send_mode::async, true, false}, s, t0, t0 + 3s).ordered);
  CHECK_FALSE(plan_attempts({send_mode::async, false, false}, s, t0, t0 + 3s).ordered);
}

TEST_CASE("every outcome × every kind of send: the decision, its error and its fault report") {
  for (const row& r : outcome_table()) {
    for (const kind& k : kinds) {
      CAPTURE(r.name);
      CAPTURE(k.name);
      CAPTURE(r.retry_not_stored_ok);
      const attempt_settings s = settings_with(r.retry_not_stored_ok);
      const attempt_plan plan = plan_attempts(k.shape, s, t0, t0 + 3s);
      attempt_sequence attempts(plan);
      REQUIRE(attempts.may_attempt(t0, t0 + 3s));
      CHECK(attempts.begin(7) == 1);
      const attempt_verdict v = attempts.judge(k.shape, s, r.outcome);

      const bool more = plan.max_attempts > 1;
      next_step step = next_step::stop_with_error;
      switch (r.what) {
        case expect::retry:
          step = k.shape.ordered ? next_step::retry_same_queue : next_step::retry_another_broker;
          break;
        case expect::keep_stored:
          step = !k.shape.ordered && more ? next_step::keep_stored_and_retry
                                          : next_step::stop_with_result;
          break;
        case expect::result:
          step = next_step::stop_with_result;
          break;
        case expect::error:
          step = next_step::stop_with_error;
          break;
      }
      CHECK(v.step == step);
      CHECK(v.error == r.error);
      REQUIRE(v.fault.has_value() == r.fault.has_value());
      if (v.fault) {
        CHECK(v.fault->isolating == r.fault->isolating);
        CHECK(v.fault->reachable == r.fault->reachable);
      }
      // Whether another attempt follows: only after a retry verdict, and never for oneway or
      // an ordered sync send.
      const bool another =
          (step == next_step::retry_same_queue || step == next_step::retry_another_broker ||
           step == next_step::keep_stored_and_retry) &&
          attempts.may_attempt(t0 + 1ms, t0 + 3s);
      CHECK(another ==
            (more && step != next_step::stop_with_result && step != next_step::stop_with_error));
      if (k.shape.mode == send_mode::oneway ||
          (k.shape.ordered && k.shape.mode == send_mode::sync)) {
        CHECK_FALSE(another);
      }
      CHECK(attempts.last_broker() == 7u);
    }
  }
}

TEST_CASE("the last attempt that stores but not OK ends the send with its result") {
  const attempt_settings s = settings_with(true);
  const send_shape sync{send_mode::sync, false, false};
  attempt_sequence attempts(plan_attempts(sync, s, t0, t0 + 3s));
  for (int i = 0; i < 2; ++i) {
    REQUIRE(attempts.may_attempt(t0, t0 + 3s));
    (void)attempts.begin(0);
    CHECK(attempts.judge(sync, s, attempt_outcome::response(code::flush_disk_timeout)).step ==
          next_step::keep_stored_and_retry);
  }
  REQUIRE(attempts.may_attempt(t0, t0 + 3s));
  (void)attempts.begin(0);
  CHECK(attempts.judge(sync, s, attempt_outcome::response(code::flush_disk_timeout)).step ==
        next_step::stop_with_result);
}

TEST_CASE("a stored-but-not-OK result wins over the failures after it") {
  const std::error_code busy = make_broker_error(code::system_busy);
  CHECK(rmq::send::final_error(busy, false) == busy);
  CHECK_FALSE(rmq::send::final_error(busy, true));
  CHECK_FALSE(rmq::send::final_error(make_error_code(errc::timed_out), true));
  CHECK_FALSE(rmq::send::final_error({}, false));
}

TEST_CASE("budget: each attempt gets an even share of what the send was given") {
  const attempt_settings s = settings_with(false);
  const attempt_plan sync = plan_attempts({send_mode::sync, false, false}, s, t0, t0 + 3s);
  CHECK(sync.attempt_cap == 1s);
  // The first attempt at the start: its share.
  CHECK(attempt_deadline(sync, t0, t0 + 3s) == t0 + 1s);
  // A later attempt: its share from when it starts, never past the send's deadline.
  CHECK(attempt_deadline(sync, t0 + 1500ms, t0 + 3s) == t0 + 2500ms);
  CHECK(attempt_deadline(sync, t0 + 2500ms, t0 + 3s) == t0 + 3s);
  const attempt_plan async = plan_attempts({send_mode::async, false, false}, s, t0, t0 + 3s);
  CHECK(async.attempt_cap == 600ms);
  const attempt_plan oneway = plan_attempts({send_mode::oneway, false, false}, s, t0, t0 + 3s);
  CHECK(oneway.attempt_cap == 3s);
}

TEST_CASE("budget: a configured per-attempt cap replaces the share, still within the deadline") {
  attempt_settings s = settings_with(false);
  s.attempt_timeout = 5000ms;  // may exceed the whole budget
  const attempt_plan plan = plan_attempts({send_mode::sync, false, false}, s, t0, t0 + 3s);
  CHECK(plan.attempt_cap == 5s);
  CHECK(attempt_deadline(plan, t0, t0 + 3s) == t0 + 3s);
  s.attempt_timeout = 200ms;
  const attempt_plan small = plan_attempts({send_mode::sync, false, false}, s, t0, t0 + 3s);
  CHECK(attempt_deadline(small, t0 + 1s, t0 + 3s) == t0 + 1200ms);
}

TEST_CASE("budget: no attempt starts at or after the deadline; the send times out") {
  const attempt_settings s = settings_with(false);
  attempt_sequence attempts(plan_attempts({send_mode::sync, false, false}, s, t0, t0 + 3s));
  CHECK(attempts.may_attempt(t0 + 2999ms, t0 + 3s));
  CHECK_FALSE(attempts.may_attempt(t0 + 3s, t0 + 3s));
  CHECK(attempts.error() == errc::timed_out);
  // Even after an attempt failed otherwise: the deadline is what ended the send.
  attempt_sequence retried(plan_attempts({send_mode::sync, false, false}, s, t0, t0 + 3s));
  REQUIRE(retried.may_attempt(t0, t0 + 3s));
  (void)retried.begin(1);
  (void)retried.judge({send_mode::sync, false, false}, s,
                      attempt_outcome::response(code::system_busy));
  CHECK(retried.error() == make_broker_error(code::system_busy));
  CHECK_FALSE(retried.may_attempt(t0 + 4s, t0 + 3s));
  CHECK(retried.error() == errc::timed_out);
}

TEST_CASE("attempts exhausted: the send ends with the last attempt's error") {
  const attempt_settings s = settings_with(false);
  const send_shape sync{send_mode::sync, false, false};
  attempt_sequence attempts(plan_attempts(sync, s, t0, t0 + 3s));
  const std::vector<attempt_outcome> outcomes = {
      attempt_outcome::transport_failure(make_error_code(errc::connection_lost)),
      attempt_outcome::response(code::system_busy),
      attempt_outcome::transport_failure(make_error_code(errc::timed_out))};
  for (const attempt_outcome& o : outcomes) {
    REQUIRE(attempts.may_attempt(t0, t0 + 3s));
    (void)attempts.begin(0);
    CHECK(attempts.judge(sync, s, o).step == next_step::retry_another_broker);
  }
  CHECK_FALSE(attempts.may_attempt(t0, t0 + 3s));
  CHECK(attempts.made() == 3);
  CHECK(attempts.error() == errc::timed_out);
}

TEST_CASE("a skipped attempt (no master) counts, and its broker is avoided next") {
  const attempt_settings s = settings_with(false);
  attempt_sequence attempts(plan_attempts({send_mode::sync, false, false}, s, t0, t0 + 3s));
  REQUIRE(attempts.may_attempt(t0, t0 + 3s));
  CHECK_FALSE(attempts.is_retry());
  CHECK(attempts.begin(4) == 1);
  attempts.skipped(make_error_code(errc::no_writable_queue));
  CHECK(attempts.last_broker() == 4u);
  CHECK(attempts.is_retry());
  CHECK(attempts.error() == errc::no_writable_queue);
}

TEST_CASE("delivery time: brokers before 5.0 refuse it; batches and unknown versions pass") {
  const send_shape single{send_mode::sync, false, false};
  const send_shape batch{send_mode::sync, false, true};
  CHECK_FALSE(rmq::send::delivery_time_supported(single, true, 412));
  CHECK(rmq::send::delivery_time_supported(single, true, 413));
  CHECK_FALSE(rmq::send::delivery_time_supported(single, true, std::nullopt));  // not known
  CHECK(rmq::send::delivery_time_supported(single, false, std::nullopt));
  CHECK(rmq::send::delivery_time_supported(single, false, 100));
  CHECK(rmq::send::delivery_time_supported(batch, true, 100));
}

// --- a scripted exchange, failed at each step in turn ------------------------------------------

namespace {

// One attempt of a script: how long the broker takes and what comes of it.
struct scripted_attempt {
  enum class kind { answer, transport_error, timeout, no_master } what = kind::answer;
  policy_clock::duration takes = 10ms;
  std::int32_t code = code::success;
  bool header_valid = true;
  errc error = errc::connection_lost;
};

struct run_result {
  int finals = 0;  ///< how many times the send ended (must be exactly one)
  std::error_code error;
  bool stored = false;  ///< a stored-but-not-OK result was kept
  int attempts = 0;
  int max_attempts = 0;
  policy_clock::time_point ended{};
  policy_clock::time_point deadline{};
  std::string log;  ///< what each attempt came to, for the failure messages
};

// Plays the pipeline's part with a fake clock: it performs what the policy decides.
run_result run_script(const send_shape& shape, const attempt_settings& settings,
                      const std::vector<scripted_attempt>& script) {
  run_result out;
  policy_clock::time_point now = t0;
  out.deadline = t0 + 3s;
  const attempt_plan plan = plan_attempts(shape, settings, t0, out.deadline);
  out.max_attempts = plan.max_attempts;
  attempt_sequence attempts(plan);
  const auto end = [&](std::error_code ec) {
    ++out.finals;
    out.error = rmq::send::final_error(ec, out.stored);
    out.ended = now;
  };
  for (int guard = 0; guard < 100; ++guard) {
    if (!attempts.may_attempt(now, out.deadline)) {
      end(attempts.error());
      break;
    }
    const int n = attempts.begin(static_cast<rmq::route::broker_id>(guard % 3));
    const scripted_attempt step =
        static_cast<std::size_t>(n) <= script.size() ? script[n - 1] : scripted_attempt{};
    if (step.what == scripted_attempt::kind::no_master) {
      attempts.skipped(make_error_code(errc::no_writable_queue));
      out.log += "skipped; ";
      continue;
    }
    const policy_clock::time_point until = attempt_deadline(plan, now, out.deadline);
    attempt_outcome outcome;
    if (step.what == scripted_attempt::kind::timeout || now + step.takes > until) {
      now = until;  // the connection fails the request at its deadline
      outcome = attempt_outcome::transport_failure(make_error_code(errc::timed_out));
    } else {
      now += step.takes;
      if (step.what == scripted_attempt::kind::transport_error) {
        outcome = attempt_outcome::transport_failure(make_error_code(step.error));
      } else if (shape.mode == send_mode::oneway) {
        outcome = attempt_outcome::write_done();
      } else {
        outcome = attempt_outcome::response(step.code, step.header_valid);
      }
    }
    const attempt_verdict v = attempts.judge(shape, settings, outcome);
    out.log += (v.error ? v.error.message() : std::string("ok")) + "; ";
    if (v.step == next_step::keep_stored_and_retry) out.stored = true;
    if (v.step == next_step::stop_with_result) {
      end({});
      break;
    }
    if (v.step == next_step::stop_with_error) {
      end(v.error);
      break;
    }
  }
  out.attempts = attempts.made();
  return out;
}

// The failures injected in place of a step.
std::vector<std::pair<std::string, scripted_attempt>> failures() {
  using k = scripted_attempt::kind;
  return {
      {"timeout", {k::timeout}},
      {"disconnect", {k::transport_error, 5ms, 0, true, errc::connection_lost}},
      {"connect failure", {k::transport_error, 1ms, 0, true, errc::connect_failed}},
      {"shutting down", {k::transport_error, 1ms, 0, true, errc::shutting_down}},
      {"protocol error", {k::transport_error, 1ms, 0, true, errc::protocol_error}},
      {"no master", {k::no_master}},
      {"SYSTEM_BUSY", {k::answer, 10ms, code::system_busy}},
      {"MESSAGE_ILLEGAL", {k::answer, 10ms, code::message_illegal}},
      {"FLUSH_DISK_TIMEOUT", {k::answer, 10ms, code::flush_disk_timeout}},
      {"bad header", {k::answer, 10ms, code::success, false}},
      {"slow answer", {k::answer, 2500ms, code::success}},
  };
}

// A failure that no attempt after it can mend: the send must end at that step.
bool ends_send(const scripted_attempt& a) {
  using k = scripted_attempt::kind;
  if (a.what == k::transport_error) return !rmq::is_retriable(make_error_code(a.error));
  if (a.what != k::answer) return false;
  if (!a.header_valid) return true;
  return !rmq::send::stores_message(a.code) && !rmq::is_retriable_response_code(a.code);
}

}  // namespace

TEST_CASE("a scripted exchange failed at each step in turn always ends once, in time") {
  // The exchange as scripted: busy, stored but not OK (kept), then stored.
  const std::vector<scripted_attempt> script = {
      {scripted_attempt::kind::answer, 20ms, code::system_busy},
      {scripted_attempt::kind::answer, 20ms, code::flush_slave_timeout},
      {scripted_attempt::kind::answer, 20ms, code::success},
  };
  for (const bool not_stored_ok : {false, true}) {
    const attempt_settings settings = settings_with(not_stored_ok);
    for (const kind& k : kinds) {
      for (std::size_t fail_at = 0; fail_at <= script.size(); ++fail_at) {
        for (const auto& [failure_name, failure] : failures()) {
          std::vector<scripted_attempt> run = script;
          if (fail_at < script.size()) run[fail_at] = failure;  // fail_at == size: as scripted
          CAPTURE(k.name);
          CAPTURE(not_stored_ok);
          CAPTURE(fail_at);
          CAPTURE(failure_name);
          const run_result r = run_script(k.shape, settings, run);
          CAPTURE(r.log);
          CHECK(r.finals == 1);
          CHECK(r.attempts >= 1);
          CHECK(r.attempts <= r.max_attempts);
          CHECK(r.ended <= r.deadline);
          if (r.stored) CHECK_FALSE(r.error);  // a kept result is never lost
          if (k.shape.mode == send_mode::oneway) CHECK(r.attempts == 1);
          // A failure the policy does not retry ends the send at that step.
          if (fail_at < script.size() && static_cast<int>(fail_at) < r.attempts &&
              ends_send(failure)) {
            CHECK(r.attempts == static_cast<int>(fail_at) + 1);
          }
        }
      }
    }
  }
}

TEST_CASE("the scripted exchange as is: two retries, the stored result of the last") {
  const std::vector<scripted_attempt> script = {
      {scripted_attempt::kind::answer, 20ms, code::system_busy},
      {scripted_attempt::kind::answer, 20ms, code::flush_slave_timeout},
      {scripted_attempt::kind::answer, 20ms, code::success},
  };
  const run_result kept = run_script({send_mode::sync, false, false}, settings_with(true), script);
  CHECK(kept.finals == 1);
  CHECK(kept.attempts == 3);
  CHECK(kept.stored);
  CHECK_FALSE(kept.error);
  CHECK(kept.ended == t0 + 60ms);
  const run_result plain =
      run_script({send_mode::sync, false, false}, settings_with(false), script);
  CHECK(plain.attempts == 2);  // FLUSH_SLAVE_TIMEOUT is the result
  CHECK_FALSE(plain.stored);
  CHECK_FALSE(plain.error);
}

TEST_CASE("hung attempts use up their shares, then the deadline ends the send") {
  const std::vector<scripted_attempt> script(3, scripted_attempt{scripted_attempt::kind::timeout});
  const run_result r = run_script({send_mode::sync, false, false}, settings_with(false), script);
  CHECK(r.finals == 1);
  CHECK(r.attempts == 3);
  CHECK(r.ended == t0 + 3s);
  CHECK(r.error == errc::timed_out);
}

TEST_CASE("a kept stored result wins over a later fatal failure and over the deadline") {
  using k = scripted_attempt::kind;
  const std::vector<scripted_attempt> fatal = {
      {k::answer, 10ms, code::flush_disk_timeout},
      {k::transport_error, 1ms, 0, true, errc::shutting_down}};
  const run_result r1 = run_script({send_mode::sync, false, false}, settings_with(true), fatal);
  CHECK(r1.finals == 1);
  CHECK(r1.stored);
  CHECK_FALSE(r1.error);
  const std::vector<scripted_attempt> hung = {
      {k::answer, 10ms, code::flush_disk_timeout}, {k::timeout}, {k::timeout}};
  const run_result r2 = run_script({send_mode::sync, false, false}, settings_with(true), hung);
  CHECK(r2.stored);
  CHECK_FALSE(r2.error);
  CHECK(r2.ended <= r2.deadline);
}
