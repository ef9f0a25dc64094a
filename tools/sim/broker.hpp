// Broker behaviour: SEND_MESSAGE (v1, v2, batch), HEART_BEAT, UNREGISTER_CLIENT,
// END_TRANSACTION, SEND_REPLY_MESSAGE(_V2), with response headers shaped like the captured real
// ones. Transactions and replies have their own services (transactions.hpp, replies.hpp); the
// producer connections they write to are learnt here.
#pragma once

#include "cluster.hpp"
#include "producers.hpp"
#include "recorder.hpp"
#include "replies.hpp"
#include "server.hpp"
#include "transactions.hpp"
#include "wire/batch.hpp"
#include "wire/compression.hpp"
#include "wire/headers.hpp"
#include "wire/properties.hpp"

#include <asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace rmq::sim {

class broker_handler final : public request_handler {
 public:
  broker_handler(asio::io_context& io, cluster& metadata, broker_state& state, recorder& records,
                 const sim_config& config);

  void attach(server& owner) noexcept;
  /// Recomputes the store host (offsetMsgIds); call whenever the broker's port changes.
  void on_port_changed();

  /// Called with every request message (REPLY_TO_CLIENT + CORRELATION_ID) this broker stored.
  void set_request_hook(std::function<void(reply_service&, const stored_message&)> hook) {
    request_hook_ = std::move(hook);
  }
  [[nodiscard]] transaction_service& transactions() noexcept { return transactions_; }
  [[nodiscard]] reply_service& replies() noexcept { return replies_; }

  void handle(const wire::command_view& request, const fault_decision& fault,
              const request_source& from, std::string& out) override;
  [[nodiscard]] bool in_default_fault_scope(std::int32_t code) const noexcept override;
  void connection_closed(connection_id connection) override {
    producers_.connection_closed(connection);
  }

 private:
  void send(const wire::command_view& request, const fault_decision& fault,
            const request_source& from, std::string& out);
  void reply_send(const wire::command_view& request, const fault_decision& fault,
                  const request_source& from, std::string& out);
  void heartbeat(const wire::command_view& request, const request_source& from, std::string& out);
  void unregister_client(const wire::command_view& request, const request_source& from,
                         std::string& out);
  void end_transaction(const wire::command_view& request, std::string& out);

  /// The checks of the send processor (msgCheck) up to the queue: answers the error and
  /// returns nullptr if one fails; else the topic, with `queue_id` resolved.
  topic_state* destination(const wire::command_view& request,
                           const wire::send_message_request_header& header,
                           const fault_decision& fault, std::string_view peer,
                           std::int32_t& queue_id, std::int32_t& result_code, std::string& out);
  /// Errors of the send processor carry MSG_REGION and TRACE_ON (added before its checks);
  /// errors raised by the remoting layer carry no extFields.
  void write_send_error(std::string& out, const wire::command_view& request, std::int32_t code,
                        std::string_view remark, bool with_region);
  /// The send result; no transactionId when `transaction_id` is empty (reply sends).
  /// A send header the remoting layer cannot build (SYSTEM_ERROR, RemotingCommandException).
  void write_malformed_header(std::string& out, const wire::command_view& request);
  void write_send_result(std::string& out, const wire::command_view& request, std::int32_t code,
                         std::int32_t queue_id, std::int64_t queue_offset, std::string_view msg_ids,
                         std::string_view transaction_id,
                         std::optional<std::string_view> remark = std::nullopt,
                         std::string_view recall_handle = {});
  /// A timer message's recall handle (empty when `properties` carry no timer or no UNIQ_KEY);
  /// the timer is remembered for recall().
  [[nodiscard]] std::string timer_handle(std::string_view topic, std::string_view properties);
  /// RECALL_MESSAGE (5 personality).
  void recall(const wire::command_view& request, std::string& out);
  /// A received message, decoded for inspection (offsets as given).
  [[nodiscard]] stored_message make_message(const wire::command_view& request,
                                            const wire::send_message_request_header& header,
                                            std::int32_t queue_id, std::int64_t queue_offset,
                                            std::int64_t commit_offset, std::string_view msg_id,
                                            std::int32_t response_code, std::int32_t flag,
                                            std::string_view body, std::string_view properties,
                                            std::int32_t batch_index);

  cluster& cluster_;
  broker_state& state_;
  recorder& records_;
  server* server_ = nullptr;
  server_counters* counters_ = nullptr;
  std::string region_;
  std::string trace_on_;
  std::vector<acl_account> acl_accounts_;  // empty: no ACL
  bool recall_enabled_;                    // recallMessageEnable
  struct timer_entry {
    std::string topic;
    std::int64_t slot_ms = 0;
    bool recalled = false;
  };
  std::unordered_map<std::string, timer_entry> timers_;  // timer messages by UNIQ_KEY
  std::size_t broker_properties_size_ = 0;  // MSG_REGION and TRACE_ON as the broker adds them
  producer_registry producers_;
  transaction_service transactions_;
  reply_service replies_;
  std::function<void(reply_service&, const stored_message&)> request_hook_;
  std::string msg_ids_;        // reused response scratch
  std::string generated_key_;  // 5.x: UNIQ_KEY made up for messages without one
  std::uint64_t generated_count_ = 0;
  std::vector<wire::batch_record> batch_;
  wire::body_codec codec_;
  std::vector<wire::property_ref> properties_;
};

}  // namespace rmq::sim
