#include "wire/heartbeat.hpp"

#include "rmq/error.hpp"
#include "wire/route_data.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>

namespace rmq::wire {

namespace {

using json = nlohmann::json;

void append_groups(std::string& out, std::span<const std::string_view> groups) {
  // HeartbeatData.encode() uses fastjson's defaults: raw UTF-8, the legacy string form.
  out += "\"producerDataSet\":[";
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (i != 0) out += ',';
    out += "{\"groupName\":";
    append_fastjson_string(out, groups[i], route_json_style::legacy);
    out += '}';
  }
  out += ']';
}

[[nodiscard]] std::string encode(std::string_view client_id,
                                 std::span<const std::string_view> groups, heartbeat_shape shape) {
  std::string out;
  out.reserve(128);
  out += "{\"clientID\":";
  append_fastjson_string(out, client_id, route_json_style::legacy);
  out += ",\"consumerDataSet\":[],";
  if (shape == heartbeat_shape::v5) out += "\"heartbeatFingerprint\":0,";
  append_groups(out, groups);
  if (shape == heartbeat_shape::v5) out += ",\"withoutSub\":false";
  out += '}';
  return out;
}

[[nodiscard]] heartbeat_decode_result failed() {
  heartbeat_decode_result result;
  result.error = make_error_code(errc::protocol_error);
  return result;
}

}  // namespace

std::string encode_heartbeat(std::string_view client_id,
                             std::span<const std::string> producer_groups, heartbeat_shape shape) {
  std::vector<std::string_view> groups;
  groups.reserve(producer_groups.size() + 1);
  groups.push_back(client_inner_producer_group);
  for (const auto& group : producer_groups) {
    if (group != client_inner_producer_group) groups.push_back(group);
  }
  return encode(client_id, groups, shape);
}

std::string encode_heartbeat(std::string_view client_id, std::string_view producer_group,
                             heartbeat_shape shape) {
  if (producer_group == client_inner_producer_group) {
    const std::string_view only[] = {client_inner_producer_group};
    return encode(client_id, only, shape);
  }
  const std::string_view groups[] = {client_inner_producer_group, producer_group};
  return encode(client_id, groups, shape);
}

heartbeat_decode_result decode_heartbeat(std::string_view body) {
  std::string normalised;
  if (quote_integer_keys(body, normalised)) return failed();
  try {
    const json root = json::parse(normalised, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded() || !root.is_object()) return failed();
    heartbeat_decode_result result;
    auto& data = result.data;

    const auto id = root.find("clientID");
    if (id == root.end() || !id->is_string()) return failed();
    data.client_id = id->get<std::string>();

    if (const auto it = root.find("producerDataSet"); it != root.end() && !it->is_null()) {
      if (!it->is_array()) return failed();
      for (const auto& producer : *it) {
        if (!producer.is_object()) return failed();
        const auto group = producer.find("groupName");
        if (group == producer.end() || !group->is_string()) return failed();
        data.producer_groups.push_back(group->get<std::string>());
      }
    }
    if (const auto it = root.find("consumerDataSet"); it != root.end() && !it->is_null()) {
      if (!it->is_array()) return failed();
      data.consumer_count = it->size();
    }
    if (const auto it = root.find("heartbeatFingerprint"); it != root.end() && !it->is_null()) {
      // Java's int: a fingerprint is a String.hashCode().
      constexpr auto lo = std::numeric_limits<std::int32_t>::min();
      constexpr auto hi = std::numeric_limits<std::int32_t>::max();
      if (it->is_number_unsigned()) {
        if (it->get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) return failed();
      } else if (!it->is_number_integer()) {
        return failed();
      }
      const auto value = it->get<std::int64_t>();
      if (value < lo || value > hi) return failed();
      data.heartbeat_fingerprint = static_cast<std::int32_t>(value);
    }
    if (const auto it = root.find("withoutSub"); it != root.end() && !it->is_null()) {
      if (!it->is_boolean()) return failed();
      data.without_sub = it->get<bool>();
    }
    return result;
  } catch (const json::exception&) {
    return failed();
  }
}

}  // namespace rmq::wire
