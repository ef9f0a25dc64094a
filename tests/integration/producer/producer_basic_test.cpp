// The producer's API forms against rmq-sim: every form is an adaptor over the same pipeline.
#include "common/frame_pool.hpp"
#include "producer_fixture.hpp"
#include "wire/codes.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <map>
#include <set>

using namespace std::chrono_literals;
using rmq::test::on_loop;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

rmq::message sample(int i = 0) {
  rmq::message msg("TopicTest", "hello " + std::to_string(i));
  msg.set_tags("TagA");
  msg.set_keys("key" + std::to_string(i));
  msg.put_property("color", "blue");
  return msg;
}

void check_stored(const sim::stored_message& stored, const rmq::message& sent,
                  const rmq::send_result& result) {
  CHECK(stored.topic == sent.topic());
  CHECK(stored.tags == sent.tags());
  CHECK(stored.keys == sent.keys());
  CHECK(stored.body == sent.body());
  CHECK(stored.property("color") == std::optional<std::string_view>("blue"));
  CHECK(stored.property("UNIQ_KEY") == std::optional<std::string_view>(result.msg_id.view()));
  CHECK(stored.offset_msg_id == result.offset_msg_id.view());
  CHECK(stored.queue_id == result.queue.queue_id);
  CHECK(stored.broker_name == result.queue.broker_name);
  CHECK(stored.queue_offset == result.queue_offset);
}

}  // namespace

TEST_CASE("blocking send against both personalities and both serializations") {
  for (auto version : {sim::personality::v4_9, sim::personality::v5}) {
    for (auto serialization :
         {rmq::header_serialization::json, rmq::header_serialization::binary}) {
      CAPTURE(static_cast<int>(version));
      CAPTURE(static_cast<int>(serialization));
      rmq::producer_config config;
      config.serialization = serialization;
      producer_fixture f(sim_with(1, version), config);
      const rmq::message msg = sample();
      const rmq::send_result result = f.producer->send(msg);
      CHECK(result.status == rmq::send_status::send_ok);
      CHECK(result.msg_id.size() == 32);
      CHECK(result.attempts == 1);
      CHECK(result.region_id == "DefaultRegion");
      if (version == sim::personality::v5) {
        CHECK(result.transaction_id == result.msg_id.view());
      } else {
        CHECK(result.transaction_id.empty());
      }
      const auto stored = f.sim.messages();
      REQUIRE(stored.size() == 1);
      check_stored(stored[0], msg, result);
      CHECK(stored[0].serialization ==
            (serialization == rmq::header_serialization::binary ? 1 : 0));
      CHECK(stored[0].request_code == rmq::wire::request_code::send_message_v2);
      CHECK(stored[0].producer_group == "TestGroup");
    }
  }
}

TEST_CASE(
    "a message's own UNIQ_KEY is sent and returned as msgId; the next send gets a fresh one") {
  producer_fixture f(sim_with(1, sim::personality::v4_9));
  rmq::message own = sample(7);
  own.set_uniq_key("MY-OWN-KEY-0001");
  const rmq::send_result first = f.producer->send(own);
  CHECK(first.msg_id.view() == "MY-OWN-KEY-0001");
  // The same pooled op serves the next send: it must not keep the previous message's key.
  const rmq::message plain = sample(8);
  const rmq::send_result second = f.producer->send(plain);
  CHECK(second.msg_id.size() == 32);
  CHECK(second.msg_id.view() != first.msg_id.view());
  const auto stored = f.sim.messages();
  REQUIRE(stored.size() == 2);
  check_stored(stored[0], own, first);
  check_stored(stored[1], plain, second);
}

TEST_CASE("callback, future and oneway forms") {
  producer_fixture f(sim_with(2, sim::personality::v4_9));
  const rmq::message msg = sample(1);

  std::promise<std::pair<std::error_code, rmq::send_result>> done;
  f.producer->async_send(msg, [&](std::error_code ec, rmq::send_result r) {
    done.set_value({ec, std::move(r)});
  });
  auto [ec, result] = done.get_future().get();
  REQUIRE_FALSE(ec);
  CHECK(result.status == rmq::send_status::send_ok);

  std::future<rmq::send_result> future = f.producer->async_send(msg, asio::use_future);
  const rmq::send_result second = future.get();
  CHECK(second.msg_id.view() != result.msg_id.view());  // one UNIQ_KEY per send

  CHECK_FALSE(f.producer->send_oneway(msg));
  CHECK(f.sim.wait_for_messages(3, 5s));
}

TEST_CASE("a coroutine on the producer's executor and one on the user's own io_context") {
  producer_fixture f(sim_with(2, sim::personality::v5));
  const rmq::message msg = sample(2);
  std::promise<int> on_loop;
  asio::co_spawn(
      f.producer->get_executor(),
      [&]() -> asio::awaitable<int> {
        int ok = 0;
        for (int i = 0; i < 50; ++i) {
          rmq::send_result r = co_await f.producer->async_send(msg, asio::use_awaitable);
          if (r.status == rmq::send_status::send_ok) ++ok;
        }
        co_return ok;
      },
      [&](std::exception_ptr e, int ok) {
        if (e) ok = -1;
        on_loop.set_value(ok);
      });
  CHECK(on_loop.get_future().get() == 50);

  asio::io_context user_context;
  int ok = 0;
  std::thread::id resumed_on;
  asio::co_spawn(
      user_context,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 20; ++i) {
          rmq::send_result r = co_await f.producer->async_send(msg, asio::use_awaitable);
          resumed_on = std::this_thread::get_id();
          if (r.status == rmq::send_status::send_ok) ++ok;
        }
      },
      asio::detached);
  user_context.run();
  CHECK(ok == 20);
  CHECK((resumed_on == std::this_thread::get_id()));  // completions hop back to the user thread
}

TEST_CASE("blocking send on the loop thread is an error, not a deadlock") {
  producer_fixture f(sim_with(1, sim::personality::v4_9));
  CHECK(on_loop(*f.producer, [&] {
          std::error_code ec;
          (void)f.producer->send(sample(), ec);
          return ec;
        }) == rmq::errc::blocking_call_on_loop_thread);
}

TEST_CASE("round robin over the queues of several brokers") {
  rmq::producer_config config;
  config.fault_tolerance = false;
  producer_fixture f(sim_with(3, sim::personality::v4_9), config);
  const rmq::message msg = sample();
  for (int i = 0; i < 120; ++i) (void)f.producer->send(msg);
  std::map<std::pair<std::string, int>, int> per_queue;
  for (const auto& m : f.sim.messages()) ++per_queue[{m.broker_name, m.queue_id}];
  REQUIRE(per_queue.size() == 12);  // 3 brokers × 4 queues
  int lo = 1 << 30, hi = 0;
  for (const auto& [queue, count] : per_queue) {
    lo = std::min(lo, count);
    hi = std::max(hi, count);
  }
  CHECK(hi - lo <= 1);
}

TEST_CASE("explicit queue and selector sends stay on their queue") {
  producer_fixture f(sim_with(2, sim::personality::v4_9));
  std::vector<rmq::message_queue> queues;
  REQUIRE_FALSE(f.producer->fetch_queues("TopicTest", queues));
  REQUIRE(queues.size() == 8);
  const rmq::message msg = sample();
  std::error_code ec;
  for (int i = 0; i < 5; ++i) {
    const auto r = f.producer->send(msg, queues[5], ec);
    REQUIRE_FALSE(ec);
    CHECK(r.queue == queues[5]);
  }
  const rmq::queue_selector by_key = [](std::span<const rmq::message_queue> qs,
                                        const rmq::message& m) {
    return std::hash<std::string>{}(m.keys()) % qs.size();
  };
  std::set<int> used;
  for (int i = 0; i < 5; ++i) {
    const auto r = f.producer->send(msg, by_key, ec);
    REQUIRE_FALSE(ec);
    used.insert(r.queue.queue_id * 10 + (r.queue.broker_name == "broker-a" ? 0 : 1));
  }
  CHECK(used.size() == 1);
}

TEST_CASE("oneway and batch sends to an explicit queue or through a selector, via send_options") {
  // The forms Java has as sendOneway(msg, mq), sendOneway(msg, selector, arg), send(batch, mq)
  // and send(batch, selector, arg): here one options parameter, every form taking it.
  producer_fixture f(sim_with(2, sim::personality::v5));
  std::vector<rmq::message_queue> queues;
  REQUIRE_FALSE(f.producer->fetch_queues("TopicTest", queues));
  REQUIRE(queues.size() == 8);
  const rmq::message_queue target = queues[6];
  const rmq::queue_selector last = [](std::span<const rmq::message_queue> qs, const rmq::message&) {
    return qs.size() - 1;
  };
  std::vector<rmq::message> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(sample(i));
  for (const bool by_selector : {false, true}) {
    CAPTURE(by_selector);
    const std::uint64_t before = f.sim.counters().broker_messages();
    f.sim.clear_messages();
    rmq::send_options options;
    if (by_selector) {
      options.selector = last;
    } else {
      options.queue = target;
    }
    const rmq::message_queue expected = by_selector ? queues.back() : target;
    for (int i = 0; i < 4; ++i) REQUIRE_FALSE(f.producer->send_oneway(sample(i), options));
    std::error_code ec;
    const rmq::send_result r = f.producer->send_batch(batch, options, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.queue == expected);
    // The async forms take the same options.
    std::promise<std::error_code> oneway_done;
    f.producer->async_send_oneway(
        sample(9), options, [&](std::error_code e, rmq::send_result) { oneway_done.set_value(e); });
    CHECK_FALSE(oneway_done.get_future().get());
    REQUIRE(f.sim.wait_for_messages(before + 4 + 3 + 1, 10s));
    const auto stored = f.sim.messages();
    CHECK(stored.size() == 4 + 3 + 1);
    for (const sim::stored_message& m : stored) {
      CHECK(m.broker_name == expected.broker_name);
      CHECK(m.queue_id == expected.queue_id);
    }
  }
}

TEST_CASE("split_batch's runs of a long list are each taken as one batch, every message stored") {
  rmq::producer_config config;
  config.max_message_size = 64 * 1024;
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  std::vector<rmq::message> all;
  for (int i = 0; i < 50; ++i) all.emplace_back("TopicTest", std::string(10'000, 'a' + i % 26));
  const auto runs = rmq::split_batch(all, config.max_message_size);
  CHECK(runs.size() == 9);  // six 10 kB messages per 64 KiB run
  for (const std::span<const rmq::message> run : runs) {
    std::error_code ec;
    (void)f.producer->send_batch(run, ec);
    CHECK_FALSE(ec);
  }
  // Unsplit, the list is refused before any I/O.
  std::error_code ec;
  (void)f.producer->send_batch(all, ec);
  CHECK(ec == rmq::errc::body_too_large);
  const auto stored = f.sim.messages();
  REQUIRE(stored.size() == all.size());
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(stored[i].body == all[i].body());
  CHECK(f.sim.counters().broker_requests(rmq::wire::request_code::send_batch_message) ==
        runs.size());
}

TEST_CASE("batch send stores every message with its own UNIQ_KEY") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  std::vector<rmq::message> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(sample(i));
  std::error_code ec;
  const auto r = f.producer->send_batch(batch, ec);
  REQUIRE_FALSE(ec);
  const auto stored = f.sim.messages();
  REQUIRE(stored.size() == 10);
  std::string ids;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    CHECK(stored[i].body == batch[i].body());
    CHECK(stored[i].request_code == rmq::wire::request_code::send_batch_message);
    if (!ids.empty()) ids += ',';
    ids += std::string(*stored[i].property("UNIQ_KEY"));
  }
  CHECK(r.msg_id.view() == ids);
}

TEST_CASE("compressed bodies arrive intact") {
  for (auto type : {rmq::compression::zlib, rmq::compression::zstd, rmq::compression::lz4}) {
    rmq::producer_config config;
    config.compress_type = type;
    producer_fixture f(sim_with(1, sim::personality::v5), config);
    rmq::message msg("TopicTest", std::string(10000, 'z') + "end");
    (void)f.producer->send(msg);
    const auto stored = f.sim.messages();
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].was_compressed);
    CHECK(stored[0].body == msg.body());
  }
}

TEST_CASE("invalid messages fail before any I/O with a specific error") {
  producer_fixture f(sim_with(1, sim::personality::v4_9));
  std::error_code ec;
  (void)f.producer->send(rmq::message("Topic Bad", "x"), ec);
  CHECK(ec == rmq::errc::topic_illegal_characters);
  (void)f.producer->send(rmq::message("TopicTest", ""), ec);
  CHECK(ec == rmq::errc::body_empty);
  CHECK(f.sim.counters().broker_messages() == 0);
}

TEST_CASE("a missing topic: clear error without auto-create, TBW102 route with it") {
  {
    auto config = sim_with(1, sim::personality::v4_9);
    config.auto_create = false;
    producer_fixture f(config);
    std::error_code ec;
    (void)f.producer->send(rmq::message("NoSuchTopic", "x"), ec);
    CHECK(ec == rmq::errc::no_route);
  }
  {
    producer_fixture f(sim_with(1, sim::personality::v4_9));
    std::error_code ec;
    const auto r = f.producer->send(rmq::message("BrandNewTopic", "x"), ec);
    REQUIRE_FALSE(ec);
    CHECK(r.queue.topic == "BrandNewTopic");
    const auto stored = f.sim.messages();
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].topic == "BrandNewTopic");
  }
}

TEST_CASE("a route beyond route_limits fails its sends with invalid_route_data; raised, it sends") {
  // A topic of 2,000 write queues on one broker: above the default 1,024 per broker.
  auto config = sim_with(1, sim::personality::v4_9);
  config.topics.push_back({.name = "WideTopic", .read_queues = 2000, .write_queues = 2000});
  {
    producer_fixture f(config);
    std::error_code ec;
    (void)f.producer->send(rmq::message("WideTopic", "x"), ec);
    CHECK(ec == rmq::errc::invalid_route_data);
    CHECK(f.sim.counters().broker_messages() == 0);
    // Another topic of the same producer is not affected.
    (void)f.producer->send(sample(), ec);
    CHECK_FALSE(ec);
  }
  {
    rmq::producer_config client;
    client.route_limits.max_queues_per_broker = 2048;
    producer_fixture f(config, client);
    std::error_code ec;
    const auto r = f.producer->send(rmq::message("WideTopic", "x"), ec);
    REQUIRE_FALSE(ec);
    CHECK(r.queue.queue_id < 2000);
  }
}

TEST_CASE("the background refresh leaves a topic without a route to its next send") {
  // Sends that find a topic's query running wait for it; a refresh's query has the refresh
  // interval for its deadline, not their send timeout, so it must not be the one they wait for.
  auto config = sim_with(1, sim::personality::v4_9);
  config.auto_create = false;
  rmq::producer_config client;
  client.route_refresh_interval = 100ms;
  producer_fixture f(config, client);
  std::error_code ec;
  (void)f.producer->send(sample(), ec);
  REQUIRE_FALSE(ec);
  (void)f.producer->send(rmq::message("NoSuchTopic", "x"), ec);
  REQUIRE(ec == rmq::errc::no_route);
  const auto before = f.sim.counters().namesrv;
  REQUIRE(before.route_not_found >= 1);
  // Three refreshes of the known topic; every one of them would have asked for the other too.
  REQUIRE(f.sim.wait_until(
      [&](const sim::sim_counters& c) {
        return c.namesrv.route_standard >= before.route_standard + 3;
      },
      10s));
  CHECK(f.sim.counters().namesrv.route_not_found == before.route_not_found);
  // The next send asks again.
  (void)f.producer->send(rmq::message("NoSuchTopic", "x"), ec);
  CHECK(ec == rmq::errc::no_route);
  CHECK(f.sim.counters().namesrv.route_not_found > before.route_not_found);
}

TEST_CASE(
    "topics unused for route_idle_timeout leave the route cache, with brokers only they used") {
  // TopicTest and the idle topics live on broker-a, Solo on broker-b alone; Missing has no route.
  constexpr int idle_topics = 20;
  sim::sim_config config;
  config.brokers = sim::default_brokers(2, 0);
  config.auto_create = false;
  config.topics.push_back({.name = "TopicTest", .brokers = {"broker-a"}});
  config.topics.push_back({.name = "Solo", .brokers = {"broker-b"}});
  std::vector<std::string> idle{"Solo", "Missing"};
  for (int i = 0; i < idle_topics; ++i) {
    idle.push_back("Idle" + std::to_string(i));
    config.topics.push_back({.name = idle.back(), .brokers = {"broker-a"}});
  }
  rmq::producer_config client;
  client.route_refresh_interval = 50ms;
  client.heartbeat_interval = 50ms;
  client.route_idle_timeout = 1s;
  producer_fixture f(config, client);
  const auto heartbeats_to = [&](std::string_view name) {
    for (const auto& [broker, counters] : f.sim.counters().brokers) {
      if (broker == name) return counters.count(rmq::wire::request_code::heart_beat);
    }
    return std::uint64_t{0};
  };
  for (const std::string& topic : idle) {
    CHECK(f.producer->send(sample()).status == rmq::send_status::send_ok);  // kept busy
    std::error_code ec;
    (void)f.producer->send(rmq::message(topic, "x"), ec);
    CHECK(ec == (topic == "Missing" ? make_error_code(rmq::errc::no_route) : std::error_code{}));
  }
  // TopicTest is sent to all along: every sweep sees it used. The others are sent to no more.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (f.producer->stats().evicted_topics < idle.size() &&
         std::chrono::steady_clock::now() < deadline) {
    CHECK(f.producer->send(sample()).status == rmq::send_status::send_ok);
  }
  CHECK(f.producer->stats().evicted_topics == idle.size());
  CHECK(f.producer->stats().cached_topics == 1);

  // broker-b, named by Solo alone, is forgotten: no more heartbeats while broker-a gets five.
  const std::uint64_t to_b = heartbeats_to("broker-b");
  const std::uint64_t to_a = heartbeats_to("broker-a");
  REQUIRE(f.sim.wait_until(
      [&](const sim::sim_counters&) { return heartbeats_to("broker-a") >= to_a + 5; }, 20s));
  CHECK(heartbeats_to("broker-b") <= to_b + 1);  // one may have been on its way

  // Forgotten means asked again: Solo's route comes back, broker-b is registered afresh.
  const rmq::send_result again = f.producer->send(rmq::message("Solo", "again"));
  CHECK(again.queue.broker_name == "broker-b");
  CHECK(f.producer->stats().cached_topics == 2);
  CHECK(f.producer->stats().evicted_topics == idle.size());
  CHECK(f.sim.wait_until(
      [&](const sim::sim_counters&) { return heartbeats_to("broker-b") > to_b + 1; }, 20s));
}

TEST_CASE("a send that outlives its topic's idle timeout puts the route back for its retry") {
  // Every second send request to broker-a goes unanswered: the second send's first attempt
  // waits out its share of the budget (1 s) while refreshes forget the topic (idle 100 ms).
  sim::sim_config config = sim_with(1, sim::personality::v4_9);
  rmq::producer_config client;
  client.route_refresh_interval = 20ms;
  client.route_idle_timeout = 100ms;
  client.send_timeout = 3s;
  producer_fixture f(config, client);
  f.sim.set_broker_faults("broker-a", {.every_nth = 2, .silent = true});
  CHECK(f.producer->send(sample()).attempts == 1);
  std::error_code ec;
  const rmq::send_result result = f.producer->send(sample(), ec);
  CHECK_FALSE(ec);
  CHECK(result.attempts == 2);
  CHECK(f.producer->stats().evicted_topics >= 1);
}

TEST_CASE("route_idle_timeout 0 keeps every topic, as the Java client does") {
  rmq::producer_config client;
  client.route_refresh_interval = 50ms;
  client.route_idle_timeout = 0ms;
  producer_fixture f(sim_with(1, sim::personality::v4_9, {"TopicTest", "Other"}), client);
  CHECK(f.producer->send(rmq::message("Other", "x")).status == rmq::send_status::send_ok);
  CHECK(f.producer->send(sample()).status == rmq::send_status::send_ok);
  // Ten refreshes of both topics (two queries each) with neither sent to.
  const auto before = f.sim.counters().namesrv.route_standard;
  REQUIRE(f.sim.wait_until(
      [&](const sim::sim_counters& c) { return c.namesrv.route_standard >= before + 20; }, 20s));
  CHECK(f.producer->stats().evicted_topics == 0);
  CHECK(f.producer->stats().cached_topics == 2);
}

TEST_CASE("the first sends of a topic share one NameServer query") {
  producer_fixture f(sim_with(2, sim::personality::v4_9));
  std::vector<std::future<rmq::send_result>> futures;
  const rmq::message msg = sample();
  for (int i = 0; i < 100; ++i) futures.push_back(f.producer->async_send(msg, asio::use_future));
  for (auto& fu : futures) CHECK(fu.get().status == rmq::send_status::send_ok);
  CHECK(f.producer->stats().route_queries == 1);
}

TEST_CASE("sends waiting for their topic's first route take no coroutine frame beyond their own") {
  // Started in one loop turn, before the NameServer can answer: every send waits for the one
  // query, in a node inside its own frame (a burst of first sends at start-up must not cost a
  // second frame each, which the pool would keep for good).
  producer_fixture f(sim_with(1, sim::personality::v4_9));
  constexpr int sends = 500;
  const rmq::message msg = sample();
  std::atomic<int> succeeded{0};
  std::atomic<int> completed{0};
  std::promise<void> all_done;
  std::promise<std::size_t> frames_waiting;
  asio::post(f.producer->get_executor(), [&] {
    const rmq::frame_pool& pool = *rmq::frame_pool::current();
    const std::size_t before = pool.frames_in_use();
    for (int i = 0; i < sends; ++i) {
      f.producer->async_send(msg, [&](std::error_code ec, rmq::send_result) {
        if (!ec) ++succeeded;
        if (++completed == sends) all_done.set_value();
      });
    }
    frames_waiting.set_value(pool.frames_in_use() - before);
  });
  const std::size_t frames = frames_waiting.get_future().get();
  // One frame per send, and the query's own few (the query, its NameServer request).
  CHECK(frames >= sends);
  CHECK(frames < sends + 8);
  all_done.get_future().wait();
  CHECK(succeeded == sends);
  CHECK(f.producer->stats().route_queries == 1);
}

TEST_CASE("heartbeats register the client; shutdown unregisters it") {
  auto config = sim_with(2, sim::personality::v5);
  std::vector<sim::client_record> after;
  {
    producer_fixture f(config);
    (void)f.producer->send(sample());
    REQUIRE(f.sim.wait_until(
        [](const sim::sim_counters& c) {
          return c.broker_requests(rmq::wire::request_code::heart_beat) >= 2;
        },
        5s));
    f.producer->shutdown(3s);
    after = f.sim.clients();
    CHECK(f.sim.counters().broker_requests(rmq::wire::request_code::unregister_client) == 2);
  }
  REQUIRE_FALSE(after.empty());
}

TEST_CASE("configuration is validated at start with clear errors") {
  auto start_with = [](rmq::producer_config config) {
    rmq::producer p(std::move(config));
    return p.start();
  };
  rmq::producer_config ok;
  ok.name_servers = "127.0.0.1:9876";
  ok.group = "G";
  {
    auto c = ok;
    c.protocol_version = 32768;  // the binary header carries it as a short
    CHECK(start_with(c) == rmq::errc::configuration_invalid);
  }
  {
    auto c = ok;
    c.group = "DEFAULT_PRODUCER";
    CHECK(start_with(c) == rmq::errc::group_reserved);
  }
  {
    auto c = ok;
    c.send_timeout = std::chrono::milliseconds(0);
    CHECK(start_with(c) == rmq::errc::configuration_invalid);
  }
  {
    auto c = ok;
    c.name_servers = "";
    if (std::getenv("NAMESRV_ADDR") == nullptr) {
      CHECK(start_with(c) == rmq::errc::no_name_server);
    }
  }
  {
    auto c = ok;
    c.busy_poll = std::chrono::seconds(2);  // more than a second of spinning is a mistake
    CHECK(start_with(c) == rmq::errc::configuration_invalid);
    c.busy_poll = std::chrono::microseconds(-1);
    CHECK(start_with(c) == rmq::errc::configuration_invalid);
  }
  {
    auto c = ok;
    c.name_servers = "127.0.0.1:notaport";
    CHECK(start_with(c) == rmq::errc::configuration_invalid);
  }
  {
    rmq::producer p(ok);
    std::error_code ec;
    (void)p.send(rmq::message("TopicTest", "x"), ec);
    CHECK(ec == rmq::errc::not_started);
  }
}

TEST_CASE("two loop threads: sends are spread over both and all complete") {
  rmq::producer_config config;
  config.loop_threads = 2;
  producer_fixture f(sim_with(2, sim::personality::v4_9), config);
  std::vector<std::future<rmq::send_result>> futures;
  const rmq::message msg = sample();
  for (int i = 0; i < 200; ++i) futures.push_back(f.producer->async_send(msg, asio::use_future));
  for (auto& fu : futures) CHECK(fu.get().status == rmq::send_status::send_ok);
  CHECK(f.sim.wait_for_messages(200, 10s));
}

TEST_CASE("a busy-polling loop: every form of send completes, and shutdown ends the polling") {
  rmq::producer_config config;
  config.busy_poll = std::chrono::milliseconds(200);
  producer_fixture f(sim_with(2, sim::personality::v5), config);
  const rmq::message msg = sample();
  std::vector<std::future<rmq::send_result>> futures;
  for (int i = 0; i < 200; ++i) futures.push_back(f.producer->async_send(msg, asio::use_future));
  for (auto& fu : futures) CHECK(fu.get().status == rmq::send_status::send_ok);
  CHECK(f.producer->send(msg).status == rmq::send_status::send_ok);
  CHECK_FALSE(f.producer->send_oneway(msg));
  CHECK(f.sim.wait_for_messages(202, 10s));
}
