// Automatic batching (producer_config::auto_batch) against rmq-sim: single sends gathered into
// SEND_BATCH_MESSAGE requests, each message completing on its own with its own result; the
// limits, what goes alone, cancellation, deadlines, retries, ordered sends, hooks, namespaces.
#include "producer_fixture.hpp"
#include "rmq/error.hpp"
#include "wire/codes.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

rmq::producer_config batching(std::size_t max_messages,
                              std::chrono::microseconds linger = std::chrono::seconds(1)) {
  rmq::producer_config config;
  config.auto_batch.emplace();
  config.auto_batch->linger = linger;
  config.auto_batch->max_messages = max_messages;
  return config;
}

rmq::message numbered(int i) {
  return rmq::message("TopicTest", "auto-" + std::to_string(i));
}

// The stored messages by body.
std::map<std::string, sim::stored_message> stored_by_body(const sim::simulator& s) {
  std::map<std::string, sim::stored_message> out;
  for (auto& m : s.messages()) out.emplace(m.body, m);
  return out;
}

// The route is cached once a first send has completed: later sends join batches at once.
void warm_up(producer_fixture& f) {
  auto first = f.producer->async_send(rmq::message("TopicTest", "warm-up"), asio::use_future);
  REQUIRE_FALSE(f.producer->flush(10s));
  REQUIRE(first.get().status == rmq::send_status::send_ok);
  f.sim.clear_messages();
}

}  // namespace

TEST_CASE("auto batch: sends of a topic go as one batch, each with its own result") {
  for (const auto version : {sim::personality::v5, sim::personality::v4_9}) {
    CAPTURE(rmq::test::version_name(version));
    producer_fixture f(sim_with(2, version), batching(8));
    std::vector<std::future<rmq::send_result>> futures;
    for (int i = 0; i < 8; ++i)
      futures.push_back(f.producer->async_send(numbered(i), asio::use_future));
    std::vector<rmq::send_result> results;
    for (auto& fu : futures) results.push_back(fu.get());

    const auto stored = stored_by_body(f.sim);
    REQUIRE(stored.size() == 8);
    std::set<std::int32_t> indexes;
    for (int i = 0; i < 8; ++i) {
      CAPTURE(i);
      const rmq::send_result& r = results[static_cast<std::size_t>(i)];
      const sim::stored_message& m = stored.at("auto-" + std::to_string(i));
      CHECK(r.status == rmq::send_status::send_ok);
      CHECK(m.request_code == rmq::wire::request_code::send_batch_message);
      indexes.insert(m.batch_index);
      // Its own ids and place, as the Java client splits a batch's result.
      CHECK(r.msg_id.view() == m.property("UNIQ_KEY").value_or("?"));
      CHECK(r.offset_msg_id.view() == m.offset_msg_id);
      CHECK(r.queue_offset == m.queue_offset);
      CHECK(r.queue.topic == "TopicTest");
      CHECK(r.queue.broker_name == m.broker_name);
      CHECK(r.queue.queue_id == m.queue_id);
      CHECK(r.attempts == 1);
      // Offsets follow the batch order.
      CHECK(m.queue_offset - stored.begin()->second.queue_offset ==
            m.batch_index - stored.begin()->second.batch_index);
    }
    CHECK(indexes == std::set<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7});
    CHECK(f.producer->stats().auto_batches == 1);
  }
}

TEST_CASE("auto batch: the count and byte limits split batches; a flush sends what gathers") {
  SUBCASE("count") {
    producer_fixture f(sim_with(1, sim::personality::v5), batching(3));
    warm_up(f);
    std::vector<std::future<rmq::send_result>> futures;
    for (int i = 0; i < 7; ++i)
      futures.push_back(f.producer->async_send(numbered(i), asio::use_future));
    // Two full batches have left; the seventh message gathers until the flush sends it.
    CHECK_FALSE(f.producer->flush(10s));
    for (auto& fu : futures) CHECK(fu.get().status == rmq::send_status::send_ok);
    std::map<std::int32_t, int> by_index;
    for (const auto& m : f.sim.messages()) ++by_index[m.batch_index];
    CHECK(by_index == std::map<std::int32_t, int>{{0, 3}, {1, 2}, {2, 2}});
    CHECK(f.producer->stats().auto_batches == 1 + 3);
  }
  SUBCASE("bytes") {
    rmq::producer_config config = batching(100);
    // Each record: 22 bytes + a 6-byte body + UNIQ_KEY and WAIT (~60 bytes): two fit, not three.
    config.auto_batch->max_bytes = 200;
    producer_fixture f(sim_with(1, sim::personality::v5), std::move(config));
    warm_up(f);
    std::vector<std::future<rmq::send_result>> futures;
    for (int i = 0; i < 6; ++i)
      futures.push_back(f.producer->async_send(numbered(i), asio::use_future));
    CHECK_FALSE(f.producer->flush(10s));
    for (auto& fu : futures) CHECK(fu.get().status == rmq::send_status::send_ok);
    std::map<std::int32_t, int> by_index;
    for (const auto& m : f.sim.messages()) ++by_index[m.batch_index];
    CHECK(by_index == std::map<std::int32_t, int>{{0, 3}, {1, 3}});
  }
}

TEST_CASE("auto batch: a linger of 0 sends what one loop turn gathered") {
  producer_fixture f(sim_with(2, sim::personality::v5),
                     batching(512, std::chrono::microseconds(0)));
  std::vector<std::future<rmq::send_result>> futures;
  for (int i = 0; i < 50; ++i)
    futures.push_back(f.producer->async_send(numbered(i), asio::use_future));
  for (auto& fu : futures) CHECK(fu.get().status == rmq::send_status::send_ok);
  const auto stored = f.sim.messages();
  CHECK(stored.size() == 50);
  for (const auto& m : stored) CHECK(m.request_code == rmq::wire::request_code::send_batch_message);
  CHECK(f.producer->stats().auto_batches >= 1);
  CHECK(f.producer->stats().auto_batches < 50);  // the sends of one turn share a batch
}

TEST_CASE("auto batch: what cannot be batched goes alone, as before") {
  rmq::producer_config config = batching(100, std::chrono::microseconds(0));
  config.compress_threshold = 1000;
  config.auto_batch->max_bytes = 600;
  producer_fixture f(sim_with(1, sim::personality::v5), std::move(config));
  rmq::message delayed("TopicTest", "delayed");
  delayed.set_delay_level(2);
  rmq::message timer("TopicTest", "timer");
  timer.set_delay_time_sec(30);
  const rmq::message compressed("TopicTest", std::string(2000, 'c'));  // above the threshold
  const rmq::message too_big("TopicTest", std::string(700, 'b'));      // above max_bytes
  rmq::message no_wait("TopicTest", "no-wait");
  no_wait.set_wait_store_msg_ok(false);
  CHECK(f.producer->send(delayed).status == rmq::send_status::send_ok);
  CHECK(f.producer->send(timer).status == rmq::send_status::send_ok);
  CHECK(f.producer->send(compressed).status == rmq::send_status::send_ok);
  CHECK(f.producer->send(too_big).status == rmq::send_status::send_ok);
  CHECK(f.producer->send(no_wait).status == rmq::send_status::send_ok);
  CHECK_FALSE(f.producer->send_oneway(rmq::message("TopicTest", "oneway")));
  // And a plain one, batched.
  CHECK(f.producer->send(rmq::message("TopicTest", "plain")).status == rmq::send_status::send_ok);
  REQUIRE(f.sim.wait_for_messages(7, 5s));
  for (const auto& m : f.sim.messages()) {
    CAPTURE(m.body.substr(0, 10));
    if (m.body == "plain") {
      CHECK(m.request_code == rmq::wire::request_code::send_batch_message);
    } else {
      CHECK(m.request_code == rmq::wire::request_code::send_message_v2);
      CHECK(m.batch_index == -1);
    }
  }
  CHECK(f.producer->stats().auto_batches == 1);
}

TEST_CASE("auto batch: a member cancelled while its batch gathers leaves it; the others go") {
  producer_fixture f(sim_with(1, sim::personality::v5), batching(3));
  warm_up(f);
  for (const auto type : {asio::cancellation_type::total, asio::cancellation_type::terminal}) {
    CAPTURE(static_cast<int>(type));
    f.sim.clear_messages();
    asio::cancellation_signal signal;
    std::promise<std::error_code> cancelled;
    const std::uint64_t joined = f.producer->stats().auto_batched;
    f.producer->async_send(
        rmq::message("TopicTest", "cancelled"),
        asio::bind_cancellation_slot(
            signal.slot(), [&](std::error_code ec, rmq::send_result) { cancelled.set_value(ec); }));
    // Emitted on the loop (the handler has no executor of its own) after the send's own post
    // ran there, so the send has joined its batch when the cancellation reaches it.
    asio::post(f.producer->get_executor(), [&] {
      CHECK(f.producer->stats().auto_batched == joined + 1);
      signal.emit(type);
    });
    CHECK(cancelled.get_future().get() == asio::error::operation_aborted);
    std::vector<std::future<rmq::send_result>> futures;
    for (int i = 0; i < 3; ++i)
      futures.push_back(f.producer->async_send(numbered(i), asio::use_future));
    for (auto& fu : futures) CHECK(fu.get().status == rmq::send_status::send_ok);
    const auto stored = stored_by_body(f.sim);
    CHECK(stored.size() == 3);
    CHECK(stored.count("cancelled") == 0);
  }
}

TEST_CASE("auto batch: a short timeout makes its batch leave in time; timeouts do not mix") {
  producer_fixture f(sim_with(1, sim::personality::v5), batching(100));
  warm_up(f);
  rmq::send_options hurried;
  hurried.timeout = 400ms;  // a linger of 1 s would take all of it
  auto short_one = f.producer->async_send(numbered(0), hurried, asio::use_future);
  auto short_two = f.producer->async_send(numbered(1), hurried, asio::use_future);
  auto long_one = f.producer->async_send(numbered(2), asio::use_future);
  CHECK(short_one.get().status == rmq::send_status::send_ok);
  CHECK(short_two.get().status == rmq::send_status::send_ok);
  CHECK_FALSE(f.producer->flush(10s));  // the long one's batch gathers for its linger
  CHECK(long_one.get().status == rmq::send_status::send_ok);
  // Two batches: the hurried sends share one, the other has its own budget.
  const auto stored = stored_by_body(f.sim);
  REQUIRE(stored.size() == 3);
  CHECK(stored.at("auto-0").batch_index + stored.at("auto-1").batch_index == 1);
  CHECK(stored.at("auto-2").batch_index == 0);
  CHECK(f.producer->stats().auto_batches == 1 + 2);
}

TEST_CASE("auto batch: stored-but-not-OK results are each member's own, kept over later failures") {
  rmq::producer_config config = batching(3);
  config.fault_tolerance = false;
  config.retry_another_broker_when_not_stored_ok = true;
  config.retries_async = 1;  // two attempts: broker-a stores each batch once
  producer_fixture f(sim_with(2, sim::personality::v5), std::move(config));
  warm_up(f);
  // broker-a stores but answers FLUSH_DISK_TIMEOUT, broker-b refuses: whichever a batch meets
  // first, its result is broker-a's stored-not-OK one, per member.
  f.sim.set_broker_faults("broker-a", {.error_code = rmq::wire::response_code::flush_disk_timeout});
  f.sim.set_broker_faults("broker-b", {.error_code = rmq::wire::response_code::system_busy});
  std::vector<std::future<rmq::send_result>> futures;
  for (int i = 0; i < 3; ++i)
    futures.push_back(f.producer->async_send(numbered(i), asio::use_future));
  const auto results = [&] {
    std::vector<rmq::send_result> out;
    for (auto& fu : futures) out.push_back(fu.get());
    return out;
  }();
  const auto stored = stored_by_body(f.sim);
  REQUIRE(stored.size() == 3);
  std::set<std::int64_t> offsets;
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    const rmq::send_result& r = results[static_cast<std::size_t>(i)];
    const sim::stored_message& m = stored.at("auto-" + std::to_string(i));
    CHECK(r.status == rmq::send_status::flush_disk_timeout);
    CHECK(r.queue.broker_name == "broker-a");
    CHECK(r.queue_offset == m.queue_offset);
    CHECK(r.offset_msg_id.view() == m.offset_msg_id);
    offsets.insert(r.queue_offset);
  }
  CHECK(offsets.size() == 3);
}

TEST_CASE("auto batch: an ordered batch retries on its own queue") {
  producer_fixture f(sim_with(1, sim::personality::v5), batching(4));
  warm_up(f);
  // Every other send request is refused: a batch whose attempt meets a refusal retries.
  f.sim.set_broker_faults("*",
                          {.error_code = rmq::wire::response_code::system_busy, .every_nth = 2});
  rmq::send_options to_queue_3;
  to_queue_3.queue = rmq::message_queue{"TopicTest", "broker-a", 3};
  std::vector<std::future<rmq::send_result>> futures;
  for (int i = 0; i < 8; ++i) {
    futures.push_back(f.producer->async_send(numbered(i), to_queue_3, asio::use_future));
  }
  for (auto& fu : futures) {
    const rmq::send_result r = fu.get();
    CHECK(r.status == rmq::send_status::send_ok);
    CHECK(r.queue.queue_id == 3);
  }
  for (const auto& m : f.sim.messages()) CHECK(m.queue_id == 3);
  CHECK(f.producer->stats().retries >= 1);
}

TEST_CASE("auto batch: a failed batch retries its messages on another broker") {
  rmq::producer_config config = batching(4);
  config.fault_tolerance = false;  // round robin alternates: one of the batches meets broker-a
  producer_fixture f(sim_with(2, sim::personality::v5), std::move(config));
  warm_up(f);
  f.sim.set_broker_faults("broker-a", {.error_code = rmq::wire::response_code::system_busy});
  // Five batches of four: the round robin over both brokers' queues meets broker-a.
  std::vector<std::future<rmq::send_result>> futures;
  for (int i = 0; i < 20; ++i)
    futures.push_back(f.producer->async_send(numbered(i), asio::use_future));
  int retried = 0;
  for (auto& fu : futures) {
    const rmq::send_result r = fu.get();
    CHECK(r.status == rmq::send_status::send_ok);
    CHECK(r.queue.broker_name == "broker-b");
    if (r.attempts == 2) ++retried;
  }
  CHECK(retried >= 4);
  const auto stored = stored_by_body(f.sim);
  CHECK(stored.size() == 20);
  for (const auto& [body, m] : stored) CHECK(m.broker_name == "broker-b");
}

TEST_CASE("auto batch: a batch that fails everywhere fails each of its messages with the error") {
  rmq::producer_config config = batching(3);
  producer_fixture f(sim_with(1, sim::personality::v5), std::move(config));
  warm_up(f);
  f.sim.set_broker_faults("*", {.error_code = rmq::wire::response_code::message_illegal,
                                .error_remark = std::string("refused by the test")});
  std::vector<std::promise<std::pair<std::error_code, rmq::send_result>>> done(3);
  for (int i = 0; i < 3; ++i) {
    f.producer->async_send(numbered(i), [&, i](std::error_code ec, rmq::send_result r) {
      done[static_cast<std::size_t>(i)].set_value({ec, std::move(r)});
    });
  }
  for (auto& d : done) {
    const auto [ec, r] = d.get_future().get();
    CHECK(ec == rmq::make_broker_error(rmq::wire::response_code::message_illegal));
    CHECK(r.attempts == 1);
    CHECK(r.diagnostics.remark == "refused by the test");
  }
  CHECK(f.sim.messages().empty());
}

TEST_CASE("auto batch: ordered sends batch per queue and keep it") {
  producer_fixture f(sim_with(1, sim::personality::v5), batching(4));
  warm_up(f);
  const auto to_queue = [](std::size_t wanted) {
    rmq::send_options options;
    options.selector = [wanted](std::span<const rmq::message_queue> queues, const rmq::message&) {
      return wanted % queues.size();
    };
    return options;
  };
  std::vector<std::future<rmq::send_result>> futures;
  for (int i = 0; i < 8; ++i) {
    futures.push_back(
        f.producer->async_send(numbered(i), to_queue(i % 2 == 0 ? 1 : 2), asio::use_future));
  }
  for (auto& fu : futures) CHECK(fu.get().status == rmq::send_status::send_ok);
  const auto stored = stored_by_body(f.sim);
  REQUIRE(stored.size() == 8);
  for (int i = 0; i < 8; ++i) {
    const auto& m = stored.at("auto-" + std::to_string(i));
    CHECK(m.queue_id == (i % 2 == 0 ? 1 : 2));
    CHECK(m.request_code == rmq::wire::request_code::send_batch_message);
  }
  CHECK(f.producer->stats().auto_batches == 1 + 2);
}

TEST_CASE("auto batch: hooks run once per message and their properties reach its record") {
  struct tagging_hook : rmq::send_hook {
    void before_send(rmq::send_context& context) override {
      (void)context.add_property("hooked", std::string(context.msg().body()));
    }
    void after_send(const rmq::send_context&, const rmq::send_outcome& outcome) override {
      if (!outcome.error) ++completed;
    }
    std::atomic<int> completed{0};
  };
  auto hook = std::make_shared<tagging_hook>();
  rmq::producer_config config = batching(4);
  config.send_hooks.push_back(hook);
  producer_fixture f(sim_with(1, sim::personality::v5), std::move(config));
  std::vector<std::future<rmq::send_result>> futures;
  for (int i = 0; i < 4; ++i)
    futures.push_back(f.producer->async_send(numbered(i), asio::use_future));
  for (auto& fu : futures) CHECK(fu.get().status == rmq::send_status::send_ok);
  CHECK(hook->completed == 4);
  for (const auto& m : f.sim.messages()) {
    CHECK(m.request_code == rmq::wire::request_code::send_batch_message);
    CHECK(m.property("hooked") == m.body);
  }
}

TEST_CASE("auto batch: a namespaced producer's batch") {
  rmq::producer_config config = batching(2);
  config.name_space = "ns1";
  producer_fixture f(sim_with(1, sim::personality::v5, {"ns1%TopicTest"}), std::move(config));
  auto a = f.producer->async_send(numbered(0), asio::use_future);
  auto b = f.producer->async_send(numbered(1), asio::use_future);
  CHECK(a.get().queue.topic == "TopicTest");
  CHECK(b.get().queue.topic == "TopicTest");
  for (const auto& m : f.sim.messages()) {
    CHECK(m.topic == "ns1%TopicTest");
    CHECK(m.producer_group == "ns1%TestGroup");
    CHECK(m.request_code == rmq::wire::request_code::send_batch_message);
  }
}

TEST_CASE("auto batch: every send completes exactly once while connections are reset") {
  rmq::producer_config config = batching(16, std::chrono::microseconds(200));
  config.send_timeout = 5s;
  producer_fixture f(sim_with(2, sim::personality::v5), std::move(config));
  warm_up(f);
  // broker-a resets its connection at every 5th batch: those batches fail and retry elsewhere.
  f.sim.set_broker_faults("broker-a", {.reset_after = 5});
  constexpr int sends = 1000;
  std::atomic<int> completions{0};
  std::vector<std::promise<std::error_code>> done(sends);
  for (int i = 0; i < sends; ++i) {
    f.producer->async_send(numbered(i), [&, i](std::error_code ec, rmq::send_result) {
      completions.fetch_add(1);
      done[static_cast<std::size_t>(i)].set_value(ec);  // a second completion would throw
    });
  }
  int succeeded = 0;
  for (auto& d : done) {
    if (!d.get_future().get()) ++succeeded;
  }
  CHECK(completions == sends);
  CHECK_FALSE(f.producer->flush(10s));
  CHECK(completions == sends);                         // none completed twice
  CHECK(f.producer->stats().handler_exceptions == 0);  // a second set_value would have thrown
  // Every success is stored (a reset batch may have been stored before its reset, too).
  const auto stored = stored_by_body(f.sim);
  CHECK(static_cast<int>(stored.size()) >= succeeded);
  CHECK(succeeded > 0);
  CHECK(f.producer->stats().in_flight == 0);
}

TEST_CASE(
    "auto batch: once its batch is written, terminal cancellation ends a message, total not") {
  producer_fixture f(sim_with(1, sim::personality::v5), batching(3));
  warm_up(f);
  // Stored at once, answered 500 ms later: the batch is written and waits for its response.
  f.sim.set_broker_faults("*", {.latency_min = 500ms, .latency_max = 500ms});
  asio::cancellation_signal terminal_signal, total_signal;
  std::promise<std::pair<std::error_code, rmq::send_result>> terminal_done, total_done;
  f.producer->async_send(numbered(0),
                         asio::bind_cancellation_slot(terminal_signal.slot(),
                                                      [&](std::error_code ec, rmq::send_result r) {
                                                        terminal_done.set_value({ec, std::move(r)});
                                                      }));
  f.producer->async_send(numbered(1),
                         asio::bind_cancellation_slot(total_signal.slot(),
                                                      [&](std::error_code ec, rmq::send_result r) {
                                                        total_done.set_value({ec, std::move(r)});
                                                      }));
  auto third = f.producer->async_send(numbered(2), asio::use_future);
  REQUIRE(f.sim.wait_for_messages(3, 10s));  // the broker has the batch
  terminal_signal.emit(asio::cancellation_type::terminal);
  total_signal.emit(asio::cancellation_type::total);
  const auto [terminal_ec, terminal_result] = terminal_done.get_future().get();
  CHECK(terminal_ec == asio::error::operation_aborted);
  CHECK(terminal_result.diagnostics.remark.find("may store") != std::string::npos);
  const auto [total_ec, total_result] = total_done.get_future().get();
  CHECK_FALSE(total_ec);
  CHECK(total_result.status == rmq::send_status::send_ok);
  CHECK(third.get().status == rmq::send_status::send_ok);
}

TEST_CASE("auto batch: blocking sends from several threads share batches") {
  producer_fixture f(sim_with(1, sim::personality::v5), batching(4));
  warm_up(f);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      if (f.producer->send(numbered(t)).status == rmq::send_status::send_ok) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 4);
  for (const auto& m : f.sim.messages()) {
    CHECK(m.request_code == rmq::wire::request_code::send_batch_message);
  }
  CHECK(f.producer->stats().auto_batched == 1 + 4);
}

TEST_CASE("auto batch: a shutdown sends the batches still gathering") {
  producer_fixture f(sim_with(1, sim::personality::v5), batching(100));
  warm_up(f);
  std::promise<std::error_code> done;
  f.producer->async_send(numbered(0),
                         [&](std::error_code ec, rmq::send_result) { done.set_value(ec); });
  // The linger (1 s) is longer than the grace period: the batch must leave when shutdown starts.
  f.producer->shutdown(std::chrono::milliseconds(800));
  CHECK_FALSE(done.get_future().get());
  CHECK(f.sim.messages().size() == 1);
}

TEST_CASE(
    "auto batch: handlers that send again while batches fail complete each send once, "
    "never inside an initiating call") {
  rmq::producer_config config = batching(8, std::chrono::microseconds(0));
  config.send_timeout = 400ms;
  producer_fixture f(sim_with(2, sim::personality::v5), std::move(config));
  warm_up(f);
  // Every batch resets its connection: attempts fail, reconnects back off, later ones fail fast.
  f.sim.set_broker_faults("*", {.reset_after = 1});
  struct state {
    std::atomic<int> completions{0};
    std::atomic<int> nested{0};  // handlers run inside an async_send of this test
    int started = 0;             // loop thread only
  } s;
  constexpr int first_wave = 64;
  constexpr int limit = 400;
  static thread_local bool initiating = false;
  std::promise<void> all_done;
  std::function<void(int)> start = [&](int i) {
    ++s.started;
    const bool outer = std::exchange(initiating, true);
    f.producer->async_send(numbered(i), [&, i](std::error_code, rmq::send_result) {
      if (initiating) ++s.nested;
      // Each failure or success starts another send, from inside the batch's completion.
      if (s.started < limit) start(limit + i);
      if (++s.completions == limit) all_done.set_value();
    });
    initiating = outer;
  };
  asio::post(f.producer->get_executor(), [&] {
    for (int i = 0; i < first_wave; ++i) start(i);
  });
  all_done.get_future().wait();
  CHECK(s.nested == 0);
  CHECK(s.completions == limit);
  f.sim.set_broker_faults("*", {});
  CHECK_FALSE(f.producer->flush(10s));
  CHECK(s.completions == limit);  // none completed twice
  CHECK(f.producer->stats().handler_exceptions == 0);
  CHECK(f.producer->stats().in_flight == 0);
}

TEST_CASE("auto batch: a full gate refuses at once (fail_fast_when_full), and counts right") {
  rmq::producer_config config = batching(8, std::chrono::microseconds(0));
  config.max_in_flight_sends = 16;
  config.fail_fast_when_full = true;
  producer_fixture f(sim_with(1, sim::personality::v5), std::move(config));
  warm_up(f);
  // Sends started on the loop (from a posted function and from handlers) are admitted there,
  // on the path that joins batches without a coroutine.
  std::atomic<int> refused{0}, stored{0}, other{0};
  constexpr int sends = 200;
  std::promise<void> all_done;
  std::atomic<int> completions{0};
  const auto done = [&](std::error_code ec) {
    if (!ec) {
      ++stored;
    } else if (ec == rmq::errc::backpressure_full) {
      ++refused;
    } else {
      ++other;
    }
    if (++completions == sends) all_done.set_value();
  };
  asio::post(f.producer->get_executor(), [&] {
    for (int i = 0; i < sends; ++i) {
      f.producer->async_send(numbered(i), [&](std::error_code ec, rmq::send_result) { done(ec); });
    }
  });
  all_done.get_future().wait();
  CHECK(refused > 0);  // 200 sends in one turn, room for 16
  CHECK(other == 0);
  CHECK(stored + refused == sends);
  CHECK_FALSE(f.producer->flush(10s));
  const rmq::producer_stats s = f.producer->stats();
  CHECK(s.in_flight == 0);
  CHECK(s.in_flight_bytes == 0);
  CHECK(static_cast<int>(f.sim.messages().size()) == stored);
}
