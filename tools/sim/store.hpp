// What the simulator received: decoded messages (bounded), request counters, clients,
// transaction endings. Owned by the I/O thread; copies are handed to other threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rmq::sim {

/// The wall clock in epoch milliseconds, as brokers stamp messages and timers.
[[nodiscard]] inline std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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
  bool dropped = false;  ///< dropped unprocessed by the drop_end_transaction fault
};

enum class transaction_state {
  pending,      ///< no END_TRANSACTION with commit or rollback yet: the broker checks back
  committed,    ///< the message was delivered to its topic
  rolled_back,  ///< dropped on the producer's word
  discarded,    ///< dropped after transaction_config::check_max checks
};
[[nodiscard]] std::string_view to_string(transaction_state state) noexcept;

/// A half message (a send with TRAN_MSG=true) and what became of it.
struct transaction_record {
  std::string broker_name;
  std::string producer_group;                ///< PGROUP
  std::string topic;                         ///< the real topic
  std::int32_t queue_id = 0;                 ///< the real queue
  std::string transaction_id;                ///< UNIQ_KEY: END_TRANSACTION's msgId
  std::string offset_msg_id;                 ///< the send result's msgId
  std::int64_t commit_log_offset = 0;        ///< the send result's (END_TRANSACTION's)
  std::int64_t tran_state_table_offset = 0;  ///< the send result's queueOffset (half queue)
  std::string body;
  transaction_state state = transaction_state::pending;
  /// Check rounds: the TRANSACTION_CHECK_TIMES of the last copy the broker re-appended.
  std::uint32_t checks = 0;
  std::uint32_t checks_sent = 0;  ///< CHECK_TRANSACTION_STATE written to a producer connection
  /// The offsets the last check named (its re-appended copy); the original ones until then.
  std::int64_t last_commit_log_offset = 0;
  std::int64_t last_tran_state_table_offset = 0;
  std::uint32_t end_transactions = 0;  ///< commits and rollbacks applied to it
  std::uint32_t commits = 0;  ///< messages delivered: a real broker commits a repeated commit again
  bool resolved_by_check = false;  ///< last commit or rollback came with fromTransactionCheck
};

/// Transaction counts of one broker.
struct transaction_counters {
  std::uint64_t half_messages = 0;
  std::uint64_t pending = 0;  ///< half messages now pending (not a running count)
  std::uint64_t committed = 0;
  std::uint64_t rolled_back = 0;
  std::uint64_t discarded = 0;
  std::uint64_t checks = 0;       ///< check rounds (a copy re-appended each time)
  std::uint64_t checks_sent = 0;  ///< of which a producer connection of the group got one
  std::uint64_t end_transaction_refused = 0;  ///< END_TRANSACTION a real broker would refuse
  std::uint64_t end_transaction_dropped = 0;  ///< by the drop_end_transaction fault
  std::uint64_t evicted = 0;  ///< half messages forgotten for transaction_config::capacity
};

enum class reply_outcome {
  pushing,         ///< PUSH_REPLY_MESSAGE_TO_CLIENT written, no answer yet
  delivered,       ///< the requester answered SUCCESS
  push_failed,     ///< the requester answered an error, too late or not at all
  requester_gone,  ///< no connection of REPLY_TO_CLIENT on the broker
  withheld,        ///< responder: the request was stored and left unanswered
};
[[nodiscard]] std::string_view to_string(reply_outcome outcome) noexcept;

/// A reply message: from a SEND_REPLY_MESSAGE(_V2) or made up by the responder.
struct reply_record {
  std::string broker_name;  ///< the broker that stored and pushed it
  bool from_responder = false;
  std::string correlation_id;   ///< CORRELATION_ID
  std::string reply_to_client;  ///< REPLY_TO_CLIENT
  std::string body;
  reply_outcome outcome = reply_outcome::pushing;
};

/// Request-reply counts of one broker.
struct reply_counters {
  std::uint64_t requests = 0;     ///< request messages stored (REPLY_TO_CLIENT + CORRELATION_ID)
  std::uint64_t reply_sends = 0;  ///< SEND_REPLY_MESSAGE(_V2) stored
  std::uint64_t responder_replies = 0;  ///< replies the responder made
  std::uint64_t pushes = 0;             ///< PUSH_REPLY_MESSAGE_TO_CLIENT written
  std::uint64_t delivered = 0;
  std::uint64_t push_failed = 0;
  std::uint64_t requester_gone = 0;
  std::uint64_t withheld = 0;
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
  std::uint64_t tls_handshakes = 0;             ///< TLS handshakes completed
  std::uint64_t tls_handshake_failures = 0;     ///< TLS handshakes that failed (connection closed)
  std::uint64_t plain_connections_refused = 0;  ///< plain connections closed (TLS enforcing)
  std::uint64_t decode_errors = 0;              ///< connections closed for bytes that do not decode
  std::uint64_t faults_injected = 0;            ///< requests a fault changed
  std::uint64_t acl_denied = 0;                 ///< broker: requests refused by its ACL
  std::uint64_t go_away_answers = 0;  ///< broker: requests answered GO_AWAY while shutting down
  std::uint64_t recalls = 0;          ///< broker: timer messages recalled
  std::uint64_t route_standard = 0;   ///< name server: standard JSON route bodies
  std::uint64_t route_legacy = 0;     ///< name server: legacy (unquoted key) route bodies
  std::uint64_t route_not_found = 0;  ///< name server: TOPIC_NOT_EXIST answers
  std::uint64_t messages = 0;         ///< broker: messages accepted (batch members counted)
  transaction_counters transactions;  ///< broker only
  reply_counters replies;             ///< broker only

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
