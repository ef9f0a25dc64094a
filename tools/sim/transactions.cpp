#include "transactions.hpp"

#include "response.hpp"
#include "wire/codes.hpp"
#include "wire/headers.hpp"
#include "wire/properties.hpp"
#include "wire/stored_message.hpp"
#include "wire/sys_flag.hpp"

#include <algorithm>
#include <charconv>

namespace rmq::sim {

namespace {

// MessageConst names the broker adds.
constexpr std::string_view real_topic = "REAL_TOPIC";
constexpr std::string_view real_queue_id = "REAL_QID";
constexpr std::string_view check_times = "TRANSACTION_CHECK_TIMES";
constexpr std::string_view cluster_property = "CLUSTER";
constexpr std::string_view transaction_id_property = "__transactionId__";  // 5.x

/// "a.b.c.d:port" as the store format's raw address and port (0.0.0.0:0 if it is not that).
struct raw_host {
  char ip[4] = {};
  std::int32_t port = 0;
};
raw_host parse_host(std::string_view text) {
  raw_host host;
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return host;
  std::string_view address = text.substr(0, colon);
  for (int i = 0; i < 4; ++i) {
    const auto dot = i < 3 ? address.find('.') : address.size();
    if (dot == std::string_view::npos) return raw_host{};
    unsigned part = 0;
    const auto [ptr, ec] = std::from_chars(address.data(), address.data() + dot, part);
    if (ec != std::errc() || ptr != address.data() + dot || part > 255) return raw_host{};
    host.ip[i] = static_cast<char>(part);
    address.remove_prefix(std::min(address.size(), dot + 1));
  }
  const std::string_view port = text.substr(colon + 1);
  std::from_chars(port.data(), port.data() + port.size(), host.port);
  return host;
}

/// Where a Java broker throws for a header field that RemotingCommand left null (it logs a
/// field it cannot decode and goes on): the remark is Throwable.toString() and the top stack
/// frame (RemotingHelper.exceptionSimpleDesc), Java 8 style.
std::string null_pointer_at(std::string_view frame) {
  return "java.lang.NullPointerException, " + std::string(frame);
}

}  // namespace

transaction_service::transaction_service(asio::io_context& io, cluster& metadata,
                                         broker_state& state, recorder& records,
                                         producer_registry& producers,
                                         const transaction_config& config, std::string region,
                                         bool trace_on)
    : io_(io),
      cluster_(metadata),
      state_(state),
      records_(records),
      producers_(producers),
      config_(config),
      region_(std::move(region)),
      trace_on_(trace_on ? "true" : "false"),
      counters_(&unattached_),
      timer_(io) {}

void transaction_service::set_config(const transaction_config& config) {
  config_ = config;
  if (scheduled_ && std::chrono::steady_clock::now() + config_.check_interval < next_round_) {
    ++timer_generation_;  // the old wait, even if already due, does nothing
    scheduled_ = false;
  }
  schedule();
}

transaction_service::half_message_out transaction_service::prepare(half_message_in in) {
  const personality version = cluster_.version();
  half_message half{.id = next_id_++,
                    .message = std::move(in.message),
                    .body = std::string(in.body),
                    .properties = java_properties(version)};
  auto& props = half.properties;
  // The properties as SendMessageProcessor and TransactionalMessageBridge.parseHalfMessageInner
  // leave them, in their order: it decides the byte order of what the checks carry.
  props.parse(in.properties);
  if (version == personality::v5) {
    props.put("MSG_REGION", region_);
    props.put("TRACE_ON", trace_on_);
    if (!in.generated_key.empty()) props.put(wire::property_names::uniq_key, in.generated_key);
  }
  props.put(cluster_property, cluster_.name());
  if (version == personality::v4_9) {
    // 4.9.8 takes WAIT out to store the message without it, then puts it back.
    if (const auto wait = props.get(wire::property_names::wait_store_msg_ok)) {
      const std::string value(*wait);
      props.remove(wire::property_names::wait_store_msg_ok);
      props.put(wire::property_names::wait_store_msg_ok, value);
    }
  }
  const std::string uniq_key(props.get(wire::property_names::uniq_key).value_or(""));
  if (version == personality::v5 && !uniq_key.empty()) {
    props.put(transaction_id_property, uniq_key);
  }
  props.put(real_topic, half.message.topic);
  props.put(real_queue_id, std::to_string(half.message.queue_id));

  const std::int64_t commit_offset = state_.append_to_commit_log(
      stored_size(half.body.size(), half_topic.size(), props.to_string().size()));
  const std::int64_t queue_offset = half_queue_offset_++;

  auto& r = half.record;
  r.broker_name = state_.config.name;
  r.producer_group =
      std::string(props.get(wire::property_names::producer_group).value_or(std::string_view{}));
  r.topic = half.message.topic;
  r.queue_id = half.message.queue_id;
  r.transaction_id = uniq_key;
  state_.append_msg_id(r.offset_msg_id, commit_offset);
  r.commit_log_offset = r.last_commit_log_offset = commit_offset;
  r.tran_state_table_offset = r.last_tran_state_table_offset = queue_offset;
  r.body = half.message.body;
  half.sys_flag = wire::sys_flag::with_transaction_type(half.message.sys_flag,
                                                        wire::sys_flag::transaction_not_type);
  half.born_host = std::string(in.born_host);
  half.store_timestamp = wall_clock_ms();
  half.stored_at = std::chrono::steady_clock::now();
  half.offsets.push_back(commit_offset);

  add(std::move(half));
  schedule();
  return {commit_offset, queue_offset};
}

void transaction_service::add(half_message message) {
  while (!halves_.empty() && halves_.size() >= std::max<std::size_t>(1, config_.capacity)) {
    ++counters_->evicted;
    forget(halves_.begin());
  }
  const std::uint64_t id = message.id;
  for (const auto offset : message.offsets) {
    by_offset_[offset] = {id, message.record.tran_state_table_offset};
  }
  halves_.emplace(id, std::move(message));
  pending_.insert(id);
  ++counters_->half_messages;
  ++counters_->pending;
}

void transaction_service::forget(std::map<std::uint64_t, half_message>::iterator it) {
  for (const auto offset : it->second.offsets) by_offset_.erase(offset);
  if (pending_.erase(it->first) != 0) --counters_->pending;
  halves_.erase(it);
}

void transaction_service::set_state(half_message& half, transaction_state state) {
  if (half.record.state == state) return;
  if (half.record.state == transaction_state::pending) {
    pending_.erase(half.id);
    --counters_->pending;
  }
  half.record.state = state;
  switch (state) {
    case transaction_state::pending:
      pending_.insert(half.id);
      ++counters_->pending;
      break;
    case transaction_state::committed:
      ++counters_->committed;
      break;
    case transaction_state::rolled_back:
      ++counters_->rolled_back;
      break;
    case transaction_state::discarded:
      ++counters_->discarded;
      break;
  }
}

void transaction_service::commit(half_message& half) {
  // EndTransactionProcessor.endMessageTransaction: the half message goes to its real topic and
  // queue with the commit type, its properties string unchanged (REAL_TOPIC and REAL_QID are
  // cleared from the map only after the string was made).
  stored_message message = half.message;
  message.properties = half.properties.ordered();
  message.sys_flag = wire::sys_flag::with_transaction_type(half.message.sys_flag,
                                                           wire::sys_flag::transaction_commit);
  topic_state* topic = state_.find_topic(message.topic);
  if (topic == nullptr) {
    topic = &state_.create_topic(message.topic, message.queue_id + 1, message.queue_id + 1,
                                 perm_read | perm_write);
  }
  if (topic->next_offset.size() <= static_cast<std::size_t>(message.queue_id)) {
    topic->next_offset.resize(static_cast<std::size_t>(message.queue_id) + 1, 0);
  }
  message.queue_offset = topic->next_offset[static_cast<std::size_t>(message.queue_id)]++;
  message.commit_log_offset = state_.append_to_commit_log(
      stored_size(half.body.size(), message.topic.size(), half.properties.to_string().size()));
  message.offset_msg_id.clear();
  state_.append_msg_id(message.offset_msg_id, message.commit_log_offset);
  if (records_.store_enabled) records_.messages.add(std::move(message));
  ++half.record.commits;
  set_state(half, transaction_state::committed);
}

void transaction_service::end_transaction(const wire::command_view& request, std::string& out) {
  const personality version = cluster_.version();
  const bool v5 = version == personality::v5;
  const auto refuse = [&](std::int32_t code, std::optional<std::string> remark) {
    ++counters_->end_transaction_refused;
    write_response(out, version, request, code, remark);
  };
  const std::string header_class =
      v5 ? "org.apache.rocketmq.remoting.protocol.header.EndTransactionRequestHeader"
         : "org.apache.rocketmq.common.protocol.header.EndTransactionRequestHeader";
  const std::string processor = "org.apache.rocketmq.broker.processor.EndTransactionProcessor";
  const std::string service =
      "org.apache.rocketmq.broker.transaction.queue.TransactionalMessageServiceImpl";
  const auto at_line = [](const std::string& cls, std::string_view method, int line) {
    const std::string file = cls.substr(cls.rfind('.') + 1) + ".java";
    return cls + "." + std::string(method) + "(" + file + ":" + std::to_string(line) + ")";
  };

  // RemotingCommand.decodeCommandCustomHeader: a field that is missing or does not parse
  // stays null; checkFields() then accepts only 0, 8 and 12.
  if (!request.has_ext_fields && request.ext_fields.empty()) {
    refuse(wire::response_code::system_error,
           null_pointer_at(at_line(processor, "processRequest", v5 ? 103 : 98)));
    return;
  }
  std::int32_t type = 0;
  if (const auto text = request.field("commitOrRollback");
      !text || !wire::parse_decimal(*text, type)) {
    refuse(wire::response_code::system_error,
           null_pointer_at(at_line(header_class, "checkFields", v5 ? 57 : 48)));
    return;
  }
  if (type != wire::sys_flag::transaction_not_type && type != wire::sys_flag::transaction_commit &&
      type != wire::sys_flag::transaction_rollback) {
    refuse(wire::response_code::system_error,
           "org.apache.rocketmq.remoting.exception.RemotingCommandException: commitOrRollback "
           "field wrong, " +
               at_line(header_class, "checkFields", v5 ? 69 : 60));
    return;
  }
  if (state_.config.id != wire::master_broker_id) {
    refuse(wire::response_code::slave_not_available, std::nullopt);
    return;
  }
  // UNKNOW, from the producer or from a check: the half message stays; Java answers nothing.
  if (type == wire::sys_flag::transaction_not_type) return;

  const bool commit_it = type == wire::sys_flag::transaction_commit;
  std::int64_t commit_offset = 0;
  if (const auto text = request.field("commitLogOffset");
      !text || !wire::parse_decimal(*text, commit_offset)) {
    refuse(wire::response_code::system_error,
           null_pointer_at(at_line(service, commit_it ? "commitMessage" : "rollbackMessage",
                                   v5 ? (commit_it ? 635 : 640) : (commit_it ? 481 : 486))));
    return;
  }
  const auto found = by_offset_.find(commit_offset);
  const auto half_it = found == by_offset_.end() ? halves_.end() : halves_.find(found->second.id);
  if (half_it == halves_.end()) {
    refuse(wire::response_code::system_error, "Find prepared transaction message failed");
    return;
  }
  half_message& half = half_it->second;
  // EndTransactionProcessor.checkPrepareMessage: producer group and half-queue offset must
  // match the message at that commit-log offset. (The msgId is not looked at.)
  const auto check_line = v5 ? 224 : 168;
  if (!half.properties.get(wire::property_names::producer_group)) {
    refuse(wire::response_code::system_error,
           null_pointer_at(at_line(processor, "checkPrepareMessage", check_line)));
    return;
  }
  if (request.field("producerGroup") != half.properties.get(wire::property_names::producer_group)) {
    refuse(wire::response_code::system_error, "The producer group wrong");
    return;
  }
  std::int64_t table_offset = 0;
  if (const auto text = request.field("tranStateTableOffset");
      !text || !wire::parse_decimal(*text, table_offset)) {
    refuse(wire::response_code::system_error,
           null_pointer_at(at_line(processor, "checkPrepareMessage", check_line + 6)));
    return;
  }
  if (table_offset != found->second.queue_offset) {
    refuse(wire::response_code::system_error, "The transaction state table offset wrong");
    return;
  }

  ++half.record.end_transactions;
  half.record.resolved_by_check =
      wire::parse_java_bool(request.field("fromTransactionCheck").value_or("false"));
  if (commit_it) {
    // A real broker looks the half message up in its commit log, so a repeated commit (or a
    // commit after a rollback or a discard) delivers the message again.
    commit(half);
  } else if (half.record.state != transaction_state::committed) {
    set_state(half, transaction_state::rolled_back);
  }
  write_response(out, version, request, wire::response_code::success);
}

std::vector<transaction_record> transaction_service::records() const {
  std::vector<transaction_record> result;
  result.reserve(halves_.size());
  for (const auto& [id, half] : halves_) result.push_back(half.record);
  return result;
}

void transaction_service::schedule() {
  if (scheduled_ || pending_.empty()) return;
  scheduled_ = true;
  next_round_ = std::chrono::steady_clock::now() + config_.check_interval;
  timer_.expires_at(next_round_);
  timer_.async_wait([this, generation = timer_generation_](std::error_code ec) {
    // Cancelled (destruction) or replaced (set_config, which scheduled anew).
    if (ec || generation != timer_generation_) return;
    scheduled_ = false;
    check_round();
    schedule();
  });
}

void transaction_service::check_round() {
  // A stopped broker (unregistered, its listener closed) checks nothing, like a broker process
  // that is down; its half messages wait for it.
  if (!state_.registered) return;
  const auto now = std::chrono::steady_clock::now();
  const std::vector<std::uint64_t> ids(pending_.begin(), pending_.end());
  for (const auto id : ids) {
    const auto it = halves_.find(id);
    if (it == halves_.end()) continue;
    half_message& half = it->second;
    // TransactionalMessageServiceImpl.check: needDiscard comes first, then the age.
    if (half.record.checks >= static_cast<std::uint32_t>(std::max(0, config_.check_max))) {
      set_state(half, transaction_state::discarded);
      continue;
    }
    if (now - half.stored_at < config_.timeout) continue;
    check(half);
  }
  if (server_ != nullptr) server_->notify_progress();
}

void transaction_service::check(half_message& half) {
  auto& r = half.record;
  ++r.checks;
  ++counters_->checks;
  auto& props = half.properties;
  props.put(check_times, std::to_string(r.checks));
  // putBackHalfMsgQueue: a copy goes to the end of the half queue; the check names the copy.
  const std::int64_t commit_offset = state_.append_to_commit_log(
      stored_size(half.body.size(), half_topic.size(), props.to_string().size()));
  const std::int64_t queue_offset = half_queue_offset_++;
  half.offsets.push_back(commit_offset);
  by_offset_[commit_offset] = {half.id, queue_offset};
  r.last_commit_log_offset = commit_offset;
  r.last_tran_state_table_offset = queue_offset;

  const auto connection = producers_.pick(r.producer_group);
  if (server_ == nullptr || !connection) return;  // Java logs "channel is null" and goes on
  const std::int32_t opaque = server_->next_opaque();
  if (server_->send_request(*connection, wire::request_code::check_transaction_state, opaque,
                            check_frame(half, opaque))) {
    ++r.checks_sent;
    ++counters_->checks_sent;
  }
}

std::string transaction_service::check_frame(const half_message& half, std::int32_t opaque) const {
  const personality version = cluster_.version();
  const auto& r = half.record;
  // The body is the half message as the check service read it, with topic and queue set back
  // to the real ones and WAIT=false (renewHalfMessageInner sets it on the shared map after it
  // made the stored string).
  java_properties props = half.properties;
  props.put(wire::property_names::wait_store_msg_ok, "false");
  const std::string properties = props.to_string();
  const raw_host born = parse_host(half.born_host);
  char store_ip[4];
  for (int i = 0; i < 4; ++i) store_ip[i] = static_cast<char>(state_.store_ip >> (24 - 8 * i));

  wire::stored_message_fields m;
  m.body_crc = wire::stored_body_crc(half.body);
  m.queue_id = r.queue_id;
  m.flag = half.message.flag;
  m.queue_offset = r.last_tran_state_table_offset;
  m.commit_log_offset = r.last_commit_log_offset;
  m.sys_flag = half.sys_flag;
  m.born_timestamp = half.message.born_timestamp;
  m.born_host = std::string_view(born.ip, 4);
  m.born_port = born.port;
  m.store_timestamp = half.store_timestamp;
  m.store_host = std::string_view(store_ip, 4);
  m.store_port = state_.port;
  m.body = half.body;
  m.topic = r.topic;
  m.properties = properties;
  std::string body;
  wire::encode_stored_message(body, m);

  std::string offset_msg_id;
  state_.append_msg_id(offset_msg_id, r.last_commit_log_offset);
  wire::check_transaction_state_request_header header;
  header.tran_state_table_offset = r.last_tran_state_table_offset;
  header.commit_log_offset = r.last_commit_log_offset;
  if (!r.transaction_id.empty()) header.msg_id = header.transaction_id = r.transaction_id;
  header.offset_msg_id = offset_msg_id;
  if (version == personality::v5) {
    header.topic = half_topic;
    header.broker_name = r.broker_name;
  }
  wire::command_fields fields;
  fields.code = wire::request_code::check_transaction_state;
  fields.language = wire::language_code::java;
  fields.version = server_version(version);
  fields.opaque = opaque;
  fields.flag = wire::flag_oneway;
  std::string frame;
  wire::frame_writer writer(frame, wire::serialize_type::json, fields);
  header.write(writer);
  writer.finish(body);
  return frame;
}

}  // namespace rmq::sim
