#include "replies.hpp"

#include "java_properties.hpp"
#include "response.hpp"
#include "wire/codes.hpp"
#include "wire/headers.hpp"
#include "wire/properties.hpp"

namespace rmq::sim {

namespace {

// Reply records kept per broker; older ones are dropped.
constexpr std::size_t max_records = 100'000;
// Replies the responder holds back for their delay at most; beyond, requests go unanswered.
constexpr std::size_t max_waiting = 100'000;

}  // namespace

bool is_request_message(std::string_view properties) noexcept {
  return wire::find_property(properties, wire::property_names::reply_to_client).has_value() &&
         wire::find_property(properties, wire::property_names::correlation_id).has_value();
}

reply_service::reply_service(cluster& metadata, broker_state& state, recorder& records,
                             producer_registry& producers, std::chrono::milliseconds push_timeout,
                             std::string region, bool trace_on)
    : cluster_(metadata),
      state_(state),
      records_(records),
      producers_(producers),
      push_timeout_(push_timeout),
      region_(std::move(region)),
      trace_on_(trace_on ? "true" : "false"),
      counters_(&unattached_) {}

std::string reply_service::make_uniq_key() {
  // The top bit keeps these apart from the keys the send path makes up for 5.x.
  std::string key(state_.msg_id_prefix, sizeof state_.msg_id_prefix);
  append_hex(key, std::uint64_t{1} << 63 | ++keys_made_, 16);
  return key;
}

void reply_service::deliver(reply_message reply, std::function<void(const reply_delivery&)> done) {
  const std::size_t record = add_record(reply);
  const auto requester =
      wire::find_property(reply.properties, wire::property_names::reply_to_client);
  if (!requester) {
    ++counters_->push_failed;
    done(store(reply, reply_outcome::push_failed,
               "reply message properties[REPLY_TO_CLIENT] is null", record));
    return;
  }
  const std::string client(*requester);
  const auto connection = producers_.find_client(client);
  if (!connection || server_ == nullptr) {
    ++counters_->requester_gone;
    done(store(reply, reply_outcome::requester_gone,
               "push reply message fail, channel of <" + client + "> not found.", record));
    return;
  }
  // Broker2Client.callClient: a two-way request; the reply send waits for its answer.
  const std::int32_t opaque = server_->next_opaque();
  const std::string frame = push_frame(reply, opaque);
  auto pushed = std::make_shared<reply_message>(std::move(reply));
  const auto answered = [this, pushed, client, record, done](const wire::command_view* response) {
    const bool ok = response != nullptr && response->fields.code == wire::response_code::success;
    ++(ok ? counters_->delivered : counters_->push_failed);
    done(store(
        *pushed, ok ? reply_outcome::delivered : reply_outcome::push_failed,
        ok ? std::nullopt : std::optional<std::string>("push reply message to " + client + "fail."),
        record));
  };
  if (!server_->send_request(*connection, wire::request_code::push_reply_message_to_client, opaque,
                             frame, push_timeout_, answered)) {
    answered(nullptr);
    return;
  }
  ++counters_->pushes;
}

void reply_service::record_withheld(const stored_message& request) {
  reply_message reply;
  reply.message = request;
  reply.message.body.clear();
  reply.from_responder = true;
  const std::size_t record = add_record(reply);
  if (record >= record_base_)
    records_list_[record - record_base_].outcome = reply_outcome::withheld;
  ++counters_->withheld;
}

std::size_t reply_service::add_record(const reply_message& reply) {
  reply_record r;
  r.broker_name = state_.config.name;
  r.from_responder = reply.from_responder;
  r.correlation_id =
      std::string(reply.message.property(wire::property_names::correlation_id).value_or(""));
  r.reply_to_client =
      std::string(reply.message.property(wire::property_names::reply_to_client).value_or(""));
  r.body = reply.message.body;
  records_list_.push_back(std::move(r));
  if (records_list_.size() > max_records) {
    records_list_.pop_front();
    ++record_base_;
  }
  return record_base_ + records_list_.size() - 1;
}

reply_delivery reply_service::store(const reply_message& reply, reply_outcome outcome,
                                    std::optional<std::string> remark, std::size_t record) {
  // ReplyMessageProcessor stores the reply after the push, whatever became of it
  // (storeReplyMessageEnable, on by default), and answers with where it went.
  stored_message m = reply.message;
  topic_state* topic = state_.find_topic(m.topic);
  if (topic == nullptr) topic = &state_.create_topic(m.topic, 1, 1, perm_read | perm_write);
  const auto queue = static_cast<std::size_t>(std::max(0, m.queue_id));
  if (topic->next_offset.size() <= queue) topic->next_offset.resize(queue + 1, 0);
  m.queue_offset = topic->next_offset[queue]++;
  // 5.x stores the properties with the MSG_REGION and TRACE_ON it added.
  const std::size_t added = cluster_.version() == personality::v5
                                ? 10 + 1 + region_.size() + 1 + 8 + 1 + trace_on_.size() + 1
                                : 0;
  m.commit_log_offset = state_.append_to_commit_log(
      stored_size(reply.body.size(), m.topic.size(), reply.properties.size() + added));
  m.offset_msg_id.clear();
  state_.append_msg_id(m.offset_msg_id, m.commit_log_offset);
  m.response_code = outcome == reply_outcome::delivered || reply.from_responder
                        ? wire::response_code::success
                        : wire::response_code::system_error;

  reply_delivery d;
  d.outcome = outcome;
  d.remark = std::move(remark);
  d.queue_id = m.queue_id;
  d.queue_offset = m.queue_offset;
  d.msg_id = m.offset_msg_id;
  if (records_.store_enabled) records_.messages.add(std::move(m));
  if (record >= record_base_) records_list_[record - record_base_].outcome = outcome;
  if (server_ != nullptr) server_->notify_progress();
  return d;
}

std::string reply_service::push_frame(const reply_message& reply, std::int32_t opaque) const {
  const personality version = cluster_.version();
  // ReplyMessageProcessor.pushReplyMessage: the reply's properties as the broker's map has them
  // (5.x added MSG_REGION and TRACE_ON when it read the request), plus PUSH_REPLY_TIME.
  java_properties props(version);
  props.parse(reply.properties);
  if (version == personality::v5) {
    props.put("MSG_REGION", region_);
    props.put("TRACE_ON", trace_on_);
  }
  const std::int64_t now = wall_clock_ms();
  props.put("PUSH_REPLY_TIME", std::to_string(now));
  const std::string properties = props.to_string();

  wire::reply_message_request_header header;
  header.producer_group = reply.message.producer_group;
  header.topic = reply.message.topic;
  header.default_topic = reply.default_topic;
  header.default_topic_queue_nums = reply.default_topic_queue_nums;
  header.queue_id = reply.requested_queue_id;
  header.sys_flag = reply.message.sys_flag;
  header.born_timestamp = reply.message.born_timestamp;
  header.flag = reply.message.flag;
  header.properties = properties;
  header.reconsume_times = reply.reconsume_times;
  header.unit_mode = reply.unit_mode;
  header.born_host = reply.born_host;
  header.store_host = state_.store_host;
  header.store_timestamp = now;

  wire::command_fields fields;
  fields.code = wire::request_code::push_reply_message_to_client;
  fields.language = wire::language_code::java;
  fields.version = server_version(version);
  fields.opaque = opaque;
  std::string frame;
  wire::frame_writer writer(frame, wire::serialize_type::json, fields);
  header.write(writer);
  writer.finish(reply.body);
  return frame;
}

responder::responder(asio::io_context& io, responder_config config, broker_lookup lookup)
    : io_(io), config_(std::move(config)), lookup_(std::move(lookup)) {}

void responder::on_request(reply_service& broker, const stored_message& request) {
  if (!config_.enabled) return;
  reply_service* via = config_.broker.empty() ? &broker : lookup_(config_.broker);
  if (config_.withhold || via == nullptr || waiting_.size() >= max_waiting) {
    broker.record_withheld(request);
    return;
  }
  ++via->counters().responder_replies;
  // Even without a delay the reply goes out after the request's send result, as a responder
  // only sees a request once it is stored.
  const std::uint64_t id = next_wait_++;
  auto timer = std::make_unique<asio::steady_timer>(io_, config_.delay);
  timer->async_wait([this, id, via, reply = make_reply(*via, request)](std::error_code ec) mutable {
    if (ec) return;
    waiting_.erase(id);
    via->deliver(std::move(reply), [](const reply_delivery&) {});
  });
  waiting_.emplace(id, std::move(timer));
}

reply_message responder::make_reply(reply_service& via, const stored_message& request) const {
  // MessageUtil.createReplyMessage, sent as a Java responder's producer would send it.
  const auto property = [&request](std::string_view name) {
    return std::string(request.property(name).value_or(""));
  };
  std::string properties;
  wire::properties_writer writer(properties, via.version() == personality::v5
                                                 ? wire::trailing_separator::keep
                                                 : wire::trailing_separator::omit);
  writer.add(wire::property_names::message_type, "reply");
  writer.add(wire::property_names::reply_to_client,
             property(wire::property_names::reply_to_client));
  writer.add(wire::property_names::uniq_key, via.make_uniq_key());
  if (request.property(wire::property_names::ttl)) {
    writer.add(wire::property_names::ttl, property(wire::property_names::ttl));
  }
  writer.add(wire::property_names::correlation_id, property(wire::property_names::correlation_id));
  writer.finish();

  reply_message reply;
  auto& m = reply.message;
  m.broker_name = via.broker_name();
  m.request_code = wire::request_code::send_reply_message_v2;
  m.request_version = server_version(via.version());
  m.producer_group = config_.producer_group;
  m.topic = via.reply_topic();
  std::vector<wire::property_ref> pairs;
  wire::decode_properties(properties, pairs);
  for (const auto& p : pairs) m.properties.emplace_back(std::string(p.name), std::string(p.value));
  m.body = config_.body_prefix + request.body;
  m.born_timestamp = wall_clock_ms();
  reply.properties = std::move(properties);
  reply.body = m.body;
  reply.reconsume_times = 0;
  reply.born_host = via.store_host();
  reply.from_responder = true;
  return reply;
}

}  // namespace rmq::sim
