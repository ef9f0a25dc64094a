// The simulated cluster's metadata: brokers, their topics and queue offsets. The name server
// builds routes from it and the brokers create topics in it. I/O thread only.
#pragma once

#include "config.hpp"
#include "wire/route_data.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rmq::sim {

struct topic_state {
  int read_queues = 0;
  int write_queues = 0;
  int perm = perm_read | perm_write;
  std::vector<std::int64_t> next_offset;  ///< per queue id: the next consume-queue offset
};

/// Transparent hashing so lookups by string_view do not allocate.
struct string_hash {
  using is_transparent = void;
  [[nodiscard]] std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};
using topic_table = std::unordered_map<std::string, topic_state, string_hash, std::equal_to<>>;

/// Metadata of one broker; its listener is a server owned by the simulator.
struct broker_state {
  broker_config config;
  std::uint16_t port = 0;
  bool registered = false;  ///< listed in routes (a stopped broker unregisters)
  /// Shutting down gracefully (simulator::shut_down_broker): every request of a client whose
  /// header version is above 475 is answered GO_AWAY (5 personality).
  bool going_away = false;
  std::uint64_t shutdowns = 0;  ///< counts graceful shutdowns and starts: a stale stop is ignored
  topic_table topics;
  std::int64_t commit_log_offset = 0;
  std::uint64_t round_robin = 0;  ///< queue choice for requests with a negative queueId
  /// The address messages are stored with ("ip:port": offsetMsgIds, store-format bodies).
  std::string store_host;
  std::uint32_t store_ip = 0x7F000001;
  char msg_id_prefix[16] = {};  ///< hex of store_ip and port

  [[nodiscard]] topic_state* find_topic(std::string_view name) noexcept;
  topic_state& create_topic(std::string_view name, int read_queues, int write_queues, int perm);
  /// Recomputes store_host and the offsetMsgId prefix; call whenever the port changes.
  void set_store_host(const std::string& host);
  /// Characters of an offsetMsgId: 16 hex digits of the store address, 16 of the offset.
  static constexpr std::size_t msg_id_size = 32;
  /// Appends the offsetMsgId of a message stored at commit-log `offset` to `out`.
  void append_msg_id(std::string& out, std::int64_t offset) const;
  /// Writes that offsetMsgId into `out`, which must hold msg_id_size chars.
  void write_msg_id(char* out, std::int64_t offset) const noexcept;
  /// Takes `size` bytes of commit log; returns where they start.
  std::int64_t append_to_commit_log(std::int64_t size) noexcept {
    const std::int64_t at = commit_log_offset;
    commit_log_offset += size;
    return at;
  }
};

/// Stored size of a message in the commit log (MessageExtEncoder.calMsgLength, IPv4 hosts).
[[nodiscard]] constexpr std::int64_t stored_size(std::size_t body, std::size_t topic,
                                                 std::size_t properties) noexcept {
  return static_cast<std::int64_t>(91 + body + topic + properties);
}

/// Appends `value` as `digits` uppercase hex digits.
void append_hex(std::string& out, std::uint64_t value, int digits);

class cluster {
 public:
  cluster(std::string host, std::string cluster_name, personality version)
      : host_(std::move(host)), name_(std::move(cluster_name)), version_(version) {}

  broker_state& add_broker(broker_config config);
  [[nodiscard]] std::vector<std::unique_ptr<broker_state>>& brokers() noexcept { return brokers_; }
  [[nodiscard]] broker_state* find_broker(std::string_view name, std::int64_t id = 0) noexcept;

  /// Creates `topic` on the brokers it names (all if none).
  void create_topic(const topic_config& topic, int default_queues);
  /// TBW102 (perm 7) on every broker while auto-create is on; removed when turned off.
  void set_auto_create(bool on, int default_queues);
  [[nodiscard]] bool auto_create() const noexcept { return auto_create_; }

  /// The route a NameServer would serve for `topic`, or nullopt when no registered broker
  /// has it.
  [[nodiscard]] std::optional<wire::topic_route_data> route(std::string_view topic) const;

  [[nodiscard]] const std::string& host() const noexcept { return host_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// `<cluster>_REPLY_TOPIC`: every broker has it (one queue), as real brokers create it.
  [[nodiscard]] std::string reply_topic() const { return name_ + "_REPLY_TOPIC"; }
  [[nodiscard]] personality version() const noexcept { return version_; }

 private:
  std::string host_;
  std::string name_;
  personality version_;
  bool auto_create_ = false;
  std::vector<std::unique_ptr<broker_state>> brokers_;
};

}  // namespace rmq::sim
