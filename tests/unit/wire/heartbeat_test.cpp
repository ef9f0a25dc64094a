#include "wire/heartbeat.hpp"

#include "captured_frames.hpp"
#include "rmq/error.hpp"
#include "support/test_scale.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using rmq::wire::decode_heartbeat;
using rmq::wire::encode_heartbeat;
using rmq::wire::heartbeat_shape;

TEST_CASE("heartbeat encoding matches the captured 4.9.8 and 5.3.3 bodies") {
  CHECK(encode_heartbeat("192.0.2.2@13544#490275113816", "please_rename_unique_group_name",
                         heartbeat_shape::v4) ==
        rmq::test::captured_body("json/heartbeat_request"));
  CHECK(
      encode_heartbeat("192.0.2.2@16399#2867859906128", "demo_producer_gp", heartbeat_shape::v5) ==
      rmq::test::captured_body("v5/json/heartbeat_request"));
}

TEST_CASE("heartbeat with several groups lists the inner group once, first") {
  const std::vector<std::string> groups = {"g1", "CLIENT_INNER_PRODUCER", "g2"};
  CHECK(encode_heartbeat("c", groups, heartbeat_shape::v4) ==
        R"({"clientID":"c","consumerDataSet":[],"producerDataSet":[{"groupName":)"
        R"("CLIENT_INNER_PRODUCER"},{"groupName":"g1"},{"groupName":"g2"}]})");
  CHECK(encode_heartbeat("c", "CLIENT_INNER_PRODUCER", heartbeat_shape::v5) ==
        R"({"clientID":"c","consumerDataSet":[],"heartbeatFingerprint":0,"producerDataSet":)"
        R"([{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false})");
}

TEST_CASE("captured heartbeats decode to client id and producer groups") {
  const auto v4 = decode_heartbeat(rmq::test::captured_body("json/heartbeat_request"));
  REQUIRE(v4);
  CHECK(v4.data.client_id == "192.0.2.2@13544#490275113816");
  CHECK(v4.data.producer_groups ==
        std::vector<std::string>{"CLIENT_INNER_PRODUCER", "please_rename_unique_group_name"});
  CHECK(v4.data.consumer_count == 0);
  CHECK_FALSE(v4.data.heartbeat_fingerprint);
  CHECK_FALSE(v4.data.without_sub);

  const auto v5 = decode_heartbeat(rmq::test::captured_body("v5/json/heartbeat_request"));
  REQUIRE(v5);
  CHECK(v5.data.client_id == "192.0.2.2@16399#2867859906128");
  CHECK(v5.data.producer_groups ==
        std::vector<std::string>{"CLIENT_INNER_PRODUCER", "demo_producer_gp"});
  CHECK(v5.data.heartbeat_fingerprint == 0);
  CHECK(v5.data.without_sub == false);
}

TEST_CASE("heartbeats of other clients: any key order, consumers counted") {
  const auto other = decode_heartbeat(
      R"({"producerDataSet":[{"groupName":"G"}],"clientID":"10.0.0.1@9",)"
      R"("consumerDataSet":[{"groupName":"C","subscriptionDataSet":[{"codeSet":[1]}]}],)"
      R"("heartbeatFingerprint":-123456})");
  REQUIRE(other);
  CHECK(other.data.client_id == "10.0.0.1@9");
  CHECK(other.data.producer_groups == std::vector<std::string>{"G"});
  CHECK(other.data.consumer_count == 1);
  CHECK(other.data.heartbeat_fingerprint == -123456);
}

TEST_CASE("encode and decode round-trip, including characters that need escaping") {
  const std::string client = "h\xC3\xA9@1#\"q\"";
  const auto decoded = decode_heartbeat(encode_heartbeat(client, "g/1", heartbeat_shape::v5));
  REQUIRE(decoded);
  CHECK(decoded.data.client_id == client);
  CHECK(decoded.data.producer_groups == std::vector<std::string>{"CLIENT_INNER_PRODUCER", "g/1"});
}

TEST_CASE("malformed heartbeats are protocol errors") {
  const std::error_code bad = rmq::make_error_code(rmq::errc::protocol_error);
  for (const char* body :
       {"", "[]", "{", R"({"producerDataSet":[]})", R"({"clientID":5})",
        R"({"clientID":"c","producerDataSet":{}})",
        R"({"clientID":"c","producerDataSet":[{"groupName":1}]})",
        R"({"clientID":"c","producerDataSet":[1]})", R"({"clientID":"c","consumerDataSet":3})",
        R"({"clientID":"c","heartbeatFingerprint":4294967296})",
        R"({"clientID":"c","heartbeatFingerprint":1.5})", R"({"clientID":"c","withoutSub":1})"}) {
    CAPTURE(body);
    const auto result = decode_heartbeat(body);
    CHECK(result.error == bad);
  }
}

TEST_CASE("fuzz: truncated and mutated heartbeats never crash the decoder") {
  const std::string seed = rmq::test::captured_body("v5/json/heartbeat_request");
  std::mt19937 rng(99);
  const std::size_t rounds = rmq::test::scaled(5000, 200);
  for (std::size_t round = 0; round < rounds; ++round) {
    std::string text = seed;
    const std::size_t at = rng() % text.size();
    if (round % 2 == 0) {
      text.resize(at);
    } else {
      text[at] = "{}[]:,\"\\0"[rng() % 9];
    }
    const auto result = decode_heartbeat(text);
    if (result) {
      CHECK_FALSE(result.data.client_id.empty());  // the mutation left clientID intact
    } else {
      CHECK(result.error == rmq::make_error_code(rmq::errc::protocol_error));
    }
  }
}
