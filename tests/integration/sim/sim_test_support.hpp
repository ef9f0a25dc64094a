// Helpers shared by the rmq-sim integration tests.
#pragma once

#include "blocking_client.hpp"
#include "simulator.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"
#include "wire/heartbeat.hpp"
#include "wire/properties.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

/// HEART_BEAT registering `group` as a producer group of `client_id` on the connection.
inline bool heartbeat(blocking_client& client, std::string_view client_id, std::string_view group,
                      personality version = personality::v4_9) {
  auto reply = client.call(
      make_request(wire::request_code::heart_beat, {},
                   wire::encode_heartbeat(client_id, group,
                                          version == personality::v5 ? wire::heartbeat_shape::v5
                                                                     : wire::heartbeat_shape::v4)),
      wire::serialize_type::json, reply_timeout);
  return reply && reply->fields.code == 0;
}

/// A properties string from pairs; the 5.x client ends it with a separator, 4.9.8 does not.
inline std::string properties(
    std::initializer_list<std::pair<std::string_view, std::string_view>> pairs,
    personality version = personality::v4_9) {
  std::string text;
  for (const auto& [name, value] : pairs) {
    text.append(name).push_back(wire::name_value_separator);
    text.append(value).push_back(wire::property_separator);
  }
  if (version != personality::v5 && !text.empty()) text.pop_back();
  return text;
}

/// The property names of a properties string, in order.
inline std::vector<std::string> property_names(std::string_view text) {
  std::vector<wire::property_ref> pairs;
  wire::decode_properties(text, pairs);
  std::vector<std::string> names;
  for (const auto& p : pairs) names.emplace_back(p.name);
  return names;
}

/// extFields names of a command, in order.
inline std::vector<std::string> field_names_in_order(const wire::remoting_command& c) {
  std::vector<std::string> names;
  for (const auto& [name, value] : c.ext_fields) names.push_back(name);
  return names;
}

/// The offsetMsgId a broker listening on `address` ("127.0.0.1:port") gives commit-log `offset`.
inline std::string offset_msg_id(const std::string& address, std::int64_t offset) {
  const auto port = std::stoi(address.substr(address.rfind(':') + 1));
  char text[33];
  std::snprintf(text, sizeof text, "7F000001%08X%016llX", static_cast<unsigned>(port),
                static_cast<unsigned long long>(offset));
  return text;
}

[[nodiscard]] inline std::string field_or(const wire::remoting_command& c, std::string_view name,
                                          std::string fallback = "<absent>") {
  const auto value = c.field(name);
  return value ? std::string(*value) : fallback;
}

}  // namespace rmq::sim::test
