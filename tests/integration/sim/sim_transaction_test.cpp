// rmq-sim transactions over loopback sockets: half messages, END_TRANSACTION commit / rollback /
// unknown, the broker's check-back (frames as captured from 4.9.8 and 5.3.3), the check maximum,
// the drop-END_TRANSACTION fault, pending half messages across a broker stop and start, and what
// a real broker answers a bad END_TRANSACTION.
#include "sim_test_support.hpp"
#include "wire/stored_message.hpp"
#include "wire/sys_flag.hpp"

#include <doctest/doctest.h>

#include <algorithm>

namespace rmq::sim::test {

namespace {

constexpr std::string_view group = "tx_producer_group";
constexpr std::string_view client_id = "192.0.2.2@19821#13414006293158";

std::string uniq_key(int n) {
  return "C00002024A3E30946E0913428194000" + std::to_string(n);
}

sim_config tx_config(personality version, std::chrono::milliseconds check_interval = 60s) {
  auto config = make_config(version);
  config.topics.push_back({.name = "TxTopic"});
  config.transactions.check_interval = check_interval;
  config.transactions.timeout = 0ms;
  return config;
}

/// A half message as the Java TransactionMQProducer sends it (transaction captures).
wire::remoting_command half_message(personality version, int n, std::string body,
                                    int queue_id = 1) {
  const std::string key = uniq_key(n);
  const std::string keys = "key-" + std::to_string(n);
  auto request = send_v2("TxTopic", std::move(body), queue_id,
                         properties({{"KEYS", keys},
                                     {"TRAN_MSG", "true"},
                                     {"UNIQ_KEY", key},
                                     {"WAIT", "true"},
                                     {"PGROUP", group},
                                     {"TAGS", "TagTx"}},
                                    version),
                         4);
  request.set_field("a", std::string(group));
  return request;
}

struct sent_half {
  std::string transaction_id;
  std::int64_t commit_log_offset = 0;
  std::int64_t queue_offset = 0;
  std::string msg_id;
};

sent_half send_half(blocking_client& client, personality version, int n, std::string body) {
  auto reply = client.call(half_message(version, n, std::move(body)), wire::serialize_type::json,
                           reply_timeout);
  REQUIRE(reply);
  REQUIRE(reply->fields.code == 0);
  sent_half half;
  half.transaction_id = uniq_key(n);
  half.msg_id = field_or(*reply, "msgId");
  half.commit_log_offset = std::stoll(half.msg_id.substr(16), nullptr, 16);
  half.queue_offset = std::stoll(field_or(*reply, "queueOffset"));
  return half;
}

/// END_TRANSACTION as the producer sends it after its local transaction (oneway).
wire::remoting_command end_transaction(const sent_half& half, int commit_or_rollback,
                                       bool from_check = false,
                                       std::string producer_group = std::string(group)) {
  auto request = make_request(wire::request_code::end_transaction,
                              {{"producerGroup", std::move(producer_group)},
                               {"bname", "broker-a"},
                               {"commitLogOffset", std::to_string(half.commit_log_offset)},
                               {"msgId", half.transaction_id},
                               {"tranStateTableOffset", std::to_string(half.queue_offset)},
                               {"commitOrRollback", std::to_string(commit_or_rollback)},
                               {"transactionId", half.transaction_id},
                               {"fromTransactionCheck", from_check ? "true" : "false"}});
  request.fields.flag = wire::flag_oneway;
  return request;
}

/// The producer's answer to a check: the check's offsets and ids copied.
wire::remoting_command answer_check(const wire::remoting_command& check, int commit_or_rollback) {
  sent_half half;
  half.commit_log_offset = std::stoll(field_or(check, "commitLogOffset"));
  half.queue_offset = std::stoll(field_or(check, "tranStateTableOffset"));
  half.transaction_id = field_or(check, "msgId");
  return end_transaction(half, commit_or_rollback, true);
}

std::optional<transaction_record> find_transaction(simulator& sim, const std::string& id) {
  for (auto& t : sim.transactions()) {
    if (t.transaction_id == id) return t;
  }
  return std::nullopt;
}

bool wait_state(simulator& sim, const std::string& id, transaction_state state) {
  return sim.wait_until(
      [&](const sim_counters&) {
        const auto t = find_transaction(sim, id);
        return t && t->state == state;
      },
      reply_timeout);
}

}  // namespace

TEST_CASE(
    "half messages: answered like sends, invisible; commit delivers, rollback drops, "
    "unknown stays") {
  for (const auto version : {personality::v4_9, personality::v5}) {
    CAPTURE(static_cast<int>(version));
    simulator sim(tx_config(version));
    sim.start();
    blocking_client client(sim.broker_address("broker-a"));
    REQUIRE(heartbeat(client, client_id, group, version));

    auto first = client.call(half_message(version, 0, "commit-1"), wire::serialize_type::json,
                             reply_timeout);
    REQUIRE(first);
    CHECK(first->fields.code == 0);
    CHECK(field_or(*first, "queueId") == "1");
    CHECK(field_or(*first, "queueOffset") == "0");  // the half queue's
    if (version == personality::v5) {
      CHECK(field_names_in_order(*first) == std::vector<std::string>{"queueId", "transactionId",
                                                                     "msgId", "TRACE_ON",
                                                                     "MSG_REGION", "queueOffset"});
      CHECK(field_or(*first, "transactionId") == uniq_key(0));
    } else {
      CHECK(field_names_in_order(*first) ==
            std::vector<std::string>{"queueId", "TRACE_ON", "MSG_REGION", "msgId", "queueOffset"});
    }
    sent_half commit;
    commit.transaction_id = uniq_key(0);
    commit.msg_id = field_or(*first, "msgId");
    commit.commit_log_offset = std::stoll(commit.msg_id.substr(16), nullptr, 16);
    const auto rollback = send_half(client, version, 1, "rollback-1");
    const auto unknown = send_half(client, version, 2, "unknown-1");
    CHECK(rollback.queue_offset == 1);
    CHECK(unknown.queue_offset == 2);
    CHECK(sim.messages().empty());  // half messages are not delivered
    CHECK(sim.counters().transactions().pending == 3);

    client.send(end_transaction(commit, 8), wire::serialize_type::json);
    client.send(end_transaction(rollback, 12), wire::serialize_type::json);
    client.send(end_transaction(unknown, 0), wire::serialize_type::json);
    REQUIRE(sim.wait_until(
        [](const sim_counters& c) {
          return c.transactions().committed == 1 && c.transactions().rolled_back == 1;
        },
        reply_timeout));
    // The oneway END_TRANSACTIONs got no answer: the next call's response is the next frame.
    REQUIRE(heartbeat(client, client_id, group, version));
    CHECK(sim.counters().broker_requests(wire::request_code::end_transaction) == 3);

    const auto messages = sim.messages();
    REQUIRE(messages.size() == 1);
    const auto& m = messages[0];
    CHECK(m.topic == "TxTopic");
    CHECK(m.queue_id == 1);
    CHECK(m.queue_offset == 0);
    CHECK(m.body == "commit-1");
    CHECK(m.sys_flag == wire::sys_flag::transaction_commit);
    CHECK(m.property("TRAN_MSG") == "true");
    CHECK(m.property("PGROUP") == group);
    CHECK(m.property("REAL_TOPIC") == "TxTopic");  // the stored string keeps them
    CHECK(m.commit_log_offset > unknown.commit_log_offset);

    const auto t = find_transaction(sim, uniq_key(2));
    REQUIRE(t);
    CHECK(t->state == transaction_state::pending);
    CHECK(t->producer_group == group);
    CHECK(t->topic == "TxTopic");
    CHECK(t->body == "unknown-1");
    CHECK(t->offset_msg_id == unknown.msg_id);
    CHECK(find_transaction(sim, uniq_key(0))->state == transaction_state::committed);
    CHECK(find_transaction(sim, uniq_key(1))->state == transaction_state::rolled_back);
    CHECK(sim.counters().transactions().pending == 1);
    sim.stop();
  }
}

TEST_CASE("an unknown transaction is checked back with the captured frame; the answer commits") {
  for (const auto version : {personality::v4_9, personality::v5}) {
    CAPTURE(static_cast<int>(version));
    simulator sim(tx_config(version, 50ms));
    sim.start();
    const std::string address = sim.broker_address("broker-a");
    blocking_client client(address);
    REQUIRE(heartbeat(client, client_id, group, version));
    const auto half = send_half(client, version, 7, "unknown-1");
    client.send(end_transaction(half, 0), wire::serialize_type::json);

    auto check = client.read_request(wire::request_code::check_transaction_state, reply_timeout);
    REQUIRE(check);
    CHECK(check->fields.flag == wire::flag_oneway);
    CHECK(check->fields.language == wire::language_code::java);
    CHECK(check->fields.version == (version == personality::v5 ? 479 : 409));
    CHECK(client.last_type() == wire::serialize_type::json);
    if (version == personality::v5) {
      CHECK(field_names_in_order(*check) ==
            std::vector<std::string>{"bname", "commitLogOffset", "topic", "msgId",
                                     "tranStateTableOffset", "offsetMsgId", "transactionId"});
      CHECK(field_or(*check, "bname") == "broker-a");
      CHECK(field_or(*check, "topic") == "RMQ_SYS_TRANS_HALF_TOPIC");
    } else {
      CHECK(field_names_in_order(*check) ==
            std::vector<std::string>{"commitLogOffset", "msgId", "tranStateTableOffset",
                                     "offsetMsgId", "transactionId"});
    }
    CHECK(field_or(*check, "msgId") == half.transaction_id);
    CHECK(field_or(*check, "transactionId") == half.transaction_id);
    // It names the copy the broker re-appended for the check, not the original.
    const std::int64_t copy_offset = std::stoll(field_or(*check, "commitLogOffset"));
    CHECK(copy_offset > half.commit_log_offset);
    CHECK(field_or(*check, "tranStateTableOffset") == "1");
    CHECK(field_or(*check, "offsetMsgId") == offset_msg_id(address, copy_offset));

    // The body: the half message in the store format, with its real topic and queue.
    std::string_view body = check->body;
    wire::stored_message_view m;
    REQUIRE_FALSE(wire::decode_stored_message(body, m));
    CHECK(body.empty());
    CHECK(m.magic == wire::stored_message_magic_v1);
    CHECK(m.body_crc == wire::stored_body_crc("unknown-1"));
    CHECK(m.queue_id == 1);
    CHECK(m.queue_offset == 1);
    CHECK(m.commit_log_offset == copy_offset);
    CHECK(m.sys_flag == 0);
    CHECK(m.born_timestamp == 1700000000000);
    CHECK(m.born_host == std::string_view("\x7f\x00\x00\x01", 4));
    CHECK(m.born_port > 0);
    CHECK(m.store_host == std::string_view("\x7f\x00\x00\x01", 4));
    CHECK(m.store_port == std::stoi(address.substr(address.rfind(':') + 1)));
    CHECK(m.store_timestamp > 0);
    CHECK(m.prepared_transaction_offset == 0);
    CHECK(m.body == "unknown-1");
    CHECK(m.topic == "TxTopic");
    // Properties in the real broker's HashMap order (as captured), 5.x with a final separator.
    if (version == personality::v5) {
      CHECK(property_names(m.properties) ==
            std::vector<std::string>{"MSG_REGION", "UNIQ_KEY", "CLUSTER", "PGROUP",
                                     "__transactionId__", "TAGS", "TRAN_MSG", "KEYS", "WAIT",
                                     "TRACE_ON", "TRANSACTION_CHECK_TIMES", "REAL_TOPIC",
                                     "REAL_QID"});
      CHECK(m.properties.ends_with('\x02'));
      CHECK(wire::find_property(m.properties, "__transactionId__") == half.transaction_id);
      CHECK(wire::find_property(m.properties, "MSG_REGION") == "DefaultRegion");
    } else {
      CHECK(property_names(m.properties) ==
            std::vector<std::string>{"REAL_TOPIC", "TRANSACTION_CHECK_TIMES", "KEYS", "TRAN_MSG",
                                     "UNIQ_KEY", "CLUSTER", "PGROUP", "WAIT", "TAGS", "REAL_QID"});
      CHECK_FALSE(m.properties.ends_with('\x02'));
    }
    CHECK(wire::find_property(m.properties, "REAL_TOPIC") == "TxTopic");
    CHECK(wire::find_property(m.properties, "REAL_QID") == "1");
    CHECK(wire::find_property(m.properties, "TRANSACTION_CHECK_TIMES") == "1");
    CHECK(wire::find_property(m.properties, "TRAN_MSG") == "true");
    CHECK(wire::find_property(m.properties, "PGROUP") == group);
    CHECK(wire::find_property(m.properties, "CLUSTER") == "DefaultCluster");
    CHECK(wire::find_property(m.properties, "WAIT") == "false");

    // The producer answers the check with fromTransactionCheck=true: committed.
    client.send(answer_check(*check, 8), wire::serialize_type::json);
    REQUIRE(wait_state(sim, half.transaction_id, transaction_state::committed));
    const auto t = find_transaction(sim, half.transaction_id);
    CHECK(t->resolved_by_check);
    CHECK(t->checks >= 1);
    CHECK(t->checks_sent >= 1);
    CHECK(t->commit_log_offset == half.commit_log_offset);
    REQUIRE(sim.messages().size() == 1);
    CHECK(sim.messages()[0].body == "unknown-1");
    sim.stop();
  }
}

TEST_CASE("after transaction_check_max checks the half message is discarded") {
  auto config = tx_config(personality::v4_9, 20ms);
  config.transactions.check_max = 3;
  simulator sim(config);
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  REQUIRE(heartbeat(client, client_id, group));
  const auto half = send_half(client, personality::v4_9, 3, "never-answered");
  REQUIRE(wait_state(sim, half.transaction_id, transaction_state::discarded));

  for (int n = 1; n <= 3; ++n) {
    auto check = client.read_request(wire::request_code::check_transaction_state, reply_timeout);
    REQUIRE(check);
    CHECK(field_or(*check, "tranStateTableOffset") == std::to_string(n));  // a new copy each time
    std::string_view body = check->body;
    wire::stored_message_view m;
    REQUIRE_FALSE(wire::decode_stored_message(body, m));
    CHECK(wire::find_property(m.properties, "TRANSACTION_CHECK_TIMES") == std::to_string(n));
  }
  const auto t = find_transaction(sim, half.transaction_id);
  CHECK(t->checks == 3);
  CHECK(t->checks_sent == 3);
  const auto c = sim.counters();
  CHECK(c.broker_requests_sent(wire::request_code::check_transaction_state) == 3);
  CHECK(c.transactions().discarded == 1);
  CHECK(c.transactions().pending == 0);
  CHECK(sim.messages().empty());
}

TEST_CASE("without a producer connection of the group the checks are counted, not sent") {
  auto config = tx_config(personality::v5, 20ms);
  config.transactions.check_max = 2;
  simulator sim(config);
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));  // no HEART_BEAT: unknown to the broker
  const auto half = send_half(client, personality::v5, 4, "orphan");
  REQUIRE(wait_state(sim, half.transaction_id, transaction_state::discarded));
  const auto t = find_transaction(sim, half.transaction_id);
  CHECK(t->checks == 2);
  CHECK(t->checks_sent == 0);
  CHECK(sim.counters().broker_requests_sent(wire::request_code::check_transaction_state) == 0);
}

TEST_CASE("the drop-END_TRANSACTION fault leaves the half message to the check-back") {
  simulator sim(tx_config(personality::v4_9, 50ms));
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  REQUIRE(heartbeat(client, client_id, group));
  sim.set_broker_faults("broker-a", {.drop_end_transaction = true});
  const auto half = send_half(client, personality::v4_9, 5, "dropped-end");
  client.send(end_transaction(half, 8), wire::serialize_type::json);
  REQUIRE(sim.wait_until(
      [](const sim_counters& c) { return c.transactions().end_transaction_dropped == 1; },
      reply_timeout));
  CHECK(find_transaction(sim, half.transaction_id)->state == transaction_state::pending);
  const auto ends = sim.end_transactions();
  REQUIRE(ends.size() == 1);
  CHECK(ends[0].dropped);

  auto check = client.read_request(wire::request_code::check_transaction_state, reply_timeout);
  REQUIRE(check);
  sim.clear_faults();
  client.send(answer_check(*check, 8), wire::serialize_type::json);
  REQUIRE(wait_state(sim, half.transaction_id, transaction_state::committed));
  CHECK(sim.counters().brokers.at(0).second.faults_injected == 1);
}

TEST_CASE("pending half messages survive a broker stop and start; the checks go on") {
  simulator sim(tx_config(personality::v5, 50ms));
  sim.start();
  sent_half half;
  {
    blocking_client client(sim.broker_address("broker-a"));
    REQUIRE(heartbeat(client, client_id, group, personality::v5));
    half = send_half(client, personality::v5, 6, "across-restart");
  }
  sim.stop_broker("broker-a");
  CHECK(find_transaction(sim, half.transaction_id)->state == transaction_state::pending);
  sim.start_broker("broker-a");

  blocking_client client(sim.broker_address("broker-a"));
  REQUIRE(heartbeat(client, client_id, group, personality::v5));
  auto check = client.read_request(wire::request_code::check_transaction_state, reply_timeout);
  REQUIRE(check);
  CHECK(field_or(*check, "msgId") == half.transaction_id);
  client.send(answer_check(*check, 12), wire::serialize_type::json);
  REQUIRE(wait_state(sim, half.transaction_id, transaction_state::rolled_back));
  CHECK(sim.transactions().size() == 1);
  CHECK(sim.messages().empty());
}

TEST_CASE("END_TRANSACTION sent two-way gets what a real broker answers") {
  simulator sim(tx_config(personality::v4_9));
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  const auto half = send_half(client, personality::v4_9, 8, "two-way");
  const auto two_way = [](wire::remoting_command request) {
    request.fields.flag = 0;
    return request;
  };
  const auto call = [&](wire::remoting_command request) {
    auto reply =
        client.call(two_way(std::move(request)), wire::serialize_type::json, reply_timeout);
    REQUIRE(reply);
    return *reply;
  };

  auto missing = half;
  missing.commit_log_offset += 1;
  auto reply = call(end_transaction(missing, 8));
  CHECK(reply.fields.code == wire::response_code::system_error);
  CHECK(reply.remark == "Find prepared transaction message failed");

  reply = call(end_transaction(half, 8, false, "other_group"));
  CHECK(reply.remark == "The producer group wrong");

  auto wrong_table = half;
  wrong_table.queue_offset = 9;
  reply = call(end_transaction(wrong_table, 12));
  CHECK(reply.remark == "The transaction state table offset wrong");

  reply = call(end_transaction(half, 5));
  CHECK(reply.fields.code == wire::response_code::system_error);
  CHECK(reply.remark ==
        "org.apache.rocketmq.remoting.exception.RemotingCommandException: commitOrRollback field "
        "wrong, org.apache.rocketmq.common.protocol.header.EndTransactionRequestHeader.checkFields("
        "EndTransactionRequestHeader.java:60)");

  auto no_type = end_transaction(half, 8);
  std::erase_if(no_type.ext_fields, [](const auto& f) { return f.first == "commitOrRollback"; });
  reply = call(no_type);
  CHECK(reply.remark ==
        "java.lang.NullPointerException, org.apache.rocketmq.common.protocol.header."
        "EndTransactionRequestHeader.checkFields(EndTransactionRequestHeader.java:48)");
  CHECK(find_transaction(sim, half.transaction_id)->state == transaction_state::pending);
  CHECK(sim.counters().transactions().end_transaction_refused == 5);

  // UNKNOW gets no answer even two-way (the processor returns null): the next response is the
  // commit's, SUCCESS without a remark.
  client.send(two_way(end_transaction(half, 0)), wire::serialize_type::json);
  reply = call(end_transaction(half, 8));
  CHECK(reply.fields.code == 0);
  CHECK_FALSE(reply.remark.has_value());
  CHECK(reply.ext_fields.empty());
  CHECK(find_transaction(sim, half.transaction_id)->state == transaction_state::committed);

  // A real broker finds the half message in its commit log again: a repeated commit delivers
  // it again.
  reply = call(end_transaction(half, 8));
  CHECK(reply.fields.code == 0);
  CHECK(sim.messages().size() == 2);
  CHECK(find_transaction(sim, half.transaction_id)->commits == 2);
}

}  // namespace rmq::sim::test
