/// \file
/// Transactional messages (the Java TransactionMQProducer): the states a local transaction or a
/// check-back decides, the result of a transactional send, and the checker a producer registers
/// so that brokers can ask what became of a half message.
///
/// A transactional send stores a half message (invisible to consumers), runs the user's local
/// transaction, and tells the broker that stored it to commit or roll it back (END_TRANSACTION).
/// When that answer is unknown or lost, the broker asks the producer group later
/// (CHECK_TRANSACTION_STATE) and the producer's checker answers.
#pragma once

#include "rmq/message.hpp"
#include "rmq/send_result.hpp"

#include <asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace rmq {

/// What a local transaction or a check decides (LocalTransactionState).
enum class transaction_state {
  commit,    ///< COMMIT_MESSAGE: the half message becomes visible to consumers
  rollback,  ///< ROLLBACK_MESSAGE: the broker drops it
  unknown,   ///< UNKNOW: the broker keeps it and asks the producer group again later
};

/// The Java client's name of `state` ("COMMIT_MESSAGE", "ROLLBACK_MESSAGE", "UNKNOW").
[[nodiscard]] std::string_view to_string(transaction_state state) noexcept;

/// The outcome of a transactional send (TransactionSendResult).
struct transaction_result {
  /// The half message's send. Its status is send_ok when the local transaction ran.
  send_result send;
  /// What END_TRANSACTION told the broker: the local transaction's answer; unknown when it
  /// threw, timed out or was cancelled; rollback when the half message was stored but not as
  /// asked (a status other than send_ok: the local transaction does not run, as in Java).
  transaction_state state = transaction_state::unknown;
  /// Set when END_TRANSACTION could not be written (the broker's connection failed, ...): the
  /// half message stays pending and the broker will ask the checker. Empty otherwise.
  std::error_code end_error;
  /// The local transaction threw (its what(), bounded) or timed out; empty otherwise.
  std::string local_error;
};

/// A broker's question about a half message (CHECK_TRANSACTION_STATE), as the checker gets it.
struct transaction_check {
  std::string topic;                  ///< the message's topic
  std::string msg_id;                 ///< its UNIQ_KEY: send_result::msg_id of the half message
  std::string transaction_id;         ///< the broker's transactionId (the UNIQ_KEY, as msg_id)
  std::string offset_msg_id;          ///< the broker's id of the copy it checks
  std::string broker_address;         ///< the broker that asks ("ip:port")
  std::string tags;                   ///< TAGS of the half message
  std::string keys;                   ///< KEYS of the half message
  std::string body;                   ///< its body (decompressed)
  message::property_list properties;  ///< its user properties, in wire order
  int check_times = 0;                ///< how many times the broker has asked (1 = first)
};

namespace detail {
template <class F, class... Args>
inline constexpr bool returns_awaitable_state =
    std::is_same_v<std::invoke_result_t<F&, Args...>, asio::awaitable<transaction_state>>;
template <class F, class... Args>
inline constexpr bool returns_state =
    std::is_convertible_v<std::invoke_result_t<F&, Args...>, transaction_state>;
}  // namespace detail

/// User code of a transaction — a local transaction or a checker — taking `Args`: either a plain
/// function returning transaction_state, or a coroutine returning
/// asio::awaitable<transaction_state>. Where each runs:
/// - a coroutine runs on a producer loop (it must not block; it may co_await any Asio
///   operation — a database driver's, a timer — without holding the loop up); at its timeout it
///   gets a terminal cancellation and is no longer waited for;
/// - a plain function runs on the producer's transaction threads
///   (producer_config::transaction_threads), so that one that blocks on a database holds up no
///   send; it may block for as long as its timeout allows, after which its answer is unknown and
///   it is no longer waited for (the thread stays busy until it returns; one that has not
///   started by then is skipped). At most 10,000 plain functions wait for a thread or run: one
///   more is not run, and its answer is unknown.
/// Either may outlive its operation, so it gets copies of its arguments (the message, the
/// result, the check), which live as long as it runs.
/// Either may throw: the answer is then unknown.
template <class... Args>
class transaction_function {
 public:
  /// A coroutine that answers on the producer's loop.
  using awaitable_form = std::function<asio::awaitable<transaction_state>(Args...)>;
  /// A plain function that answers on a transaction thread.
  using plain_form = std::function<transaction_state(Args...)>;

  /// Empty: no user code.
  transaction_function() = default;
  /// From any callable of either shape (copied or moved in).
  template <class F>
  requires(!std::is_same_v<std::decay_t<F>, transaction_function> &&
           std::is_invocable_v<std::decay_t<F>&, Args...>)
      transaction_function(F&& f) {  // NOLINT(google-explicit-constructor): as std::function
    using fn = std::decay_t<F>;
    if constexpr (detail::returns_awaitable_state<fn, Args...>) {
      awaitable_ = std::forward<F>(f);
    } else {
      static_assert(detail::returns_state<fn, Args...>,
                    "returns neither rmq::transaction_state nor "
                    "asio::awaitable<rmq::transaction_state>");
      plain_ = std::forward<F>(f);
    }
  }

  /// Whether it holds user code of either form.
  [[nodiscard]] explicit operator bool() const noexcept {
    return static_cast<bool>(awaitable_) || static_cast<bool>(plain_);
  }
  /// The coroutine form, when it was given one (empty otherwise).
  [[nodiscard]] const awaitable_form& as_awaitable() const noexcept { return awaitable_; }
  /// The plain form, when it was given one (empty otherwise).
  [[nodiscard]] const plain_form& as_plain() const noexcept { return plain_; }

 private:
  awaitable_form awaitable_;
  plain_form plain_;
};

/// The local transaction of a transactional send (TransactionListener.executeLocalTransaction):
/// called once the half message is stored, with the message and the half message's result.
using local_transaction = transaction_function<const message&, const send_result&>;

/// The producer group's answer to a broker's check (TransactionListener.checkLocalTransaction).
using transaction_checker = transaction_function<const transaction_check&>;

}  // namespace rmq
