// rmq-sim request-reply over loopback sockets: requests stored with CLUSTER, the reply topic in
// routes, SEND_REPLY_MESSAGE_V2 pushed to the requester as PUSH_REPLY_MESSAGE_TO_CLIENT (frames
// as captured from 4.9.8 and 5.3.3) and answered after the push, the requester gone or not
// acknowledging, and the responder answering from the request's broker or another one.
#include "sim_test_support.hpp"

#include <doctest/doctest.h>

namespace rmq::sim::test {

namespace {

constexpr std::string_view requester_id = "192.0.2.2@19821#13414006293158";
constexpr std::string_view correlation = "36372256-c76e-4a7c-a27f-539dd8f56728";

sim_config reply_config(personality version, std::size_t brokers = 1) {
  auto config = make_config(version, brokers);
  config.topics.push_back({.name = "RequestTopic"});
  return config;
}

/// The requester's SEND: REPLY_TO_CLIENT, CORRELATION_ID, TTL, no MSG_TYPE (captured).
wire::remoting_command request_message(personality version, std::string body = "Hello request",
                                       std::string_view reply_to = requester_id) {
  auto request = send_v2("RequestTopic", std::move(body), 3,
                         properties({{"REPLY_TO_CLIENT", reply_to},
                                     {"UNIQ_KEY", "C00002024D6D30946E0913432FB80000"},
                                     {"WAIT", "true"},
                                     {"TTL", "10000"},
                                     {"CORRELATION_ID", correlation}},
                                    version));
  request.set_field("a", "request_producer_group");
  return request;
}

/// The responder's SEND_REPLY_MESSAGE_V2 (captured): same header as 310.
wire::remoting_command reply_send(personality version, std::string_view reply_to = requester_id,
                                  std::string cluster = "DefaultCluster") {
  auto request = send_v2(cluster + "_REPLY_TOPIC", "reply:Hello request", 0,
                         properties({{"MSG_TYPE", "reply"},
                                     {"REPLY_TO_CLIENT", reply_to},
                                     {"UNIQ_KEY", "C00002024D0E30946E0913432FD70000"},
                                     {"TTL", "10000"},
                                     {"CORRELATION_ID", correlation}},
                                    version));
  request.fields.code = wire::request_code::send_reply_message_v2;
  request.set_field("a", "reply_responder_producer_RequestTopic");
  return request;
}

void check_push_frame(const wire::remoting_command& push, personality version,
                      const std::string& broker_address, std::string_view body) {
  CHECK(push.fields.code == wire::request_code::push_reply_message_to_client);
  CHECK(push.fields.flag == 0);  // two-way
  CHECK(push.fields.language == wire::language_code::java);
  CHECK(push.fields.version == (version == personality::v5 ? 479 : 409));
  CHECK(field_names_in_order(push) ==
        std::vector<std::string>{"queueId", "flag", "sysFlag", "reconsumeTimes", "storeTimestamp",
                                 "unitMode", "defaultTopic", "bornHost", "defaultTopicQueueNums",
                                 "producerGroup", "topic", "bornTimestamp", "storeHost",
                                 "properties"});
  CHECK(field_or(push, "topic") == "DefaultCluster_REPLY_TOPIC");
  CHECK(field_or(push, "storeHost") == broker_address);
  CHECK(field_or(push, "bornHost").starts_with("127.0.0.1:"));
  CHECK(field_or(push, "unitMode") == "false");
  CHECK(field_or(push, "queueId") == "0");
  const std::string props = field_or(push, "properties");
  CHECK(wire::find_property(props, "CORRELATION_ID") == correlation);
  CHECK(wire::find_property(props, "REPLY_TO_CLIENT") == requester_id);
  CHECK(wire::find_property(props, "MSG_TYPE") == "reply");
  CHECK(wire::find_property(props, "PUSH_REPLY_TIME") == field_or(push, "storeTimestamp"));
  CHECK(push.body == body);
}

}  // namespace

TEST_CASE("requests are stored with CLUSTER; every broker serves <cluster>_REPLY_TOPIC") {
  simulator sim(reply_config(personality::v4_9, 2));
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  auto reply =
      client.call(request_message(personality::v4_9), wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == 0);
  const auto messages = sim.messages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].property("CLUSTER") == "DefaultCluster");
  CHECK(messages[0].property("CORRELATION_ID") == correlation);
  CHECK(sim.counters().replies().requests == 1);

  blocking_client namesrv(sim.namesrv_address());
  auto route = namesrv.call(route_request("DefaultCluster_REPLY_TOPIC"), wire::serialize_type::json,
                            reply_timeout);
  REQUIRE(route);
  CHECK(route->fields.code == 0);
  CHECK(route->body.find("\"brokerName\":\"broker-a\"") != std::string::npos);
  CHECK(route->body.find("\"brokerName\":\"broker-b\"") != std::string::npos);
  CHECK(route->body.find("\"readQueueNums\":1") != std::string::npos);
}

TEST_CASE("a reply send is pushed to the requester, then answered") {
  for (const auto version : {personality::v4_9, personality::v5}) {
    CAPTURE(static_cast<int>(version));
    simulator sim(reply_config(version));
    sim.start();
    const std::string address = sim.broker_address("broker-a");
    blocking_client requester(address);
    REQUIRE(heartbeat(requester, requester_id, "request_producer_group", version));
    REQUIRE(requester.call(request_message(version), wire::serialize_type::json, reply_timeout));

    blocking_client responder(address);
    const std::int32_t opaque = responder.send(reply_send(version), wire::serialize_type::json);
    auto push =
        requester.read_request(wire::request_code::push_reply_message_to_client, reply_timeout);
    REQUIRE(push);
    check_push_frame(*push, version, address, "reply:Hello request");
    CHECK(field_or(*push, "producerGroup") == "reply_responder_producer_RequestTopic");
    CHECK(field_or(*push, "defaultTopic") == "TBW102");
    CHECK(field_or(*push, "bornTimestamp") == "1700000000000");
    const std::string props = field_or(*push, "properties");
    if (version == personality::v5) {
      CHECK(property_names(props) ==
            std::vector<std::string>{"PUSH_REPLY_TIME", "MSG_REGION", "UNIQ_KEY", "CORRELATION_ID",
                                     "MSG_TYPE", "TTL", "REPLY_TO_CLIENT", "TRACE_ON"});
      CHECK(props.ends_with('\x02'));
    } else {
      CHECK(property_names(props) == std::vector<std::string>{"PUSH_REPLY_TIME", "MSG_TYPE",
                                                              "REPLY_TO_CLIENT", "UNIQ_KEY", "TTL",
                                                              "CORRELATION_ID"});
      CHECK_FALSE(props.ends_with('\x02'));
    }
    // The reply send waits for the requester's answer to the push.
    REQUIRE(sim.replies().size() == 1);
    CHECK(sim.replies()[0].outcome == reply_outcome::pushing);
    REQUIRE(requester.respond(push->fields.opaque));

    auto answer = responder.read(reply_timeout);
    REQUIRE(answer);
    CHECK(answer->fields.opaque == opaque);
    CHECK(answer->fields.code == 0);
    CHECK_FALSE(answer->remark.has_value());
    if (version == personality::v5) {
      CHECK(field_names_in_order(*answer) ==
            std::vector<std::string>{"queueId", "msgId", "TRACE_ON", "MSG_REGION", "queueOffset"});
    } else {
      CHECK(field_names_in_order(*answer) ==
            std::vector<std::string>{"queueId", "TRACE_ON", "MSG_REGION", "msgId", "queueOffset"});
    }
    CHECK(field_or(*answer, "queueOffset") == "0");  // the reply topic's
    CHECK(sim.replies()[0].outcome == reply_outcome::delivered);
    const auto c = sim.counters();
    CHECK(c.broker_requests_sent(wire::request_code::push_reply_message_to_client) == 1);
    CHECK(c.broker_client_responses() == 1);
    CHECK(c.replies().delivered == 1);
    const auto messages = sim.messages();
    REQUIRE(messages.size() == 2);
    CHECK(messages[1].topic == "DefaultCluster_REPLY_TOPIC");
    CHECK(messages[1].request_code == wire::request_code::send_reply_message_v2);
    CHECK(messages[1].body == "reply:Hello request");
    CHECK(messages[1].offset_msg_id == field_or(*answer, "msgId"));
    sim.stop();
  }
}

TEST_CASE("the requester gone: the reply is stored and answered SYSTEM_ERROR") {
  for (const auto version : {personality::v4_9, personality::v5}) {
    CAPTURE(static_cast<int>(version));
    simulator sim(reply_config(version));
    sim.start();
    const std::string address = sim.broker_address("broker-a");
    {
      // Registered, then unregistered: the broker forgets the client id.
      blocking_client requester(address);
      REQUIRE(heartbeat(requester, requester_id, "request_producer_group", version));
      auto bye = requester.call(make_request(wire::request_code::unregister_client,
                                             {{"clientID", std::string(requester_id)},
                                              {"producerGroup", "request_producer_group"}}),
                                wire::serialize_type::json, reply_timeout);
      REQUIRE(bye);
    }
    blocking_client responder(address);
    auto answer = responder.call(reply_send(version), wire::serialize_type::json, reply_timeout);
    REQUIRE(answer);
    CHECK(answer->fields.code == wire::response_code::system_error);
    CHECK(answer->remark ==
          "push reply message fail, channel of <" + std::string(requester_id) + "> not found.");
    CHECK(field_names_in_order(*answer).size() == 5);  // stored: msgId, queueId, queueOffset, ...
    CHECK(field_or(*answer, "msgId").size() == 32);
    CHECK(sim.messages().size() == 1);
    CHECK(sim.counters().replies().requester_gone == 1);
    CHECK(sim.counters().broker_requests_sent(wire::request_code::push_reply_message_to_client) ==
          0);
    sim.stop();
  }
}

TEST_CASE("a push the requester refuses or leaves unanswered fails the reply send") {
  auto config = reply_config(personality::v4_9);
  config.reply_push_timeout = 100ms;
  simulator sim(config);
  sim.start();
  const std::string address = sim.broker_address("broker-a");
  blocking_client requester(address);
  REQUIRE(heartbeat(requester, requester_id, "request_producer_group"));
  blocking_client responder(address);
  const std::string failed = "push reply message to " + std::string(requester_id) + "fail.";

  responder.send(reply_send(personality::v4_9), wire::serialize_type::json);
  auto push =
      requester.read_request(wire::request_code::push_reply_message_to_client, reply_timeout);
  REQUIRE(push);
  REQUIRE(requester.respond(push->fields.opaque, wire::response_code::system_error));
  auto answer = responder.read(reply_timeout);
  REQUIRE(answer);
  CHECK(answer->fields.code == wire::response_code::system_error);
  CHECK(answer->remark == failed);

  // Not answered at all: the broker gives up after reply_push_timeout.
  responder.send(reply_send(personality::v4_9), wire::serialize_type::json);
  answer = responder.read(reply_timeout);
  REQUIRE(answer);
  CHECK(answer->remark == failed);
  const auto c = sim.counters();
  CHECK(c.replies().push_failed == 2);
  CHECK(c.brokers.at(0).second.request_timeouts == 1);
  CHECK(sim.messages().size() == 2);  // stored all the same
}

TEST_CASE("the responder answers a request from the request's broker") {
  for (const auto version : {personality::v4_9, personality::v5}) {
    CAPTURE(static_cast<int>(version));
    auto config = reply_config(version);
    config.responder.enabled = true;
    simulator sim(config);
    sim.start();
    const std::string address = sim.broker_address("broker-a");
    blocking_client requester(address);
    REQUIRE(heartbeat(requester, requester_id, "request_producer_group", version));
    auto sent =
        requester.call(request_message(version, "ping"), wire::serialize_type::json, reply_timeout);
    REQUIRE(sent);  // the send result comes first, the push after it
    CHECK(sent->fields.code == 0);
    auto push =
        requester.read_request(wire::request_code::push_reply_message_to_client, reply_timeout);
    REQUIRE(push);
    check_push_frame(*push, version, address, "reply:ping");
    CHECK(field_or(*push, "producerGroup") == "rmq_sim_responder");
    CHECK(wire::find_property(field_or(*push, "properties"), "TTL") == "10000");
    REQUIRE(requester.respond(push->fields.opaque));
    REQUIRE(sim.wait_until([](const sim_counters& c) { return c.replies().delivered == 1; },
                           reply_timeout));
    const auto replies = sim.replies();
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].from_responder);
    CHECK(replies[0].broker_name == "broker-a");
    CHECK(replies[0].correlation_id == correlation);
    CHECK(replies[0].body == "reply:ping");
    sim.stop();
  }
}

TEST_CASE("the responder answers through another broker, after a delay") {
  auto config = reply_config(personality::v5, 2);
  config.responder = {.enabled = true,
                      .body_prefix = "pong:",
                      .broker = "broker-b",
                      .delay = std::chrono::milliseconds(20)};
  simulator sim(config);
  sim.start();
  blocking_client on_a(sim.broker_address("broker-a"));
  blocking_client on_b(sim.broker_address("broker-b"));
  REQUIRE(heartbeat(on_a, requester_id, "request_producer_group", personality::v5));
  REQUIRE(heartbeat(on_b, requester_id, "request_producer_group", personality::v5));
  REQUIRE(on_a.call(request_message(personality::v5, "ping"), wire::serialize_type::json,
                    reply_timeout));
  auto push = on_b.read_request(wire::request_code::push_reply_message_to_client, reply_timeout);
  REQUIRE(push);
  CHECK(field_or(*push, "storeHost") == sim.broker_address("broker-b"));
  CHECK(push->body == "pong:ping");
  REQUIRE(on_b.respond(push->fields.opaque));
  REQUIRE(sim.wait_until([](const sim_counters& c) { return c.replies().delivered == 1; },
                         reply_timeout));
  CHECK(sim.replies().at(0).broker_name == "broker-b");
  const auto c = sim.counters();
  CHECK(c.brokers.at(0).second.sent(wire::request_code::push_reply_message_to_client) == 0);
  CHECK(c.brokers.at(1).second.sent(wire::request_code::push_reply_message_to_client) == 1);

  // Not connected to broker-b: the reply finds no requester there.
  sim.drop_broker_connections("broker-b");
  REQUIRE(on_b.wait_closed(reply_timeout));
  REQUIRE(on_a.call(request_message(personality::v5, "ping again"), wire::serialize_type::json,
                    reply_timeout));
  REQUIRE(sim.wait_until([](const sim_counters& now) { return now.replies().requester_gone == 1; },
                         reply_timeout));
}

TEST_CASE("the responder can withhold replies, and be switched at run time") {
  simulator sim(reply_config(personality::v4_9));
  sim.start();
  CHECK_THROWS_AS(sim.set_responder({.enabled = true, .broker = "broker-x"}),
                  std::invalid_argument);
  sim.set_responder({.enabled = true, .withhold = true});
  blocking_client requester(sim.broker_address("broker-a"));
  REQUIRE(heartbeat(requester, requester_id, "request_producer_group"));
  REQUIRE(requester.call(request_message(personality::v4_9), wire::serialize_type::json,
                         reply_timeout));
  const auto c = sim.counters();
  CHECK(c.replies().withheld == 1);
  CHECK(c.broker_requests_sent(wire::request_code::push_reply_message_to_client) == 0);
  REQUIRE(sim.replies().size() == 1);
  CHECK(sim.replies()[0].outcome == reply_outcome::withheld);

  sim.set_responder({.enabled = true});
  REQUIRE(requester.call(request_message(personality::v4_9), wire::serialize_type::json,
                         reply_timeout));
  auto push =
      requester.read_request(wire::request_code::push_reply_message_to_client, reply_timeout);
  REQUIRE(push);
  CHECK(push->body == "reply:Hello request");
  CHECK(sim.responder_settings().enabled);
}

}  // namespace rmq::sim::test
