// The connection's lifecycle machine alone: every state × event against a table written out
// by hand, the backoff, admission and the trace hook. No loop, no socket, a fake clock.
#include "net/connection_lifecycle.hpp"

#include "rmq/error.hpp"
#include "support/test_clock.hpp"

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <vector>

using namespace std::chrono_literals;
using rmq::errc;
using rmq::net::address_kind;
using rmq::net::backoff_policy;
using rmq::net::connection_lifecycle;
using rmq::net::link_action;
using rmq::net::link_event;
using rmq::net::link_state;
using rmq::net::link_step;
using rmq::net::reconnect_delay;
using net_clock = rmq::net::clock;

namespace {

using rmq::test::t0;

constexpr std::array all_events{
    link_event::demand,         link_event::resolved,
    link_event::resolve_failed, link_event::connect_succeeded,
    link_event::connect_failed, link_event::link_failed,
    link_event::stream_corrupt, link_event::idle_timeout,
    link_event::socket_closed,  link_event::drain,
    link_event::drained,        link_event::close,
    link_event::go_away,        link_event::go_away_again,
    link_event::retired,
};

// A machine brought into `s` by legal events; the endpoint is a name (needs resolving).
connection_lifecycle machine_in(link_state s) {
  connection_lifecycle m(backoff_policy{}, address_kind::name);
  const auto step = [&](link_event e) {
    REQUIRE(m.handle(e, t0).outcome == link_step::verdict::taken);
  };
  switch (s) {
    case link_state::disconnected:
      break;
    case link_state::resolving:
      step(link_event::demand);
      break;
    case link_state::connecting:
      step(link_event::demand);
      step(link_event::resolved);
      break;
    case link_state::connected:
      step(link_event::demand);
      step(link_event::resolved);
      step(link_event::connect_succeeded);
      break;
    case link_state::retiring:
      step(link_event::demand);
      step(link_event::resolved);
      step(link_event::connect_succeeded);
      step(link_event::go_away);
      break;
    case link_state::disconnecting:
      step(link_event::demand);
      step(link_event::resolved);
      step(link_event::connect_succeeded);
      step(link_event::link_failed);
      break;
    case link_state::closing:
      step(link_event::demand);
      step(link_event::resolved);
      step(link_event::connect_succeeded);
      step(link_event::close);
      break;
    case link_state::closed:
      step(link_event::close);
      break;
  }
  REQUIRE(m.state() == s);
  return m;
}

struct expected {
  link_step::verdict outcome;
  link_state to;
  link_action actions;
  errc failure;
};

constexpr auto none = link_action::none;
constexpr auto close_socket = link_action::close_socket;
constexpr auto fail = link_action::fail_requests;
constexpr auto finish = link_action::finish_close;
constexpr auto restart = link_action::restart_stream;

// Shorthands for the table.
constexpr expected illegal(link_state s) {
  return {link_step::verdict::illegal, s, none, {}};
}
constexpr expected ignored(link_state s) {
  return {link_step::verdict::ignored, s, none, {}};
}
constexpr expected go(link_state to, link_action a = none, errc f = {}) {
  return {link_step::verdict::taken, to, a, f};
}

struct row {
  link_state from;
  std::array<expected, all_events.size()> by_event;  // in the order of all_events
};

using S = link_state;
const std::array table{
    row{S::disconnected,
        {go(S::resolving, link_action::resolve), illegal(S::disconnected), illegal(S::disconnected),
         illegal(S::disconnected), illegal(S::disconnected), illegal(S::disconnected),
         illegal(S::disconnected), illegal(S::disconnected), illegal(S::disconnected),
         go(S::disconnected), go(S::closed, fail | finish, errc::shutting_down),
         go(S::closed, fail | finish, errc::shutting_down), illegal(S::disconnected),
         illegal(S::disconnected), illegal(S::disconnected)}},
    row{S::resolving,
        {ignored(S::resolving), go(S::connecting, link_action::connect),
         go(S::disconnected, fail, errc::connect_failed), illegal(S::resolving),
         illegal(S::resolving), illegal(S::resolving), illegal(S::resolving), illegal(S::resolving),
         illegal(S::resolving), go(S::resolving), go(S::closing, fail, errc::shutting_down),
         go(S::closing, fail, errc::shutting_down), illegal(S::resolving), illegal(S::resolving),
         illegal(S::resolving)}},
    row{S::connecting,
        {ignored(S::connecting), illegal(S::connecting), illegal(S::connecting),
         go(S::connected, link_action::start_io),
         go(S::disconnecting, close_socket | fail, errc::connect_failed), illegal(S::connecting),
         illegal(S::connecting), illegal(S::connecting), illegal(S::connecting), go(S::connecting),
         go(S::closing, close_socket | fail, errc::shutting_down),
         go(S::closing, close_socket | fail, errc::shutting_down), illegal(S::connecting),
         illegal(S::connecting), illegal(S::connecting)}},
    row{S::connected,
        {ignored(S::connected), illegal(S::connected), illegal(S::connected), illegal(S::connected),
         illegal(S::connected), go(S::disconnecting, close_socket | fail, errc::connection_lost),
         go(S::disconnecting, close_socket), go(S::disconnecting, close_socket),
         illegal(S::connected), go(S::connected),
         go(S::closing, close_socket | fail, errc::shutting_down),
         go(S::closing, close_socket | fail, errc::shutting_down), go(S::retiring), go(S::retiring),
         illegal(S::connected)}},
    row{S::retiring,
        {ignored(S::retiring), illegal(S::retiring), illegal(S::retiring), illegal(S::retiring),
         illegal(S::retiring), go(S::disconnecting, close_socket | fail, errc::connection_lost),
         go(S::disconnecting, close_socket), illegal(S::retiring), illegal(S::retiring),
         go(S::retiring), go(S::closing, close_socket | fail, errc::shutting_down),
         go(S::closing, close_socket | fail, errc::shutting_down), ignored(S::retiring),
         ignored(S::retiring), go(S::disconnecting, close_socket | restart)}},
    row{S::disconnecting,
        {ignored(S::disconnecting), illegal(S::disconnecting), illegal(S::disconnecting),
         illegal(S::disconnecting), illegal(S::disconnecting), ignored(S::disconnecting),
         ignored(S::disconnecting), illegal(S::disconnecting),
         go(S::disconnected, link_action::reconnect_waiting), go(S::disconnecting),
         go(S::closing, fail, errc::shutting_down), go(S::closing, fail, errc::shutting_down),
         illegal(S::disconnecting), illegal(S::disconnecting), illegal(S::disconnecting)}},
    row{S::closing,
        {ignored(S::closing), go(S::closed, finish), go(S::closed, finish), ignored(S::closing),
         ignored(S::closing), ignored(S::closing), ignored(S::closing), illegal(S::closing),
         go(S::closed, finish), ignored(S::closing), ignored(S::closing), ignored(S::closing),
         illegal(S::closing), illegal(S::closing), illegal(S::closing)}},
    row{S::closed,
        {ignored(S::closed), illegal(S::closed), illegal(S::closed), illegal(S::closed),
         illegal(S::closed), illegal(S::closed), illegal(S::closed), illegal(S::closed),
         illegal(S::closed), go(S::closed, finish), go(S::closed, finish), go(S::closed, finish),
         illegal(S::closed), illegal(S::closed), illegal(S::closed)}},
};

}  // namespace

TEST_CASE("lifecycle: every state × event does what the table says") {
  for (const row& r : table) {
    for (std::size_t i = 0; i < all_events.size(); ++i) {
      connection_lifecycle m = machine_in(r.from);
      const link_event e = all_events[i];
      const expected& want = r.by_event[i];
      CAPTURE(rmq::net::to_string(r.from));
      CAPTURE(rmq::net::to_string(e));
      const link_step step = m.handle(e, t0, errc::connection_lost);
      CHECK(step.from == r.from);
      CHECK(step.event == e);
      CHECK(step.outcome == want.outcome);
      CHECK(step.to == want.to);
      CHECK(m.state() == want.to);
      CHECK(static_cast<int>(step.actions) == static_cast<int>(want.actions));
      if (has(want.actions, fail)) CHECK(step.failure == want.failure);
    }
  }
}

TEST_CASE("lifecycle: a known endpoint connects without resolving, and a resolved one is kept") {
  connection_lifecycle numeric(backoff_policy{}, address_kind::numeric);
  CHECK(numeric.handle(link_event::demand, t0).to == link_state::connecting);

  connection_lifecycle named = machine_in(link_state::disconnecting);  // resolved once
  CHECK(named.handle(link_event::socket_closed, t0).to == link_state::disconnected);
  const link_step again = named.handle(link_event::demand, t0);
  CHECK(again.to == link_state::connecting);
  CHECK(again.actions == link_action::connect);
}

TEST_CASE("lifecycle: a failed link's requests fail with the error the driver gives") {
  connection_lifecycle m = machine_in(link_state::connected);
  const link_step step = m.handle(link_event::link_failed, t0, errc::shutting_down);
  CHECK(step.failure == errc::shutting_down);
}

TEST_CASE("lifecycle: drain stops admission; drained closes; close wins over drain") {
  connection_lifecycle m = machine_in(link_state::connected);
  CHECK_FALSE(m.admit([] { return t0; }));
  m.handle(link_event::drain, t0);
  CHECK(m.draining());
  CHECK(m.admit([] { return t0; }) == errc::connection_lost);
  const link_step step = m.handle(link_event::drained, t0);
  CHECK(step.to == link_state::closing);
  CHECK_FALSE(m.draining());  // closing: the drain is over
  CHECK(m.admit([] { return t0; }) == errc::shutting_down);
  CHECK(m.handle(link_event::socket_closed, t0).to == link_state::closed);
  CHECK(m.admit([] { return t0; }) == errc::shutting_down);
}

TEST_CASE("lifecycle: close while resolving waits for the resolver's answer") {
  for (const link_event answer : {link_event::resolved, link_event::resolve_failed}) {
    connection_lifecycle m = machine_in(link_state::resolving);
    const link_step closing = m.handle(link_event::close, t0);
    CHECK(closing.to == link_state::closing);
    CHECK_FALSE(has(closing.actions, finish));  // not yet: the resolver still holds us
    const link_step closed = m.handle(answer, t0);
    CHECK(closed.to == link_state::closed);
    CHECK(closed.actions == finish);
  }
}

TEST_CASE("reconnect_delay: none below the threshold, then doubling up to the maximum") {
  const backoff_policy p{2, 100ms, 1000ms};
  CHECK(reconnect_delay(p, 0) == 0ms);
  CHECK(reconnect_delay(p, 1) == 0ms);
  CHECK(reconnect_delay(p, 2) == 100ms);
  CHECK(reconnect_delay(p, 3) == 200ms);
  CHECK(reconnect_delay(p, 4) == 400ms);
  CHECK(reconnect_delay(p, 5) == 800ms);
  CHECK(reconnect_delay(p, 6) == 1000ms);
  CHECK(reconnect_delay(p, 1000) == 1000ms);  // no overflow far past the cap
}

TEST_CASE("lifecycle: repeated connect failures fail requests fast until the backoff passes") {
  connection_lifecycle m(backoff_policy{2, 100ms, 1000ms}, address_kind::numeric);
  const auto fail_connect = [&](net_clock::time_point now) {
    REQUIRE(m.handle(link_event::demand, now).to == link_state::connecting);
    REQUIRE(m.handle(link_event::connect_failed, now).to == link_state::disconnecting);
    REQUIRE(m.handle(link_event::socket_closed, now).to == link_state::disconnected);
  };
  fail_connect(t0);
  CHECK(m.consecutive_failures() == 1);
  CHECK_FALSE(m.admit([] { return t0; }));  // below the threshold: try again at once
  fail_connect(t0);
  CHECK(m.admit([] { return t0 + 99ms; }) == errc::connect_failed);
  CHECK_FALSE(m.admit([] { return t0 + 100ms; }));
  fail_connect(t0 + 100ms);
  CHECK(m.admit([] { return t0 + 299ms; }) == errc::connect_failed);
  CHECK_FALSE(m.admit([] { return t0 + 300ms; }));

  m.handle(link_event::demand, t0 + 300ms);
  CHECK_FALSE(m.admit([] { return t0; }));  // a socket is connecting: no fail-fast
  m.handle(link_event::connect_succeeded, t0 + 300ms);
  CHECK(m.consecutive_failures() == 0);
}

TEST_CASE("lifecycle: a failed TLS handshake fails requests as such, and backs off with it") {
  connection_lifecycle m(backoff_policy{2, 100ms, 1000ms}, address_kind::numeric);
  const auto fail_handshake = [&](net_clock::time_point now) {
    REQUIRE(m.handle(link_event::demand, now).to == link_state::connecting);
    const link_step step = m.handle(link_event::connect_failed, now, errc::tls_handshake_failed);
    CHECK(step.to == link_state::disconnecting);
    CHECK(step.failure == errc::tls_handshake_failed);
    REQUIRE(m.handle(link_event::socket_closed, now).to == link_state::disconnected);
  };
  fail_handshake(t0);
  fail_handshake(t0);
  CHECK(m.admit([] { return t0 + 99ms; }) == errc::tls_handshake_failed);
  // Any other failure passed with connect_failed stays connect_failed; the backoff tells the
  // last one's.
  REQUIRE(m.handle(link_event::demand, t0 + 100ms).to == link_state::connecting);
  CHECK(m.handle(link_event::connect_failed, t0 + 100ms, errc::connection_lost).failure ==
        errc::connect_failed);
  REQUIRE(m.handle(link_event::socket_closed, t0 + 100ms).to == link_state::disconnected);
  CHECK(m.admit([] { return t0 + 299ms; }) == errc::connect_failed);
}

TEST_CASE("lifecycle: a handshake refused after the client's side finished backs off as well") {
  // TLS 1.3: the connect succeeds, then the server's alert fails the link before any answer.
  connection_lifecycle m(backoff_policy{2, 100ms, 1000ms}, address_kind::numeric);
  const auto refused_after_connect = [&](net_clock::time_point now) {
    REQUIRE(m.handle(link_event::demand, now).to == link_state::connecting);
    REQUIRE(m.handle(link_event::connect_succeeded, now).to == link_state::connected);
    const link_step step = m.handle(link_event::link_failed, now, errc::tls_handshake_failed);
    CHECK(step.to == link_state::disconnecting);
    CHECK(step.failure == errc::tls_handshake_failed);
    REQUIRE(m.handle(link_event::socket_closed, now).to == link_state::disconnected);
  };
  refused_after_connect(t0);
  CHECK(m.consecutive_failures() == 1);
  refused_after_connect(t0);
  CHECK(m.consecutive_failures() == 2);  // the connect in between did not reset the count
  CHECK(m.admit([] { return t0 + 99ms; }) == errc::tls_handshake_failed);
  CHECK_FALSE(m.admit([] { return t0 + 100ms; }));
  // A link that fails otherwise is a lost connection: no backoff.
  REQUIRE(m.handle(link_event::demand, t0 + 100ms).to == link_state::connecting);
  REQUIRE(m.handle(link_event::connect_succeeded, t0 + 100ms).to == link_state::connected);
  CHECK(m.handle(link_event::link_failed, t0 + 100ms, errc::connection_lost).failure ==
        errc::connection_lost);
  CHECK(m.consecutive_failures() == 0);
}

TEST_CASE("lifecycle: GO_AWAY reconnects once at once, then backs off until a socket serves") {
  connection_lifecycle m(backoff_policy{2, 100ms, 1000ms}, address_kind::numeric);
  const auto connect = [&](net_clock::time_point now) {
    REQUIRE(m.handle(link_event::demand, now).to == link_state::connecting);
    REQUIRE(m.handle(link_event::connect_succeeded, now).to == link_state::connected);
  };
  const auto retire = [&](link_event go_away, net_clock::time_point now) {
    REQUIRE(m.handle(go_away, now).to == link_state::retiring);
    // Retiring: new requests are taken (they wait for the next socket) unless backing off.
    const link_step closing = m.handle(link_event::retired, now);
    REQUIRE(closing.to == link_state::disconnecting);
    CHECK_FALSE(has(closing.actions, fail));  // the requests stay for the next socket
    REQUIRE(m.handle(link_event::socket_closed, now).to == link_state::disconnected);
  };
  connect(t0);
  retire(link_event::go_away, t0);  // a socket that served, then was told to go away
  CHECK(m.go_aways_in_a_row() == 1);
  CHECK_FALSE(m.admit([] { return t0; }));  // reconnect at once
  connect(t0);
  retire(link_event::go_away_again, t0);  // the new socket's first answer: go away
  CHECK(m.go_aways_in_a_row() == 2);
  const std::error_code backing_off = m.admit([] { return t0 + 99ms; });
  CHECK(backing_off == rmq::make_broker_error(1500));
  CHECK(rmq::is_retriable(backing_off));  // the pipeline moves to another broker
  CHECK_FALSE(m.admit([] { return t0 + 100ms; }));
  connect(t0 + 100ms);
  retire(link_event::go_away_again, t0 + 100ms);
  CHECK(m.admit([] { return t0 + 299ms; }) == rmq::make_broker_error(1500));  // doubled
  CHECK_FALSE(m.admit([] { return t0 + 300ms; }));
  // A socket that serves again (a restarted broker) starts a new streak.
  connect(t0 + 300ms);
  retire(link_event::go_away, t0 + 300ms);
  CHECK(m.go_aways_in_a_row() == 1);
  CHECK_FALSE(m.admit([] { return t0 + 300ms; }));
  // GO_AWAY does not count as a connect failure.
  CHECK(m.consecutive_failures() == 0);
}

TEST_CASE("lifecycle: a GO_AWAY streak goes on only from a retired socket to the next") {
  connection_lifecycle m(backoff_policy{2, 100ms, 1000ms}, address_kind::numeric);
  const auto connect = [&] {
    REQUIRE(m.handle(link_event::demand, t0).to == link_state::connecting);
    REQUIRE(m.handle(link_event::connect_succeeded, t0).to == link_state::connected);
  };
  const auto retire = [&](link_event go_away) {
    REQUIRE(m.handle(go_away, t0).to == link_state::retiring);
    REQUIRE(m.handle(link_event::retired, t0).to == link_state::disconnecting);
    REQUIRE(m.handle(link_event::socket_closed, t0).to == link_state::disconnected);
  };
  connect();
  retire(link_event::go_away_again);
  connect();
  retire(link_event::go_away_again);
  CHECK(m.go_aways_in_a_row() == 2);
  // Later (the backoff over) a socket serves and closes when idle; the next one's first answer
  // is GO_AWAY again (the broker's next shutdown): a new streak, no backoff.
  connect();
  REQUIRE(m.handle(link_event::idle_timeout, t0 + 1h).to == link_state::disconnecting);
  REQUIRE(m.handle(link_event::socket_closed, t0 + 1h).to == link_state::disconnected);
  connect();
  REQUIRE(m.handle(link_event::go_away_again, t0 + 1h).to == link_state::retiring);
  CHECK(m.go_aways_in_a_row() == 1);
  CHECK_FALSE(m.admit([] { return t0 + 1h; }));
  // Connect failures are told as such, not as GO_AWAY.
  REQUIRE(m.handle(link_event::retired, t0 + 1h).to == link_state::disconnecting);
  REQUIRE(m.handle(link_event::socket_closed, t0 + 1h).to == link_state::disconnected);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(m.handle(link_event::demand, t0 + 1h).to == link_state::connecting);
    REQUIRE(m.handle(link_event::connect_failed, t0 + 1h).to == link_state::disconnecting);
    REQUIRE(m.handle(link_event::socket_closed, t0 + 1h).to == link_state::disconnected);
  }
  CHECK(m.admit([] { return t0 + 1h; }) == errc::connect_failed);
}

TEST_CASE("lifecycle: the clock is read only when a backoff could apply") {
  connection_lifecycle m = machine_in(link_state::connected);
  int reads = 0;
  CHECK_FALSE(m.admit([&] {
    ++reads;
    return t0;
  }));
  CHECK(reads == 0);
}

TEST_CASE("lifecycle: the trace hook sees taken and illegal steps, not ignored ones") {
  std::vector<link_step> seen;
  connection_lifecycle m(backoff_policy{}, address_kind::numeric,
                         {[](void* context, const link_step& s) noexcept {
                            static_cast<std::vector<link_step>*>(context)->push_back(s);
                          },
                          &seen});
  m.handle(link_event::demand, t0);
  m.handle(link_event::demand, t0);  // ignored: already connecting
  m.handle(link_event::connect_succeeded, t0);
  m.handle(link_event::socket_closed, t0);  // illegal while connected
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].from == link_state::disconnected);
  CHECK(seen[0].to == link_state::connecting);
  CHECK(seen[1].to == link_state::connected);
  CHECK(seen[2].outcome == link_step::verdict::illegal);
  CHECK(seen[2].event == link_event::socket_closed);
}
