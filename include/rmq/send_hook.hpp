/// \file
/// rmq::send_hook: code of the application called before each send and after its completion
/// (the Java client's SendMessageHook), registered in producer_config::send_hooks.
#pragma once

#include "rmq/message.hpp"
#include "rmq/send_result.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace rmq {

/// What a hooked send is, besides the way it was called.
enum class send_hook_kind : std::uint8_t {
  message,       ///< a plain send (send, async_send, send_oneway, a batch)
  half_message,  ///< a transactional send's half message (as Java hooks see them)
  request,       ///< a request of request-reply (async_request, request)
  reply,         ///< a reply to a request
};

/// How the send was called: it decides its retries and whether a response is awaited.
enum class send_hook_mode : std::uint8_t {
  async,   ///< async_send and the other completion-token forms
  sync,    ///< the blocking send
  oneway,  ///< send_oneway: no response; it completes when its request is written
};

/// One message of a send, as a hook sees it. Given to send_hook::before_send (mutable: the hook
/// may add properties) and, const, to send_hook::after_send. Valid only during the call.
class send_context {
 public:
  /// The user's message, never changed by the send (added properties go into the request).
  [[nodiscard]] const message& msg() const noexcept { return *msg_; }
  /// The topic as the user names it (without the producer's namespace).
  [[nodiscard]] std::string_view topic() const noexcept { return msg_->topic(); }
  /// The producer group as configured (producer_config::group).
  [[nodiscard]] std::string_view group() const noexcept { return group_; }
  /// What the send is: a plain message, a half message, a request or a reply.
  [[nodiscard]] send_hook_kind kind() const noexcept { return kind_; }
  /// How the send was called.
  [[nodiscard]] send_hook_mode mode() const noexcept { return mode_; }
  /// This message's index in its batch (0 for a single message).
  [[nodiscard]] std::size_t batch_index() const noexcept { return batch_index_; }
  /// Messages in the send: the batch's size, 1 for a single message.
  [[nodiscard]] std::size_t batch_size() const noexcept { return batch_size_; }

  /// before_send only: adds the property `name`=`value` to this message's request (for a batch,
  /// to this message's record), never to msg(). The rules of the message's own properties hold:
  /// errc::property_name_reserved (a system name such as KEYS or UNIQ_KEY),
  /// property_name_blank, property_value_blank, illegal_separator_character (0x01 or 0x02);
  /// the property is then not added. It is written after the message's own properties, so a
  /// name the message has already is sent twice and brokers keep the hook's value. The added
  /// bytes count against the 32767-byte properties limit: a send that exceeds it fails with
  /// errc::properties_too_long (after_send still runs). Calling it from after_send returns
  /// errc::invalid_argument.
  std::error_code add_property(std::string_view name, std::string_view value);

  /// Library-internal: where added properties go.
  struct sink {
    void* target = nullptr;  ///< null: adding is refused (after_send)
    /// Adds one validated property for message `index`.
    std::error_code (*add)(void* target, std::size_t index, std::string_view name,
                           std::string_view value) = nullptr;
  };
  /// Library-internal: built by the send pipeline.
  send_context(const message& msg, std::string_view group, send_hook_kind kind, send_hook_mode mode,
               std::size_t batch_index, std::size_t batch_size, sink properties) noexcept
      : msg_(&msg),
        group_(group),
        batch_index_(batch_index),
        batch_size_(batch_size),
        sink_(properties),
        kind_(kind),
        mode_(mode) {}

 private:
  const message* msg_;
  std::string_view group_;
  std::size_t batch_index_;
  std::size_t batch_size_;
  sink sink_;
  send_hook_kind kind_;
  send_hook_mode mode_;
};

/// How a hooked send completed, given to send_hook::after_send. Valid only during the call.
struct send_outcome {
  /// The send's error (empty: it succeeded), as its handler gets it.
  std::error_code error;
  /// The send's result, as its handler gets it: status, msg_id, queue (broker and queue id) and
  /// offset on success; on failure the topic and the diagnostics. A batch's result is the same
  /// for each of its messages.
  const send_result& result;
  /// Attempts made (0: it failed before its first attempt, e.g. no route).
  int attempts = 0;
  /// From the call (or the send's start on a loop) to its completion.
  std::chrono::nanoseconds latency{0};
  /// The broker of its last attempt; empty without an attempt.
  std::string_view broker;
  /// The address ("host:port") of that broker's master as the producer knows it when the send
  /// completes (the Java hook context's brokerAddr); empty without an attempt.
  std::string_view broker_address;
};

/// Code of the application run around every send that reaches a producer loop (Java's
/// SendMessageHook). Register it in producer_config::send_hooks; hooks run in that order.
///
/// Once per send, not per attempt: before_send runs when the send starts on its loop, before
/// its first attempt; after_send exactly once when it completes, whatever the way (a result, a
/// failure, a timeout, a cancellation, shutdown), before its handler runs or is handed to its
/// executor. A oneway send completes when its request is written. A batch calls each hook once
/// per message, in order, with the batch's one outcome. Half messages of transactional sends,
/// requests and replies are hooked too (send_context::kind tells them apart); END_TRANSACTION
/// is not a send. A send refused before it reaches a loop (an invalid message, a full producer
/// with fail_fast_when_full, a producer not started) runs no hook.
///
/// Threads: both run on the send's loop thread, the thread that runs every send and response
/// of its connections. They must not block and should be short: a slow hook delays every send
/// of that loop. A hook shared by several loops (producer_config::loop_threads > 1) is called
/// concurrently from them, so state it keeps must be thread-safe.
///
/// Exceptions: one that escapes a hook is caught, counted (producer_stats::hook_exceptions)
/// and logged, rate-limited; the send goes on (a before_send that threw keeps the properties
/// it added before throwing) and completes exactly once.
class send_hook {
 public:
  virtual ~send_hook() = default;
  /// Before the send's first attempt, once per message.
  virtual void before_send(send_context& context) = 0;
  /// After the send completed, once per message.
  virtual void after_send(const send_context& context, const send_outcome& outcome) = 0;
};

}  // namespace rmq
