// Broker behaviour: SEND_MESSAGE (v1, v2, batch), HEART_BEAT, UNREGISTER_CLIENT,
// END_TRANSACTION, with response headers shaped like the captured real ones.
#pragma once

#include "cluster.hpp"
#include "recorder.hpp"
#include "server.hpp"
#include "wire/batch.hpp"
#include "wire/compression.hpp"
#include "wire/headers.hpp"
#include "wire/properties.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace rmq::sim {

class broker_handler final : public request_handler {
 public:
  broker_handler(cluster& metadata, broker_state& state, recorder& records, std::string region,
                 bool trace_on);

  void attach(server& owner) noexcept { counters_ = &owner.extra_counters(); }
  /// Recomputes the store-host part of offsetMsgId; call whenever the broker's port changes.
  void on_port_changed();

  void handle(const wire::command_view& request, const fault_decision& fault,
              const request_source& from, std::string& out) override;
  [[nodiscard]] bool in_default_fault_scope(std::int32_t code) const noexcept override;

 private:
  void send(const wire::command_view& request, const fault_decision& fault, std::string_view peer,
            std::string& out);
  void heartbeat(const wire::command_view& request, std::string& out);
  void unregister_client(const wire::command_view& request, std::string& out);
  void end_transaction(const wire::command_view& request, std::string& out);

  /// Errors of the send processor carry MSG_REGION and TRACE_ON (added before its checks);
  /// errors raised by the remoting layer carry no extFields.
  void write_send_error(std::string& out, const wire::command_view& request, std::int32_t code,
                        std::string_view remark, bool with_region);
  void write_send_result(std::string& out, const wire::command_view& request, std::int32_t code,
                         std::int32_t queue_id, std::int64_t queue_offset, std::string_view msg_ids,
                         std::string_view transaction_id);
  /// Appends the offsetMsgId of a message stored at `offset` to `out`.
  void append_msg_id(std::string& out, std::int64_t offset) const;
  void store(const wire::command_view& request, const wire::send_message_request_header& header,
             std::string_view topic, std::int32_t queue_id, std::int64_t queue_offset,
             std::int64_t commit_offset, std::string_view msg_id, std::int32_t response_code,
             std::int32_t flag, std::string_view body, std::string_view properties,
             std::int32_t batch_index);

  cluster& cluster_;
  broker_state& state_;
  recorder& records_;
  server_counters* counters_ = nullptr;
  std::string region_;
  std::string trace_on_;
  std::size_t broker_properties_size_ = 0;  // MSG_REGION and TRACE_ON as the broker adds them
  char msg_id_prefix_[16] = {};             // hex of store host IP and port
  std::string msg_ids_;                     // reused response scratch
  std::string generated_key_;               // 5.x: UNIQ_KEY made up for messages without one
  std::uint64_t generated_count_ = 0;
  std::vector<wire::batch_record> batch_;
  wire::body_codec codec_;
  std::vector<wire::property_ref> properties_;
};

}  // namespace rmq::sim
