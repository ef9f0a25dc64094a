// Transactional messages on one broker, as the Java broker has them (SendMessageProcessor,
// TransactionalMessageBridge, EndTransactionProcessor, TransactionalMessageCheckService):
//
// * a send with TRAN_MSG=true is a half message: stored in the half queue, invisible;
// * END_TRANSACTION finds it by its commit-log offset and commits it (delivered to its real
//   topic), rolls it back (dropped) or, with UNKNOW, leaves it pending;
// * every check interval, each half message pending for longer than the transaction timeout
//   is re-appended to the half queue (new offsets, TRANSACTION_CHECK_TIMES + 1) and announced
//   to one connection of its producer group with CHECK_TRANSACTION_STATE; after check_max
//   checks it is discarded.
//
// The table lives as long as its broker, so pending half messages survive a stop and start;
// no checks go out while the broker is stopped. I/O thread only.
#pragma once

#include "cluster.hpp"
#include "java_properties.hpp"
#include "producers.hpp"
#include "recorder.hpp"
#include "server.hpp"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rmq::sim {

/// The system topic half messages are stored in.
inline constexpr std::string_view half_topic = "RMQ_SYS_TRANS_HALF_TOPIC";

class transaction_service {
 public:
  transaction_service(asio::io_context& io, cluster& metadata, broker_state& state,
                      recorder& records, producer_registry& producers,
                      const transaction_config& config, std::string region, bool trace_on);
  transaction_service(const transaction_service&) = delete;
  transaction_service& operator=(const transaction_service&) = delete;

  void attach(server& owner) noexcept {
    server_ = &owner;
    counters_ = &owner.extra_counters().transactions;
  }
  /// Takes effect at the next check round (a shorter interval at once).
  void set_config(const transaction_config& config);

  /// What the send path knows of a half message.
  struct half_message_in {
    stored_message message;          ///< real topic and queue; offsets are filled in on commit
    std::string_view body;           ///< as received (compressed if the client compressed it)
    std::string_view properties;     ///< as received
    std::string_view generated_key;  ///< 5.x: the UNIQ_KEY the broker made up, if it had none
    std::string_view born_host;      ///< the producer's "ip:port"
  };
  /// Where the half message went: the send result's msgId offset and queueOffset.
  struct half_message_out {
    std::int64_t commit_log_offset = 0;
    std::int64_t queue_offset = 0;
  };
  /// Stores a half message in the half queue.
  half_message_out prepare(half_message_in in);

  /// END_TRANSACTION, as EndTransactionProcessor handles it; appends the answer a real broker
  /// writes (for a two-way request; nothing for UNKNOW, as Java returns null there).
  void end_transaction(const wire::command_view& request, std::string& out);

  [[nodiscard]] std::vector<transaction_record> records() const;

 private:
  struct half_message {
    std::uint64_t id = 0;
    transaction_record record;
    stored_message message;  // what a commit delivers
    std::string body;        // as received
    java_properties properties;
    std::int32_t sys_flag = 0;  // the client's, transaction bits cleared (parseHalfMessageInner)
    std::string born_host;      // "ip:port"
    std::int64_t store_timestamp = 0;
    std::chrono::steady_clock::time_point stored_at;
    std::vector<std::int64_t> offsets;  // commit-log offsets of the original and its copies
  };
  /// A commit-log offset a half message (or one of its check copies) was stored at.
  struct stored_at {
    std::uint64_t id = 0;
    std::int64_t queue_offset = 0;
  };

  void add(half_message message);
  void forget(std::map<std::uint64_t, half_message>::iterator it);
  void set_state(half_message& half, transaction_state state);
  void commit(half_message& half);

  void schedule();
  void check_round();
  /// Re-appends `half` to the half queue and sends the check to its producer group.
  void check(half_message& half);
  [[nodiscard]] std::string check_frame(const half_message& half, std::int32_t opaque) const;

  asio::io_context& io_;
  cluster& cluster_;
  broker_state& state_;
  recorder& records_;
  producer_registry& producers_;
  transaction_config config_;
  std::string region_;
  std::string trace_on_;
  server* server_ = nullptr;
  transaction_counters* counters_ = nullptr;
  transaction_counters unattached_;  // until attach()

  std::map<std::uint64_t, half_message> halves_;           // by arrival: oldest first
  std::set<std::uint64_t> pending_;                        // ids of pending half messages
  std::unordered_map<std::int64_t, stored_at> by_offset_;  // every commit-log offset
  std::uint64_t next_id_ = 0;
  std::int64_t half_queue_offset_ = 0;

  asio::steady_timer timer_;
  bool scheduled_ = false;
  std::uint64_t timer_generation_ = 0;  // a wait that set_config replaced does nothing
  std::chrono::steady_clock::time_point next_round_{};
};

}  // namespace rmq::sim
