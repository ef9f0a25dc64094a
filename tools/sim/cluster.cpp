#include "cluster.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>

namespace rmq::sim {

namespace {

// "00" .. "FF": two uppercase hex digits per byte.
constexpr auto hex_pairs = [] {
  constexpr char digits[] = "0123456789ABCDEF";
  std::array<char, 512> table{};
  for (std::size_t i = 0; i < 256; ++i) {
    table[2 * i] = digits[i >> 4];
    table[2 * i + 1] = digits[i & 0xF];
  }
  return table;
}();

// The 16 hex digits of `value`, most significant first.
void write_hex16(char* out, std::uint64_t value) noexcept {
  for (int i = 7; i >= 0; --i) {
    std::memcpy(out + 2 * i, &hex_pairs[2 * (value & 0xFF)], 2);
    value >>= 8;
  }
}

}  // namespace

void append_hex(std::string& out, std::uint64_t value, int digits) {
  static constexpr char hex_digits[] = "0123456789ABCDEF";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    out.push_back(hex_digits[(value >> shift) & 0xF]);
  }
}

void broker_state::set_store_host(const std::string& host) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  store_ip = 0x7F000001;
  if (std::sscanf(host.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) == 4) {
    store_ip = (a & 0xFF) << 24 | (b & 0xFF) << 16 | (c & 0xFF) << 8 | (d & 0xFF);
  }
  store_host = host + ":" + std::to_string(port);
  std::string prefix;
  append_hex(prefix, store_ip, 8);
  append_hex(prefix, port, 8);
  std::copy(prefix.begin(), prefix.end(), msg_id_prefix);
}

static_assert(sizeof broker_state{}.msg_id_prefix + 16 == broker_state::msg_id_size);

void broker_state::write_msg_id(char* out, std::int64_t offset) const noexcept {
  std::memcpy(out, msg_id_prefix, sizeof msg_id_prefix);
  write_hex16(out + sizeof msg_id_prefix, static_cast<std::uint64_t>(offset));
}

void broker_state::append_msg_id(std::string& out, std::int64_t offset) const {
  char id[msg_id_size];
  write_msg_id(id, offset);
  out.append(id, msg_id_size);
}

topic_state* broker_state::find_topic(std::string_view name) noexcept {
  const auto it = topics.find(name);
  return it == topics.end() ? nullptr : &it->second;
}

topic_state& broker_state::create_topic(std::string_view name, int read_queues, int write_queues,
                                        int perm) {
  auto& topic = topics[std::string(name)];
  topic.read_queues = read_queues;
  topic.write_queues = write_queues;
  topic.perm = perm;
  // Offsets survive a re-creation with other counts: queues only grow.
  topic.next_offset.resize(
      std::max<std::size_t>(topic.next_offset.size(),
                            static_cast<std::size_t>(std::max(read_queues, write_queues))),
      0);
  return topic;
}

broker_state& cluster::add_broker(broker_config config) {
  auto broker = std::make_unique<broker_state>();
  broker->config = std::move(config);
  // TopicConfigManager creates it on every broker: one queue, read-write.
  broker->create_topic(reply_topic(), 1, 1, perm_read | perm_write);
  brokers_.push_back(std::move(broker));
  return *brokers_.back();
}

broker_state* cluster::find_broker(std::string_view name, std::int64_t id) noexcept {
  for (auto& broker : brokers_) {
    if (broker->config.name == name && broker->config.id == id) return broker.get();
  }
  return nullptr;
}

void cluster::create_topic(const topic_config& topic, int default_queues) {
  const int read = topic.read_queues > 0 ? topic.read_queues : default_queues;
  const int write = topic.write_queues > 0 ? topic.write_queues : read;
  for (auto& broker : brokers_) {
    const bool listed =
        topic.brokers.empty() || std::find(topic.brokers.begin(), topic.brokers.end(),
                                           broker->config.name) != topic.brokers.end();
    if (listed) broker->create_topic(topic.name, read, write, topic.perm);
  }
}

void cluster::set_auto_create(bool on, int default_queues) {
  auto_create_ = on;
  for (auto& broker : brokers_) {
    if (on) {
      broker->create_topic(wire::auto_create_topic, default_queues, default_queues,
                           perm_read | perm_write | perm_inherit);
    } else {
      broker->topics.erase(std::string(wire::auto_create_topic));
    }
  }
}

std::optional<wire::topic_route_data> cluster::route(std::string_view topic) const {
  // By broker name: the queue data of the master (or of the first registered member), and the
  // address of every registered member.
  struct group {
    const broker_state* queue_source = nullptr;
    const topic_state* topic = nullptr;
    std::map<std::int64_t, std::string> addrs;
  };
  std::map<std::string, group> groups;
  for (const auto& broker : brokers_) {
    if (!broker->registered) continue;
    const auto it = broker->topics.find(topic);
    if (it == broker->topics.end()) continue;
    auto& g = groups[broker->config.name];
    g.addrs[broker->config.id] = broker->config.advertised_address.empty()
                                     ? host_ + ":" + std::to_string(broker->port)
                                     : broker->config.advertised_address;
    if (g.queue_source == nullptr || broker->config.id == 0) {
      g.queue_source = broker.get();
      g.topic = &it->second;
    }
  }
  if (groups.empty()) return std::nullopt;

  wire::topic_route_data route;
  for (const auto& [name, g] : groups) {
    wire::queue_data queue;
    queue.broker_name = name;
    queue.read_queue_nums = g.topic->read_queues;
    queue.write_queue_nums = g.topic->write_queues;
    // A broker without read or write permission registers its topics with its own perm.
    const int broker_perm = g.queue_source->config.perm;
    queue.perm =
        (broker_perm & perm_read) && (broker_perm & perm_write) ? g.topic->perm : broker_perm;
    route.queue_datas.push_back(std::move(queue));

    wire::broker_data data;
    data.cluster = name_;
    data.broker_name = name;
    data.broker_addrs = g.addrs;
    if (version_ == personality::v5) data.enable_acting_master = false;
    route.broker_datas.push_back(std::move(data));
  }
  return route;
}

}  // namespace rmq::sim
