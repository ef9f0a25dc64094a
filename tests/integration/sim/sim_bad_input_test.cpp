// Bad input gets what a real server gives — a closed connection for bytes that do not decode,
// an error response for well-framed nonsense — and never takes the simulator down.
#include "sim_test_support.hpp"
#include "wire/batch.hpp"

#include <doctest/doctest.h>

namespace rmq::sim::test {

namespace {

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

/// After the bad input, the server still answers a fresh connection.
void check_still_serving(simulator& sim) {
  blocking_client client(sim.broker_address("broker-a"));
  REQUIRE(client.connected());
  auto reply =
      client.call(send_v2("TopicTest", "still here"), wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == 0);
}

}  // namespace

TEST_CASE("bytes that do not decode close the connection") {
  simulator sim(make_config());
  sim.start();
  const struct {
    const char* what;
    std::string bytes;
  } cases[] = {
      {"length above 16 MiB", be32(64u << 20) + std::string(64, 'x')},
      {"negative length", be32(0xFFFFFFF0u) + std::string(16, 'x')},
      {"length shorter than the header word", be32(2) + "ab"},
      {"header longer than the frame", be32(8) + be32(100) + "abcd"},
      {"unknown serialization type", be32(4 + 4) + be32(0x05000004) + "abcd"},
      {"header that is not JSON", be32(4 + 9) + be32(9) + "not json!"},
      {"truncated binary header", be32(4 + 6) + be32(0x01000006) + std::string(6, '\0')},
      {"plain garbage", std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    blocking_client client(sim.broker_address("broker-a"));
    REQUIRE(client.connected());
    client.send_raw(c.bytes);
    CHECK(client.wait_closed(reply_timeout));
  }
  CHECK(sim.counters().brokers.at(0).second.decode_errors == std::size(cases));
  check_still_serving(sim);
}

TEST_CASE("the name server closes on garbage too, and keeps serving") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.namesrv_address());
  client.send_raw(be32(0x7FFFFFFF) + "zzzz");
  CHECK(client.wait_closed(reply_timeout));
  blocking_client again(sim.namesrv_address());
  REQUIRE(again.call(route_request("TopicTest"), wire::serialize_type::json, reply_timeout));
}

TEST_CASE("a send missing required header fields gets SYSTEM_ERROR") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  auto reply =
      client.call(make_request(wire::request_code::send_message_v2, {{"b", "TopicTest"}}, "body"),
                  wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == wire::response_code::system_error);
  CHECK(reply->remark.value_or("").find("RemotingCommandException") != std::string::npos);
  auto bad_number = send_v2("TopicTest", "body");
  bad_number.set_field("e", "zero");
  reply = client.call(bad_number, wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == wire::response_code::system_error);
  CHECK(sim.message_count() == 0);
}

TEST_CASE("an illegal queueId gets SYSTEM_ERROR with the broker's remark") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  auto reply =
      client.call(send_v2("TopicTest", "body", 4), wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == wire::response_code::system_error);
  CHECK(
      reply->remark.value_or("").starts_with("request queueId[4] is illegal, TopicConfig "
                                             "[topicName=TopicTest, readQueueNums=4"));
  CHECK(field_or(*reply, "MSG_REGION") == "DefaultRegion");
}

TEST_CASE("oversized properties and topic get MESSAGE_ILLEGAL") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  auto reply = client.call(send_v2("TopicTest", "body", 0, "KEYS\x01" + std::string(40000, 'k')),
                           wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == wire::response_code::message_illegal);
  reply = client.call(send_v2(std::string(200, 't'), "body"), wire::serialize_type::json,
                      reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == wire::response_code::message_illegal);
}

TEST_CASE("a batch whose records do not tile the body is rejected with SYSTEM_ERROR") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  std::string good;
  wire::append_batch_record(good, 0, "one", "TAGS\x01T\x02");
  wire::append_batch_record(good, 0, "two", "TAGS\x01T\x02");

  const struct {
    const char* what;
    std::string body;
  } cases[] = {
      {"trailing bytes", good + "xy"},
      {"truncated last record", good.substr(0, good.size() - 3)},
      {"wrong TOTALSIZE", be32(99) + good.substr(4)},
      {"body length past the end", good.substr(0, 16) + be32(1000) + good.substr(20)},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto request = send_v2("TopicTest", c.body, 0, "WAIT\x01true");
    request.fields.code = wire::request_code::send_batch_message;
    request.set_field("m", "true");
    auto reply = client.call(request, wire::serialize_type::json, reply_timeout);
    REQUIRE(reply);
    CHECK(reply->fields.code == wire::response_code::system_error);
    CHECK(reply->remark.value_or("").starts_with("java.nio.BufferUnderflowException"));
  }
  CHECK(sim.message_count() == 0);
  check_still_serving(sim);
}

TEST_CASE("a heartbeat whose body is not HeartbeatData gets SYSTEM_ERROR") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  auto reply = client.call(make_request(wire::request_code::heart_beat, {}, "{not json"),
                           wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == wire::response_code::system_error);
  CHECK(sim.clients().empty());
}

TEST_CASE("a client that vanishes mid-frame or mid-response does no harm") {
  simulator sim(make_config());
  sim.start();
  {
    blocking_client client(sim.broker_address("broker-a"));
    const std::string frame =
        send_v2("TopicTest", std::string(4096, 'h')).encode(wire::serialize_type::json);
    client.send_raw(std::string_view(frame).substr(0, frame.size() / 2));
  }
  {
    sim.set_broker_faults("broker-a", {.latency_min = 20ms, .latency_max = 20ms});
    blocking_client client(sim.broker_address("broker-a"));
    client.send(send_v2("TopicTest", "bye"), wire::serialize_type::json);
  }
  CHECK(sim.wait_until(
      [](const sim_counters& c) {
        return c.broker_requests(wire::request_code::send_message_v2) >= 1;
      },
      reply_timeout));
  sim.clear_faults();
  check_still_serving(sim);
}

TEST_CASE("a response reaching the broker is never taken for a request") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  REQUIRE(client.respond(77));  // answers nothing the broker sent
  auto reply =
      client.call(send_v2("TopicTest", "after it"), wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == 0);
  const auto c = sim.counters();
  CHECK(c.brokers.at(0).second.unmatched_responses == 1);
  CHECK(c.broker_requests(0) == 0);
  CHECK(c.brokers.at(0).second.responses == 1);  // the send's only
}

}  // namespace rmq::sim::test
