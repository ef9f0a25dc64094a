#include "wire/batch.hpp"

#include "captured_frames.hpp"
#include "rmq/error.hpp"
#include "rmq/message.hpp"
#include "wire/properties.hpp"
#include "wire/uniq_key.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

using namespace rmq::wire;
using namespace std::string_literals;

namespace {

std::vector<rmq::message> two_messages() {
  rmq::message a("T", "A", "hi");
  a.set_uniq_key("K1");
  rmq::message b("T", "abc");
  b.set_keys("k");
  b.set_flag(7);
  b.set_uniq_key("K2");
  return {a, b};
}

// Worked out by hand from the record layout:
//   record 1: TOTALSIZE 22 + 2 + 29 = 53 (0x35), MAGICCODE 0, BODYCRC 0, FLAG 0, body "hi",
//             properties (29 = 0x1d) TAGS=A, WAIT=true, UNIQ_KEY=K1, trailing 0x02;
//   record 2: TOTALSIZE 22 + 3 + 29 = 54 (0x36), FLAG 7, body "abc",
//             properties (29) KEYS=k, WAIT=true, UNIQ_KEY=K2.
// clang-format off
const std::string golden_two_messages =
    "\x00\x00\x00\x35"
    "\x00\x00\x00\x00"
    "\x00\x00\x00\x00"
    "\x00\x00\x00\x00"
    "\x00\x00\x00\x02"
    "hi"
    "\x00\x1d"
    "TAGS\x01" "A\x02" "WAIT\x01" "true\x02" "UNIQ_KEY\x01" "K1\x02"
    "\x00\x00\x00\x36"
    "\x00\x00\x00\x00"
    "\x00\x00\x00\x00"
    "\x00\x00\x00\x07"
    "\x00\x00\x00\x03"
    "abc"
    "\x00\x1d"
    "KEYS\x01" "k\x02" "WAIT\x01" "true\x02" "UNIQ_KEY\x01" "K2\x02"s;
// clang-format on

host_identity test_identity() {
  host_identity id;
  id.ip = {10, 1, 2, 3};
  id.pid = 77;
  id.random = 0xCAFEBABE;
  return id;
}

}  // namespace

TEST_CASE("batch: golden body of two messages") {
  REQUIRE(golden_two_messages.size() == 53 + 54);
  uniq_key_generator ids(test_identity());
  const auto msgs = two_messages();
  std::string out;
  std::string msg_ids;
  REQUIRE_FALSE(encode_batch(msgs, ids, out, &msg_ids));
  CHECK(out == golden_two_messages);
  CHECK(msg_ids == "K1,K2");

  std::string by_record;
  append_batch_record(by_record, 0, "hi",
                      "TAGS\x01"
                      "A\x02WAIT\x01true\x02UNIQ_KEY\x01K1\x02");
  append_batch_record(by_record, 7, "abc", "KEYS\x01k\x02WAIT\x01true\x02UNIQ_KEY\x01K2\x02");
  CHECK(by_record == golden_two_messages);
}

TEST_CASE("batch: decoding the golden body") {
  std::vector<batch_record> records(3);  // replaced, not appended to
  REQUIRE_FALSE(decode_batch(golden_two_messages, records));
  REQUIRE(records.size() == 2);
  CHECK(records[0].flag == 0);
  CHECK(records[0].body == "hi");
  CHECK(find_property(records[0].properties, "UNIQ_KEY") == std::optional<std::string_view>("K1"));
  CHECK(records[1].flag == 7);
  CHECK(records[1].body == "abc");
  CHECK(find_property(records[1].properties, "KEYS") == std::optional<std::string_view>("k"));
}

TEST_CASE("batch: generated UNIQ_KEYs, one per message, joined for the result") {
  uniq_key_generator ids(test_identity());
  std::vector<rmq::message> msgs;
  for (int i = 0; i < 5; ++i) msgs.emplace_back("T", "body-" + std::to_string(i));
  msgs[2].set_uniq_key("OWN");
  std::string out;
  std::string msg_ids;
  REQUIRE_FALSE(encode_batch(msgs, ids, out, &msg_ids, trailing_separator::omit));

  std::vector<batch_record> records;
  REQUIRE_FALSE(decode_batch(out, records));
  REQUIRE(records.size() == 5);
  std::string joined;
  std::set<std::string_view> distinct;
  for (std::size_t i = 0; i < records.size(); ++i) {
    CHECK(records[i].body == msgs[i].body());
    CHECK(records[i].properties.back() != '\x02');
    const auto id = find_property(records[i].properties, "UNIQ_KEY");
    REQUIRE(id.has_value());
    distinct.insert(*id);
    if (i == 2) {
      CHECK(*id == "OWN");
    } else {
      CHECK(id->size() == 32);
      CHECK(id->substr(0, 8) == "0A010203");
    }
    if (!joined.empty()) joined += ',';
    joined += *id;
  }
  CHECK(distinct.size() == 5);
  CHECK(msg_ids == joined);
}

TEST_CASE("batch: the captured 4.9.8 and 5.3.3 batch bodies (10 messages)") {
  for (const auto* path :
       {"json/send_batch_message_request.hex", "v5/json/send_batch_message_request.hex"}) {
    CAPTURE(path);
    const std::string body = rmq::test::captured_body(path);
    std::vector<batch_record> records;
    REQUIRE_FALSE(decode_batch(body, records));
    REQUIRE(records.size() == 10);
    std::set<std::string_view> ids;
    std::string reencoded;
    for (std::size_t i = 0; i < records.size(); ++i) {
      const auto& r = records[i];
      CHECK(r.flag == 0);
      CHECK(r.body == "batch-" + std::to_string(i));
      CHECK(find_property(r.properties, "KEYS") ==
            std::optional<std::string_view>("bkey-" + std::to_string(i)));
      CHECK(find_property(r.properties, "TAGS") == std::optional<std::string_view>("TagB"));
      CHECK(find_property(r.properties, "WAIT") == std::optional<std::string_view>("true"));
      const auto id = find_property(r.properties, "UNIQ_KEY");
      REQUIRE(id.has_value());
      CHECK(parse_uniq_key(*id).has_value());
      ids.insert(*id);
      append_batch_record(reencoded, r.flag, r.body, r.properties);
    }
    CHECK(ids.size() == 10);
    CHECK(reencoded == body);  // our record writer reproduces the Java bytes
  }
}

TEST_CASE("batch: records that do not tile the body are rejected") {
  const auto invalid = rmq::make_error_code(rmq::errc::invalid_batch_body);
  std::vector<batch_record> records;
  CHECK(decode_batch("", records) == invalid);

  // Truncated last record, a trailing byte, a cut inside the fixed part.
  CHECK(decode_batch(golden_two_messages.substr(0, golden_two_messages.size() - 1), records) ==
        invalid);
  CHECK(decode_batch(golden_two_messages + "\x00"s, records) == invalid);
  CHECK(decode_batch(golden_two_messages.substr(0, 53 + 10), records) == invalid);

  // TOTALSIZE that disagrees with the lengths: rejected by default, accepted like a broker.
  std::string wrong_total = golden_two_messages;
  wrong_total[3] = '\x36';
  CHECK(decode_batch(wrong_total, records) == invalid);
  CHECK_FALSE(decode_batch(wrong_total, records, {.check_total_size = false}));
  CHECK(records.size() == 2);

  // A body length running past the end, a negative body length, a negative properties length.
  std::string long_body = golden_two_messages;
  long_body[19] = '\x7f';
  CHECK(decode_batch(long_body, records, {.check_total_size = false}) == invalid);
  std::string negative_body = golden_two_messages;
  negative_body[16] = '\xff';
  CHECK(decode_batch(negative_body, records, {.check_total_size = false}) == invalid);
  std::string negative_props = golden_two_messages;
  negative_props[22] = '\x80';
  CHECK(decode_batch(negative_props, records, {.check_total_size = false}) == invalid);
  // Properties length one too long: the record would eat the next record's first byte.
  std::string long_props = golden_two_messages;
  long_props[23] = '\x1e';
  CHECK(decode_batch(long_props, records, {.check_total_size = false}) == invalid);
}

TEST_CASE("batch: properties above 32767 bytes fail and leave the output untouched") {
  uniq_key_generator ids(test_identity());
  std::vector<rmq::message> msgs = two_messages();
  msgs[1].put_property("big", std::string(40'000, 'v'));
  std::string out = "keep";
  std::string msg_ids = "x";
  CHECK(encode_batch(msgs, ids, out, &msg_ids) == rmq::errc::properties_too_long);
  CHECK(out == "keep");
  CHECK(msg_ids == "x");
}

TEST_CASE("batch: a record is the same whether its properties are short or long") {
  // Short properties are staged on the stack, long ones written in place: one format.
  for (const std::size_t value_size :
       {std::size_t{10}, std::size_t{400}, std::size_t{600}, std::size_t{5'000}}) {
    rmq::message msg("T", "tag", "body");
    msg.put_property("p", std::string(value_size, 'v'));
    const send_properties per_send{.uniq_key = "ID"};
    std::string props;
    append_properties(props, msg, per_send);
    std::string expected = "prefix";
    append_batch_record(expected, msg.flag(), msg.body(), props);
    std::string out = "prefix";
    CHECK(append_batch_message(out, msg, per_send) == props.size());
    CHECK(out == expected);
  }
}

TEST_CASE("batch: header properties") {
  std::string out;
  append_batch_header_properties(out, true, "");
  CHECK(out == "WAIT\x01true\x02");
  out.clear();
  append_batch_header_properties(out, false, "ID", {}, trailing_separator::omit);
  CHECK(out ==
        "UNIQ_KEY\x01ID\x02WAIT\x01"
        "false");
  out.clear();
  append_batch_header_properties(out, true, "", "ns1");  // a namespaced producer's batch
  CHECK(out == "WAIT\x01true\x02INSTANCE_ID\x01ns1\x02");
}

TEST_CASE("batch: properties added per message go last into their own records") {
  uniq_key_generator ids(test_identity());
  const auto msgs = two_messages();
  // Nothing for the first message, two for the second (a name it has already is sent again).
  const std::vector<property_ref> pairs{{"trace", "t2"}, {"KEYS2", "v"}};
  const std::vector<std::uint32_t> bounds{0, 0, 2};
  std::string out;
  REQUIRE_FALSE(encode_batch(msgs, ids, out, nullptr, trailing_separator::keep, {pairs, bounds}));
  std::string expected;
  append_batch_record(expected, 0, "hi",
                      "TAGS\x01"
                      "A\x02WAIT\x01true\x02UNIQ_KEY\x01K1\x02");
  append_batch_record(
      expected, 7, "abc",
      "KEYS\x01k\x02WAIT\x01true\x02UNIQ_KEY\x01K2\x02trace\x01t2\x02KEYS2\x01v\x02");
  CHECK(out == expected);
}

TEST_CASE("batch: added properties count against a record's properties limit") {
  uniq_key_generator ids(test_identity());
  const auto msgs = two_messages();
  const std::string big(max_properties_size, 'v');
  const std::vector<property_ref> pairs{{"big", big}};
  const std::vector<std::uint32_t> bounds{0, 1, 1};
  std::string out = "kept";
  CHECK(encode_batch(msgs, ids, out, nullptr, trailing_separator::keep, {pairs, bounds}) ==
        rmq::errc::properties_too_long);
  CHECK(out == "kept");
}
