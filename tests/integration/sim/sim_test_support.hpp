// Helpers shared by the rmq-sim integration tests.
#pragma once

#include "blocking_client.hpp"
#include "simulator.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace rmq::sim::test {

using namespace std::chrono_literals;

/// Generous: only reached when something is broken.
inline constexpr std::chrono::milliseconds reply_timeout = 10s;

inline sim_config make_config(personality version = personality::v4_9, std::size_t brokers = 1) {
  sim_config config;
  config.version = version;
  config.brokers = default_brokers(brokers, 0);
  config.topics.push_back({.name = "TopicTest"});
  return config;
}

inline wire::remoting_command route_request(std::string topic, std::int32_t version = 409) {
  return make_request(wire::request_code::get_routeinfo_by_topic, {{"topic", std::move(topic)}}, {},
                      version);
}

/// A SEND_MESSAGE_V2 request as the Java client writes it.
inline wire::remoting_command send_v2(std::string topic, std::string body, int queue_id = 0,
                                      std::string properties =
                                          "UNIQ_KEY\x01"
                                          "7F00000112340A0B0C0D0000ABCD0000\x02"
                                          "WAIT\x01true\x02TAGS\x01TagA",
                                      std::int32_t sys_flag = 0) {
  return make_request(wire::request_code::send_message_v2,
                      {{"a", "test_group"},
                       {"b", std::move(topic)},
                       {"c", "TBW102"},
                       {"d", "4"},
                       {"e", std::to_string(queue_id)},
                       {"f", std::to_string(sys_flag)},
                       {"g", "1700000000000"},
                       {"h", "0"},
                       {"i", std::move(properties)},
                       {"j", "0"},
                       {"k", "false"},
                       {"m", "false"},
                       {"n", "broker-a"}},
                      std::move(body));
}

[[nodiscard]] inline std::string field_or(const wire::remoting_command& c, std::string_view name,
                                          std::string fallback = "<absent>") {
  const auto value = c.field(name);
  return value ? std::string(*value) : fallback;
}

}  // namespace rmq::sim::test
