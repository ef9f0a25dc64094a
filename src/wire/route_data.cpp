#include "wire/route_data.hpp"

#include "rmq/error.hpp"
#include "wire/perm.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <limits>
#include <utility>

namespace rmq::wire {

namespace {

using json = nlohmann::json;

// --- reading ---------------------------------------------------------------------------------

// Java's Integer.parseInt / Long.parseLong: optional sign, decimal digits, nothing else.
template <class Int>
[[nodiscard]] bool parse_java_integer(std::string_view text, Int& out) noexcept {
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
    if (text.empty() || text.front() == '-') return false;
  }
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

// fastjson coerces numeric strings into int fields, and BrowserCompatible writes longs beyond
// 2^53 as strings, so both forms are integers here.
template <class Int>
[[nodiscard]] bool read_integer(const json& value, Int& out) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) return false;
    out = static_cast<Int>(v);
    return true;
  }
  if (value.is_number_integer()) {
    const auto v = value.get<std::int64_t>();
    if (v < std::numeric_limits<Int>::min() || v > std::numeric_limits<Int>::max()) return false;
    out = static_cast<Int>(v);
    return true;
  }
  if (value.is_string()) return parse_java_integer(value.get_ref<const std::string&>(), out);
  return false;
}

// Reads an optional member: absent and null leave `out` alone; the wrong type fails.
template <class Int>
[[nodiscard]] bool member_integer(const json& object, const char* name, Int& out) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return true;
  return read_integer(*it, out);
}

[[nodiscard]] bool member_string(const json& object, const char* name, std::string& out) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

[[nodiscard]] bool member_string(const json& object, const char* name,
                                 std::optional<std::string>& out) {
  const auto it = object.find(name);
  if (it == object.end()) return true;
  if (it->is_null()) {
    out.reset();
    return true;
  }
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

[[nodiscard]] bool member_bool(const json& object, const char* name, bool& out) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return true;
  if (!it->is_boolean()) return false;
  out = it->get<bool>();
  return true;
}

/// A write-queue count of one entry: not negative, and within the per-broker limit.
[[nodiscard]] bool valid_queue_count(std::int32_t n, const route_limits& limits) noexcept {
  return n >= 0 && static_cast<std::size_t>(n) <= limits.max_queues_per_broker;
}

/// A JSON list or map the route may hold at most `limit` entries of.
[[nodiscard]] bool within(const json& container, std::size_t limit) noexcept {
  return container.size() <= limit;
}

[[nodiscard]] bool read_queue_data(const json& item, const route_limits& limits, queue_data& out) {
  if (!item.is_object()) return false;
  if (!member_string(item, "brokerName", out.broker_name) ||
      !member_integer(item, "readQueueNums", out.read_queue_nums) ||
      !member_integer(item, "writeQueueNums", out.write_queue_nums) ||
      !member_integer(item, "perm", out.perm) ||
      !member_integer(item, "topicSynFlag", out.topic_sys_flag) ||
      !member_integer(item, "topicSysFlag", out.topic_sys_flag)) {
    return false;
  }
  // readQueueNums builds nothing in a producer (clamp_default_route only lowers it).
  return out.read_queue_nums >= 0 && out.read_queue_nums <= max_route_queue_nums &&
         valid_queue_count(out.write_queue_nums, limits);
}

[[nodiscard]] bool read_broker_data(const json& item, broker_data& out) {
  if (!item.is_object()) return false;
  if (!member_string(item, "cluster", out.cluster) ||
      !member_string(item, "brokerName", out.broker_name) ||
      !member_string(item, "zoneName", out.zone_name)) {
    return false;
  }
  if (const auto it = item.find("enableActingMaster"); it != item.end() && !it->is_null()) {
    if (!it->is_boolean()) return false;
    out.enable_acting_master = it->get<bool>();
  }
  if (const auto it = item.find("brokerAddrs"); it != item.end() && !it->is_null()) {
    if (!it->is_object()) return false;
    for (const auto& [key, addr] : it->items()) {
      std::int64_t id = 0;
      if (!parse_java_integer(std::string_view(key), id)) return false;
      if (addr.is_null()) continue;  // fastjson never writes null map values; be lenient
      if (!addr.is_string()) return false;
      out.broker_addrs[id] = addr.get<std::string>();
    }
  }
  return true;
}

[[nodiscard]] bool read_mapping_info(const json& item, const route_limits& limits,
                                     topic_queue_mapping_info& out) {
  if (!item.is_object()) return false;
  if (!member_string(item, "topic", out.topic) || !member_string(item, "scope", out.scope) ||
      !member_integer(item, "totalQueues", out.total_queues) ||
      !member_string(item, "bname", out.bname) || !member_integer(item, "epoch", out.epoch) ||
      !member_bool(item, "dirty", out.dirty)) {
    return false;
  }
  if (out.total_queues < 0 || static_cast<std::size_t>(out.total_queues) > limits.max_queues) {
    return false;
  }
  if (const auto it = item.find("currIdMap"); it != item.end() && !it->is_null()) {
    if (!it->is_object() || !within(*it, limits.max_queues)) return false;
    for (const auto& [key, physical] : it->items()) {
      std::int32_t logic_id = 0;
      std::int32_t physical_id = 0;
      if (!parse_java_integer(std::string_view(key), logic_id)) return false;
      if (!read_integer(physical, physical_id)) return false;
      out.curr_id_map[logic_id] = physical_id;
    }
  }
  return true;
}

// Calls on_entry(broker_name, count) for each `name:count` of an orderTopicConf, splitting the
// way Java's String.split does (trailing empty pieces dropped, item[1] is the text between the
// first and second ':'). Returns false where Java would throw, and for a count above
// `max_count`.
template <class OnEntry>
[[nodiscard]] bool for_each_order_entry(std::string_view conf, std::size_t max_count,
                                        OnEntry&& on_entry) {
  while (!conf.empty() && conf.back() == ';') conf.remove_suffix(1);
  while (!conf.empty()) {
    const auto semi = conf.find(';');
    const std::string_view entry = conf.substr(0, semi);
    conf = semi == std::string_view::npos ? std::string_view{} : conf.substr(semi + 1);
    const auto colon = entry.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view count_text = entry.substr(colon + 1);
    count_text = count_text.substr(0, count_text.find(':'));
    std::int32_t count = 0;
    // A negative count is legal, as in Java: that broker gets no queue.
    if (!parse_java_integer(count_text, count) ||
        (count > 0 && static_cast<std::size_t>(count) > max_count)) {
      return false;
    }
    on_entry(entry.substr(0, colon), count);
  }
  return true;
}

// The publish queues a static topic's mapping makes: per scope, the largest totalQueues
// (static_topic_queues below).
[[nodiscard]] std::size_t static_topic_queue_count(
    const std::map<std::string, topic_queue_mapping_info>& mapping) {
  std::map<std::string_view, std::size_t> per_scope;
  for (const auto& [broker, info] : mapping) {
    if (!info.scope || info.epoch < -1) continue;
    auto& total = per_scope[*info.scope];
    total = std::max(total, static_cast<std::size_t>(info.total_queues));
  }
  std::size_t sum = 0;
  for (const auto& [scope, total] : per_scope) sum += total;
  return sum;
}

[[nodiscard]] bool read_route(const json& root, const route_limits& limits, topic_route_data& out) {
  if (!root.is_object()) return false;
  if (!member_string(root, "orderTopicConf", out.order_topic_conf)) return false;
  if (out.order_topic_conf) {
    std::size_t entries = 0;
    std::size_t queues = 0;
    const bool split =
        for_each_order_entry(*out.order_topic_conf, limits.max_queues_per_broker,
                             [&](std::string_view, std::int32_t count) {
                               ++entries;
                               queues += static_cast<std::size_t>(std::max<std::int32_t>(count, 0));
                             });
    if (!split || entries > limits.max_brokers || queues > limits.max_queues) return false;
  }
  if (const auto it = root.find("queueDatas"); it != root.end() && !it->is_null()) {
    if (!it->is_array() || !within(*it, limits.max_brokers)) return false;
    out.queue_datas.reserve(it->size());
    std::size_t queues = 0;
    for (const auto& item : *it) {
      queue_data& qd = out.queue_datas.emplace_back();
      if (!read_queue_data(item, limits, qd)) return false;
      if (is_writeable(qd.perm)) queues += static_cast<std::size_t>(qd.write_queue_nums);
    }
    if (queues > limits.max_queues) return false;
  }
  if (const auto it = root.find("brokerDatas"); it != root.end() && !it->is_null()) {
    if (!it->is_array() || !within(*it, limits.max_brokers)) return false;
    out.broker_datas.reserve(it->size());
    for (const auto& item : *it) {
      if (!read_broker_data(item, out.broker_datas.emplace_back())) return false;
    }
  }
  if (const auto it = root.find("filterServerTable"); it != root.end() && !it->is_null()) {
    if (!it->is_object()) return false;
    for (const auto& [addr, servers] : it->items()) {
      auto& list = out.filter_server_table[addr];
      if (servers.is_null()) continue;
      if (!servers.is_array()) return false;
      for (const auto& server : servers) {
        if (!server.is_string()) return false;
        list.push_back(server.get<std::string>());
      }
    }
  }
  if (const auto it = root.find("topicQueueMappingByBroker"); it != root.end() && !it->is_null()) {
    if (!it->is_object() || !within(*it, limits.max_brokers)) return false;
    auto& table = out.topic_queue_mapping_by_broker.emplace();
    for (const auto& [broker, info] : it->items()) {
      if (!read_mapping_info(info, limits, table[broker])) return false;
    }
    if (static_topic_queue_count(table) > limits.max_queues) return false;
  }
  return true;
}

// --- writing ---------------------------------------------------------------------------------

constexpr char hex_digits[] = "0123456789ABCDEF";

void append_u_escape(std::string& out, std::uint32_t unit) {
  out += "\\u";
  out += hex_digits[(unit >> 12) & 0xF];
  out += hex_digits[(unit >> 8) & 0xF];
  out += hex_digits[(unit >> 4) & 0xF];
  out += hex_digits[unit & 0xF];
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes one code point at `pos`, advancing it. Malformed bytes become U+FFFD one at a time,
// as Java's UTF-8 decoder would turn them into the replacement character.
[[nodiscard]] std::uint32_t next_code_point(std::string_view s, std::size_t& pos) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(pos);
  std::size_t len = 0;
  std::uint32_t cp = 0;
  std::uint32_t min = 0;
  if (lead < 0x80) {
    ++pos;
    return lead;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2, cp = lead & 0x1F, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3, cp = lead & 0x0F, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4, cp = lead & 0x07, min = 0x10000;
  }
  if (len == 0 || pos + len > s.size()) {
    ++pos;
    return 0xFFFD;
  }
  for (std::size_t i = 1; i < len; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) {
      ++pos;
      return 0xFFFD;
    }
    cp = (cp << 6) | (byte(pos + i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++pos;
    return 0xFFFD;
  }
  pos += len;
  return cp;
}

void append_key(std::string& out, std::string_view name) {
  out += '"';
  out += name;
  out += "\":";
}

void append_int_key(std::string& out, std::int64_t key, route_json_style style) {
  if (style == route_json_style::standard) out += '"';
  out += std::to_string(key);
  if (style == route_json_style::standard) out += '"';
  out += ':';
}

// BrowserCompatible writes longs beyond JavaScript's exact range as strings.
void append_long(std::string& out, std::int64_t value, route_json_style style) {
  constexpr std::int64_t js_max = 9007199254740991;
  const bool quote = style == route_json_style::standard && (value > js_max || value < -js_max);
  if (quote) out += '"';
  out += std::to_string(value);
  if (quote) out += '"';
}

void append_queue_data(std::string& out, const queue_data& qd, route_json_style style) {
  out += '{';
  append_key(out, "brokerName");
  append_fastjson_string(out, qd.broker_name, style);
  out += ',';
  append_key(out, "perm");
  out += std::to_string(qd.perm);
  out += ',';
  append_key(out, "readQueueNums");
  out += std::to_string(qd.read_queue_nums);
  out += ',';
  append_key(out, "topicSysFlag");
  out += std::to_string(qd.topic_sys_flag);
  out += ',';
  append_key(out, "writeQueueNums");
  out += std::to_string(qd.write_queue_nums);
  out += '}';
}

void append_broker_data(std::string& out, const broker_data& bd, route_json_style style) {
  out += '{';
  append_key(out, "brokerAddrs");
  out += '{';
  bool first = true;
  // std::map keeps ids ascending: MapSortField's TreeMap order, and also the HashMap order of
  // the legacy form for the small ids brokers use.
  for (const auto& [id, addr] : bd.broker_addrs) {
    if (!std::exchange(first, false)) out += ',';
    append_int_key(out, id, style);
    append_fastjson_string(out, addr, style);
  }
  out += "},";
  append_key(out, "brokerName");
  append_fastjson_string(out, bd.broker_name, style);
  out += ',';
  append_key(out, "cluster");
  append_fastjson_string(out, bd.cluster, style);
  if (bd.enable_acting_master) {
    out += ',';
    append_key(out, "enableActingMaster");
    out += *bd.enable_acting_master ? "true" : "false";
  }
  if (bd.zone_name) {
    out += ',';
    append_key(out, "zoneName");
    append_fastjson_string(out, *bd.zone_name, style);
  }
  out += '}';
}

void append_mapping_info(std::string& out, const topic_queue_mapping_info& info,
                         route_json_style style) {
  out += '{';
  if (info.bname) {
    append_key(out, "bname");
    append_fastjson_string(out, *info.bname, style);
    out += ',';
  }
  append_key(out, "currIdMap");
  out += '{';
  bool first = true;
  for (const auto& [logic_id, physical_id] : info.curr_id_map) {
    if (!std::exchange(first, false)) out += ',';
    append_int_key(out, logic_id, style);
    out += std::to_string(physical_id);
  }
  out += "},";
  append_key(out, "dirty");
  out += info.dirty ? "true" : "false";
  out += ',';
  append_key(out, "epoch");
  append_long(out, info.epoch, style);
  if (info.scope) {
    out += ',';
    append_key(out, "scope");
    append_fastjson_string(out, *info.scope, style);
  }
  if (info.topic) {
    out += ',';
    append_key(out, "topic");
    append_fastjson_string(out, *info.topic, style);
  }
  out += ',';
  append_key(out, "totalQueues");
  out += std::to_string(info.total_queues);
  out += '}';
}

// --- static topics ---------------------------------------------------------------------------

constexpr std::string_view mock_broker_prefix = "__syslo__";
constexpr std::string_view global_scope = "__global__";
constexpr std::string_view mock_broker_none = "__syslo__none__";

// TopicQueueMappingUtils.getMockBrokerName: the global scope drops its leading "__".
[[nodiscard]] std::string mock_broker_name(std::string_view scope) {
  std::string name(mock_broker_prefix);
  name += scope == global_scope ? scope.substr(2) : scope;
  return name;
}

// MQClientInstance.topicRouteData2EndpointsForStaticTopic, then sorted by queue id. Per scope,
// logic queues 0..max(totalQueues)-1; each maps to the broker of the newest epoch that lists it.
[[nodiscard]] std::vector<route_queue> static_topic_queues(
    const std::map<std::string, topic_queue_mapping_info>& mapping) {
  std::map<std::string_view, std::vector<const topic_queue_mapping_info*>> by_scope;
  for (const auto& [broker, info] : mapping) {
    if (info.scope) by_scope[*info.scope].push_back(&info);
  }
  std::vector<route_queue> queues;
  for (const auto& [scope, infos] : by_scope) {
    std::int32_t total = 0;
    std::map<std::int32_t, const topic_queue_mapping_info*> owner;
    for (const auto* info : infos) {
      // Java compares against an epoch floor of -1 that it never raises.
      if (info->epoch >= -1) total = std::max(total, info->total_queues);
      for (const auto& [logic_id, physical_id] : info->curr_id_map) {
        auto& current = owner[logic_id];
        if (current == nullptr || current->epoch <= info->epoch) current = info;
      }
    }
    const std::string mock = mock_broker_name(scope);
    for (std::int32_t id = 0; id < total; ++id) {
      const auto it = owner.find(id);
      std::string endpoint = it != owner.end() && it->second->bname ? *it->second->bname
                                                                    : std::string(mock_broker_none);
      queues.push_back(route_queue{mock, id, std::move(endpoint)});
    }
  }
  std::stable_sort(queues.begin(), queues.end(), [](const route_queue& a, const route_queue& b) {
    return a.queue_id < b.queue_id;
  });
  return queues;
}

}  // namespace

bool valid(const route_limits& limits) noexcept {
  constexpr std::size_t max_entries = 65536;
  return limits.max_body_bytes >= 1024 && limits.max_body_bytes <= default_max_frame &&
         limits.max_brokers >= 1 && limits.max_brokers <= max_entries &&
         limits.max_queues_per_broker >= 1 &&
         limits.max_queues_per_broker <= static_cast<std::size_t>(max_route_queue_nums) &&
         limits.max_queues >= 1 && limits.max_queues <= max_route_queues;
}

route_parse_result parse_route_data(std::string_view body, const route_limits& limits) {
  route_parse_result result;
  std::string normalised;
  if (body.size() > limits.max_body_bytes || quote_integer_keys(body, normalised)) {
    result.error = make_error_code(errc::invalid_route_data);
    return result;
  }
  try {
    const json root = json::parse(normalised, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded() || !read_route(root, limits, result.route)) {
      result.route = {};
      result.error = make_error_code(errc::invalid_route_data);
    }
  } catch (const json::exception&) {
    // Conversions are type-checked first; this only guards against a missed case.
    result.route = {};
    result.error = make_error_code(errc::invalid_route_data);
  }
  return result;
}

std::string to_json(const topic_route_data& route, route_json_style style) {
  std::string out;
  out.reserve(256);
  out += '{';
  append_key(out, "brokerDatas");
  out += '[';
  for (std::size_t i = 0; i < route.broker_datas.size(); ++i) {
    if (i != 0) out += ',';
    append_broker_data(out, route.broker_datas[i], style);
  }
  out += "],";
  append_key(out, "filterServerTable");
  out += '{';
  bool first = true;
  for (const auto& [addr, servers] : route.filter_server_table) {
    if (!std::exchange(first, false)) out += ',';
    append_fastjson_string(out, addr, style);
    out += ":[";
    for (std::size_t i = 0; i < servers.size(); ++i) {
      if (i != 0) out += ',';
      append_fastjson_string(out, servers[i], style);
    }
    out += ']';
  }
  out += "},";
  if (route.order_topic_conf) {
    append_key(out, "orderTopicConf");
    append_fastjson_string(out, *route.order_topic_conf, style);
    out += ',';
  }
  append_key(out, "queueDatas");
  out += '[';
  for (std::size_t i = 0; i < route.queue_datas.size(); ++i) {
    if (i != 0) out += ',';
    append_queue_data(out, route.queue_datas[i], style);
  }
  out += ']';
  if (route.topic_queue_mapping_by_broker) {
    out += ',';
    append_key(out, "topicQueueMappingByBroker");
    out += '{';
    first = true;
    for (const auto& [broker, info] : *route.topic_queue_mapping_by_broker) {
      if (!std::exchange(first, false)) out += ',';
      append_fastjson_string(out, broker, style);
      out += ':';
      append_mapping_info(out, info, style);
    }
    out += '}';
  }
  out += '}';
  return out;
}

std::vector<route_queue> build_publish_queues(const topic_route_data& route) {
  std::vector<route_queue> queues;
  if (is_order_topic(route)) {
    // Validated by parse_route_data; a hand-built route with a malformed entry stops there.
    // Counted first: one allocation of the right size, not a doubling vector's copies.
    std::size_t count = 0;
    (void)for_each_order_entry(*route.order_topic_conf, max_route_queue_nums,
                               [&](std::string_view, std::int32_t n) {
                                 count += static_cast<std::size_t>(std::max(n, 0));
                               });
    queues.reserve(std::min(count, max_route_queues));
    (void)for_each_order_entry(*route.order_topic_conf, max_route_queue_nums,
                               [&](std::string_view broker, std::int32_t queue_nums) {
                                 for (std::int32_t id = 0; id < queue_nums; ++id) {
                                   queues.push_back(route_queue{std::string(broker), id, {}});
                                 }
                               });
    return queues;
  }
  if (route.topic_queue_mapping_by_broker && !route.topic_queue_mapping_by_broker->empty()) {
    return static_topic_queues(*route.topic_queue_mapping_by_broker);
  }
  std::vector<const queue_data*> sorted;
  sorted.reserve(route.queue_datas.size());
  for (const auto& qd : route.queue_datas) sorted.push_back(&qd);
  // Collections.sort is stable: equal broker names keep the NameServer's order.
  std::stable_sort(sorted.begin(), sorted.end(), [](const queue_data* a, const queue_data* b) {
    return a->broker_name < b->broker_name;
  });
  std::size_t count = 0;
  for (const auto* qd : sorted)
    count += static_cast<std::size_t>(std::max(qd->write_queue_nums, 0));
  queues.reserve(std::min(count, max_route_queues));
  for (const auto* qd : sorted) {
    if (!is_writeable(qd->perm)) continue;
    const auto bd = std::find_if(
        route.broker_datas.begin(), route.broker_datas.end(),
        [&](const broker_data& candidate) { return candidate.broker_name == qd->broker_name; });
    if (bd == route.broker_datas.end() || !bd->broker_addrs.contains(master_broker_id)) continue;
    for (std::int32_t id = 0; id < qd->write_queue_nums && id < max_route_queue_nums; ++id) {
      queues.push_back(route_queue{qd->broker_name, id, {}});
    }
  }
  return queues;
}

std::optional<std::string_view> find_master_address(const topic_route_data& route,
                                                    std::string_view broker_name) {
  for (const auto& bd : route.broker_datas) {
    if (bd.broker_name != broker_name) continue;
    const auto it = bd.broker_addrs.find(master_broker_id);
    if (it == bd.broker_addrs.end()) return std::nullopt;
    return std::string_view(it->second);
  }
  return std::nullopt;
}

void clamp_default_route(topic_route_data& route, std::int32_t default_topic_queue_nums) noexcept {
  for (auto& qd : route.queue_datas) {
    const std::int32_t n = std::min(default_topic_queue_nums, qd.read_queue_nums);
    qd.read_queue_nums = n;
    qd.write_queue_nums = n;
  }
}

std::error_code quote_integer_keys(std::string_view json_text, std::string& out,
                                   std::size_t max_depth) {
  out.clear();
  out.reserve(json_text.size() + 16);
  std::vector<bool> in_object;  // container stack: true = object, false = array
  bool expect_key = false;
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  const std::size_t n = json_text.size();
  std::size_t i = 0;
  while (i < n) {
    const char c = json_text[i];
    if (c == '"') {
      // Copy the whole string, escapes included, so nothing inside it is ever rewritten.
      std::size_t j = i + 1;
      while (j < n && json_text[j] != '"') j += json_text[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, n);
      out.append(json_text.substr(i, j - i));
      i = j;
      expect_key = false;
      continue;
    }
    if (expect_key && (c == '-' || is_digit(c))) {
      std::size_t j = i + (c == '-' ? 1 : 0);
      const std::size_t digits_start = j;
      while (j < n && is_digit(json_text[j])) ++j;
      std::size_t k = j;
      while (k < n && is_space(json_text[k])) ++k;
      if (j > digits_start && k < n && json_text[k] == ':') {
        out += '"';
        out.append(json_text.substr(i, j - i));
        out += '"';
        i = j;
        expect_key = false;
        continue;
      }
    }
    switch (c) {
      case '{':
      case '[':
        if (in_object.size() >= max_depth) return make_error_code(errc::protocol_error);
        in_object.push_back(c == '{');
        expect_key = c == '{';
        break;
      case '}':
      case ']':
        if (!in_object.empty()) in_object.pop_back();
        expect_key = false;
        break;
      case ',':
        expect_key = !in_object.empty() && in_object.back();
        break;
      default:
        if (!is_space(c)) expect_key = false;
        break;
    }
    out += c;
    ++i;
  }
  return {};
}

void append_fastjson_string(std::string& out, std::string_view utf8, route_json_style style) {
  const bool browser = style == route_json_style::standard;
  out += '"';
  std::size_t pos = 0;
  while (pos < utf8.size()) {
    const std::uint32_t cp = next_code_point(utf8, pos);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '/':
        out += browser ? "\\/" : "/";
        continue;
      default:
        break;
    }
    if (cp < 0x20) {
      append_u_escape(out, cp);
    } else if (browser && cp >= 0x7F) {
      // Java escapes UTF-16 units: a supplementary character becomes its surrogate pair.
      if (cp >= 0x10000) {
        append_u_escape(out, 0xD800 + ((cp - 0x10000) >> 10));
        append_u_escape(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
      } else {
        append_u_escape(out, cp);
      }
    } else if (!browser && ((cp >= 0x7F && cp < 0xA0) || cp == 0x2028 || cp == 0x2029)) {
      append_u_escape(out, cp);
    } else {
      append_utf8(out, cp);
    }
  }
  out += '"';
}

}  // namespace rmq::wire
