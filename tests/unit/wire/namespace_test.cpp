// Namespaces: the rules of Java's NamespaceUtil, and the frames of a namespaced producer against
// the ones the Java 4.9.8 client sent with setNamespace("ns1") (tests/conformance/frames/
// namespace): route lookup, SEND_MESSAGE_V2, HEART_BEAT and UNREGISTER_CLIENT.
#include "wire/namespace.hpp"

#include "captured_frames.hpp"
#include "frame_rewrite.hpp"
#include "rmq/error.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"
#include "wire/headers.hpp"
#include "wire/heartbeat.hpp"
#include "wire/properties.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <ostream>  // doctest prints std::error_code through it
#include <string>
#include <utility>
#include <vector>

namespace rmq::wire {
namespace {

using rmq::test::as_we_write_it;
using rmq::test::captured_body;
using rmq::test::read_frame_hex;
using rmq::test::with_view;
using rmq::test::write_like;

constexpr std::string_view ns = "ns1";
constexpr std::string_view captured_client_id = "192.0.2.2@21007#13460539334978";

struct wrapping {
  std::string_view name;
  std::string_view wrapped;
};

// NamespaceUtil.wrapNamespace("ns1", name), case by case.
constexpr wrapping cases[] = {
    {"NsTopic", "ns1%NsTopic"},
    {"ns_producer_group", "ns1%ns_producer_group"},
    // System topics and groups stay as they are.
    {"TBW102", "TBW102"},
    {"SCHEDULE_TOPIC_XXXX", "SCHEDULE_TOPIC_XXXX"},
    {"BenchmarkTest", "BenchmarkTest"},
    {"RMQ_SYS_TRACE_TOPIC", "RMQ_SYS_TRACE_TOPIC"},
    {"RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_HALF_TOPIC"},
    {"OFFSET_MOVED_EVENT", "OFFSET_MOVED_EVENT"},
    {"rmq_sys_anything", "rmq_sys_anything"},
    {"CID_RMQ_SYS_group", "CID_RMQ_SYS_group"},
    // Retry and dead-letter prefixes stay in front.
    {"%RETRY%group", "%RETRY%ns1%group"},
    {"%DLQ%group", "%DLQ%ns1%group"},
    // Already in the namespace: not wrapped twice.
    {"ns1%NsTopic", "ns1%NsTopic"},
    {"%RETRY%ns1%group", "%RETRY%ns1%group"},
    {"%DLQ%ns1%group", "%DLQ%ns1%group"},
    // Another namespace, or one that only starts like ours, is just a name.
    {"ns10%NsTopic", "ns1%ns10%NsTopic"},
    {"other%NsTopic", "ns1%other%NsTopic"},
    {"ns1", "ns1%ns1"},
    {"", ""},
};

TEST_CASE("namespace: names are wrapped as NamespaceUtil.wrapNamespace does") {
  for (const auto& [name, wrapped] : cases) {
    CAPTURE(name);
    CHECK(wrap_namespace(ns, name) == wrapped);
    CHECK(wrapped_size(ns, name) == wrapped.size());
    CHECK(wrap_namespace("", name) == name);  // no namespace: nothing changes
    CHECK(wrapped_size("", name) == name.size());
  }
}

TEST_CASE("namespace: without_namespace gives back the user's name, prefixes kept") {
  for (const auto& [name, wrapped] : cases) {
    CAPTURE(name);
    if (!carries_namespace(name, ns)) CHECK(without_namespace(wrapped, ns) == name);
    CHECK(without_namespace(wrapped, "") == wrapped);
  }
  CHECK(without_namespace("ns1%NsTopic", ns) == "NsTopic");
  CHECK(without_namespace("%RETRY%ns1%group", ns) == "%RETRY%group");
  CHECK(without_namespace("%DLQ%ns1%group", ns) == "%DLQ%group");
  CHECK(without_namespace("ns2%NsTopic", ns) == "ns2%NsTopic");  // another namespace's
  CHECK(without_namespace("TBW102", ns) == "TBW102");
}

TEST_CASE("namespace: system resources and names carrying the namespace") {
  CHECK(is_system_resource("TBW102"));
  CHECK(is_system_resource("rmq_sys_x"));
  CHECK(is_system_resource("CID_RMQ_SYS_x"));
  CHECK_FALSE(is_system_resource("TopicTest"));
  CHECK_FALSE(is_system_resource("tbw102"));
  CHECK(carries_namespace("ns1%T", ns));
  CHECK(carries_namespace("%RETRY%ns1%G", ns));
  CHECK_FALSE(carries_namespace("ns1T", ns));
  CHECK_FALSE(carries_namespace("ns1%T", ""));
}

TEST_CASE("namespace: the namespace itself is checked") {
  CHECK_FALSE(validate_namespace(""));  // no namespace
  CHECK_FALSE(validate_namespace("ns1"));
  CHECK_FALSE(validate_namespace("MQ_INST_1|a-b_C"));
  CHECK_FALSE(validate_namespace(std::string(125, 'n')));
  for (const std::string& bad : std::vector<std::string>{"ns%1", "ns 1", "ns.1", "ns/1",
                                                         "n\xc3\xa9", std::string(126, 'n')}) {
    CAPTURE(bad);
    CHECK(validate_namespace(bad) == errc::configuration_invalid);
  }
}

// --- the captured frames ------------------------------------------------------------------------

TEST_CASE("namespace frames: the route lookup of ns1%NsTopic, byte for byte") {
  const std::string captured = read_frame_hex("namespace/get_routeinfo_ns1_topic_request");
  with_view(captured, [&](const command_view& v) {
    CHECK(v.fields.code == request_code::get_routeinfo_by_topic);
    const std::string topic = wrap_namespace(ns, "NsTopic");
    get_route_info_request_header h;
    h.topic = topic;
    CHECK(write_like(v, [&](frame_writer& w) { h.write(w); }, {}) ==
          as_we_write_it(captured, "CPP"));
  });
}

TEST_CASE("namespace frames: SEND_MESSAGE_V2 names the wrapped group and topic, not TBW102") {
  const std::string captured = read_frame_hex("namespace/send_message_v2_ns1_request");
  with_view(captured, [&](const command_view& v) {
    send_message_request_header h;
    REQUIRE(!h.parse(v));
    CHECK(h.producer_group == wrap_namespace(ns, "ns_producer_group"));
    CHECK(h.topic == wrap_namespace(ns, "NsTopic"));
    CHECK(h.default_topic == "TBW102");
    CHECK(write_like(
              v, [&](frame_writer& w) { h.write(w, send_header_names::letters); }, v.body) ==
          as_we_write_it(captured, "CPP"));

    // Our properties of the same message carry the same pairs, INSTANCE_ID=ns1 among them
    // (in our order: Java's is its HashMap's).
    REQUIRE(h.properties);
    rmq::message msg("NsTopic", std::string(v.body));
    msg.set_tags("TagA");
    msg.set_keys("key-ns");
    send_properties per_send;
    per_send.uniq_key = find_property(*h.properties, property_names::uniq_key).value_or("");
    per_send.instance_id = ns;
    std::string ours;
    append_properties(ours, msg, per_send, trailing_separator::omit);
    std::vector<property_ref> ours_decoded;
    std::vector<property_ref> theirs;
    decode_properties(ours, ours_decoded);
    decode_properties(*h.properties, theirs);
    const auto by_name = [](const property_ref& a, const property_ref& b) {
      return a.name < b.name;
    };
    std::sort(ours_decoded.begin(), ours_decoded.end(), by_name);
    std::sort(theirs.begin(), theirs.end(), by_name);
    CHECK(ours_decoded == theirs);
    CHECK(ours.size() == h.properties->size());
    CHECK(find_property(ours, property_names::instance_id) == ns);
  });
}

TEST_CASE("namespace frames: the heartbeat registers the wrapped group beside the inner one") {
  const std::string ours = encode_heartbeat(
      captured_client_id, wrap_namespace(ns, "ns_producer_group"), heartbeat_shape::v4);
  // Java's producerDataSet is a HashSet of objects without hashCode(): its order is arbitrary
  // (ours puts the inner group first). Everything else is the captured body byte for byte.
  std::string expected = captured_body("namespace/heartbeat_ns1_request");
  const std::string group = R"({"groupName":"ns1%ns_producer_group"})";
  const std::string inner = R"({"groupName":"CLIENT_INNER_PRODUCER"})";
  const std::string java_order = group + "," + inner;
  const auto at = expected.find(java_order);
  REQUIRE(at != std::string::npos);
  expected.replace(at, java_order.size(), inner + "," + group);
  CHECK(ours == expected);
}

TEST_CASE("namespace frames: UNREGISTER_CLIENT, producerGroup before clientID, byte for byte") {
  for (const auto& [name, group] : {std::pair{"namespace/unregister_client_ns1_request",
                                              wrap_namespace(ns, "ns_producer_group")},
                                    std::pair{"json/unregister_client_request",
                                              std::string("please_rename_unique_group_name")}}) {
    CAPTURE(name);
    const std::string captured = read_frame_hex(name);
    with_view(captured, [&](const command_view& v) {
      unregister_client_request_header theirs;
      REQUIRE(!theirs.parse(v));
      unregister_client_request_header h;
      h.client_id = theirs.client_id;
      h.producer_group = group;
      CHECK(write_like(v, [&](frame_writer& w) { h.write(w); }, {}) ==
            as_we_write_it(captured, "CPP"));
    });
  }
}

}  // namespace
}  // namespace rmq::wire
