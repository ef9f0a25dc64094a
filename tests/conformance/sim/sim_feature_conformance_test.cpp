// The captured transaction and request-reply exchanges (fuzz/captures and tests/conformance/frames)
// replayed against rmq-sim of the matching personality, with the cluster and broker names of the
// capture. The client's frames go out as captured (where an offset the broker chose is repeated,
// ours is put in); what rmq-sim answers and sends on its own - send results, the check-back,
// the reply push, the reply send's answer - must match the captured frames: code, flag, version,
// extFields in the captured order and their values, except what depends on the time, the ports
// and the commit-log offsets (our commit log is not theirs).
#include "blocking_client.hpp"
#include "simulator.hpp"
#include "unit/wire/captured_frames.hpp"
#include "wire/codes.hpp"
#include "wire/heartbeat.hpp"
#include "wire/properties.hpp"
#include "wire/stored_message.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace rmq::sim::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto timeout = 10s;

struct capture_set {
  personality version;
  std::string folder;  // "v4" or "v5"
  std::string cluster;
  std::string broker;

  /// Requests are in fuzz/captures, responses in tests/conformance/frames.
  [[nodiscard]] fs::path path(const std::string& feature, const std::string& name,
                              const std::string& extension) const {
    const fs::path request =
        fs::path(RMQ_TEST_CAPTURES_DIR) / feature / folder / (name + extension);
    return fs::exists(request)
               ? request
               : fs::path(RMQ_TEST_FRAMES_DIR) / feature / folder / (name + extension);
  }
  [[nodiscard]] nlohmann::json decoded(const std::string& feature, const std::string& name) const {
    return nlohmann::json::parse(rmq::test::read_text_file(path(feature, name, ".json")));
  }
  /// The captured frame as bytes.
  [[nodiscard]] std::string frame(const std::string& feature, const std::string& name) const {
    return rmq::test::read_hex_file(path(feature, name, ".hex"));
  }
  /// The captured frame decoded, to be changed and sent again.
  [[nodiscard]] wire::remoting_command command(const std::string& feature,
                                               const std::string& name) const {
    const std::string bytes = frame(feature, name);
    wire::decode_scratch scratch;
    wire::command_view view;
    REQUIRE_FALSE(wire::decode_frame(std::string_view(bytes).substr(4), scratch, view));
    return wire::remoting_command::from_view(view);
  }
  [[nodiscard]] sim_config config() const {
    sim_config c;
    c.version = version;
    c.cluster = cluster;
    broker_config b;
    b.name = broker;
    c.brokers.push_back(b);
    return c;
  }
};

const capture_set capture_sets[] = {
    {personality::v4_9, "v4", "DefaultCluster", "broker-a"},
    {personality::v5, "v5", "DefaultCluster5", "broker-5a"},
};

std::vector<std::string> ext_names(const wire::remoting_command& c) {
  std::vector<std::string> names;
  for (const auto& [name, value] : c.ext_fields) names.push_back(name);
  return names;
}

/// nlohmann keeps object keys sorted: the captured order comes from the raw header instead.
std::vector<std::string> captured_order(const capture_set& set, const std::string& feature,
                                        const std::string& name) {
  return ext_names(set.command(feature, name));
}

/// Code, flag, version, language, remark and extFields (names in order; the values listed in
/// `same`) as captured.
void check_like(const wire::remoting_command& got, const capture_set& set,
                const std::string& feature, const std::string& name,
                std::initializer_list<std::string_view> same) {
  CAPTURE(name);
  const auto doc = set.decoded(feature, name);
  const auto& header = doc["header"];
  CHECK(got.fields.code == header["code"].get<int>());
  CHECK(got.fields.flag == header["flag"].get<int>());
  CHECK(got.fields.version == header["version"].get<int>());
  CHECK(got.fields.language == wire::language_code::java);
  if (header.contains("remark")) {
    CHECK(got.remark.value_or("<none>") == header["remark"].get<std::string>());
  } else {
    CHECK_FALSE(got.remark.has_value());
  }
  CHECK(ext_names(got) == captured_order(set, feature, name));
  for (const auto field : same) {
    CAPTURE(field);
    CHECK(std::string(got.field(field).value_or("<absent>")) ==
          header["extFields"][std::string(field)].get<std::string>());
  }
}

std::int64_t offset_of(std::string_view offset_msg_id) {
  return std::stoll(std::string(offset_msg_id.substr(16)), nullptr, 16);
}

bool heartbeat(blocking_client& client, const std::string& client_id, const std::string& group,
               personality version) {
  auto reply = client.call(
      make_request(wire::request_code::heart_beat, {},
                   wire::encode_heartbeat(client_id, group,
                                          version == personality::v5 ? wire::heartbeat_shape::v5
                                                                     : wire::heartbeat_shape::v4)),
      wire::serialize_type::json, timeout);
  return reply && reply->fields.code == 0;
}

}  // namespace

TEST_CASE("transactions: the captured exchange, the broker's check-back as captured") {
  const std::string tx = "transaction";
  for (const auto& set : capture_sets) {
    CAPTURE(set.folder);
    simulator sim(set.config());
    sim.start();
    blocking_client client(sim.broker_address(set.broker));
    REQUIRE(heartbeat(client, "192.0.2.2@1#1", "tx_producer_group", set.version));

    std::map<std::string, std::int64_t> commit_offsets;
    for (const std::string kind : {"commit", "rollback", "unknown"}) {
      REQUIRE(client.send_raw(set.frame(tx, "half_message_" + kind + "_request")));
      auto reply = client.read(timeout);
      REQUIRE(reply);
      check_like(
          *reply, set, tx, "half_message_" + kind + "_response",
          set.version == personality::v5
              ? std::initializer_list<std::string_view>{"queueId", "queueOffset", "transactionId",
                                                        "TRACE_ON", "MSG_REGION"}
              : std::initializer_list<std::string_view>{"queueId", "queueOffset", "TRACE_ON",
                                                        "MSG_REGION"});
      commit_offsets[kind] = offset_of(reply->field("msgId").value_or(""));
    }
    // The producer's END_TRANSACTIONs as captured, with our commit-log offsets.
    for (const std::string kind : {"commit", "rollback", "unknown"}) {
      auto end = set.command(tx, "end_transaction_" + kind + "_request");
      end.set_field("commitLogOffset", std::to_string(commit_offsets[kind]));
      client.send(end, wire::serialize_type::json, true);
    }
    REQUIRE(sim.wait_until(
        [](const sim_counters& c) {
          return c.transactions().committed == 1 && c.transactions().rolled_back == 1;
        },
        timeout));
    sim.set_transaction_config({.check_interval = 20ms, .timeout = 0ms});

    auto check = client.read_request(wire::request_code::check_transaction_state, timeout);
    REQUIRE(check);
    const auto captured = set.command(tx, "check_transaction_state_request");
    check_like(*check, set, tx, "check_transaction_state_request",
               set.version == personality::v5
                   ? std::initializer_list<std::string_view>{"msgId", "tranStateTableOffset",
                                                             "transactionId", "bname", "topic"}
                   : std::initializer_list<std::string_view>{"msgId", "tranStateTableOffset",
                                                             "transactionId"});
    std::string_view got_body = check->body;
    std::string_view want_body = captured.body;
    wire::stored_message_view got, want;
    REQUIRE_FALSE(wire::decode_stored_message(got_body, got));
    REQUIRE_FALSE(wire::decode_stored_message(want_body, want));
    CHECK(got.magic == want.magic);
    CHECK(got.body_crc == want.body_crc);
    CHECK(got.queue_id == want.queue_id);
    CHECK(got.flag == want.flag);
    CHECK(got.queue_offset == want.queue_offset);
    CHECK(got.sys_flag == want.sys_flag);
    CHECK(got.born_timestamp == want.born_timestamp);
    CHECK(got.born_host == want.born_host);
    CHECK(got.store_host == want.store_host);
    CHECK(got.reconsume_times == want.reconsume_times);
    CHECK(got.prepared_transaction_offset == want.prepared_transaction_offset);
    CHECK(got.body == want.body);
    CHECK(got.topic == want.topic);
    CHECK(got.properties == want.properties);  // byte for byte: same pairs, same order
    CHECK(std::to_string(got.commit_log_offset) == check->field("commitLogOffset"));

    // The producer's answer as captured, with the check's offsets.
    auto answer = set.command(tx, "end_transaction_from_check_request");
    answer.set_field("commitLogOffset", std::string(check->field("commitLogOffset").value()));
    client.send(answer, wire::serialize_type::json, true);
    REQUIRE(sim.wait_until([](const sim_counters& c) { return c.transactions().committed == 2; },
                           timeout));
    sim.stop();
  }
}

TEST_CASE("request-reply: the captured exchange, the reply push as captured") {
  const std::string rr = "request_reply";
  for (const auto& set : capture_sets) {
    CAPTURE(set.folder);
    simulator sim(set.config());
    sim.start();
    const std::string address = sim.broker_address(set.broker);
    const auto request = set.command(rr, "request_send_request");
    const std::string requester_id(
        wire::find_property(request.field("i").value(), "REPLY_TO_CLIENT").value());
    blocking_client requester(address);
    REQUIRE(heartbeat(requester, requester_id, "request_producer_group", set.version));
    REQUIRE(requester.send_raw(set.frame(rr, "request_send_request")));
    auto sent = requester.read(timeout);
    REQUIRE(sent);
    check_like(*sent, set, rr, "request_send_response",
               {"queueId", "queueOffset", "TRACE_ON", "MSG_REGION"});
    REQUIRE(sim.messages().size() == 1);
    CHECK(sim.messages()[0].property("CLUSTER") == set.cluster);

    blocking_client responder(address);
    REQUIRE(responder.send_raw(set.frame(rr, "reply_send_request")));
    auto push = requester.read_request(wire::request_code::push_reply_message_to_client, timeout);
    REQUIRE(push);
    check_like(*push, set, rr, "push_reply_message_to_client_request",
               {"queueId", "flag", "sysFlag", "reconsumeTimes", "unitMode", "defaultTopic",
                "defaultTopicQueueNums", "producerGroup", "topic", "bornTimestamp"});
    // The properties as captured once PUSH_REPLY_TIME (the broker's clock) is ours.
    const auto captured_push = set.command(rr, "push_reply_message_to_client_request");
    std::string want(captured_push.field("properties").value());
    const std::string captured_time(wire::find_property(want, "PUSH_REPLY_TIME").value());
    const std::string got(push->field("properties").value_or(""));
    want.replace(want.find(captured_time), captured_time.size(),
                 std::string(wire::find_property(got, "PUSH_REPLY_TIME").value_or("")));
    CHECK(got == want);
    CHECK(push->body == captured_push.body);
    CHECK(push->field("storeHost") == address);

    auto ack = set.command(rr, "push_reply_message_to_client_response");
    ack.fields.opaque = push->fields.opaque;
    REQUIRE(requester.send_raw(ack.encode(wire::serialize_type::json)));
    auto answer = responder.read(timeout);
    REQUIRE(answer);
    check_like(*answer, set, rr, "reply_send_response", {"queueId", "TRACE_ON", "MSG_REGION"});
    CHECK(sim.counters().replies().delivered == 1);

    if (set.version == personality::v5) {
      REQUIRE(responder.send_raw(set.frame(rr, "reply_send_requester_gone_request")));
      auto gone = responder.read(timeout);
      REQUIRE(gone);
      check_like(*gone, set, rr, "reply_send_requester_gone_response",
                 {"queueId", "TRACE_ON", "MSG_REGION"});
    }
    sim.stop();
  }
}

TEST_CASE("go away: a 5.3 broker shutting down gracefully answers the captured requests so") {
  // The captured exchange (fuzz/captures/go_away, responses in tests/conformance/frames):
  // the send in flight, the client's heartbeat on its new connection and its resend there.
  sim_config c;
  c.version = personality::v5;
  c.cluster = "DefaultCluster5";
  broker_config b;
  b.name = "broker-5a";
  c.brokers.push_back(b);
  c.topics.push_back({.name = "GoAwayTopic"});
  simulator sim(c);
  sim.start();
  sim.shut_down_broker("broker-5a", 30s);
  const std::pair<const char*, const char*> exchanges[] = {
      {"send_message_v2_request", "send_message_v2_go_away_response"},
      {"reconnect_heartbeat_request", "reconnect_heartbeat_go_away_response"},
      {"retried_send_message_v2_request", "retried_send_message_v2_go_away_response"},
  };
  for (const auto& [request, response] : exchanges) {
    CAPTURE(request);
    blocking_client client(sim.broker_address("broker-5a"));
    REQUIRE(client.connected());
    REQUIRE(client.send_raw(rmq::test::read_hex_file(std::string(RMQ_TEST_CAPTURES_DIR) +
                                                     "/go_away/" + request + ".hex")));
    const auto reply = client.read(timeout);
    REQUIRE(reply);
    const auto want = nlohmann::json::parse(rmq::test::read_text_file(
        std::string(RMQ_TEST_FRAMES_DIR) + "/go_away/" + response + ".json"))["header"];
    CHECK(reply->fields.code == want["code"].get<int>());
    CHECK(reply->fields.code == wire::response_code::go_away);
    CHECK(reply->fields.opaque == want["opaque"].get<int>());
    CHECK(reply->fields.flag == want["flag"].get<int>());
    CHECK(reply->fields.version == want["version"].get<int>());
    CHECK(reply->remark.value_or("<none>") == want["remark"].get<std::string>());
    CHECK(reply->ext_fields.empty());
  }
  // A client of version 475 or below is served as usual: the same send, stored.
  const std::string bytes = rmq::test::read_hex_file(std::string(RMQ_TEST_CAPTURES_DIR) +
                                                     "/go_away/send_message_v2_request.hex");
  wire::decode_scratch scratch;
  wire::command_view view;
  REQUIRE_FALSE(wire::decode_frame(std::string_view(bytes).substr(4), scratch, view));
  wire::remoting_command old_client = wire::remoting_command::from_view(view);
  old_client.fields.version = wire::mq_version::v5_3_1;
  blocking_client client(sim.broker_address("broker-5a"));
  const auto served = client.call(old_client, wire::serialize_type::json, timeout);
  REQUIRE(served);
  CHECK(served->fields.code == wire::response_code::success);
  CHECK(sim.messages().size() == 1);  // nothing told to go away was stored
  sim.stop();
}

}  // namespace rmq::sim::test
