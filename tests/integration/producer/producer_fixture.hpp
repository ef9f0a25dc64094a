// A producer against an in-process rmq-sim over loopback.
#pragma once

#include "rmq/producer.hpp"
#include "simulator.hpp"

#include <asio/post.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rmq::test {

inline sim::sim_config sim_with(std::size_t brokers, sim::personality version,
                                std::vector<std::string> topics = {"TopicTest"}) {
  sim::sim_config config;
  config.brokers = sim::default_brokers(brokers, 0);
  config.version = version;
  for (auto& t : topics) config.topics.push_back({.name = t});
  return config;
}

/// "4.9" or "5", for CAPTURE.
inline const char* version_name(sim::personality version) {
  return version == sim::personality::v5 ? "5" : "4.9";
}

struct producer_fixture {
  explicit producer_fixture(sim::sim_config sim_config, producer_config config = {})
      : sim(std::move(sim_config)) {
    sim.start();
    config.name_servers = sim.namesrv_address();
    if (config.group == "DEFAULT_PRODUCER_GROUP") config.group = "TestGroup";
    producer = std::make_unique<rmq::producer>(std::move(config));
    const std::error_code ec = producer->start();
    if (ec) throw std::system_error(ec);
  }
  ~producer_fixture() {
    producer->shutdown(std::chrono::seconds(3));
    producer.reset();
    sim.stop();
  }

  sim::simulator sim;
  std::unique_ptr<rmq::producer> producer;
};

/// Whether `text` (a captured log, an error's message) contains `part`.
inline bool mentions(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

/// One of each kind of request a producer sends for messages, each checked: a send, a batch of
/// three, a oneway send and a committed transaction (to TopicTest and TxTopic).
inline void send_every_kind(rmq::producer& producer) {
  std::error_code ec;
  const rmq::send_result r = producer.send(rmq::message("TopicTest", "one of each"), ec);
  REQUIRE_FALSE(ec);
  CHECK(r.status == rmq::send_status::send_ok);
  std::vector<rmq::message> batch;
  for (int i = 0; i < 3; ++i) batch.emplace_back("TopicTest", "batch " + std::to_string(i));
  REQUIRE_FALSE(producer.send_batch(batch, ec).msg_id.empty());
  REQUIRE_FALSE(ec);
  REQUIRE_FALSE(producer.send_oneway(rmq::message("TopicTest", "oneway")));
  const rmq::transaction_result tx = producer.send_in_transaction(
      rmq::message("TxTopic", "tx"),
      [](const rmq::message&, const rmq::send_result&) { return rmq::transaction_state::commit; },
      ec);
  REQUIRE_FALSE(ec);
  CHECK(tx.state == rmq::transaction_state::commit);
}

/// Runs `f` on the producer's loop thread and returns what it returned.
template <class F>
auto on_loop(rmq::producer& producer, F f) {
  std::promise<decltype(f())> result;
  asio::post(producer.get_executor(), [&] { result.set_value(f()); });
  return result.get_future().get();
}

}  // namespace rmq::test
