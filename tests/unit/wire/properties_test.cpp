#include "wire/properties.hpp"

#include "captured_frames.hpp"
#include "rmq/message.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace rmq::wire;
using namespace std::string_literals;

namespace {

std::vector<property_ref> decode(std::string_view text) {
  std::vector<property_ref> out;
  decode_properties(text, out);
  return out;
}

// append_properties writes `expected` and says its size, as encoded_properties_size does.
void check_properties_text(const rmq::message& msg, const send_properties& per_send,
                           const std::string& expected,
                           trailing_separator trailing = trailing_separator::keep) {
  std::string out;
  CHECK(append_properties(out, msg, per_send, trailing) == expected.size());
  CHECK(out == expected);
  CHECK(encoded_properties_size(msg, per_send, trailing) == expected.size());
  // Written into a buffer: the same bytes, or nothing when one byte is missing.
  std::string buffer(expected.size() + 8, '#');
  const auto written = write_properties(buffer.data(), expected.size(), msg, per_send, trailing);
  REQUIRE(written.has_value());
  CHECK(buffer.substr(0, *written) == expected);
  CHECK(buffer.substr(expected.size()) == std::string(8, '#'));  // nothing past the capacity
  if (!expected.empty()) {
    CHECK_FALSE(write_properties(buffer.data(), expected.size() - 1, msg, per_send, trailing));
  }
}

std::string properties_in(const std::string& json_file) {
  const auto json = nlohmann::json::parse(rmq::test::read_text_file(json_file));
  return json.at("header").at("extFields").at("i").get<std::string>();
}

std::string captured_properties(const std::string& json_path) {
  return properties_in(rmq::test::frame_path(json_path));
}

}  // namespace

TEST_CASE("properties: the worked example of PROTOCOL.md 16") {
  rmq::message msg("TopicTest", "TagA", "hello");
  const send_properties per_send{.uniq_key = "7F00000112340A0B0C0D0000ABCD0000", .extra = {}};
  std::string out = "prefix";
  const auto n = append_properties(out, msg, per_send);
  CHECK(out ==
        "prefixTAGS\x01TagA\x02WAIT\x01true\x02UNIQ_KEY\x01"
        "7F00000112340A0B0C0D0000ABCD0000\x02");
  CHECK(n == 62);
  CHECK(encoded_properties_size(msg, per_send) == 62);
}

TEST_CASE("properties: every system property, extras and user properties, in order") {
  rmq::message msg("T", "tag", "b");
  msg.set_keys({"k1", "k2"});
  msg.set_wait_store_msg_ok(false);
  msg.set_delay_level(18);
  msg.set_delivery_time_ms(1700000000123);
  msg.set_uniq_key("OWN");
  msg.put_property("color", "red");
  msg.put_property("n", "1");
  const property_ref extra[] = {{"TRAN_MSG", "true"}, {"PGROUP", "G"}};
  const send_properties per_send{.uniq_key = "GENERATED", .extra = extra, .instance_id = "ns1"};

  const std::string keep =
      "TAGS\x01tag\x02KEYS\x01k1 k2\x02WAIT\x01"
      "false\x02"
      "DELAY\x01"
      "18\x02"
      "TIMER_DELIVER_MS\x01"
      "1700000000123\x02UNIQ_KEY\x01OWN\x02TRAN_MSG\x01true\x02"
      "PGROUP\x01G\x02INSTANCE_ID\x01ns1\x02"
      "color\x01red\x02n\x01"
      "1\x02";
  check_properties_text(msg, per_send, keep);
  check_properties_text(msg, per_send, keep.substr(0, keep.size() - 1), trailing_separator::omit);
}

TEST_CASE("properties: what send hooks added comes last, so brokers keep it over the user's") {
  rmq::message msg("T", "b");
  msg.put_property("color", "red");
  const property_ref added[] = {{"color", "blue"}, {"trace", "t1"}};
  const send_properties per_send{.uniq_key = "U", .added = added};
  const std::string expected =
      "WAIT\x01true\x02UNIQ_KEY\x01U\x02"
      "color\x01red\x02"
      "color\x01"
      "blue\x02trace\x01t1\x02";
  check_properties_text(msg, per_send, expected);
  CHECK(find_property(expected, "color") == std::optional<std::string_view>("blue"));
}

TEST_CASE("properties: the message's own UNIQ_KEY wins over the generated one") {
  rmq::message msg("T", "b");
  CHECK(effective_uniq_key(msg, "GEN") == "GEN");
  msg.set_uniq_key("MINE");
  CHECK(effective_uniq_key(msg, "GEN") == "MINE");
  std::string out;
  append_properties(out, msg, {.uniq_key = "GEN", .extra = {}});
  CHECK(find_property(out, "UNIQ_KEY") == std::optional<std::string_view>("MINE"));
}

TEST_CASE("properties: without any pair, omit writes nothing") {
  // WAIT is always written, so build the empty case with the writer directly.
  std::string out = "x";
  properties_writer writer(out, trailing_separator::omit);
  writer.finish();
  CHECK(out == "x");
  CHECK(writer.size() == 0);
}

TEST_CASE("properties: round trip with and without the trailing separator, unicode") {
  rmq::message msg("T", "标签", "b");
  msg.put_property("城市", "東京 🚀 café");
  msg.put_property("empty-looking", " x ");
  for (const auto trailing : {trailing_separator::keep, trailing_separator::omit}) {
    CAPTURE(static_cast<bool>(trailing));
    std::string out;
    append_properties(out, msg, {.uniq_key = "ID", .extra = {}}, trailing);
    const auto pairs = decode(out);
    const std::vector<property_ref> expected = {{"TAGS", "标签"},
                                                {"WAIT", "true"},
                                                {"UNIQ_KEY", "ID"},
                                                {"城市", "東京 🚀 café"},
                                                {"empty-looking", " x "}};
    CHECK(pairs == expected);
  }
}

TEST_CASE("properties: decoding follows Java's skipping rules") {
  // Empty segments, an empty name, an empty value and a segment without 0x01 are skipped; the
  // value runs to the end of its segment and may contain 0x01.
  const std::string text =
      "\x02\x02"
      "a\x01"
      "b\x02\x01x\x02y\x01\x02"
      "ab\x02k\x01v\x01w"s;
  const std::vector<property_ref> expected = {{"a", "b"}, {"k", "v\x01w"}};
  CHECK(decode(text) == expected);
  CHECK(decode("").empty());
  CHECK(decode("\x02").empty());
  CHECK(decode("a\x01").empty());
  CHECK(decode("\x01"
               "a")
            .empty());
  CHECK(decode("ab").empty());
  // A segment too short for name + 0x01 + value is skipped even if it holds a 0x01 later on.
  CHECK(decode("a\x02\x01"
               "b\x02"
               "c\x01"
               "d") == std::vector<property_ref>{{"c", "d"}});
}

TEST_CASE("properties: find_property takes the last duplicate, like Java's HashMap") {
  const std::string text =
      "a\x01"
      "1\x02"
      "b\x01"
      "2\x02"
      "a\x01"
      "3";
  CHECK(find_property(text, "a") == std::optional<std::string_view>("3"));
  CHECK(find_property(text, "b") == std::optional<std::string_view>("2"));
  CHECK_FALSE(find_property(text, "c").has_value());
  CHECK_FALSE(find_property(text, "").has_value());
}

TEST_CASE("properties: captured 4.9.8 (no trailing 0x02) and 5.3.3 (trailing 0x02) requests") {
  const std::string v4 = captured_properties("json/send_message_v2_compressed_request.json");
  const std::string v5 = captured_properties("v5/json/send_message_v2_compressed_request.json");
  REQUIRE(!v4.empty());
  REQUIRE(!v5.empty());
  CHECK(v4.back() != '\x02');
  CHECK(v5.back() == '\x02');
  for (const auto& text : {v4, v5}) {
    const auto pairs = decode(text);
    REQUIRE(pairs.size() == 5);
    CHECK(find_property(text, "KEYS") == std::optional<std::string_view>("key-7"));
    CHECK(find_property(text, "TAGS") == std::optional<std::string_view>("TagA"));
    CHECK(find_property(text, "WAIT") == std::optional<std::string_view>("true"));
    CHECK(find_property(text, "seq") == std::optional<std::string_view>("7"));
    CHECK(find_property(text, "UNIQ_KEY")->size() == 32);
  }

  // Re-encoding the decoded pairs in the captured order gives the captured bytes back.
  for (const auto& [text, trailing] :
       {std::pair{v4, trailing_separator::omit}, std::pair{v5, trailing_separator::keep}}) {
    std::string out;
    properties_writer writer(out, trailing);
    for (const auto& p : decode(text)) writer.add(p.name, p.value);
    writer.finish();
    CHECK(out == text);
  }
}

TEST_CASE("properties: the captured timer forms, pair for pair (5.3.3 and the 4.9.8 delay level)") {
  // The captured messages, rebuilt with our setters; Java writes its HashMap's order, we write
  // ours, so the pairs are compared, not the bytes.
  struct form {
    const char* capture;
    void (*set)(rmq::message&, std::string_view captured_value);
    const char* property;
  };
  const form forms[] = {
      {"timer/v5/send_deliver_time_ms_request.json",  // fuzz/captures (see its README)
       [](rmq::message& m, std::string_view v) {
         m.set_delivery_time_ms(std::stoll(std::string(v)));
       },
       "TIMER_DELIVER_MS"},
      {"timer/v5/send_delay_time_sec_request.json",
       [](rmq::message& m, std::string_view v) {
         m.set_delay_time_sec(std::stoll(std::string(v)));
       },
       "TIMER_DELAY_SEC"},
      {"timer/v5/send_delay_time_ms_request.json",
       [](rmq::message& m, std::string_view v) { m.set_delay_time_ms(std::stoll(std::string(v))); },
       "TIMER_DELAY_MS"},
      {"timer/v4/send_delay_level3_request.json",
       [](rmq::message& m, std::string_view v) { m.set_delay_level(std::stoi(std::string(v))); },
       "DELAY"},
  };
  for (const form& f : forms) {
    CAPTURE(f.capture);
    const std::string capture = f.capture;
    const std::string captured = capture.starts_with("timer/v5/")
                                     ? properties_in(rmq::test::capture_path(capture))
                                     : captured_properties(capture);
    const auto value = find_property(captured, f.property);
    REQUIRE(value.has_value());
    rmq::message msg("TimerTopic", "body");
    msg.set_tags(std::string(*find_property(captured, "TAGS")));
    msg.set_keys(std::string(*find_property(captured, "KEYS")));
    msg.set_uniq_key(std::string(*find_property(captured, "UNIQ_KEY")));
    f.set(msg, *value);
    std::string ours;
    (void)append_properties(ours, msg, {});
    auto sorted = [](std::string_view text) {
      std::vector<std::pair<std::string, std::string>> pairs;
      for (const auto& p : decode(text)) pairs.emplace_back(p.name, p.value);
      std::sort(pairs.begin(), pairs.end());
      return pairs;
    };
    CHECK(sorted(ours) == sorted(captured));
  }
}

TEST_CASE("properties: a message has one timer; setting one form replaces the other") {
  rmq::message msg("T", "b");
  CHECK_FALSE(msg.has_timer());
  msg.set_delay_time_sec(30);
  CHECK(msg.delay_time_sec() == 30);
  msg.set_delay_time_ms(45000);
  CHECK(msg.delay_time_ms() == 45000);
  CHECK_FALSE(msg.delay_time_sec().has_value());
  msg.set_delivery_time_ms(1700000000123);
  CHECK_FALSE(msg.delay_time_ms().has_value());
  msg.set_delay_time_sec(std::nullopt);  // another form: the delivery time stays
  CHECK(msg.delivery_time_ms() == 1700000000123);
  msg.set_delivery_time_ms(std::nullopt);
  CHECK_FALSE(msg.has_timer());
  msg.set_delay_time_ms(0);  // zero is a timer too: deliver as soon as stored, by the timer
  CHECK(msg.has_timer());
  std::string out;
  (void)append_properties(out, msg, {}, trailing_separator::omit);
  CHECK(find_property(out, "TIMER_DELAY_MS") == std::optional<std::string_view>("0"));
  CHECK_FALSE(find_property(out, "TIMER_DELAY_SEC").has_value());
  CHECK_FALSE(find_property(out, "TIMER_DELIVER_MS").has_value());
}
