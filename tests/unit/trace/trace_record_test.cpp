// The trace record encoder against the Java 4.9.8 client's trace message
// (tests/conformance/frames/trace): the body and the KEYS of trace_data_send_request, rebuilt
// from the traced send's own request and response.
#include "trace/trace_record.hpp"

#include "unit/wire/captured_frames.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace rmq::trace {
namespace {

nlohmann::json trace_frame_json(std::string_view name) {
  return nlohmann::json::parse(
      test::read_text_file(test::frame_path("trace/" + std::string(name) + ".json")));
}

// A property's value in a captured properties string (name 0x01 value 0x02 ...).
std::string trace_frame_property(const std::string& properties, std::string_view name) {
  std::string_view rest = properties;
  while (!rest.empty()) {
    const std::size_t pair_end = rest.find('\x02');
    const std::string_view pair = rest.substr(0, pair_end);
    const std::size_t separator = pair.find('\x01');
    if (pair.substr(0, separator) == name) return std::string(pair.substr(separator + 1));
    if (pair_end == std::string_view::npos) break;
    rest.remove_prefix(pair_end + 1);
  }
  return {};
}

// The record of the captured traced send, from its request and response (the values the hook
// has) plus what the Java client measured (its start time and cost) and its broker address.
trace_record captured_traced_record() {
  const auto request = trace_frame_json("traced_send_request");
  const auto response = trace_frame_json("traced_send_response");
  const auto& fields = request["header"]["extFields"];
  const std::string properties = fields["i"].get<std::string>();
  trace_record r;
  r.timestamp_ms = 1796406427353;  // the trace context's creation, 1 ms before bornTimestamp
  r.region_id = response["header"]["extFields"]["MSG_REGION"].get<std::string>();
  r.group = fields["a"].get<std::string>();
  r.topic = fields["b"].get<std::string>();
  r.msg_id = trace_frame_property(properties, "UNIQ_KEY");
  r.tags = trace_frame_property(properties, "TAGS");
  r.keys = trace_frame_property(properties, "KEYS");
  r.store_host = "127.0.0.1:20911";  // the broker address the client used (the relay's)
  r.body_length = request["body_len"].get<std::int64_t>();
  r.cost_ms = 35;
  r.type = message_type::normal;
  r.offset_msg_id = response["header"]["extFields"]["msgId"].get<std::string>();
  r.success = response["header"]["code"].get<int>() == 0;
  return r;
}

TEST_CASE("a trace record is the Java client's trace message body, byte for byte") {
  const auto data = trace_frame_json("trace_data_send_request");
  const std::string wire = test::read_frame_hex("trace/trace_data_send_request");
  const auto body_length = data["body_len"].get<std::size_t>();
  const std::string captured_body = wire.substr(wire.size() - body_length);
  REQUIRE(captured_body == data["body_text"].get<std::string>());

  std::string body;
  append_record(body, captured_traced_record());
  CHECK(body == captured_body);
}

TEST_CASE("a trace message's keys are the traced msgId and the traced message's keys") {
  const auto data = trace_frame_json("trace_data_send_request");
  const std::string properties = data["header"]["extFields"]["i"].get<std::string>();
  std::string keys;
  append_keys(keys, captured_traced_record());
  CHECK(keys == trace_frame_property(properties, "KEYS"));
  CHECK(trace_frame_property(properties, "TAGS").empty());  // a trace message has no tags
}

TEST_CASE("several records follow one another, each ended by 0x02") {
  trace_record first = captured_traced_record();
  trace_record second = first;
  second.msg_id = "C0000202546630946E0913440ED70001";
  second.keys = "k1 k2";
  std::string body;
  append_record(body, first);
  const std::size_t first_size = body.size();
  append_record(body, second);
  CHECK(body.size() > first_size);
  CHECK(body[first_size - 1] == record_separator);
  CHECK(body.back() == record_separator);
  CHECK(body.substr(first_size).starts_with("Pub\x01"));

  std::string keys;
  append_keys(keys, first);
  append_keys(keys, second);
  CHECK(keys ==
        "C0000202546630946E0913440ED70000 key-trace C0000202546630946E0913440ED70001 k1 k2");
}

TEST_CASE("field rules: no tags or keys, a failed store, the message types") {
  trace_record r = captured_traced_record();
  r.tags.clear();
  r.keys.clear();
  r.success = false;
  r.type = message_type::delay;
  std::string body;
  append_record(body, r);
  // Fields 6 and 7 (tags, keys) as Java writes a null String; msgType 3; success false.
  CHECK(body.find("\x01TraceTopic\x01" + r.msg_id +
                  "\x01null\x01null\x01"
                  "127.0.0.1:20911\x01") != std::string::npos);
  CHECK(
      body.ends_with("\x01"
                     "3\x01" +
                     r.offset_msg_id +
                     "\x01"
                     "false\x02"));
  std::size_t fields = 1;
  for (const char c : body) fields += c == field_separator ? 1 : 0;
  CHECK(fields == 14);

  std::string keys;
  append_keys(keys, r);
  CHECK(keys == r.msg_id);  // no keys: the msgId alone

  r.type = message_type::transaction_half;
  body.clear();
  append_record(body, r);
  CHECK(body.find("\x01"
                  "1\x01" +
                  r.offset_msg_id) != std::string::npos);

  r.keys = "  a  b ";  // empty pieces between spaces are no keys
  keys.clear();
  append_keys(keys, r);
  CHECK(keys == r.msg_id + " a b");
}

}  // namespace
}  // namespace rmq::trace
