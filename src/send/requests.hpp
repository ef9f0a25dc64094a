// Request-reply on one loop: the requests started there (route and heartbeats → the request's
// send with CORRELATION_ID, REPLY_TO_CLIENT, TTL → the wait for its reply, all under one
// deadline) and the replies brokers push on its connections (PUSH_REPLY_MESSAGE_TO_CLIENT),
// which go to the request waiting for them on whichever loop it runs.
#pragma once

#include "io/loop.hpp"
#include "rmq/detail/completion.hpp"
#include "rmq/message.hpp"
#include "rmq/request_reply.hpp"
#include "rmq/send_options.hpp"
#include "send/loop_counters.hpp"
#include "send/loop_operation.hpp"
#include "send/loop_settings.hpp"
#include "wire/command.hpp"

#include <asio/experimental/concurrent_channel.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

namespace rmq {
class producer;
}

namespace rmq::net {
class connection_core;
}

namespace rmq::send {

class loop_sender;

/// Requests waiting for their reply, by CORRELATION_ID. Shared by a producer's loops — the
/// broker that stores a reply pushes it on the connection our client id last registered with
/// it, which may belong to any loop — so guarded by a mutex: requests are not the hot path.
class reply_table {
 public:
  /// Where a waiting request takes its reply (on its own loop's executor).
  using channel = asio::experimental::concurrent_channel<void(std::error_code, message)>;

  explicit reply_table(std::size_t capacity) noexcept : capacity_(capacity) {}

  /// Registers a request; false when `capacity` requests wait already (or the id is in use).
  [[nodiscard]] bool add(const std::string& correlation_id, std::shared_ptr<channel> waiter);
  /// The request gave up (answered, timed out, cancelled).
  void remove(const std::string& correlation_id) noexcept;
  /// Any loop thread: a reply arrived; hands it to its request. False when none waits for it
  /// (it came late, or it is not ours): it is dropped.
  bool deliver(std::string_view correlation_id, message&& reply);

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<channel>> waiting_;
};

/// One request, from the initiating call to its completion.
class request_run final : public message_operation<request_result> {
 public:
  using message_operation::message_operation;

 private:
  friend class loop_requests;
  void run_on(loop_sender& target) override;
};

/// A random CORRELATION_ID in the Java client's form (a UUID, 36 characters).
[[nodiscard]] std::string make_correlation_id();

/// Decodes a PUSH_REPLY_MESSAGE_TO_CLIENT into the reply message and its CORRELATION_ID; false
/// when its header does not decode or it has no CORRELATION_ID.
[[nodiscard]] bool decode_reply(const wire::command_view& push, message& reply,
                                std::string& correlation_id);

class loop_requests {
 public:
  loop_requests(loop_sender& owner, const loop_settings& settings, loop_counters& counters,
                operation_registry& operations);
  loop_requests(const loop_requests&) = delete;
  loop_requests& operator=(const loop_requests&) = delete;

  /// Loop thread: runs `run` (its reference is the coroutine's from now on).
  void run(request_run& run);
  /// Loop thread, from a connection's reader: a broker pushes a reply. Answered at once on
  /// `core` (SUCCESS, as the Java client does, matched or not), then handed to its request.
  void on_reply(net::connection_core& core, const wire::command_view& push);

  [[nodiscard]] loop_sender& owner() noexcept { return owner_; }
  [[nodiscard]] const loop_settings& settings() const noexcept { return settings_; }
  [[nodiscard]] loop_counters& counters() noexcept { return counters_; }
  [[nodiscard]] operation_registry& operations() noexcept { return operations_; }

 private:
  loop_sender& owner_;
  const loop_settings& settings_;
  loop_counters& counters_;
  operation_registry& operations_;
  std::uint64_t undecodable_ = 0;  ///< reply pushes that did not decode
};

}  // namespace rmq::send
