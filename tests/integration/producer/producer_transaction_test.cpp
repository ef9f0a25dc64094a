// Transactional sends against rmq-sim's brokers, which keep half messages, apply END_TRANSACTION
// and check back with CHECK_TRANSACTION_STATE as real ones do: commit, rollback, unknown then a
// check-back, user code that throws or never answers, a broker restart before END_TRANSACTION,
// a dropped END_TRANSACTION, cancellation, shutdown, and many transactions at once.
#include "producer_fixture.hpp"
#include "wire/codes.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <string>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

/// A simulator whose brokers check pending half messages quickly.
sim::sim_config quick_checks(sim::personality version, std::size_t brokers = 1) {
  sim::sim_config config = sim_with(brokers, version, {"TxTopic"});
  config.transactions.check_interval = 50ms;
  config.transactions.timeout = 50ms;
  return config;
}

rmq::message tx_message(const std::string& body = "order-1") {
  rmq::message msg("TxTopic", "TagTx", body);
  msg.set_keys("key-" + body);
  msg.put_property("shop", "north");
  return msg;
}

/// The simulator's record of the half message `msg_id`, once `done` holds for it.
std::optional<sim::transaction_record> wait_for_record(
    sim::simulator& s, std::string_view msg_id,
    const std::function<bool(const sim::transaction_record&)>& done) {
  std::optional<sim::transaction_record> found;
  s.wait_until(
      [&](const sim::sim_counters&) {
        for (const sim::transaction_record& r : s.transactions()) {
          if (r.transaction_id == msg_id && done(r)) {
            found = r;
            return true;
          }
        }
        return false;
      },
      10s);
  return found;
}

bool settled(const sim::transaction_record& r) {
  return r.state != sim::transaction_state::pending;
}

}  // namespace

TEST_CASE("commit and rollback end the half message as the local transaction decided") {
  for (auto version : {sim::personality::v4_9, sim::personality::v5}) {
    CAPTURE(rmq::test::version_name(version));
    producer_fixture f(quick_checks(version));
    for (auto decided : {rmq::transaction_state::commit, rmq::transaction_state::rollback}) {
      const rmq::message msg = tx_message();
      std::atomic<int> calls{0};
      std::error_code ec;
      const rmq::transaction_result result = f.producer->send_in_transaction(
          msg,
          [&](const rmq::message& m, const rmq::send_result& half) {
            ++calls;
            CHECK(m == msg);  // a plain function gets a copy: it may outlive its timeout
            CHECK(half.status == rmq::send_status::send_ok);
            return decided;
          },
          ec);
      REQUIRE_FALSE(ec);
      CHECK(calls == 1);
      CHECK(result.state == decided);
      CHECK_FALSE(result.end_error);
      CHECK(result.local_error.empty());
      CHECK(result.send.queue.topic == "TxTopic");
      CHECK((version == sim::personality::v5) == !result.send.transaction_id.empty());
      const auto record = wait_for_record(f.sim, result.send.msg_id.view(), settled);
      REQUIRE(record.has_value());
      CHECK(record->state == (decided == rmq::transaction_state::commit
                                  ? sim::transaction_state::committed
                                  : sim::transaction_state::rolled_back));
      CHECK(record->producer_group == "TestGroup");
      CHECK(record->topic == "TxTopic");
      CHECK(record->body == msg.body());
      CHECK_FALSE(record->resolved_by_check);
    }
    // The half message never reached consumers before its commit: one delivery in all.
    std::size_t delivered = 0;
    for (const sim::stored_message& m : f.sim.messages()) delivered += m.topic == "TxTopic";
    CHECK(delivered == 1);
  }
}

TEST_CASE(
    "unknown, then the checker's answer commits or rolls back; the check carries the message") {
  for (auto version : {sim::personality::v4_9, sim::personality::v5}) {
    CAPTURE(rmq::test::version_name(version));
    std::mutex mutex;
    std::map<std::string, rmq::transaction_state> decisions;  // by msg_id
    std::vector<rmq::transaction_check> seen;
    rmq::producer_config config;
    config.checker = [&](const rmq::transaction_check& check) {
      const std::lock_guard lock(mutex);
      seen.push_back(check);
      return decisions.at(check.msg_id);
    };
    producer_fixture f(quick_checks(version), config);
    for (auto later : {rmq::transaction_state::commit, rmq::transaction_state::rollback}) {
      const rmq::message msg = tx_message("order-" + std::string(to_string(later)));
      std::error_code ec;
      const rmq::transaction_result result = f.producer->send_in_transaction(
          msg,
          [&](const rmq::message&, const rmq::send_result& half) {
            const std::lock_guard lock(mutex);
            decisions[std::string(half.msg_id.view())] = later;
            return rmq::transaction_state::unknown;
          },
          ec);
      REQUIRE_FALSE(ec);
      CHECK(result.state == rmq::transaction_state::unknown);
      const auto record = wait_for_record(f.sim, result.send.msg_id.view(), settled);
      REQUIRE(record.has_value());
      CHECK(record->state == (later == rmq::transaction_state::commit
                                  ? sim::transaction_state::committed
                                  : sim::transaction_state::rolled_back));
      CHECK(record->resolved_by_check);
      CHECK(record->checks_sent >= 1);
    }
    const std::lock_guard lock(mutex);
    REQUIRE(seen.size() >= 2);
    const rmq::transaction_check& check = seen.front();
    CHECK(check.topic == "TxTopic");
    CHECK(check.tags == "TagTx");
    CHECK(check.keys == "key-order-COMMIT_MESSAGE");
    CHECK(check.body == "order-COMMIT_MESSAGE");
    CHECK(check.check_times >= 1);
    CHECK(check.properties == rmq::message::property_list{{"shop", "north"}});
    CHECK(f.producer->stats().transaction_checks >= 2);
  }
}

TEST_CASE("a coroutine local transaction and checker run on the loop; async forms complete once") {
  rmq::producer_config config;
  std::atomic<int> checks{0};
  config.checker = [&](const rmq::transaction_check&) -> asio::awaitable<rmq::transaction_state> {
    ++checks;
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    co_return rmq::transaction_state::commit;
  };
  producer_fixture f(quick_checks(sim::personality::v5), config);
  rmq::producer& p = *f.producer;
  const rmq::message msg = tx_message();
  auto outcome = asio::co_spawn(
      p.get_executor(),
      [&]() -> asio::awaitable<rmq::transaction_result> {
        co_return co_await p.async_send_in_transaction(
            msg,
            [&](const rmq::message&,
                const rmq::send_result&) -> asio::awaitable<rmq::transaction_state> {
              co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
              co_return rmq::transaction_state::unknown;
            },
            asio::use_awaitable);
      },
      asio::use_future);
  const rmq::transaction_result result = outcome.get();
  CHECK(result.state == rmq::transaction_state::unknown);
  const auto record = wait_for_record(f.sim, result.send.msg_id.view(), settled);
  REQUIRE(record.has_value());
  CHECK(record->state == sim::transaction_state::committed);
  CHECK(checks >= 1);

  // A callback: called exactly once.
  std::promise<std::pair<std::error_code, rmq::transaction_result>> called;
  std::atomic<int> calls{0};
  p.async_send_in_transaction(
      msg,
      [](const rmq::message&, const rmq::send_result&) { return rmq::transaction_state::commit; },
      [&](std::error_code ec, rmq::transaction_result r) {
        if (++calls == 1) called.set_value({ec, std::move(r)});
      });
  const auto [ec, r] = called.get_future().get();
  CHECK_FALSE(ec);
  CHECK(r.state == rmq::transaction_state::commit);
  REQUIRE(p.flush(5s) == std::error_code{});
  CHECK(calls == 1);
}

TEST_CASE(
    "a local transaction that throws or outlives its timeout ends unknown; the checker decides") {
  rmq::producer_config config;
  config.local_transaction_timeout = 100ms;
  config.checker = [](const rmq::transaction_check&) { return rmq::transaction_state::rollback; };
  producer_fixture f(quick_checks(sim::personality::v4_9), config);
  const rmq::message msg = tx_message();
  std::error_code ec;
  rmq::transaction_result thrown = f.producer->send_in_transaction(
      msg,
      [](const rmq::message&, const rmq::send_result&) -> rmq::transaction_state {
        throw std::runtime_error("database down");
      },
      ec);
  REQUIRE_FALSE(ec);
  CHECK(thrown.state == rmq::transaction_state::unknown);
  CHECK(thrown.local_error == "threw: database down");

  // A plain function that does not return in time: not waited for (it is released below).
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  rmq::transaction_result late = f.producer->send_in_transaction(
      msg,
      [released](const rmq::message&, const rmq::send_result&) {
        released.wait();
        return rmq::transaction_state::commit;
      },
      ec);
  release.set_value();
  REQUIRE_FALSE(ec);
  CHECK(late.state == rmq::transaction_state::unknown);
  CHECK(late.local_error == "timed out");
  // A coroutine that ignores its cancellation: no longer waited for either.
  rmq::transaction_result deaf = f.producer->send_in_transaction(
      msg,
      [](const rmq::message&, const rmq::send_result&) -> asio::awaitable<rmq::transaction_state> {
        co_await asio::this_coro::reset_cancellation_state(
            [](asio::cancellation_type) { return asio::cancellation_type::none; });
        asio::experimental::channel<void(std::error_code, bool)> never(
            co_await asio::this_coro::executor, 0);
        co_await never.async_receive(asio::use_awaitable);
        co_return rmq::transaction_state::commit;
      },
      ec);
  REQUIRE_FALSE(ec);
  CHECK(deaf.state == rmq::transaction_state::unknown);
  CHECK(deaf.local_error == "timed out");
  // A coroutine that throws before it starts: its answer is unknown as well.
  rmq::transaction_result early = f.producer->send_in_transaction(
      msg,
      [](const rmq::message&, const rmq::send_result&) -> asio::awaitable<rmq::transaction_state> {
        throw std::runtime_error("no connection");
      },
      ec);
  REQUIRE_FALSE(ec);
  CHECK(early.local_error == "threw: no connection");
  // No local transaction at all: refused before anything is sent.
  (void)f.producer->send_in_transaction(msg, rmq::local_transaction{}, ec);
  CHECK(ec == rmq::errc::invalid_argument);
  for (const auto* r : {&thrown, &late, &deaf, &early}) {
    const auto record = wait_for_record(f.sim, r->send.msg_id.view(), settled);
    REQUIRE(record.has_value());
    CHECK(record->state == sim::transaction_state::rolled_back);
    CHECK(record->resolved_by_check);
  }
}

TEST_CASE("a checker that throws answers unknown, and the broker asks again") {
  std::atomic<int> calls{0};
  rmq::producer_config config;
  config.checker = [&](const rmq::transaction_check&) {
    if (++calls == 1) throw std::runtime_error("not yet");
    return rmq::transaction_state::commit;
  };
  producer_fixture f(quick_checks(sim::personality::v5), config);
  std::error_code ec;
  const rmq::transaction_result result = f.producer->send_in_transaction(
      tx_message(),
      [](const rmq::message&, const rmq::send_result&) { return rmq::transaction_state::unknown; },
      ec);
  REQUIRE_FALSE(ec);
  const auto record = wait_for_record(f.sim, result.send.msg_id.view(), settled);
  REQUIRE(record.has_value());
  CHECK(record->state == sim::transaction_state::committed);
  CHECK(record->checks_sent >= 2);
  CHECK(calls >= 2);
}

TEST_CASE("a dropped END_TRANSACTION leaves the half message to the check-back") {
  rmq::producer_config config;
  config.checker = [](const rmq::transaction_check&) { return rmq::transaction_state::commit; };
  producer_fixture f(quick_checks(sim::personality::v4_9), config);
  f.sim.set_broker_faults("broker-a", {.drop_end_transaction = true});
  std::error_code ec;
  const rmq::transaction_result result = f.producer->send_in_transaction(
      tx_message(),
      [](const rmq::message&, const rmq::send_result&) { return rmq::transaction_state::commit; },
      ec);
  REQUIRE_FALSE(ec);
  CHECK(result.state == rmq::transaction_state::commit);
  CHECK_FALSE(result.end_error);  // written: the broker dropped it
  REQUIRE(f.sim.wait_until(
      [](const sim::sim_counters& c) { return c.transactions().end_transaction_dropped >= 1; },
      10s));
  f.sim.set_broker_faults("broker-a", {});  // the check's answer gets through
  const auto record = wait_for_record(f.sim, result.send.msg_id.view(), settled);
  REQUIRE(record.has_value());
  CHECK(record->state == sim::transaction_state::committed);
  CHECK(record->resolved_by_check);
}

TEST_CASE("a broker restarting before END_TRANSACTION keeps the half message; it still commits") {
  rmq::producer_config config;
  config.checker = [](const rmq::transaction_check&) { return rmq::transaction_state::rollback; };
  sim::sim_config sim_config = quick_checks(sim::personality::v5);
  sim_config.transactions.check_interval = 1h;  // only END_TRANSACTION may decide here
  producer_fixture f(sim_config, config);
  std::promise<void> restarted;
  std::shared_future<void> broker_back = restarted.get_future().share();
  std::promise<void> stored;
  const rmq::message msg = tx_message();  // outlives the operation
  auto outcome = f.producer->async_send_in_transaction(
      msg,
      [&, broker_back](const rmq::message&, const rmq::send_result&) {
        stored.set_value();
        broker_back.wait();
        return rmq::transaction_state::commit;
      },
      asio::use_future);
  stored.get_future().wait();
  f.sim.stop_broker("broker-a");
  f.sim.start_broker("broker-a");
  restarted.set_value();
  const rmq::transaction_result result = outcome.get();
  CHECK(result.state == rmq::transaction_state::commit);
  CHECK_FALSE(result.end_error);
  const auto record = wait_for_record(f.sim, result.send.msg_id.view(), settled);
  REQUIRE(record.has_value());
  CHECK(record->state == sim::transaction_state::committed);
  CHECK_FALSE(record->resolved_by_check);
}

TEST_CASE("many concurrent transactions each end as their user decided") {
  constexpr int count = 300;
  std::mutex mutex;
  std::map<std::string, rmq::transaction_state> later;  // unknown ones: the checker's answer
  rmq::producer_config config;
  // Outcomes, not times: 300 half messages and their local transactions (one transaction
  // thread) must not run into the default 3 s and 6 s on a loaded sanitizer build.
  config.send_timeout = 30s;
  config.local_transaction_timeout = 60s;
  config.checker = [&](const rmq::transaction_check& check) {
    const std::lock_guard lock(mutex);
    return later.at(check.msg_id);
  };
  producer_fixture f(quick_checks(sim::personality::v5, 2), config);
  const auto decide = [](int i) {
    return i % 3 == 0   ? rmq::transaction_state::commit
           : i % 3 == 1 ? rmq::transaction_state::rollback
                        : rmq::transaction_state::unknown;
  };
  const auto finally = [&](int i) {
    return i % 3 != 2         ? decide(i)
           : (i / 3) % 2 == 0 ? rmq::transaction_state::commit
                              : rmq::transaction_state::rollback;
  };
  std::vector<rmq::message> messages;
  for (int i = 0; i < count; ++i) messages.push_back(tx_message("order-" + std::to_string(i)));
  std::vector<std::future<rmq::transaction_result>> outcomes;
  for (int i = 0; i < count; ++i) {
    outcomes.push_back(f.producer->async_send_in_transaction(
        messages[i],
        [&, i](const rmq::message& m, const rmq::send_result& half) {
          CHECK(m.body() == "order-" + std::to_string(i));
          const std::lock_guard lock(mutex);
          later[std::string(half.msg_id.view())] = finally(i);
          return decide(i);
        },
        asio::use_future));
  }
  std::map<std::string, int> index_of;
  for (int i = 0; i < count; ++i) {
    const rmq::transaction_result r = outcomes[i].get();
    CHECK(r.state == decide(i));
    index_of[std::string(r.send.msg_id.view())] = i;
  }
  REQUIRE(f.sim.wait_until(
      [&](const sim::sim_counters& c) {
        const sim::transaction_counters t = c.transactions();
        return t.committed + t.rolled_back == static_cast<std::uint64_t>(count);
      },
      20s));
  // (A check may race an END_TRANSACTION on a slow machine: the checker then answers what the
  // local transaction did, and a broker commits a repeated commit again, as a real one does.)
  int checked = 0;
  for (const sim::transaction_record& r : f.sim.transactions()) {
    const auto it = index_of.find(r.transaction_id);
    REQUIRE(it != index_of.end());
    CAPTURE(it->second);
    CHECK(r.state == (finally(it->second) == rmq::transaction_state::commit
                          ? sim::transaction_state::committed
                          : sim::transaction_state::rolled_back));
    ++checked;
  }
  CHECK(checked == count);
}

TEST_CASE("cancelling a transaction while its local transaction runs sends UNKNOW") {
  rmq::producer_config config;
  producer_fixture f(quick_checks(sim::personality::v4_9), config);
  rmq::producer& p = *f.producer;
  asio::cancellation_signal cancel;
  std::promise<std::pair<std::error_code, rmq::transaction_result>> done;
  const rmq::message msg = tx_message();
  asio::post(p.get_executor(), [&] {
    p.async_send_in_transaction(
        msg,
        [&](const rmq::message&,
            const rmq::send_result&) -> asio::awaitable<rmq::transaction_state> {
          // Waits until cancelled: the channel never gets a value.
          asio::experimental::channel<void(std::error_code, bool)> never(
              co_await asio::this_coro::executor, 0);
          asio::post(p.get_executor(), [&] { cancel.emit(asio::cancellation_type::terminal); });
          co_await never.async_receive(asio::use_awaitable);
          co_return rmq::transaction_state::commit;
        },
        asio::bind_cancellation_slot(cancel.slot(),
                                     [&](std::error_code ec, rmq::transaction_result r) {
                                       done.set_value({ec, std::move(r)});
                                     }));
  });
  const auto [ec, result] = done.get_future().get();
  CHECK(ec == asio::error::operation_aborted);
  CHECK(result.state == rmq::transaction_state::unknown);
  CHECK(result.send.status == rmq::send_status::send_ok);
  // The broker was told UNKNOW: the half message stays pending (no checker: nobody answers).
  REQUIRE(f.sim.wait_until(
      [](const sim::sim_counters& c) {
        return c.broker_requests(rmq::wire::request_code::end_transaction) >= 1;
      },
      10s));
  const std::vector<sim::end_transaction_record> ends = f.sim.end_transactions();
  REQUIRE(ends.size() == 1);
  const auto field = [&](std::string_view name) {
    for (const auto& [k, v] : ends.front().fields) {
      if (k == name) return v;
    }
    return std::string();
  };
  CHECK(field("commitOrRollback") == "0");
  CHECK(field("msgId") == result.send.msg_id.view());
  for (const sim::transaction_record& r : f.sim.transactions()) {
    CHECK(r.state == sim::transaction_state::pending);
  }
}

TEST_CASE("shutdown cancels a local transaction past its deadline; checks without a checker") {
  rmq::producer_config config;
  auto f = std::make_unique<producer_fixture>(quick_checks(sim::personality::v5), config);
  rmq::producer& p = *f->producer;
  std::promise<void> running;
  const rmq::message msg = tx_message();  // outlives the operation
  auto outcome = p.async_send_in_transaction(
      msg,
      [&](const rmq::message&, const rmq::send_result&) -> asio::awaitable<rmq::transaction_state> {
        asio::experimental::channel<void(std::error_code, bool)> never(
            co_await asio::this_coro::executor, 0);
        running.set_value();
        co_await never.async_receive(asio::use_awaitable);
        co_return rmq::transaction_state::commit;
      },
      asio::use_future);
  running.get_future().wait();
  // Pending and unanswered: the brokers ask, nobody answers (no checker configured) — so they
  // ask again.
  REQUIRE(f->sim.wait_until(
      [](const sim::sim_counters& c) { return c.transactions().checks_sent >= 2; }, 10s));
  CHECK_FALSE(p.shutdown(100ms));
  CHECK(p.stats().checks_ignored >= 1);  // the first check, read long before the shutdown
  try {
    (void)outcome.get();
    FAIL("a transaction cancelled by the shutdown completes with an error");
  } catch (const rmq::send_error& e) {
    CHECK(e.code() == rmq::errc::shutting_down);
  }
}
