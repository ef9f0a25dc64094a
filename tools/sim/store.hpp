// What the simulator received: decoded messages (bounded), request counters, clients,
// transaction endings. Owned by the I/O thread; copies are handed to other threads.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rmq::sim {

/// One message as the broker stored it, decoded.
struct stored_message {
  std::string broker_name;
  std::int64_t broker_id = 0;
  std::int32_t request_code = 0;   ///< 10, 310 or 320
  std::int32_t serialization = 0;  ///< 0 JSON, 1 ROCKETMQ binary (of the request header)
  std::int32_t request_version = 0;
  std::int32_t response_code = 0;  ///< 0 or a stored-but-not-OK code (10, 11, 12)
  std::string producer_group;
  std::string topic;
  std::int32_t queue_id = 0;
  std::int64_t queue_offset = 0;
  std::int64_t commit_log_offset = 0;
  std::string offset_msg_id;
  std::string tags;
  std::string keys;
  std::vector<std::pair<std::string, std::string>> properties;  ///< in wire order
  std::string body;                                             ///< after decompression
  bool was_compressed = false;
  bool decompression_failed = false;  ///< body kept as received
  std::int32_t flag = 0;
  std::int32_t sys_flag = 0;
  std::int64_t born_timestamp = 0;
  std::int32_t batch_index = -1;  ///< position inside a batch, -1 for a single message

  [[nodiscard]] std::optional<std::string_view> property(std::string_view name) const noexcept;
};

/// A client seen in HEART_BEAT (and whether it unregistered).
struct client_record {
  std::string broker_name;
  std::string client_id;
  std::vector<std::string> producer_groups;
  std::vector<std::string> consumer_groups;
  std::uint64_t heartbeats = 0;
  bool unregistered = false;
};

/// One END_TRANSACTION request: its extFields as received.
struct end_transaction_record {
  std::string broker_name;
  bool oneway = false;
  std::vector<std::pair<std::string, std::string>> fields;
  std::optional<std::string> remark;
};

/// Request counts of one server by request code, plus protocol-level counters.
struct server_counters {
  std::map<std::int32_t, std::uint64_t> requests;  ///< by request code
  std::uint64_t responses = 0;
  /// Requests the server sent to clients (transaction checks, reply pushes), by request code.
  std::map<std::int32_t, std::uint64_t> requests_sent;
  std::uint64_t client_responses = 0;     ///< clients' responses matched to a request sent
  std::uint64_t unmatched_responses = 0;  ///< responses whose opaque names no request sent
  std::uint64_t request_timeouts = 0;     ///< two-way requests sent that got no response
  std::uint64_t writes = 0;               ///< socket writes (responses are coalesced per write)
  std::uint64_t connections_accepted = 0;
  std::uint64_t decode_errors = 0;    ///< connections closed for bytes that do not decode
  std::uint64_t faults_injected = 0;  ///< requests a fault changed
  std::uint64_t route_standard = 0;   ///< name server: standard JSON route bodies
  std::uint64_t route_legacy = 0;     ///< name server: legacy (unquoted key) route bodies
  std::uint64_t route_not_found = 0;  ///< name server: TOPIC_NOT_EXIST answers
  std::uint64_t messages = 0;         ///< broker: messages accepted (batch members counted)

  [[nodiscard]] std::uint64_t count(std::int32_t code) const noexcept;
  [[nodiscard]] std::uint64_t sent(std::int32_t code) const noexcept;
};

/// Bounded store of received messages: the oldest are evicted beyond the capacity.
class message_store {
 public:
  explicit message_store(std::size_t capacity = 1'000'000) : capacity_(capacity) {}

  void set_capacity(std::size_t capacity);
  void add(stored_message message);
  void clear() noexcept { messages_.clear(); }
  [[nodiscard]] std::size_t size() const noexcept { return messages_.size(); }
  [[nodiscard]] std::uint64_t evicted() const noexcept { return evicted_; }
  [[nodiscard]] std::vector<stored_message> snapshot() const;

 private:
  std::size_t capacity_;
  std::uint64_t evicted_ = 0;
  std::deque<stored_message> messages_;
};

}  // namespace rmq::sim
