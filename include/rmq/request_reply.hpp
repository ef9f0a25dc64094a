/// \file
/// Request-reply (the Java DefaultMQProducer.request and MessageUtil.createReplyMessage): a
/// request is a message sent with CORRELATION_ID, REPLY_TO_CLIENT (the requester's client id)
/// and TTL; a responder — any consumer of the request's topic — sends the reply to
/// `<cluster>_REPLY_TOPIC` with SEND_REPLY_MESSAGE_V2, and the broker that stores it pushes it to
/// the requester's connection (PUSH_REPLY_MESSAGE_TO_CLIENT), where it completes the request.
#pragma once

#include "rmq/message.hpp"
#include "rmq/send_result.hpp"

#include <map>
#include <string>

namespace rmq {

/// The outcome of a request.
struct request_result {
  /// The request's send (where it was stored). On a timeout after a successful send, its status
  /// is send_ok: the request was stored, no reply came in time.
  send_result request;
  /// The reply: its topic (`<cluster>_REPLY_TOPIC`), tags, keys, body (decompressed) and user
  /// properties (the correlation properties are not user properties; see correlation_id).
  message reply;
  /// The request's CORRELATION_ID, which the reply carried back.
  std::string correlation_id;
};

/// A received request's properties as any consumer gives them (name → value): what a reply is
/// built from (CLUSTER, CORRELATION_ID, REPLY_TO_CLIENT, TTL).
using request_properties = std::map<std::string, std::string>;

}  // namespace rmq
