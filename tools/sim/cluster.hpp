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
  topic_table topics;
  std::int64_t commit_log_offset = 0;
  std::uint64_t round_robin = 0;  ///< queue choice for requests with a negative queueId

  [[nodiscard]] topic_state* find_topic(std::string_view name) noexcept;
  topic_state& create_topic(std::string_view name, int read_queues, int write_queues, int perm);
};

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
  [[nodiscard]] personality version() const noexcept { return version_; }

 private:
  std::string host_;
  std::string name_;
  personality version_;
  bool auto_create_ = false;
  std::vector<std::unique_ptr<broker_state>> brokers_;
};

}  // namespace rmq::sim
