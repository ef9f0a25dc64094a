// The connection driver (net::basic_connection) over an in-memory transport: no kernel socket,
// faults at chosen steps. A scripted exchange is rerun failing each of its steps in turn, and
// every request must complete exactly once, every close callback exactly once.
#include "net/connection_driver.hpp"

#include "rmq/error.hpp"
#include "support/log_capture.hpp"
#include "unit/io/io_test_support.hpp"
#include "unit/net/memory_transport.hpp"
#include "wire/command.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using rmq::errc;
namespace io = rmq::io;
namespace net = rmq::net;
namespace wire = rmq::wire;
using net::link_state;
using net::test::memory_connection;
using net::test::memory_network;
using net::test::memory_transport;
using rmq::io::test::event;
using rmq::io::test::running_loop;

namespace {

// Requests and close callbacks of one test, each counted by id. Loop thread only, except
// reads after wait() (ordered by the event).
struct ledger {
  struct record {
    ledger* owner;
    int id;
    int completions = 0;
    std::error_code error;
    std::string body;
    std::int32_t code = -1;  ///< the response's code, -1 without one
  };
  std::deque<record> requests;
  std::vector<int> close_order;  // close callbacks, by id, in the order they ran
  std::deque<std::pair<ledger*, int>> closers;
  int expected = 0;
  int completed = 0;
  std::unique_ptr<event> done = std::make_unique<event>();
  std::function<void(record&)> on_complete;  // optional re-entrant action

  // Waits for the next `n` completions (requests or close callbacks).
  void expect(int n) {
    expected = completed + n;
    done = std::make_unique<event>();
  }
  void count() {
    if (++completed == expected) done->set();
  }
  net::response_waiter waiter(int id) {
    requests.push_back({this, id});
    return {&ledger::complete, &requests.back()};
  }
  static void complete(void* context, std::error_code ec, const wire::command_view* response) {
    auto& r = *static_cast<record*>(context);
    ++r.completions;
    r.error = ec;
    if (response != nullptr) {
      r.body = std::string(response->body);
      r.code = response->fields.code;
    }
    if (r.owner->on_complete) r.owner->on_complete(r);
    r.owner->count();
  }
  std::pair<void (*)(void*) noexcept, void*> closer(int id) {
    closers.emplace_back(this, id);
    return {[](void* c) noexcept {
              auto& [self, n] = *static_cast<std::pair<ledger*, int>*>(c);
              self->close_order.push_back(n);
              self->count();
            },
            &closers.back()};
  }
};

auto encoder(int id) {
  return [id](std::string& out, std::int32_t opaque) {
    wire::command_fields fields;
    fields.code = 310;
    fields.opaque = opaque;
    wire::frame_writer w(out, wire::serialize_type::json, fields);
    w.finish("id:" + std::to_string(id));
  };
}

struct fixture {
  explicit fixture(const std::string& address, net::connection_options options = {}) {
    rl.call([&] {
      network.pool = &rl.l.make_buffer_pool(2, 64);
      conn =
          std::make_unique<memory_connection>(rl.l, address, options, memory_transport{&network});
    });
  }
  ~fixture() {
    if (!rl.call([&] { return conn != nullptr; })) return;  // a test destroyed it already
    rl.call([&] {
      if (conn->current_state() != link_state::closed) conn->close([](void*) noexcept {}, nullptr);
    });
    // The socket's close completes on a later turn; destroy once it has.
    event closed;
    rl.call([&] { wait_closed(&closed); });
    REQUIRE(closed.wait());
    rl.call([&] { conn.reset(); });
  }
  void wait_closed(event* closed) {
    if (conn->current_state() == link_state::closed) {
      closed->set();
      return;
    }
    conn->close([](void* e) noexcept { static_cast<event*>(e)->set(); }, closed);
  }

  std::error_code submit(int id, net::request_kind kind = net::request_kind::two_way) {
    return conn->request(encoder(id), net::clock::now() + 60s, book.waiter(id), kind);
  }

  running_loop rl;
  memory_network network;
  std::unique_ptr<memory_connection> conn;
  ledger book;
};

// The scripted exchange: four requests (one oneway), then one more after they completed, then
// close. Returns the number of steps the transport took.
unsigned run_exchange(const std::string& address, unsigned fail_step) {
  CAPTURE(address);
  CAPTURE(fail_step);
  fixture f(address);
  f.network.fail_step = fail_step;
  f.book.expect(4);
  f.rl.call([&] {
    for (int id = 0; id < 4; ++id)
      REQUIRE_FALSE(f.submit(id, id == 2 ? net::request_kind::oneway : net::request_kind::two_way));
  });
  REQUIRE(f.book.done->wait());
  f.book.expect(1);
  f.rl.call([&] { REQUIRE_FALSE(f.submit(4)); });
  REQUIRE(f.book.done->wait());
  f.book.expect(1);
  f.rl.call([&] {
    auto [fn, ctx] = f.book.closer(0);
    f.conn->close(fn, ctx);
  });
  REQUIRE(f.book.done->wait());

  int failed = 0;
  for (const auto& r : f.book.requests) {
    CAPTURE(r.id);
    CHECK(r.completions == 1);
    if (r.error) {
      ++failed;
      CHECK((r.error == errc::connect_failed || r.error == errc::connection_lost));
    } else if (r.id != 2) {
      CHECK(r.body == "id:" + std::to_string(r.id));
    }
  }
  CHECK(f.book.close_order == std::vector<int>{0});
  f.rl.call([&] { CHECK(f.conn->current_state() == link_state::closed); });
  // Every step matters: failing any one of them fails at least one request.
  CHECK((fail_step == 0 ? failed == 0 : failed > 0));
  return f.network.steps;
}

}  // namespace

TEST_CASE("connection over memory: failing each step in turn completes every request once") {
  for (const std::string address : {"127.0.0.1:9876", "broker-a:10911"}) {
    const unsigned steps = run_exchange(address, 0);
    CHECK(steps >= 4);  // (resolve,) connect, send, deliveries
    for (unsigned k = 1; k <= steps; ++k) run_exchange(address, k);
  }
}

TEST_CASE("connection over memory: GO_AWAY retires the socket; what waits goes on a new one") {
  fixture f("127.0.0.1:9876");
  f.network.go_aways = 1;  // the first request's answer
  f.book.expect(4);
  // Request 3, submitted from inside the GO_AWAY's waiter (as an awaiter resends), must not be
  // written on the socket told to go away: it waits for the next one.
  f.book.on_complete = [&](ledger::record& r) {
    if (r.id == 0) REQUIRE_FALSE(f.submit(3));
  };
  f.rl.call([&] {
    for (int id = 0; id < 3; ++id) REQUIRE_FALSE(f.submit(id));
  });
  // 0 (GO_AWAY), 1 and 2 (answered on the old socket), 3 (on the new one).
  REQUIRE(f.book.done->wait());
  CHECK(f.book.requests[0].code == 1500);
  for (std::size_t i = 1; i < 4; ++i) {
    CAPTURE(i);
    CHECK(f.book.requests[i].completions == 1);
    CHECK_FALSE(f.book.requests[i].error);
    CHECK(f.book.requests[i].code == 0);
  }
  f.rl.call([&] {
    CHECK(f.network.connects == 2);  // one new socket, not a loop
    CHECK(f.conn->counters().go_aways == 1);
    CHECK(f.conn->current_state() == link_state::connected);
    // Nothing was written on the socket told to go away after its GO_AWAY: request 3 went on
    // the second one.
    using sent = std::pair<std::string, unsigned>;
    CHECK(f.network.received ==
          std::vector<sent>{{"id:0", 1}, {"id:1", 1}, {"id:2", 1}, {"id:3", 2}});
  });
}

TEST_CASE(
    "connection over memory: a new socket told to go away too backs off; requests fail fast") {
  fixture f("127.0.0.1:9876");
  f.network.go_aways = 2;
  f.book.expect(2);
  f.book.on_complete = [&](ledger::record& r) {
    if (r.id == 0) REQUIRE_FALSE(f.submit(1));  // the resend, for the next socket
  };
  f.rl.call([&] { REQUIRE_FALSE(f.submit(0)); });
  REQUIRE(f.book.done->wait());  // 0, then 1: told to go away on the new socket as well
  CHECK(f.book.requests[1].code == 1500);
  f.rl.call([&] {
    CHECK(f.network.connects == 2);
    // Backing off: a new request is refused at once, with the broker's GO_AWAY.
    const std::error_code refused = f.submit(2);
    CHECK(refused == rmq::make_broker_error(1500));
    CHECK(f.network.connects == 2);
  });
}

TEST_CASE("connection over memory: a second close keeps the first callback; both run, in order") {
  fixture f("127.0.0.1:9876");
  f.book.expect(2);
  f.rl.call([&] {
    REQUIRE_FALSE(f.submit(0));
    REQUIRE_FALSE(f.submit(1));
  });
  REQUIRE(f.book.done->wait());  // connected and answered
  f.book.expect(3);
  f.rl.call([&] {
    REQUIRE_FALSE(f.submit(2));
    auto [fn1, ctx1] = f.book.closer(1);
    f.conn->close(fn1, ctx1);  // request 2 fails here with shutting_down
    auto [fn2, ctx2] = f.book.closer(2);
    f.conn->close(fn2, ctx2);
    CHECK(f.conn->current_state() == link_state::closing);
    CHECK(f.book.close_order.empty());  // the socket's close is still under way
  });
  REQUIRE(f.book.done->wait());
  CHECK(f.book.close_order == std::vector<int>{1, 2});
  CHECK(f.book.requests[2].error == errc::shutting_down);
  CHECK(f.book.requests[2].completions == 1);
  f.rl.call([&] {
    auto [fn3, ctx3] = f.book.closer(3);
    f.conn->close(fn3, ctx3);  // already closed: at once
    CHECK(f.book.close_order == std::vector<int>{1, 2, 3});
  });
}

TEST_CASE("connection over memory: close during a name resolution completes once it answers") {
  for (const bool resolves : {true, false}) {
    CAPTURE(resolves);
    fixture f("broker-a:10911");
    f.network.hold_resolve = true;
    f.book.expect(1);
    f.rl.call([&] {
      REQUIRE_FALSE(f.submit(0));
      CHECK(f.conn->current_state() == link_state::resolving);
      auto [fn, ctx] = f.book.closer(1);
      f.conn->close(fn, ctx);
      CHECK(f.conn->current_state() == link_state::closing);
    });
    REQUIRE(f.book.done->wait());  // the request, with shutting_down
    CHECK(f.book.requests[0].error == errc::shutting_down);
    f.book.expect(1);
    f.rl.call([&] {
      CHECK(f.book.close_order.empty());  // the resolver still holds the connection
      f.network.answer_resolve(resolves ? std::error_code{}
                                        : make_error_code(errc::name_resolution_failed));
    });
    REQUIRE(f.book.done->wait());
    CHECK(f.book.close_order == std::vector<int>{1});
    CHECK(f.network.connects == 0);  // closed: the answer never starts a connect
  }
}

namespace {
event* idle_closed = nullptr;  // set by the trace hook below; one test at a time
void note_idle_close(std::string_view, const net::link_step& step) noexcept {
  if (step.event == net::link_event::idle_timeout && idle_closed != nullptr) idle_closed->set();
}
}  // namespace

TEST_CASE("connection over memory: connected after its requests expired, it closes when idle") {
  net::connection_options options;
  options.idle_timeout = 1ms;
  options.trace = &note_idle_close;
  event closed_when_idle;
  idle_closed = &closed_when_idle;
  fixture f("broker-a:10911", options);
  f.network.hold_resolve = true;
  f.book.expect(1);
  f.rl.call([&] {
    REQUIRE_FALSE(f.conn->request(encoder(0), net::clock::now() + 1ms, f.book.waiter(0)));
  });
  REQUIRE(f.book.done->wait());  // expired while the name was being resolved
  CHECK(f.book.requests[0].error == errc::timed_out);
  f.rl.call([&] { f.network.answer_resolve(); });
  CHECK(closed_when_idle.wait());  // nothing in flight: the idle timer closes the socket
  CHECK(f.network.connects == 1);
  idle_closed = nullptr;
}

TEST_CASE("connection over memory: close after close_when_idle runs both callbacks") {
  fixture f("127.0.0.1:9876");
  f.book.expect(3);
  f.rl.call([&] {
    REQUIRE_FALSE(f.submit(0));
    auto [fn1, ctx1] = f.book.closer(1);
    f.conn->close_when_idle(fn1, ctx1);
    CHECK(f.submit(1) == errc::connection_lost);  // draining: no new requests
    auto [fn2, ctx2] = f.book.closer(2);
    f.conn->close(fn2, ctx2);
  });
  REQUIRE(f.book.done->wait());
  CHECK(f.book.close_order == std::vector<int>{1, 2});
  CHECK(f.book.requests[0].completions == 1);
}

TEST_CASE("connection over memory: a drain's callback may destroy a closed connection") {
  fixture f("127.0.0.1:9876");
  event closed;
  f.rl.call([&] { f.wait_closed(&closed); });
  REQUIRE(closed.wait());
  int callbacks = 0;
  std::pair<fixture*, int*> context{&f, &callbacks};
  f.rl.call([&] {
    f.conn->close_when_idle(
        [](void* c) noexcept {
          auto& [fx, n] = *static_cast<std::pair<fixture*, int*>*>(c);
          ++*n;
          fx->conn.reset();  // allowed from the last callback on: nothing touches it afterwards
        },
        &context);
  });
  CHECK(callbacks == 1);
  CHECK(f.rl.call([&] { return f.conn == nullptr; }));
}

TEST_CASE("connection over memory: a waiter may close the connection from inside a failure") {
  fixture f("127.0.0.1:9876");
  f.network.fail_step = 2;  // the first send
  f.book.on_complete = [&](ledger::record& r) {
    if (r.id != 0) return;
    auto [fn, ctx] = f.book.closer(9);
    f.conn->close(fn, ctx);
  };
  f.book.expect(4);  // three requests and the close
  f.rl.call([&] {
    for (int id = 0; id < 3; ++id) REQUIRE_FALSE(f.submit(id));
  });
  REQUIRE(f.book.done->wait());
  for (const auto& r : f.book.requests) CHECK(r.completions == 1);
  CHECK(f.book.requests[0].error == errc::connection_lost);
  CHECK(f.book.close_order == std::vector<int>{9});
}

namespace {
std::vector<net::link_step> traced;
void record_step(std::string_view, const net::link_step& step) noexcept {
  traced.push_back(step);
}
}  // namespace

TEST_CASE("connection over memory: the trace hook tells the connection's story") {
  traced.clear();
  net::connection_options options;
  options.trace = &record_step;
  {
    fixture f("127.0.0.1:9876", options);
    f.book.expect(1);
    f.rl.call([&] { REQUIRE_FALSE(f.submit(0)); });
    REQUIRE(f.book.done->wait());
  }  // closes
  std::vector<std::pair<link_state, link_state>> story;
  for (const auto& s : traced) story.emplace_back(s.from, s.to);
  CHECK(story == std::vector<std::pair<link_state, link_state>>{
                     {link_state::disconnected, link_state::connecting},
                     {link_state::connecting, link_state::connected},
                     {link_state::connected, link_state::closing},
                     {link_state::closing, link_state::closed},
                 });
}

TEST_CASE("connection over memory: at debug level each transition is logged, to its logger") {
  rmq::test::log_capture log(spdlog::level::debug);
  net::connection_options options;
  options.logger = log.logger().get();
  {
    fixture f("127.0.0.1:9876", options);
    f.book.expect(1);
    f.rl.call([&] { REQUIRE_FALSE(f.submit(0)); });
    REQUIRE(f.book.done->wait());
  }  // closes
  CHECK(log.lines() == std::vector<std::string>{
                           "debug rmq net 127.0.0.1:9876: disconnected --demand--> connecting",
                           "info rmq net 127.0.0.1:9876: connected",
                           "debug rmq net 127.0.0.1:9876: connected --close--> closing",
                           "debug rmq net 127.0.0.1:9876: closing --socket_closed--> closed",
                       });
}

TEST_CASE("connection over memory: refusals are logged 1st, 2nd, 4th, 8th..., then connected") {
  rmq::test::log_capture log(spdlog::level::info);
  net::connection_options options;
  options.logger = log.logger().get();
  options.failures_before_backoff = 100;  // no fail-fast window: every request connects
  fixture f("127.0.0.1:9876", options);
  f.network.refuse_connects = 9;
  for (int id = 0; id < 10; ++id) {
    f.book.expect(1);
    f.rl.call([&] { REQUIRE_FALSE(f.submit(id)); });
    REQUIRE(f.book.done->wait());
    CHECK(f.book.requests.back().error == (id < 9 ? errc::connect_failed : std::error_code{}));
  }
  const auto refused = log.lines_with("connect failed");
  REQUIRE(refused.size() == 4);  // failures 1, 2, 4 and 8 of 9
  CHECK(refused[0].starts_with("warning rmq net 127.0.0.1:9876: connect failed: "));
  CHECK(refused[0].find("(1 failed attempt(s) in a row") != std::string::npos);
  CHECK(refused[3].find("(8 failed attempt(s) in a row") != std::string::npos);
  CHECK(log.lines_with("reconnecting").size() == 4);  // after failures 1, 2, 4 and 8
  CHECK(log.lines_with("reconnecting").back() ==
        "info rmq net 127.0.0.1:9876: reconnecting after 8 failed attempt(s)");
  CHECK(log.lines().back() == "info rmq net 127.0.0.1:9876: connected");
  CHECK(log.lines_with("debug").empty());  // info level: no transitions
}

TEST_CASE("connection over memory: a lost connection is a warning, its reconnection info") {
  rmq::test::log_capture log(spdlog::level::info);
  net::connection_options options;
  options.logger = log.logger().get();
  fixture f("127.0.0.1:9876", options);
  f.network.fail_step = 2;  // the connect succeeds, its first send fails (connection_reset)
  f.book.expect(1);
  f.rl.call([&] { REQUIRE_FALSE(f.submit(0)); });
  REQUIRE(f.book.done->wait());
  CHECK(f.book.requests.back().error == errc::connection_lost);
  f.book.expect(1);
  f.rl.call([&] { REQUIRE_FALSE(f.submit(1)); });
  REQUIRE(f.book.done->wait());
  CHECK_FALSE(f.book.requests.back().error);
  const auto lines = log.lines();
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "info rmq net 127.0.0.1:9876: connected");
  CHECK(lines[1].starts_with("warning rmq net 127.0.0.1:9876: connection lost: "));
  CHECK(lines[2] == "info rmq net 127.0.0.1:9876: reconnecting");
  CHECK(lines[3] == "info rmq net 127.0.0.1:9876: reconnected");
}

TEST_CASE("connection over memory: a peer that drops every connection is told 1st, 2nd, 4th...") {
  rmq::test::log_capture log(spdlog::level::info);
  net::connection_options options;
  options.logger = log.logger().get();
  fixture f("127.0.0.1:9876", options);
  for (int id = 0; id < 20; ++id) {
    f.network.fail_step = f.network.steps + 2;  // this round's connect succeeds, its send fails
    f.book.expect(1);
    f.rl.call([&] { REQUIRE_FALSE(f.submit(id)); });
    REQUIRE(f.book.done->wait());
    CHECK(f.book.requests.back().error == errc::connection_lost);
  }
  // Every connect succeeded, so the connect failure count never grew: the losses alone limit.
  const auto lost = log.lines_with("connection lost");
  REQUIRE(lost.size() == 5);  // losses 1, 2, 4, 8 and 16 of 20
  CHECK(lost[4].find("(loss 16 of a run, 7 not logged since the previous line)") !=
        std::string::npos);
  // Reconnects are told after the losses that were: rounds 1, 2, 4, 8 and 16.
  CHECK(log.lines_with("reconnecting").size() == 5);
  CHECK(log.lines_with("reconnected").size() == 5);
  CHECK(log.lines().size() == 16);  // with the first "connected"
}
