// Transactions on one loop: the transactional sends started there (half message → local
// transaction → END_TRANSACTION), the brokers' check-backs that arrive on its connections
// (CHECK_TRANSACTION_STATE → checker → END_TRANSACTION fromTransactionCheck), and the shutdown
// of both. Each runs as one Asio coroutine on the loop's executor, so that user code given as
// asio::awaitable runs there without a hop; plain user functions run on the producer's
// transaction threads instead, so that one that blocks holds up no send.
//
// What each sends, and to whom, follows the frames of real Java clients (tests/conformance/
// frames/transaction): END_TRANSACTION goes oneway to the master of the broker that stored the
// half message; a check's answer goes to the address the check came from, with the check's
// offsets, ids and (5.x) bname and topic copied.
#pragma once

#include "common/coro.hpp"
#include "io/loop.hpp"
#include "net/connection_pool.hpp"
#include "rmq/detail/completion.hpp"
#include "rmq/detail/producer_initiate.hpp"
#include "rmq/transaction.hpp"
#include "route/broker_registry.hpp"
#include "send/cancel_link.hpp"
#include "send/loop_counters.hpp"
#include "send/loop_operation.hpp"
#include "send/loop_settings.hpp"
#include "wire/command.hpp"

#include <asio/cancellation_signal.hpp>
#include <asio/thread_pool.hpp>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace rmq {
class producer;
}

namespace rmq::send {

class loop_sender;

/// The threads that run plain local transactions and checkers, shared by a producer's loops and
/// started on first use (most producers never run a plain one). Destroyed after the loops: it
/// joins the threads, waiting for a plain function still running (one whose wait has ended and
/// that has not started is skipped).
class transaction_threads {
 public:
  /// Functions waiting for a thread or running, at most: beyond, one is not run (its answer is
  /// unknown), so that slow functions cannot pile up copies of messages without bound.
  static constexpr std::size_t queue_limit = 10'000;

  explicit transaction_threads(std::size_t count) noexcept : count_(count) {}
  ~transaction_threads();
  transaction_threads(const transaction_threads&) = delete;
  transaction_threads& operator=(const transaction_threads&) = delete;

  /// Any thread: runs `fn` on one of the threads; false (not run) beyond queue_limit.
  [[nodiscard]] bool try_run(std::function<void()> fn);
  /// Whether the calling thread is one of them (the producer may not be destroyed there).
  [[nodiscard]] bool on_transaction_thread() const;

 private:
  std::size_t count_;
  mutable std::mutex mutex_;
  std::unique_ptr<asio::thread_pool> pool_;
  std::atomic<std::size_t> pending_{0};
};

/// One transactional send, from the initiating call to its completion.
class transaction_run final : public message_operation<transaction_result> {
 public:
  transaction_run(producer& owner, std::shared_ptr<detail::cancel_hub> hub,
                  detail::outcome_completion<transaction_result>* completion, const message& msg,
                  local_transaction&& local, send_options&& options, bool cancellable)
      : message_operation(owner, std::move(hub), completion, msg, std::move(options), cancellable),
        local_(std::move(local)) {}

 private:
  friend class loop_transactions;
  void run_on(loop_sender& target) override;

  local_transaction local_;
};

/// One END_TRANSACTION: where it goes and what it says.
struct end_transaction_request {
  std::string address;  ///< the broker master's "ip:port"
  std::string broker_name;
  std::string topic;
  std::string msg_id;  ///< UNIQ_KEY
  std::optional<std::string> transaction_id;
  std::int64_t commit_log_offset = 0;
  std::int64_t tran_state_table_offset = 0;
  transaction_state state = transaction_state::unknown;
  bool from_check = false;
  bool with_broker_name = true;  ///< a 4.9 check answer has no bname
  bool with_topic = false;       ///< 5.x: the real topic, or the check's
};

/// How this client writes its requests' frames.
struct frame_settings {
  std::string_view group;  ///< producerGroup
  std::int32_t version = 0;
  wire::serialize_type serialization = wire::serialize_type::json;
  wire::language_code language = wire::language_code::cpp;
};

/// Appends the END_TRANSACTION frame (oneway, flag 2) of `request` with `opaque`.
void write_end_transaction(std::string& out, std::int32_t opaque,
                           const end_transaction_request& request, const frame_settings& frame);

/// The END_TRANSACTION of a stored half message, to be sent to `address` (its broker's master):
/// the broker's commit-log offset (from offsetMsgId) and queue offset, the message's UNIQ_KEY;
/// topic and transactionId only when the broker gave a transactionId (5.x), as each server
/// version's own client sends them. nullopt when the result has no valid offsetMsgId.
[[nodiscard]] std::optional<end_transaction_request> end_request_for(const send_result& half,
                                                                     transaction_state state,
                                                                     std::string address);

/// The commitOrRollback value of `state` (TRANSACTION_COMMIT_TYPE, _ROLLBACK_TYPE, NOT_TYPE).
[[nodiscard]] std::int32_t commit_or_rollback(transaction_state state) noexcept;

/// The commit-log offset inside an offsetMsgId (its last 16 hex digits), as the Java client
/// reads it for END_TRANSACTION; nullopt when it is not one.
[[nodiscard]] std::optional<std::int64_t> commit_log_offset_of(std::string_view offset_msg_id);

/// Decodes a CHECK_TRANSACTION_STATE request into what a checker gets; false when its header or
/// its body (a message in the store format) does not decode.
[[nodiscard]] bool decode_check(const wire::command_view& request, std::string_view address,
                                transaction_check& out, end_transaction_request& answer);

class loop_transactions {
 public:
  loop_transactions(const loop_settings& settings, io::loop& loop, route::broker_registry& brokers,
                    net::connection_pool& pool, loop_counters& counters,
                    operation_registry& operations);
  loop_transactions(const loop_transactions&) = delete;
  loop_transactions& operator=(const loop_transactions&) = delete;

  /// Loop thread: runs `run` (its reference is the coroutine's from now on).
  void run(transaction_run& run);
  /// Loop thread, from a connection's reader: a broker asks about a half message.
  void on_check(const std::string& address, const wire::command_view& request);
  /// Loop thread: writes one END_TRANSACTION (oneway); its error when it could not be.
  [[nodiscard]] coro<std::error_code> end_transaction(end_transaction_request request);

  [[nodiscard]] const loop_settings& settings() const noexcept { return settings_; }
  [[nodiscard]] io::loop& loop() noexcept { return loop_; }
  [[nodiscard]] route::broker_registry& brokers() noexcept { return brokers_; }
  [[nodiscard]] loop_counters& counters() noexcept { return counters_; }
  [[nodiscard]] operation_registry& operations() noexcept { return operations_; }
  /// Checks whose checker threw or ran late (their log lines are rate-limited).
  [[nodiscard]] std::uint64_t& checker_failures() noexcept { return checker_failures_; }

 private:
  const loop_settings& settings_;
  io::loop& loop_;
  route::broker_registry& brokers_;
  net::connection_pool& pool_;
  loop_counters& counters_;
  operation_registry& operations_;
  std::size_t checks_ = 0;  ///< checks under way (bounded by max_concurrent_checks)
  std::uint64_t checker_failures_ = 0;
};

}  // namespace rmq::send
