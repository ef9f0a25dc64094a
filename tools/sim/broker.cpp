#include "broker.hpp"

#include "acl.hpp"
#include "faults.hpp"
#include "response.hpp"
#include "wire/codes.hpp"
#include "wire/heartbeat.hpp"
#include "wire/perm.hpp"
#include "wire/properties.hpp"
#include "wire/recall.hpp"
#include "wire/route_data.hpp"
#include "wire/sys_flag.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>

namespace rmq::sim {

namespace {

// Clients above MQVersion.V5_3_1 are told to go away (5.3.2-SNAPSHOT is 476).
constexpr std::int32_t go_away_min_version = wire::mq_version::v5_3_1;

std::string perm_text(int perm) {
  std::string text;
  text += (perm & perm_read) ? 'R' : '-';
  text += (perm & perm_write) ? 'W' : '-';
  text += (perm & perm_inherit) ? 'X' : '-';
  return text;
}

}  // namespace

broker_handler::broker_handler(asio::io_context& io, cluster& metadata, broker_state& state,
                               recorder& records, const sim_config& config)
    : cluster_(metadata),
      state_(state),
      records_(records),
      region_(config.region),
      trace_on_(config.trace_on ? "true" : "false"),
      acl_accounts_(config.acl_accounts),
      recall_enabled_(config.recall_enabled),
      transactions_(io, metadata, state, records, producers_, config.transactions, config.region,
                    config.trace_on),
      replies_(metadata, state, records, producers_, config.reply_push_timeout, config.region,
               config.trace_on) {
  // "MSG_REGION\1<region>\2TRACE_ON\1<bool>\2" as the broker appends them to the properties.
  broker_properties_size_ = 10 + 1 + region_.size() + 1 + 8 + 1 + trace_on_.size() + 1;
  on_port_changed();
}

void broker_handler::attach(server& owner) noexcept {
  server_ = &owner;
  counters_ = &owner.extra_counters();
  transactions_.attach(owner);
  replies_.attach(owner);
}

void broker_handler::on_port_changed() {
  state_.set_store_host(cluster_.host());
}

bool broker_handler::in_default_fault_scope(std::int32_t code) const noexcept {
  return code == wire::request_code::send_message || code == wire::request_code::send_message_v2 ||
         code == wire::request_code::send_batch_message;
}

void broker_handler::handle(const wire::command_view& request, const fault_decision& fault,
                            const request_source& from, std::string& out) {
  const std::int32_t code = request.fields.code;
  // NettyRemotingAbstract.processRequestCommand, 5.3: while shutting down gracefully, before
  // anything else, every request of a client above V5_3_1 gets GO_AWAY (a oneway one nothing).
  if (state_.going_away && cluster_.version() == personality::v5 &&
      request.fields.version > go_away_min_version) [[unlikely]] {
    ++counters_->go_away_answers;
    write_response(out, personality::v5, request, wire::response_code::go_away, "please go away");
    return;
  }
  // The ACL runs before any processor, as the real brokers' RPC hook (4.9) or request pipeline
  // (5.x) does; a refused oneway request gets no answer.
  if (auto denial = check_acl(cluster_.version(), acl_accounts_, request)) [[unlikely]] {
    ++counters_->acl_denied;
    write_response(out, cluster_.version(), request, denial->code, denial->remark);
    return;
  }
  if (in_default_fault_scope(code)) {
    send(request, fault, from, out);
    return;
  }
  const personality version = cluster_.version();
  if (fault.error_code) {
    write_response(out, version, request, *fault.error_code,
                   fault.remark(version, cluster_.host()));
    return;
  }
  switch (code) {
    case wire::request_code::heart_beat:
      heartbeat(request, from, out);
      return;
    case wire::request_code::unregister_client:
      unregister_client(request, from, out);
      return;
    case wire::request_code::end_transaction:
      end_transaction(request, out);
      return;
    case wire::request_code::send_reply_message:
    case wire::request_code::send_reply_message_v2:
      reply_send(request, fault, from, out);
      return;
    case wire::request_code::recall_message:
      if (version == personality::v5) {
        recall(request, out);
      } else {
        write_not_supported(out, version, request);  // 4.9 has no such processor
      }
      return;
    default:
      write_not_supported(out, version, request);
      return;
  }
}

void broker_handler::write_send_error(std::string& out, const wire::command_view& request,
                                      std::int32_t code, std::string_view remark,
                                      bool with_region) {
  const personality version = cluster_.version();
  wire::frame_writer writer(out, response_type(version, request),
                            response_fields(version, request, code), remark);
  if (with_region) {
    writer.field("MSG_REGION", std::string_view(region_));
    writer.field("TRACE_ON", std::string_view(trace_on_));
  }
  writer.finish();
}

void broker_handler::write_malformed_header(std::string& out, const wire::command_view& request) {
  // The remoting layer cannot build the custom header and answers from its exception handler.
  write_send_error(out, request, wire::response_code::system_error,
                   "org.apache.rocketmq.remoting.exception.RemotingCommandException: the custom "
                   "field is null or malformed",
                   false);
}

void broker_handler::write_send_result(std::string& out, const wire::command_view& request,
                                       std::int32_t code, std::int32_t queue_id,
                                       std::int64_t queue_offset, std::string_view msg_ids,
                                       std::string_view transaction_id,
                                       std::optional<std::string_view> remark,
                                       std::string_view recall_handle) {
  const personality version = cluster_.version();
  const auto type = response_type(version, request);
  wire::frame_writer writer(out, type, response_fields(version, request, code), remark);
  // Field orders as captured: Java's HashMap order for JSON, fast-coded header fields first
  // for binary.
  if (version == personality::v5) {
    writer.field("queueId", queue_id);
    if (!transaction_id.empty()) writer.field("transactionId", transaction_id);
    writer.field("msgId", msg_ids);
    writer.field("TRACE_ON", std::string_view(trace_on_));
    writer.field("MSG_REGION", std::string_view(region_));
    if (!recall_handle.empty()) writer.field("recallHandle", recall_handle);
    writer.field("queueOffset", queue_offset);
  } else if (type == wire::serialize_type::json) {
    writer.field("queueId", queue_id);
    writer.field("TRACE_ON", std::string_view(trace_on_));
    writer.field("MSG_REGION", std::string_view(region_));
    writer.field("msgId", msg_ids);
    writer.field("queueOffset", queue_offset);
  } else {
    writer.field("msgId", msg_ids);
    writer.field("queueId", queue_id);
    writer.field("queueOffset", queue_offset);
    writer.field("TRACE_ON", std::string_view(trace_on_));
    writer.field("MSG_REGION", std::string_view(region_));
  }
  writer.finish();
}

topic_state* broker_handler::destination(const wire::command_view& request,
                                         const wire::send_message_request_header& header,
                                         const fault_decision& fault, std::string_view peer,
                                         std::int32_t& queue_id, std::int32_t& result_code,
                                         std::string& out) {
  const personality version = cluster_.version();
  result_code = wire::response_code::success;
  if (fault.error_code) {
    if (!wire::is_stored_status(*fault.error_code)) {
      const std::string remark = fault.remark(version, cluster_.host());
      write_send_error(out, request, *fault.error_code, remark,
                       *fault.error_code != wire::response_code::system_busy);
      return nullptr;
    }
    result_code = *fault.error_code;
  }
  if (state_.config.id != wire::master_broker_id) {
    // A slave's store refuses writes.
    write_send_error(out, request, wire::response_code::service_not_available,
                     default_error_remark(14, version, cluster_.host()), true);
    return nullptr;
  }
  if (header.topic.size() > 127) {
    write_send_error(out, request, wire::response_code::message_illegal,
                     "message topic length too long " + std::to_string(header.topic.size()), true);
    return nullptr;
  }
  const std::string_view properties = header.properties.value_or(std::string_view{});
  if (properties.size() > wire::max_properties_size) {
    write_send_error(out, request, wire::response_code::message_illegal,
                     "message properties length too long " + std::to_string(properties.size()),
                     true);
    return nullptr;
  }

  topic_state* topic = state_.find_topic(header.topic);
  if (topic == nullptr) {
    topic_state* source =
        cluster_.auto_create() ? state_.find_topic(header.default_topic) : nullptr;
    if (source != nullptr && wire::is_inherited(source->perm)) {
      // TopicConfigManager.createTopicInSendMessageMethod: the default topic's perm without
      // inherit, min(requested, default topic's) queues; the broker re-registers at once.
      const int queues =
          std::max(1, std::min<int>(header.default_topic_queue_nums, source->write_queues));
      topic = &state_.create_topic(header.topic, queues, queues, source->perm & ~perm_inherit);
    } else {
      write_send_error(out, request, wire::response_code::topic_not_exist,
                       "topic[" + std::string(header.topic) + "] not exist, apply first please!" +
                           faq_suffix(version),
                       true);
      return nullptr;
    }
  }

  queue_id = header.queue_id;
  const int valid = std::max(topic->read_queues, topic->write_queues);
  if (queue_id >= valid) {
    const std::string remark =
        "request queueId[" + std::to_string(queue_id) +
        "] is illegal, TopicConfig [topicName=" + std::string(header.topic) +
        ", readQueueNums=" + std::to_string(topic->read_queues) +
        ", writeQueueNums=" + std::to_string(topic->write_queues) +
        ", perm=" + perm_text(topic->perm) +
        ", topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false] Producer: " + std::string(peer);
    write_send_error(out, request, wire::response_code::system_error, remark, true);
    return nullptr;
  }
  if (queue_id < 0) {
    const int writable = std::max(1, topic->write_queues);
    queue_id = static_cast<std::int32_t>(state_.round_robin++ % static_cast<unsigned>(writable));
  }
  return topic;
}

void broker_handler::send(const wire::command_view& request, const fault_decision& fault,
                          const request_source& from, std::string& out) {
  const personality version = cluster_.version();
  const bool batch = request.fields.code == wire::request_code::send_batch_message;
  wire::send_message_request_header header;
  if (header.parse(request)) {
    write_malformed_header(out, request);
    return;
  }
  std::int32_t queue_id = 0;
  std::int32_t result_code = wire::response_code::success;
  topic_state* topic = destination(request, header, fault, from.peer, queue_id, result_code, out);
  if (topic == nullptr) return;
  const std::string_view properties = header.properties.value_or(std::string_view{});

  if (batch) {
    if (header.topic.starts_with("%RETRY%")) {
      write_send_error(out, request, wire::response_code::message_illegal,
                       "batch request does not support retry group " + std::string(header.topic),
                       true);
      return;
    }
    // Records must tile the body exactly, TOTALSIZE included (every Java client writes it
    // exactly; a real broker walks only the body and properties lengths). When they do not, the
    // store's batch encoder runs off the end of the buffer and the exception reaches the
    // remoting layer, which answers SYSTEM_ERROR with the exception's description.
    if (wire::decode_batch(request.body, batch_)) {
      write_send_error(out, request, wire::response_code::system_error,
                       "java.nio.BufferUnderflowException, "
                       "java.nio.Buffer.nextGetIndex(Buffer.java:643)",
                       false);
      return;
    }
  }

  std::string_view transaction_id;
  bool key_generated = false;
  if (version == personality::v5) {
    // 5.x brokers answer the message's UNIQ_KEY (for a batch: the batch's own), making one up
    // when the message has none.
    if (auto key = wire::find_property(properties, wire::property_names::uniq_key)) {
      transaction_id = *key;
    } else {
      generated_key_.clear();
      state_.append_msg_id(generated_key_, static_cast<std::int64_t>(++generated_count_));
      transaction_id = generated_key_;
      key_generated = true;
    }
  }
  const std::size_t count = batch ? batch_.size() : 1;
  if (counters_ != nullptr) counters_->messages += count;

  if (!batch && wire::parse_java_bool(
                    wire::find_property(properties, wire::property_names::transaction_prepared)
                        .value_or("false"))) {
    // A half message: answered like any send, but kept out of sight until committed.
    const auto half = transactions_.prepare(
        {make_message(request, header, queue_id, 0, 0, {}, result_code, header.flag, request.body,
                      properties, -1),
         request.body, properties, key_generated ? transaction_id : std::string_view{}, from.peer});
    msg_ids_.clear();
    state_.append_msg_id(msg_ids_, half.commit_log_offset);
    write_send_result(out, request, result_code, queue_id, half.queue_offset, msg_ids_,
                      transaction_id);
    return;
  }

  auto& next = topic->next_offset[static_cast<std::size_t>(queue_id)];
  const std::int64_t first_offset = next;
  next += static_cast<std::int64_t>(count);

  // The offsetMsgIds, comma-joined, are written in place: all of them have the same size.
  constexpr std::size_t id_size = broker_state::msg_id_size;
  msg_ids_.resize(count * (id_size + 1) - 1);
  char* const ids = msg_ids_.data();
  for (std::size_t i = 0; i < count; ++i) {
    const std::string_view body = batch ? batch_[i].body : request.body;
    const std::string_view props = batch ? batch_[i].properties : properties;
    const std::int64_t commit_offset = state_.append_to_commit_log(
        stored_size(body.size(), header.topic.size(), props.size() + broker_properties_size_));
    const std::size_t id_start = i * (id_size + 1);
    if (i != 0) ids[id_start - 1] = ',';
    state_.write_msg_id(ids + id_start, commit_offset);
    const bool request_message = !batch && is_request_message(props);
    if (!records_.store_enabled && !request_message) continue;
    auto message =
        make_message(request, header, queue_id, first_offset + static_cast<std::int64_t>(i),
                     commit_offset, std::string_view(ids + id_start, id_size), result_code,
                     batch ? batch_[i].flag : header.flag, body, props,
                     batch ? static_cast<std::int32_t>(i) : -1);
    if (request_message) {
      // SendMessageProcessor puts CLUSTER into every message it stores; we record it for the
      // requests of request-reply, which a responder needs (the reply topic is named after it).
      message.properties.emplace_back("CLUSTER", cluster_.name());
      if (counters_ != nullptr) ++counters_->replies.requests;
      if (request_hook_) request_hook_(replies_, message);
    }
    if (records_.store_enabled) records_.messages.add(std::move(message));
  }
  // A 5.3 broker hands a timer message's send a recall handle (TimerMessageStore's slot).
  std::string recall_handle;
  if (!batch && cluster_.version() == personality::v5) {
    recall_handle = timer_handle(header.topic, properties);
  }
  write_send_result(out, request, result_code, queue_id, first_offset, msg_ids_, transaction_id,
                    std::nullopt, recall_handle);
}

std::string broker_handler::timer_handle(std::string_view topic, std::string_view properties) {
  const auto number = [&](std::string_view name) -> std::optional<std::int64_t> {
    const auto text = wire::find_property(properties, name);
    if (!text) return std::nullopt;
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
    return value;
  };
  const std::int64_t now = wall_clock_ms();
  std::optional<std::int64_t> deliver = number(wire::property_names::timer_deliver_ms);
  if (!deliver) {
    if (const auto sec = number(wire::property_names::timer_delay_sec)) deliver = now + *sec * 1000;
  }
  if (!deliver) {
    if (const auto ms = number(wire::property_names::timer_delay_ms)) deliver = now + *ms;
  }
  const auto id = wire::find_property(properties, wire::property_names::uniq_key);
  if (!deliver || !id) return {};
  // The timer wheel's slot: the delivery time rounded down to its 1 s precision, + 1 ms.
  const std::int64_t slot = *deliver / 1000 * 1000 + 1;
  timers_[std::string(*id)] = {std::string(topic), slot};
  return wire::encode_recall_handle(
      {std::string(topic), state_.config.name, slot, std::string(*id)});
}

void broker_handler::recall(const wire::command_view& request, std::string& out) {
  // RecallMessageProcessor.processRequest, 5.3.3, in its order.
  const auto refuse = [&](std::int32_t code, std::string_view remark) {
    write_response(out, personality::v5, request, code, remark);
  };
  wire::recall_message_request_header header;
  if (header.parse(request)) {
    write_malformed_header(out, request);
    return;
  }
  if (!recall_enabled_) {
    refuse(wire::response_code::no_permission, "recall failed, operation is forbidden");
    return;
  }
  if (state_.find_topic(header.topic) == nullptr) {
    refuse(wire::response_code::topic_not_exist,
           "recall failed, the topic[" + std::string(header.topic) + "] not exist");
    return;
  }
  const auto handle = wire::decode_recall_handle(header.recall_handle);
  if (!handle) {
    refuse(wire::response_code::illegal_operation, "recall handle is invalid");
    return;
  }
  if (handle->topic != header.topic) {
    refuse(wire::response_code::illegal_operation, "recall failed, topic not match");
    return;
  }
  if (handle->broker_name != state_.config.name) {
    refuse(wire::response_code::illegal_operation, "recall failed, broker service not available");
    return;
  }
  // timerMaxDelaySec: 3 days by default.
  const std::int64_t left = handle->timestamp_ms - wall_clock_ms();
  if (left <= 0 || left >= std::int64_t{3} * 24 * 3600 * 1000) {
    refuse(wire::response_code::illegal_operation, "recall failed, timestamp invalid");
    return;
  }
  // The broker puts a delete marker into the timer wheel; the message is not delivered then.
  if (const auto it = timers_.find(handle->message_id); it != timers_.end()) {
    it->second.recalled = true;
  }
  if (counters_ != nullptr) ++counters_->recalls;
  records_.recalled.push_back(handle->message_id);
  // Created by createResponseCommand(RecallMessageResponseHeader), whose default remark stays.
  wire::frame_writer writer(out, response_type(personality::v5, request),
                            response_fields(personality::v5, request, wire::response_code::success),
                            std::string_view("not set any response code"));
  writer.field("msgId", handle->message_id);
  writer.field("MSG_REGION", std::string_view(region_));
  writer.finish();
}

void broker_handler::reply_send(const wire::command_view& request, const fault_decision& fault,
                                const request_source& from, std::string& out) {
  wire::send_message_request_header header;
  if (header.parse(request)) {
    write_malformed_header(out, request);
    return;
  }
  std::int32_t queue_id = 0;
  std::int32_t result_code = wire::response_code::success;
  if (destination(request, header, fault, from.peer, queue_id, result_code, out) == nullptr) {
    return;
  }
  if (counters_ != nullptr) {
    ++counters_->messages;
    ++counters_->replies.reply_sends;
  }
  const std::string_view properties = header.properties.value_or(std::string_view{});
  reply_message reply;
  reply.message = make_message(request, header, queue_id, 0, 0, {}, result_code, header.flag,
                               request.body, properties, -1);
  reply.default_topic = std::string(header.default_topic);
  reply.default_topic_queue_nums = header.default_topic_queue_nums;
  reply.requested_queue_id = header.queue_id;
  reply.properties = std::string(properties);
  reply.body = std::string(request.body);
  reply.reconsume_times = header.reconsume_times;
  reply.unit_mode = header.unit_mode.value_or(false);
  reply.born_host = std::string(from.peer);

  // Answered once the requester acknowledged the push: at once (into `out`) when it has no
  // connection here, later (written to the connection) otherwise.
  if (request.is_oneway()) {
    replies_.deliver(std::move(reply), [](const reply_delivery&) {});
    return;
  }
  wire::command_view answer_to;
  answer_to.type = request.type;
  answer_to.fields = request.fields;
  auto now = std::make_shared<std::string*>(&out);
  replies_.deliver(std::move(reply), [this, answer_to, now,
                                      connection = from.connection](const reply_delivery& d) {
    std::string later;
    std::string& target = *now != nullptr ? **now : later;
    write_send_result(target, answer_to,
                      d.outcome == reply_outcome::delivered ? wire::response_code::success
                                                            : wire::response_code::system_error,
                      d.queue_id, d.queue_offset, d.msg_id, {}, d.remark);
    if (*now == nullptr && server_ != nullptr) server_->send_response(connection, later);
  });
  *now = nullptr;
}

stored_message broker_handler::make_message(const wire::command_view& request,
                                            const wire::send_message_request_header& header,
                                            std::int32_t queue_id, std::int64_t queue_offset,
                                            std::int64_t commit_offset, std::string_view msg_id,
                                            std::int32_t response_code, std::int32_t flag,
                                            std::string_view body, std::string_view properties,
                                            std::int32_t batch_index) {
  stored_message message;
  message.broker_name = state_.config.name;
  message.broker_id = state_.config.id;
  message.request_code = request.fields.code;
  message.serialization = static_cast<std::int32_t>(request.type);
  message.request_version = request.fields.version;
  message.response_code = response_code;
  message.producer_group = std::string(header.producer_group);
  message.topic = std::string(header.topic);
  message.queue_id = queue_id;
  message.queue_offset = queue_offset;
  message.commit_log_offset = commit_offset;
  message.offset_msg_id = std::string(msg_id);
  properties_.clear();
  wire::decode_properties(properties, properties_);
  for (const auto& p : properties_) {
    message.properties.emplace_back(std::string(p.name), std::string(p.value));
    if (p.name == wire::property_names::tags) message.tags = std::string(p.value);
    if (p.name == wire::property_names::keys) message.keys = std::string(p.value);
  }
  message.flag = flag;
  message.sys_flag = header.sys_flag;
  message.born_timestamp = header.born_timestamp;
  message.batch_index = batch_index;
  if (wire::sys_flag::is_compressed(header.sys_flag) && batch_index < 0) {
    message.was_compressed = true;
    const auto type = wire::compression_from_sys_flag(header.sys_flag);
    if (!type || codec_.decompress(*type, body, message.body)) {
      // A real broker stores the bytes without looking at them; so do we, and say so.
      message.decompression_failed = true;
      message.body = std::string(body);
    }
  } else {
    message.body = std::string(body);
  }
  return message;
}

void broker_handler::heartbeat(const wire::command_view& request, const request_source& from,
                               std::string& out) {
  const personality version = cluster_.version();
  const auto decoded = wire::decode_heartbeat(request.body);
  if (!decoded) {
    write_response(out, version, request, wire::response_code::system_error,
                   "com.alibaba.fastjson.JSONException: illegal HeartbeatData body");
    return;
  }
  auto& client = records_.client(state_.config.name, decoded.data.client_id);
  ++client.heartbeats;
  client.unregistered = false;
  for (const auto& group : decoded.data.producer_groups) {
    if (std::find(client.producer_groups.begin(), client.producer_groups.end(), group) ==
        client.producer_groups.end()) {
      client.producer_groups.push_back(group);
    }
    // ProducerManager.registerProducer: where checks and reply pushes for the client go.
    producers_.add(group, decoded.data.client_id, from.connection);
  }
  wire::frame_writer writer(out, response_type(version, request),
                            response_fields(version, request, wire::response_code::success));
  if (version == personality::v5) {
    writer.field("IS_SUPPORT_HEART_BEAT_V2", std::string_view("true"));
    writer.field("IS_SUB_CHANGE", std::string_view("true"));
  }
  writer.finish();
}

void broker_handler::unregister_client(const wire::command_view& request,
                                       const request_source& from, std::string& out) {
  const personality version = cluster_.version();
  wire::unregister_client_request_header header;
  if (header.parse(request)) {
    write_response(out, version, request, wire::response_code::system_error,
                   "org.apache.rocketmq.remoting.exception.RemotingCommandException: the custom "
                   "field <clientID> is null");
    return;
  }
  auto& client = records_.client(state_.config.name, header.client_id);
  client.unregistered = true;
  if (header.producer_group && !header.producer_group->empty()) {
    if (std::find(client.producer_groups.begin(), client.producer_groups.end(),
                  *header.producer_group) == client.producer_groups.end()) {
      client.producer_groups.emplace_back(*header.producer_group);
    }
    producers_.remove(*header.producer_group, header.client_id, from.connection);
  }
  if (header.consumer_group && !header.consumer_group->empty()) {
    client.consumer_groups.emplace_back(*header.consumer_group);
  }
  write_response(out, version, request, wire::response_code::success);
}

void broker_handler::end_transaction(const wire::command_view& request, std::string& out) {
  end_transaction_record record;
  record.broker_name = state_.config.name;
  record.oneway = request.is_oneway();
  for (const auto& f : request.ext_fields) {
    record.fields.emplace_back(std::string(f.name), std::string(f.value));
  }
  if (request.remark) record.remark = std::string(*request.remark);
  // The fault drops it unprocessed: its half message stays pending and gets checked back.
  record.dropped = server_ != nullptr && server_->faults().spec().drop_end_transaction;
  const bool dropped = record.dropped;
  records_.end_transactions.push_back(std::move(record));
  if (dropped) {
    ++counters_->faults_injected;
    ++counters_->transactions.end_transaction_dropped;
    return;
  }
  transactions_.end_transaction(request, out);
}

}  // namespace rmq::sim
