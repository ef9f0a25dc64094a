// TopicRouteData: the NameServer's answer to GET_ROUTEINFO_BY_TOPIC, and the publish queue list a
// producer builds from it (MQClientInstance.topicRouteData2TopicPublishInfo).
//
// The NameServer serializes with fastjson. Without BrowserCompatible (request version < 401, or a
// NameServer older than 4.9.4) Long/Integer map keys come out unquoted: {"brokerAddrs":{0:"..."}}.
// The parser accepts both forms; the writer reproduces either byte for byte (rmq-sim uses it).
#pragma once

#include "rmq/route_limits.hpp"
#include "wire/command.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rmq::wire {

inline constexpr std::int64_t master_broker_id = 0;  ///< MixAll.MASTER_ID
/// Request version from which a >= 4.9.4 NameServer answers in standard JSON (V4_9_4).
inline constexpr std::int32_t standard_route_json_version = mq_version::v4_9_4;
/// Largest queue count of one entry any route_limits allows (max_queues_per_broker's range).
inline constexpr std::int32_t max_route_queue_nums = 65536;
/// Largest max_queues any route_limits allows.
inline constexpr std::size_t max_route_queues = 1u << 20;

/// Whether `limits` are within the ranges rmq::route_limits documents.
[[nodiscard]] bool valid(const route_limits& limits) noexcept;

struct queue_data {
  std::string broker_name;
  std::int32_t read_queue_nums = 0;
  std::int32_t write_queue_nums = 0;
  std::int32_t perm = 0;
  std::int32_t topic_sys_flag = 0;  ///< spelled `topicSynFlag` by very old servers

  bool operator==(const queue_data&) const = default;
};

struct broker_data {
  std::string cluster;
  std::string broker_name;
  std::map<std::int64_t, std::string> broker_addrs;  ///< broker id -> "ip:port"; 0 is the master
  std::optional<bool> enable_acting_master;          ///< 5.x only; 4.x servers do not write it
  std::optional<std::string> zone_name;              ///< 5.x, written only when set

  bool operator==(const broker_data&) const = default;
};

/// TopicQueueMappingInfo of a 5.x static topic (logic queue id -> physical queue id per broker).
struct topic_queue_mapping_info {
  std::optional<std::string> topic;
  std::optional<std::string> scope = std::string("__global__");  ///< MixAll.METADATA_SCOPE_GLOBAL
  std::int32_t total_queues = 0;
  std::optional<std::string> bname;  ///< the broker hosting these queues
  std::int64_t epoch = 0;
  bool dirty = false;
  std::map<std::int32_t, std::int32_t> curr_id_map;  ///< logic queue id -> physical queue id

  bool operator==(const topic_queue_mapping_info&) const = default;
};

struct topic_route_data {
  std::optional<std::string> order_topic_conf;  ///< "brokerName:num;brokerName:num"
  std::vector<queue_data> queue_datas;
  std::vector<broker_data> broker_datas;
  std::map<std::string, std::vector<std::string>> filter_server_table;
  /// Static topics only (5.x); absent for every ordinary topic.
  std::optional<std::map<std::string, topic_queue_mapping_info>> topic_queue_mapping_by_broker;

  bool operator==(const topic_route_data&) const = default;
};

struct route_parse_result {
  topic_route_data route;
  std::error_code error;  ///< rmq::errc::invalid_route_data when the body does not parse

  [[nodiscard]] explicit operator bool() const noexcept { return !error; }
};

/// Parses a route body in standard JSON or the fastjson form with unquoted integer keys. Never
/// throws on bad input; also rejects negative queue counts, an orderTopicConf that Java could not
/// split into `name:count` pairs, and a route beyond `limits` (checked before any list is built,
/// so the work done is bounded by the body's size).
[[nodiscard]] route_parse_result parse_route_data(std::string_view body,
                                                  const route_limits& limits = {});

enum class route_json_style {
  standard,  ///< BrowserCompatible + MapSortField: keys quoted and sorted, non-ASCII as \uXXXX
  legacy,    ///< fastjson defaults: integer map keys unquoted, raw UTF-8
};

/// The style a NameServer >= 4.9.4 answers with for a request of this version / header flag.
[[nodiscard]] constexpr route_json_style route_json_style_for(
    std::int32_t request_version, bool accept_standard_json_only = false) noexcept {
  return request_version >= standard_route_json_version || accept_standard_json_only
             ? route_json_style::standard
             : route_json_style::legacy;
}

/// The body a NameServer writes for `route` (fields sorted by name, null fields left out).
[[nodiscard]] std::string to_json(const topic_route_data& route, route_json_style style);

// --- publish queues ------------------------------------------------------------------------

/// A queue the route lists for publishing, by broker name (Java's MessageQueue). The route layer
/// turns it into a route::publish_queue, which names the broker by its index in the registry.
struct route_queue {
  std::string broker_name;  ///< the broker, or a static topic's mock name (`__syslo__global__`)
  std::int32_t queue_id = 0;
  /// Static topics only: the broker that hosts this logic queue now (`__syslo__none__` if none).
  /// Empty for ordinary queues, which live on `broker_name`.
  std::string endpoint_broker;

  /// The broker whose master receives the send (and whose name goes in the request header).
  [[nodiscard]] const std::string& target_broker() const noexcept {
    return endpoint_broker.empty() ? broker_name : endpoint_broker;
  }
  bool operator==(const route_queue&) const = default;
};

/// The publish queues in Java's order: orderTopicConf if set; else the static-topic mapping if
/// present, sorted by queue id; else queueDatas sorted by brokerName, writable ones only, whose
/// broker has a master (id 0), queues 0..writeQueueNums-1.
[[nodiscard]] std::vector<route_queue> build_publish_queues(const topic_route_data& route);

/// True when the route is an ordered topic (orderTopicConf set): its queue list is fixed.
[[nodiscard]] inline bool is_order_topic(const topic_route_data& route) noexcept {
  return route.order_topic_conf && !route.order_topic_conf->empty();
}

/// Master address ("ip:port") of `broker_name` in this route, if the route lists one. The view
/// points into `route`.
[[nodiscard]] std::optional<std::string_view> find_master_address(const topic_route_data& route,
                                                                  std::string_view broker_name);

/// Borrowing the TBW102 route for a topic that does not exist yet: each queue data's read and
/// write counts become min(default_topic_queue_nums, readQueueNums), as the Java producer does.
void clamp_default_route(topic_route_data& route, std::int32_t default_topic_queue_nums) noexcept;

// --- fastjson text helpers, shared with the other JSON bodies ------------------------------

/// Copies `json` to `out` with every unquoted integer object key quoted ({0:"a"} -> {"0":"a"}).
/// Lexer-aware: text inside strings is never touched. Anything else is copied unchanged for the
/// JSON parser to judge. Fails (protocol_error) only when nesting is deeper than `max_depth`.
std::error_code quote_integer_keys(std::string_view json, std::string& out,
                                   std::size_t max_depth = 64);

/// Appends `utf8` as a JSON string the way fastjson writes it in `style` (standard =
/// BrowserCompatible: '/' and every non-ASCII UTF-16 unit escaped; legacy: raw UTF-8).
void append_fastjson_string(std::string& out, std::string_view utf8, route_json_style style);

}  // namespace rmq::wire
