// Per-operation cancellation and per-send options, against rmq-sim: the rules of producer.hpp
// ("Cancellation") for a send waiting at a full gate, for its route, and written to a silent or a
// slow broker — with every completion token, emitted from the handler's own executor (a user's
// io_context thread) while the send lives on the producer's loop.
#include "producer_fixture.hpp"
#include "support/test_scale.hpp"
#include "wire/codes.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <random>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

constexpr std::int32_t send_code = rmq::wire::request_code::send_message_v2;
constexpr std::int32_t route_code = rmq::wire::request_code::get_routeinfo_by_topic;
const std::error_code aborted = asio::error::operation_aborted;

// A budget no test waits for: a send that ends well before it was ended by its cancellation.
constexpr auto long_budget = 30s;
constexpr auto well_before_budget = 20s;

rmq::producer_config long_budget_config() {
  rmq::producer_config config;
  config.send_timeout = long_budget;
  return config;
}

rmq::message cancel_message(std::string body = "cancel me") {
  return rmq::message("TopicTest", std::move(body));
}

/// A user's io_context on its own thread: the handlers' executor, where cancellations are
/// emitted (Asio's rule: a slot is used on its handler's executor).
struct user_thread {
  asio::io_context context;
  asio::executor_work_guard<asio::io_context::executor_type> guard{context.get_executor()};
  std::thread thread{[this] { context.run(); }};
  ~user_thread() { join(); }
  /// Lets the context finish what it holds (pending timers included) and joins its thread.
  void join() {
    guard.reset();
    if (thread.joinable()) thread.join();
  }
  /// Emits `type` on `signal` from the user's thread, and waits until it has.
  void emit(asio::cancellation_signal& signal, asio::cancellation_type type) {
    std::promise<void> emitted;
    asio::post(context, [&] {
      signal.emit(type);
      emitted.set_value();
    });
    emitted.get_future().get();
  }
};

struct outcome {
  std::error_code ec;
  rmq::send_result result;
  std::chrono::steady_clock::duration after_cancel{};
};

/// A callback handler bound to the user's executor and to `signal`'s slot.
auto callback_to(user_thread& user, asio::cancellation_signal& signal,
                 std::promise<outcome>& done) {
  return asio::bind_cancellation_slot(
      signal.slot(),
      asio::bind_executor(user.context, [&done](std::error_code ec, rmq::send_result r) {
        done.set_value({ec, std::move(r), {}});
      }));
}

bool wait_for_requests(sim::simulator& s, std::int32_t code, std::uint64_t n) {
  return s.wait_until([&](const sim::sim_counters& c) { return c.broker_requests(code) >= n; },
                      10s);
}

std::uint64_t broker_connections(const sim::simulator& s) {
  std::uint64_t total = 0;
  for (const auto& [name, c] : s.counters().brokers) total += c.connections_accepted;
  return total;
}

/// Starts a send with a cancellable callback, waits until the broker has read its request,
/// emits `type`, and returns what the send completed with (and how long after the emit).
outcome cancel_written(producer_fixture& f, user_thread& user, asio::cancellation_type type,
                       std::uint64_t requests_before = 0) {
  asio::cancellation_signal signal;
  std::promise<outcome> done;
  f.producer->async_send(cancel_message(), callback_to(user, signal, done));
  REQUIRE(wait_for_requests(f.sim, send_code, requests_before + 1));
  const auto emitted = std::chrono::steady_clock::now();
  user.emit(signal, type);
  outcome o = done.get_future().get();
  o.after_cancel = std::chrono::steady_clock::now() - emitted;
  return o;
}

}  // namespace

TEST_CASE("a written send, cancelled (terminal), completes at once; the connection stays open") {
  producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
  f.sim.set_broker_faults("broker-a", {.silent = true});
  user_thread user;
  const outcome o = cancel_written(f, user, asio::cancellation_type::terminal);
  CHECK(o.ec == aborted);
  CHECK(o.after_cancel < well_before_budget);
  CHECK(o.result.status == rmq::send_status::failed);
  CHECK(o.result.diagnostics.remark.find("may have stored") != std::string::npos);
  CHECK(f.producer->stats().retries == 0);

  // The same connection carries the next send.
  f.sim.set_broker_faults("broker-a", {});
  std::error_code ec;
  f.producer->send(cancel_message(), ec);
  CHECK_FALSE(ec);
  CHECK(broker_connections(f.sim) == 1);
}

TEST_CASE("partial cancellation ends a written send too; its late response is dropped") {
  producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
  // Answers long after the cancellation (which must not wait for it), well within the budget.
  f.sim.set_broker_faults("broker-a", {.latency_min = 3s, .latency_max = 3s});
  user_thread user;
  const outcome o = cancel_written(f, user, asio::cancellation_type::partial);
  CHECK(o.ec == aborted);
  // The broker stored it and answers late: the answer is read and dropped, and the connection
  // goes on with the next send.
  REQUIRE(f.sim.wait_until(
      [](const sim::sim_counters& c) { return c.brokers[0].second.responses >= 1; }, 10s));
  f.sim.set_broker_faults("broker-a", {});
  std::error_code ec;
  f.producer->send(cancel_message(), ec);
  CHECK_FALSE(ec);
  CHECK(broker_connections(f.sim) == 1);
  CHECK(f.sim.message_count() == 2);
}

TEST_CASE("total cancellation is ignored once the request is written") {
  producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
  f.sim.set_broker_faults("broker-a", {.latency_min = 200ms, .latency_max = 200ms});
  user_thread user;
  const outcome o = cancel_written(f, user, asio::cancellation_type::total);
  CHECK_FALSE(o.ec);
  CHECK(o.result.status == rmq::send_status::send_ok);
}

TEST_CASE("a send cancelled while its written attempt fails is not retried") {
  rmq::producer_config config = long_budget_config();
  producer_fixture f(sim_with(2, sim::personality::v4_9), config);
  // SYSTEM_ERROR is retried on another broker; the total cancellation, ignored while written,
  // stops the retry.
  f.sim.set_broker_faults(
      "*",
      {.latency_min = 3s, .latency_max = 3s, .error_code = rmq::wire::response_code::system_error});
  user_thread user;
  const outcome o = cancel_written(f, user, asio::cancellation_type::total);
  CHECK(o.ec == aborted);
  CHECK(o.result.attempts == 1);
  CHECK(f.sim.counters().broker_requests(send_code) == 1);
}

TEST_CASE("a send waiting at a full gate is removed by any cancellation and never written") {
  for (const auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                          asio::cancellation_type::total}) {
    CAPTURE(static_cast<int>(type));
    rmq::producer_config config = long_budget_config();
    config.max_in_flight_sends = 1;
    producer_fixture f(sim_with(1, sim::personality::v4_9), config);
    f.sim.set_broker_faults("broker-a", {.silent = true});
    user_thread user;
    // The first send holds the only admission, unanswered.
    asio::cancellation_signal first_signal;
    std::promise<outcome> first;
    f.producer->async_send(cancel_message("first"), callback_to(user, first_signal, first));
    REQUIRE(wait_for_requests(f.sim, send_code, 1));
    // The second starts on the loop, so it waits at the gate (a coroutine) instead of blocking.
    asio::cancellation_signal signal;
    std::promise<outcome> second;
    std::promise<void> started;
    asio::post(f.producer->get_executor(), [&] {
      f.producer->async_send(cancel_message("second"), callback_to(user, signal, second));
      started.set_value();
    });
    started.get_future().get();
    CHECK(rmq::test::on_loop(*f.producer, [&] { return f.producer->stats().in_flight; }) == 1);
    user.emit(signal, type);
    const outcome o = second.get_future().get();
    CHECK(o.ec == aborted);
    CHECK(f.sim.counters().broker_requests(send_code) == 1);  // never written
    CHECK(f.producer->stats().in_flight == 1);                // the gate gave nothing back twice
    user.emit(first_signal, asio::cancellation_type::terminal);
    CHECK(first.get_future().get().ec == aborted);
    CHECK(f.producer->stats().in_flight == 0);
  }
}

TEST_CASE("a caller blocked off the loops at a full gate is woken by the cancellation") {
  rmq::producer_config config = long_budget_config();
  config.max_in_flight_sends = 1;
  producer_fixture f(sim_with(1, sim::personality::v4_9), config);
  f.sim.set_broker_faults("broker-a", {.silent = true});
  user_thread user;
  asio::cancellation_signal first_signal;
  std::promise<outcome> first;
  f.producer->async_send(cancel_message("first"), callback_to(user, first_signal, first));
  REQUIRE(wait_for_requests(f.sim, send_code, 1));
  // Another thread starts the second send, and blocks in the call: the gate is full.
  asio::cancellation_signal signal;
  std::promise<outcome> second;
  std::thread caller(
      [&] { f.producer->async_send(cancel_message("second"), callback_to(user, signal, second)); });
  const auto limit = std::chrono::steady_clock::now() + well_before_budget;
  while (f.producer->stats().waiting_for_room == 0 && std::chrono::steady_clock::now() < limit) {
    std::this_thread::yield();
  }
  REQUIRE(f.producer->stats().waiting_for_room == 1);
  user.emit(signal, asio::cancellation_type::total);
  caller.join();  // the call returned
  CHECK(second.get_future().get().ec == aborted);
  CHECK(f.producer->stats().waiting_for_room == 0);
  CHECK(f.sim.counters().broker_requests(send_code) == 1);  // never written
  user.emit(first_signal, asio::cancellation_type::terminal);
  CHECK(first.get_future().get().ec == aborted);
}

TEST_CASE("a send waiting for its route is removed by cancellation; the query goes on") {
  producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
  f.sim.set_namesrv_faults({.silent = true});
  user_thread user;
  asio::cancellation_signal signal;
  std::promise<outcome> done;
  f.producer->async_send(rmq::message("FreshTopic", "x"), callback_to(user, signal, done));
  REQUIRE(f.sim.wait_until(
      [](const sim::sim_counters& c) { return c.namesrv.count(route_code) >= 1; }, 10s));
  user.emit(signal, asio::cancellation_type::total);
  CHECK(done.get_future().get().ec == aborted);
  CHECK(f.sim.counters().broker_requests(send_code) == 0);
}

namespace {

enum class token_kind { callback, awaitable, future, deferred };
const char* name_of(token_kind k) {
  switch (k) {
    case token_kind::callback:
      return "callback";
    case token_kind::awaitable:
      return "use_awaitable";
    case token_kind::future:
      return "use_future";
    case token_kind::deferred:
      return "deferred";
  }
  return "?";
}

struct token_outcome {
  std::error_code ec;
  std::string remark;
};

/// Starts a send on the producer's loop with `kind`'s token and `signal`'s slot; every emit on
/// `signal` then happens on the loop too (the slot's side for all four).
std::future<token_outcome> start_on_loop(rmq::producer& producer, token_kind kind,
                                         asio::cancellation_signal& signal) {
  auto done = std::make_shared<std::promise<token_outcome>>();
  std::future<token_outcome> result = done->get_future();
  auto from_error = [done](std::error_code ec, rmq::send_result r) {
    done->set_value({ec, r.diagnostics.remark});
  };
  std::promise<void> started;
  asio::post(producer.get_executor(), [&, kind, from_error, done] {
    switch (kind) {
      case token_kind::callback:
        producer.async_send(cancel_message(),
                            asio::bind_cancellation_slot(signal.slot(), from_error));
        break;
      case token_kind::deferred: {
        auto op = producer.async_send(cancel_message(), asio::experimental::deferred);
        std::move(op)(asio::bind_cancellation_slot(signal.slot(), from_error));
        break;
      }
      case token_kind::awaitable:
        asio::co_spawn(
            producer.get_executor(),
            [&producer]() -> asio::awaitable<rmq::send_result> {
              // Every type reaches the send (a coroutine passes only terminal by default).
              co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
              co_return co_await producer.async_send(cancel_message(), asio::use_awaitable);
            },
            asio::bind_cancellation_slot(signal.slot(),
                                         [done](std::exception_ptr e, rmq::send_result) {
                                           token_outcome o;
                                           if (e) {
                                             try {
                                               std::rethrow_exception(e);
                                             } catch (const rmq::send_error& error) {
                                               o = {error.code(), error.diagnostics().remark};
                                             }
                                           }
                                           done->set_value(o);
                                         }));
        break;
      case token_kind::future: {
        auto f = std::make_shared<std::future<rmq::send_result>>(producer.async_send(
            cancel_message(), asio::bind_cancellation_slot(signal.slot(), asio::use_future)));
        std::thread([f, done] {
          token_outcome o;
          try {
            f->get();
          } catch (const rmq::send_error& error) {
            o = {error.code(), error.diagnostics().remark};
          }
          done->set_value(o);
        }).detach();
        break;
      }
    }
    started.set_value();
  });
  started.get_future().get();
  return result;
}

void emit_on_loop(rmq::producer& producer, asio::cancellation_signal& signal,
                  asio::cancellation_type type) {
  std::promise<void> emitted;
  asio::post(producer.get_executor(), [&] {
    signal.emit(type);
    emitted.set_value();
  });
  emitted.get_future().get();
}

constexpr token_kind every_token[] = {token_kind::callback, token_kind::awaitable,
                                      token_kind::future, token_kind::deferred};

}  // namespace

TEST_CASE("every token, a silent broker: terminal cancellation of a written send") {
  for (const token_kind kind : every_token) {
    CAPTURE(name_of(kind));
    producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
    f.sim.set_broker_faults("broker-a", {.silent = true});
    asio::cancellation_signal signal;
    std::future<token_outcome> done = start_on_loop(*f.producer, kind, signal);
    REQUIRE(wait_for_requests(f.sim, send_code, 1));
    emit_on_loop(*f.producer, signal, asio::cancellation_type::terminal);
    REQUIRE(done.wait_for(well_before_budget) == std::future_status::ready);
    const token_outcome o = done.get();
    CHECK(o.ec == aborted);
    CHECK(o.remark.find("may have stored") != std::string::npos);
  }
}

TEST_CASE("every token, a slow broker: total cancellation of a written send is ignored") {
  for (const token_kind kind : every_token) {
    CAPTURE(name_of(kind));
    producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
    f.sim.set_broker_faults("broker-a", {.latency_min = 200ms, .latency_max = 200ms});
    asio::cancellation_signal signal;
    std::future<token_outcome> done = start_on_loop(*f.producer, kind, signal);
    REQUIRE(wait_for_requests(f.sim, send_code, 1));
    emit_on_loop(*f.producer, signal, asio::cancellation_type::total);
    const token_outcome o = done.get();
    CHECK_FALSE(o.ec);
    CHECK(f.sim.message_count() == 1);
  }
}

TEST_CASE("every token, a full gate: partial cancellation removes the waiting send") {
  for (const token_kind kind : every_token) {
    CAPTURE(name_of(kind));
    rmq::producer_config config = long_budget_config();
    config.max_in_flight_sends = 1;
    producer_fixture f(sim_with(1, sim::personality::v4_9), config);
    f.sim.set_broker_faults("broker-a", {.silent = true});
    asio::cancellation_signal blocker_signal;
    std::future<token_outcome> blocker =
        start_on_loop(*f.producer, token_kind::callback, blocker_signal);
    REQUIRE(wait_for_requests(f.sim, send_code, 1));
    asio::cancellation_signal signal;
    std::future<token_outcome> done = start_on_loop(*f.producer, kind, signal);
    emit_on_loop(*f.producer, signal, asio::cancellation_type::partial);
    REQUIRE(done.wait_for(well_before_budget) == std::future_status::ready);
    CHECK(done.get().ec == aborted);
    CHECK(f.sim.counters().broker_requests(send_code) == 1);  // never written
    emit_on_loop(*f.producer, blocker_signal, asio::cancellation_type::terminal);
    CHECK(blocker.get().ec == aborted);
  }
}

TEST_CASE("on a user's io_context: send || timer, and a batch") {
  producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
  f.sim.set_broker_faults("broker-a", {.silent = true});
  user_thread user;

  SUBCASE("use_awaitable: send || timer returns when the timer fires") {
    using namespace asio::experimental::awaitable_operators;
    std::promise<std::size_t> winner;
    asio::co_spawn(
        user.context,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(user.context, 100ms);
          auto first = co_await (f.producer->async_send(cancel_message(), asio::use_awaitable) ||
                                 timer.async_wait(asio::use_awaitable));
          winner.set_value(first.index());
        },
        asio::detached);
    auto index = winner.get_future();
    REQUIRE(index.wait_for(well_before_budget) == std::future_status::ready);
    CHECK(index.get() == 1);
  }
  SUBCASE("a batch") {
    asio::cancellation_signal signal;
    std::promise<outcome> done;
    std::vector<rmq::message> batch{cancel_message("one"), cancel_message("two")};
    f.producer->async_send_batch(std::move(batch), callback_to(user, signal, done));
    REQUIRE(wait_for_requests(f.sim, rmq::wire::request_code::send_batch_message, 1));
    user.emit(signal, asio::cancellation_type::terminal);
    CHECK(done.get_future().get().ec == aborted);
  }
}

TEST_CASE("a oneway send waiting at the gate is cancelled before it is written") {
  rmq::producer_config config = long_budget_config();
  config.max_in_flight_sends = 1;
  producer_fixture f(sim_with(1, sim::personality::v4_9), config);
  f.sim.set_broker_faults("broker-a", {.silent = true});
  user_thread user;
  asio::cancellation_signal first_signal;
  std::promise<outcome> first;
  f.producer->async_send(cancel_message(), callback_to(user, first_signal, first));
  REQUIRE(wait_for_requests(f.sim, send_code, 1));
  asio::cancellation_signal signal;
  std::promise<outcome> oneway;
  std::promise<void> started;
  asio::post(f.producer->get_executor(), [&] {
    f.producer->async_send_oneway(cancel_message(), callback_to(user, signal, oneway));
    started.set_value();
  });
  started.get_future().get();
  user.emit(signal, asio::cancellation_type::total);
  CHECK(oneway.get_future().get().ec == aborted);
  user.emit(first_signal, asio::cancellation_type::terminal);
  CHECK(first.get_future().get().ec == aborted);
  CHECK(f.sim.counters().broker_requests(send_code) == 1);
}

TEST_CASE("async_flush: a cancellation ends the wait, not the sends") {
  producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
  f.sim.set_broker_faults("broker-a", {.silent = true});
  user_thread user;
  asio::cancellation_signal send_signal;
  std::promise<outcome> sent;
  f.producer->async_send(cancel_message(), callback_to(user, send_signal, sent));
  REQUIRE(wait_for_requests(f.sim, send_code, 1));
  asio::cancellation_signal signal;
  std::promise<std::error_code> flushed;
  f.producer->async_flush(
      long_budget, asio::bind_cancellation_slot(
                       signal.slot(), asio::bind_executor(user.context, [&](std::error_code ec) {
                         flushed.set_value(ec);
                       })));
  user.emit(signal, asio::cancellation_type::terminal);
  CHECK(flushed.get_future().get() == aborted);
  CHECK(f.producer->stats().in_flight == 1);  // the send goes on
  user.emit(send_signal, asio::cancellation_type::terminal);
  CHECK(sent.get_future().get().ec == aborted);
}

TEST_CASE("send_options: a per-send timeout replaces the producer's budget") {
  producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
  f.sim.set_broker_faults("broker-a", {.silent = true});
  const auto started = std::chrono::steady_clock::now();
  std::error_code ec;
  const rmq::send_result r =
      f.producer->send(cancel_message(), rmq::send_options{.timeout = 200ms}, ec);
  CHECK(ec == rmq::errc::timed_out);
  CHECK(std::chrono::steady_clock::now() - started < well_before_budget);
  CHECK(r.status == rmq::send_status::failed);
  const std::uint64_t written = f.sim.counters().broker_requests(send_code);

  // Out of range, or two targets at once: refused before any I/O.
  for (const auto bad : {-1ms, std::chrono::milliseconds(std::chrono::hours(2))}) {
    f.producer->send(cancel_message(), rmq::send_options{.timeout = bad}, ec);
    CHECK(ec == rmq::errc::invalid_argument);
  }
  rmq::send_options both;
  both.queue = rmq::message_queue{"TopicTest", "broker-a", 0};
  both.selector = [](std::span<const rmq::message_queue>, const rmq::message&) { return 0; };
  f.producer->send(cancel_message(), both, ec);
  CHECK(ec == rmq::errc::invalid_argument);
  CHECK(f.sim.counters().broker_requests(send_code) == written);
}

TEST_CASE("send_options: queue and selector make ordered sends of every form") {
  producer_fixture f(sim_with(1, sim::personality::v4_9));
  std::error_code ec;
  rmq::send_result r = f.producer->send(
      cancel_message(), rmq::send_options{.queue = rmq::message_queue{"TopicTest", "broker-a", 2}},
      ec);
  REQUIRE_FALSE(ec);
  CHECK(r.queue.queue_id == 2);
  r = f.producer
          ->async_send(
              cancel_message(),
              rmq::send_options{.selector = [](std::span<const rmq::message_queue> q,
                                               const rmq::message&) { return q.size() - 1; }},
              asio::use_future)
          .get();
  CHECK(r.queue.queue_id == 3);
  std::vector<rmq::message> batch{cancel_message("a"), cancel_message("b")};
  r = f.producer
          ->async_send_batch(
              std::move(batch),
              rmq::send_options{.queue = rmq::message_queue{"TopicTest", "broker-a", 1}},
              asio::use_future)
          .get();
  CHECK(r.queue.queue_id == 1);
  CHECK_FALSE(f.producer->send_oneway(
      cancel_message(),
      rmq::send_options{.queue = rmq::message_queue{"TopicTest", "broker-a", 0}}));
  REQUIRE(f.sim.wait_for_messages(5, 10s));
  const auto stored = f.sim.messages();
  CHECK(stored.back().queue_id == 0);
}

TEST_CASE("a shorter per-send timeout is kept while another send's route query runs") {
  producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
  f.sim.set_namesrv_faults({.silent = true});
  user_thread user;
  // The first send starts the topic's query with the 30 s budget.
  asio::cancellation_signal first_signal;
  std::promise<outcome> first;
  f.producer->async_send(rmq::message("FreshTopic", "x"), callback_to(user, first_signal, first));
  REQUIRE(f.sim.wait_until(
      [](const sim::sim_counters& c) { return c.namesrv.count(route_code) >= 1; }, 10s));
  // The second joins it with 200 ms of its own, and ends by them.
  const auto started = std::chrono::steady_clock::now();
  std::error_code ec;
  f.producer->send(rmq::message("FreshTopic", "y"), rmq::send_options{.timeout = 200ms}, ec);
  CHECK(ec == rmq::errc::timed_out);
  CHECK(std::chrono::steady_clock::now() - started < well_before_budget);
  user.emit(first_signal, asio::cancellation_type::terminal);
  CHECK(first.get_future().get().ec == aborted);
}

TEST_CASE("cancellations raced against completions: every send completes exactly once") {
  producer_fixture f(sim_with(2, sim::personality::v4_9));
  f.sim.set_broker_faults("*", {.latency_min = 0us, .latency_max = 1ms});
  user_thread user;
  const std::size_t total = rmq::test::scaled(20000, 2000);
  constexpr std::size_t window = 256;
  struct send_slot {
    asio::cancellation_signal signal;
    std::atomic<int> completions{0};
    std::error_code ec;
  };
  std::vector<std::unique_ptr<send_slot>> sends;
  sends.reserve(total);
  for (std::size_t i = 0; i < total; ++i) sends.push_back(std::make_unique<send_slot>());
  std::atomic<std::size_t> completed{0};
  std::promise<void> all_done;
  std::mt19937 random(20261205);
  // Everything on the user's thread: starts, emits (after a random 0-5 ms) and completions.
  std::function<void(std::size_t)> start = [&](std::size_t i) {
    send_slot& s = *sends[i];
    f.producer->async_send(
        cancel_message(),
        asio::bind_cancellation_slot(
            s.signal.slot(),
            asio::bind_executor(user.context, [&, i](std::error_code ec, rmq::send_result) {
              send_slot& done = *sends[i];
              done.ec = ec;
              done.completions.fetch_add(1);
              if (i + window < total) start(i + window);
              if (completed.fetch_add(1) + 1 == total) all_done.set_value();
            })));
    auto timer = std::make_shared<asio::steady_timer>(user.context,
                                                      std::chrono::microseconds(random() % 3000));
    timer->async_wait([&s, timer, type = random() % 3](std::error_code) {
      s.signal.emit(type == 0   ? asio::cancellation_type::terminal
                    : type == 1 ? asio::cancellation_type::partial
                                : asio::cancellation_type::total);
    });
  };
  asio::post(user.context, [&] {
    for (std::size_t i = 0; i < window && i < total; ++i) start(i);
  });
  all_done.get_future().get();
  std::size_t ok = 0;
  std::size_t cancelled = 0;
  for (const auto& s : sends) {
    CHECK(s->completions.load() == 1);
    if (!s->ec) ++ok;
    if (s->ec == aborted) ++cancelled;
  }
  CHECK(ok + cancelled == total);
  MESSAGE(ok << " succeeded, " << cancelled << " cancelled of " << total);
  user.join();  // the last emits (on completed sends) run before the signals are destroyed
  CHECK(f.producer->flush(10s) == std::error_code{});
  CHECK(f.producer->stats().in_flight == 0);
}

TEST_CASE("async_shutdown: terminal cancellation ends the wait, the shutdown goes on") {
  producer_fixture f(sim_with(1, sim::personality::v4_9), long_budget_config());
  f.sim.set_broker_faults("broker-a", {.silent = true});
  user_thread user;
  std::promise<outcome> sent;
  f.producer->async_send(
      cancel_message(),
      asio::bind_executor(user.context, [&](std::error_code ec, rmq::send_result r) {
        sent.set_value({ec, std::move(r), {}});
      }));
  REQUIRE(wait_for_requests(f.sim, send_code, 1));
  // The shutdown waits up to its grace for the unanswered send.
  asio::cancellation_signal signal;
  std::promise<std::error_code> shut;
  f.producer->async_shutdown(
      long_budget, asio::bind_cancellation_slot(
                       signal.slot(), asio::bind_executor(user.context, [&](std::error_code ec) {
                         shut.set_value(ec);
                       })));
  user.emit(signal, asio::cancellation_type::total);  // ignored: the shutdown has begun
  user.emit(signal, asio::cancellation_type::terminal);
  CHECK(shut.get_future().get() == aborted);
  // It went on: new sends are refused.
  std::error_code ec;
  f.producer->send(cancel_message(), ec);
  CHECK(ec == rmq::errc::shutting_down);
  // The send still completes, once (retried on a new connection once the broker answers).
  f.sim.set_broker_faults("broker-a", {});
  f.sim.drop_broker_connections("broker-a");
  CHECK(sent.get_future().wait_for(long_budget) == std::future_status::ready);
}
