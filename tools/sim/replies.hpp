// Request-reply, as the Java broker's ReplyMessageProcessor has it. A request is an ordinary
// send whose properties carry REPLY_TO_CLIENT and CORRELATION_ID (the send path stores it).
// A reply - from a SEND_REPLY_MESSAGE(_V2) or made by the responder - is pushed to the
// connection of its REPLY_TO_CLIENT on the broker that got it, with
// PUSH_REPLY_MESSAGE_TO_CLIENT (two-way), then stored in <cluster>_REPLY_TOPIC; the reply send
// is answered once the requester acknowledged the push (or failed to).
//
// The responder stands in for a responder client: it answers every request message a broker
// stores with a reply sent through this or another broker, optionally after a delay.
// I/O thread only.
#pragma once

#include "cluster.hpp"
#include "producers.hpp"
#include "recorder.hpp"
#include "server.hpp"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rmq::sim {

/// Whether a stored message is a request of request-reply (REPLY_TO_CLIENT and CORRELATION_ID).
[[nodiscard]] bool is_request_message(std::string_view properties) noexcept;

/// A reply to deliver: the fields of the reply send's header, its body, who sent it.
struct reply_message {
  stored_message message;  ///< what is stored: reply topic, queue, properties as sent, body
  std::string default_topic{"TBW102"};
  std::int32_t default_topic_queue_nums = 4;
  std::int32_t requested_queue_id = 0;  ///< the header's queueId (the push repeats it)
  std::string properties;               ///< as sent
  std::string body;                     ///< as sent (compressed if the replier compressed it)
  std::optional<std::int32_t> reconsume_times;
  bool unit_mode = false;
  std::string born_host;  ///< "ip:port" of the replier
  bool from_responder = false;
};

/// How a delivery ended, for the reply send's answer.
struct reply_delivery {
  reply_outcome outcome = reply_outcome::delivered;
  std::optional<std::string> remark;  ///< the real broker's, when not delivered
  std::int32_t queue_id = 0;
  std::int64_t queue_offset = 0;
  std::string msg_id;  ///< offsetMsgId of the stored reply
};

class reply_service {
 public:
  reply_service(cluster& metadata, broker_state& state, recorder& records,
                producer_registry& producers, std::chrono::milliseconds push_timeout,
                std::string region, bool trace_on);
  reply_service(const reply_service&) = delete;
  reply_service& operator=(const reply_service&) = delete;

  void attach(server& owner) noexcept {
    server_ = &owner;
    counters_ = &owner.extra_counters().replies;
  }
  [[nodiscard]] reply_counters& counters() noexcept { return *counters_; }
  [[nodiscard]] const std::string& broker_name() const noexcept { return state_.config.name; }
  [[nodiscard]] const std::string& store_host() const noexcept { return state_.store_host; }
  [[nodiscard]] personality version() const noexcept { return cluster_.version(); }
  [[nodiscard]] std::string reply_topic() const { return cluster_.reply_topic(); }
  /// A fresh UNIQ_KEY as a client would make one (for replies the responder sends).
  [[nodiscard]] std::string make_uniq_key();

  /// Pushes the reply to its requester's connection here, stores it, then calls `done` (at once
  /// when the requester has no connection here, else once it answered or the push timed out).
  void deliver(reply_message reply, std::function<void(const reply_delivery&)> done);
  /// The responder left a request unanswered (responder_config::withhold).
  void record_withheld(const stored_message& request);

  [[nodiscard]] std::vector<reply_record> records() const {
    return {records_list_.begin(), records_list_.end()};
  }

 private:
  [[nodiscard]] std::string push_frame(const reply_message& reply, std::int32_t opaque) const;
  reply_delivery store(const reply_message& reply, reply_outcome outcome,
                       std::optional<std::string> remark, std::size_t record);
  std::size_t add_record(const reply_message& reply);

  cluster& cluster_;
  broker_state& state_;
  recorder& records_;
  producer_registry& producers_;
  std::chrono::milliseconds push_timeout_;
  std::string region_;
  std::string trace_on_;
  server* server_ = nullptr;
  reply_counters* counters_ = nullptr;
  reply_counters unattached_;  // until attach()
  // Bounded: the oldest records are dropped; `record_base_` numbers the first one kept.
  std::deque<reply_record> records_list_;
  std::size_t record_base_ = 0;
  std::uint64_t keys_made_ = 0;
};

/// Answers request messages like a responder client (responder_config).
class responder {
 public:
  using broker_lookup = std::function<reply_service*(std::string_view name)>;
  responder(asio::io_context& io, responder_config config, broker_lookup lookup);
  responder(const responder&) = delete;
  responder& operator=(const responder&) = delete;

  void set_config(responder_config config) { config_ = std::move(config); }
  [[nodiscard]] const responder_config& config() const noexcept { return config_; }

  /// `broker` stored `request`, a request message: schedules its reply.
  void on_request(reply_service& broker, const stored_message& request);

 private:
  [[nodiscard]] reply_message make_reply(reply_service& via, const stored_message& request) const;

  asio::io_context& io_;
  responder_config config_;
  broker_lookup lookup_;
  // Replies waiting for their delay; each removes itself when it fires.
  std::map<std::uint64_t, std::unique_ptr<asio::steady_timer>> waiting_;
  std::uint64_t next_wait_ = 0;
};

}  // namespace rmq::sim
