// What an initiating call of rmq::producer hands to the library: one send, described by
// pointers to the caller's arguments. Nothing here is for users to call.
#pragma once

#include "rmq/message.hpp"
#include "rmq/message_queue.hpp"
#include "rmq/queue_selector.hpp"
#include "rmq/send_options.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rmq::detail {

/// How the user asked: it decides the retry budget and whether a response is awaited.
enum class send_kind : std::uint8_t { async, sync, oneway };

/// What the send is for besides delivering its message: a transactional send's half message
/// (sysFlag TRANSACTION_PREPARED, properties TRAN_MSG and PGROUP), a request (REPLY_TO_CLIENT,
/// CORRELATION_ID, TTL) or a reply to one (SEND_REPLY_MESSAGE_V2, MSG_TYPE=reply and the
/// request's correlation properties).
enum class send_purpose : std::uint8_t { plain, half_message, request, reply };

/// Marks an initiation's request as a transaction's half message (library-internal).
struct half_message_marker {};

/// The correlation properties of a request or a reply, copied by the send before the initiating
/// call returns (library-internal).
struct correlation_fields {
  std::string_view correlation_id;   ///< CORRELATION_ID
  std::string_view reply_to_client;  ///< REPLY_TO_CLIENT: the requester's client id
  std::string_view ttl;              ///< TTL: the request's timeout in milliseconds
};
/// Marks an initiation's request as a request or a reply, with its correlation properties
/// (library-internal). Held by value: a deferred initiation stores it until it starts.
struct correlation_marker {
  send_purpose purpose = send_purpose::request;
  std::string correlation_id;
  std::string reply_to_client;
  std::string ttl;
  correlation_fields view;  ///< into the strings above, set by describe()
};

/// Joins a cancellable send to its handler's cancellation slot (src/send/cancel_link.hpp).
struct cancel_link;

/// One send as the initiating call describes it. The library takes over (moves from) `owned`,
/// `owned_batch`, `queue` and `selector` before the call returns; `msg` and `batch` are the
/// user's and must outlive the send unless they point into what is taken over.
struct send_request {
  const message* msg = nullptr;                 ///< the message, or a batch's first
  std::span<const message> batch;               ///< non-empty: SEND_BATCH_MESSAGE
  message* owned = nullptr;                     ///< an rvalue message the send takes over
  std::vector<message>* owned_batch = nullptr;  ///< an rvalue batch the send takes over
  message_queue* queue = nullptr;               ///< ordered: the explicit queue
  queue_selector* selector = nullptr;           ///< ordered: the selector
  std::chrono::milliseconds timeout{0};         ///< send_options::timeout (0: the producer's)
  cancel_link* cancel = nullptr;  ///< the handler's slot is connected: the send's reference
  send_kind kind = send_kind::async;
  send_purpose purpose = send_purpose::plain;
  const correlation_fields* correlation = nullptr;  ///< a request's or a reply's
  bool conflicting_target = false;  ///< send_options named both a queue and a selector
};

// What an initiation's extra argument means for the request (the argument lives in the
// initiation, or in a deferred operation that stores it, until the send has started).
inline void describe(send_request& r, message& m) noexcept {
  r.owned = &m;
  r.msg = &m;
}
inline void describe(send_request& r, message_queue& q) noexcept {
  r.queue = &q;
}
inline void describe(send_request& r, queue_selector& s) noexcept {
  r.selector = &s;
}
inline void describe(send_request& r, send_options& o) noexcept {
  if (o.queue) r.queue = &*o.queue;
  if (o.selector) r.selector = &o.selector;
  r.conflicting_target = o.queue.has_value() && o.selector != nullptr;
  r.timeout = o.timeout;
}
inline void describe(send_request& r, half_message_marker) noexcept {
  r.purpose = send_purpose::half_message;
}
inline void describe(send_request& r, correlation_marker& m) noexcept {
  m.view = {m.correlation_id, m.reply_to_client, m.ttl};
  r.purpose = m.purpose;
  r.correlation = &m.view;
}
inline void describe(send_request& r, std::span<const message> b) noexcept {
  r.batch = b;
}
inline void describe(send_request& r, std::vector<message>& b) noexcept {
  r.owned_batch = &b;
  r.batch = b;
}

}  // namespace rmq::detail
