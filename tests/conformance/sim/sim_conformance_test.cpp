// Replays every captured request frame (tests/conformance/frames) to rmq-sim with the personality
// of the server it was captured from (4.9 for json/, binary/, legacy/; 5 for v5/) and compares
// the answer with the captured response: code, extFields keys, serialization, version, opaque,
// flag, remark, and for routes the whole body (with the broker address substituted).
#include "blocking_client.hpp"
#include "simulator.hpp"
#include "unit/wire/captured_frames.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace rmq::sim::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

struct capture {
  fs::path request_hex;
  fs::path response_json;
  personality version;
};

std::vector<capture> captures() {
  const fs::path root = RMQ_TEST_FRAMES_DIR;
  std::vector<capture> found;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = "_request.hex";
    if (name.size() <= suffix.size() || !name.ends_with(suffix)) continue;
    capture c;
    c.request_hex = entry.path();
    c.response_json = entry.path().parent_path() /
                      (name.substr(0, name.size() - suffix.size()) + "_response.json");
    const auto relative = fs::relative(entry.path(), root).string();
    c.version = relative.starts_with("v5") ? personality::v5 : personality::v4_9;
    found.push_back(std::move(c));
  }
  std::sort(found.begin(), found.end(),
            [](const capture& a, const capture& b) { return a.request_hex < b.request_hex; });
  return found;
}

std::set<std::string> keys_of(const nlohmann::json& header) {
  std::set<std::string> keys;
  if (header.contains("extFields")) {
    for (const auto& [key, value] : header["extFields"].items()) keys.insert(key);
  }
  return keys;
}

}  // namespace

TEST_CASE("every captured request gets the captured kind of response") {
  const auto all = captures();
  REQUIRE(all.size() >= 20);
  std::size_t replayed = 0;
  for (const auto& c : all) {
    const std::string label = fs::relative(c.request_hex, RMQ_TEST_FRAMES_DIR).string();
    CAPTURE(label);
    REQUIRE(fs::exists(c.response_json));
    const auto request_bytes = rmq::test::read_hex_file(c.request_hex);
    const auto request_doc = nlohmann::json::parse(
        rmq::test::read_text_file(fs::path(c.request_hex).replace_extension(".json")));
    const auto expected = nlohmann::json::parse(rmq::test::read_text_file(c.response_json));
    const auto& request_header = request_doc["header"];
    const auto& expected_header = expected["header"];

    // The cluster of the capture: names as captured, the test topic created up front unless the
    // capture is about it not existing (yet); a namespaced producer's topic is a topic like any
    // other to brokers and NameServers.
    sim_config config;
    config.version = c.version;
    config.cluster = c.version == personality::v5 ? "DefaultCluster5" : "DefaultCluster";
    broker_config broker;
    broker.name = c.version == personality::v5 ? "broker-5a" : "broker-a";
    config.brokers.push_back(broker);
    config.auto_create = true;
    if (label.find("notexist") == std::string::npos &&
        label.find("autocreate") == std::string::npos) {
      config.topics.push_back({.name = "TopicTest"});
    }
    if (label.starts_with("namespace/")) config.topics.push_back({.name = "ns1%NsTopic"});
    if (label.starts_with("acl/")) {  // the ACL pair's account and topic
      config.topics.push_back({.name = "AclTopic"});
      config.acl_accounts.push_back({"rmqAccess", "rmqSecret12345"});
    }
    simulator sim(config);
    sim.start();

    const int code = request_header["code"].get<int>();
    const bool to_namesrv = code == 105;
    blocking_client client(to_namesrv ? sim.namesrv_address() : sim.broker_address(broker.name));
    REQUIRE(client.connected());
    REQUIRE(client.send_raw(request_bytes));
    auto reply = client.read(10s);
    REQUIRE(reply);
    ++replayed;

    CHECK(reply->fields.code == expected_header["code"].get<int>());
    CHECK(reply->fields.opaque == expected_header["opaque"].get<int>());
    CHECK(reply->fields.flag == expected_header["flag"].get<int>());
    CHECK(reply->fields.version == expected_header["version"].get<int>());
    CHECK(reply->fields.language == wire::language_code::java);
    CHECK(static_cast<int>(client.last_type()) == expected["serialize_type"].get<int>());
    std::set<std::string> got_keys;
    for (const auto& [name, value] : reply->ext_fields) got_keys.insert(name);
    CHECK(got_keys == keys_of(expected_header));
    if (expected_header.contains("remark")) {
      CHECK(reply->remark.value_or("<none>") == expected_header["remark"].get<std::string>());
    } else {
      CHECK_FALSE(reply->remark.has_value());
    }
    if (to_namesrv && expected.contains("body_text") && reply->fields.code == 0) {
      std::string body = expected["body_text"].get<std::string>();
      replace_all(body, "127.0.0.1:10911", sim.broker_address(broker.name));
      replace_all(body, "127.0.0.1:10931", sim.broker_address(broker.name));
      replace_all(body, "127.0.0.1:10951", sim.broker_address(broker.name));  // the ACL pair
      CHECK(reply->body == body);
    }
    if (reply->field("msgId")) {
      // Same number of offsetMsgIds (a batch answers one per message), each 32 hex chars.
      const std::string want = expected_header["extFields"]["msgId"].get<std::string>();
      CHECK(reply->field("msgId")->size() == want.size());
    }
    if (expected_header.contains("extFields") && expected_header["extFields"].contains("queueId")) {
      CHECK(std::string(reply->field("queueId").value_or("")) ==
            expected_header["extFields"]["queueId"].get<std::string>());
    }
    if (reply->field("transactionId")) {
      CHECK(*reply->field("transactionId") ==
            expected_header["extFields"]["transactionId"].get<std::string>());
    }
  }
  CHECK(replayed == all.size());
}

}  // namespace rmq::sim::test
