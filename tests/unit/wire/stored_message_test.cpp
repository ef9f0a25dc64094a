// The broker's store format: the bodies of the captured CHECK_TRANSACTION_STATE requests and
// PULL_MESSAGE responses decode to what their headers and the related frames say, encode back
// to the same bytes, and broken input fails cleanly.
#include "wire/stored_message.hpp"

#include "captured_frames.hpp"
#include "rmq/error.hpp"
#include "support/allocation_counter.hpp"
#include "wire/properties.hpp"
#include "wire/sys_flag.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <ostream>  // doctest prints std::error_code through it
#include <stdexcept>
#include <string>
#include <vector>

using namespace rmq::wire;
using namespace std::string_literals;

namespace {

using rmq::test::capture_body;
using rmq::test::capture_path;
using rmq::test::captured_body;
using rmq::test::frame_path;
using rmq::test::read_text_file;

nlohmann::json header_of(const std::string& json_path) {
  return nlohmann::json::parse(read_text_file(json_path)).at("header");
}
std::string ext(const nlohmann::json& header, const char* name) {
  return header.at("extFields").at(name).get<std::string>();
}

const std::string loopback = "\x7f\x00\x00\x01"s;

// Java's offsetMsgId: hex of store host, port (4 bytes) and commit-log offset (8 bytes).
std::string offset_msg_id(const stored_message_view& m) {
  std::string raw(m.store_host);
  for (int shift = 24; shift >= 0; shift -= 8)
    raw += static_cast<char>(static_cast<std::uint32_t>(m.store_port) >> shift);
  for (int shift = 56; shift >= 0; shift -= 8)
    raw += static_cast<char>(static_cast<std::uint64_t>(m.commit_log_offset) >> shift);
  std::string hex;
  char digits[3];
  for (const unsigned char c : raw) {
    std::snprintf(digits, sizeof digits, "%02X", c);
    hex += digits;
  }
  return hex;
}

std::string property(const stored_message_view& m, std::string_view name) {
  return std::string(find_property(m.properties, name).value_or("<absent>"));
}

stored_message_view decode_whole(const std::string& body) {
  std::string_view in = body;
  stored_message_view m;
  REQUIRE(!decode_stored_message(in, m));
  CHECK(in.empty());
  CHECK(m.total_size == static_cast<std::int32_t>(body.size()));
  return m;
}

std::string encode(const stored_message_fields& f) {
  std::string out;
  encode_stored_message(out, f);
  return out;
}

void check_fails_unchanged(std::string_view bytes) {
  std::string_view in = bytes;
  stored_message_view m;
  m.queue_id = 12345;
  CHECK(decode_stored_message(in, m) == rmq::errc::invalid_response);
  CHECK(in.data() == bytes.data());
  CHECK(in.size() == bytes.size());
  CHECK(m.queue_id == 12345);
}

struct captured_body_case {
  const char* name;
  std::string body;
};

// The four captured store-format bodies: two check-backs, two pulls.
std::vector<captured_body_case> captured_bodies() {
  return {
      {"transaction/v4 check-back", capture_body("transaction/v4/check_transaction_state_request")},
      {"transaction/v5 check-back", capture_body("transaction/v5/check_transaction_state_request")},
      {"request_reply/v4 pull",
       captured_body("request_reply/v4/request_pull_by_responder_response")},
      {"request_reply/v5 pull",
       captured_body("request_reply/v5/request_pull_by_responder_response")}};
}

void put_be32(std::string& bytes, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    bytes[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (24 - 8 * i));
}

}  // namespace

TEST_CASE("stored message: the check-back bodies of 4.9.8 and 5.3.3") {
  for (const std::string version : {"v4", "v5"}) {
    CAPTURE(version);
    const std::string name = "transaction/" + version + "/check_transaction_state_request";
    const auto header = header_of(capture_path(name + ".json"));
    const std::string body = capture_body(name);
    const auto m = decode_whole(body);
    const bool v5 = version == "v5";

    CHECK(m.magic == stored_message_magic_v1);
    // The check header points at the copy the broker re-appended for the check.
    CHECK(std::to_string(m.commit_log_offset) == ext(header, "commitLogOffset"));
    CHECK(std::to_string(m.queue_offset) == ext(header, "tranStateTableOffset"));
    CHECK(offset_msg_id(m) == ext(header, "offsetMsgId"));
    CHECK(property(m, "UNIQ_KEY") == ext(header, "msgId"));
    CHECK(property(m, "UNIQ_KEY") == ext(header, "transactionId"));
    CHECK(m.topic == (v5 ? "TxTopic5" : "TxTopic4"));
    CHECK(m.body == "unknown-1");
    CHECK(m.body_crc == stored_body_crc(m.body));
    CHECK(m.body_crc == 2082771662);
    CHECK(m.queue_id == (v5 ? 3 : 1));
    CHECK(m.flag == 0);
    CHECK(m.sys_flag == 0);  // the re-appended copy is no longer marked prepared
    CHECK(m.reconsume_times == 0);
    CHECK(m.prepared_transaction_offset == 0);
    CHECK(m.born_host == loopback);
    CHECK(m.born_port == (v5 ? 57700 : 35540));
    CHECK(m.born_timestamp == (v5 ? 1796406537064 : 1796406326710));
    CHECK(m.store_host == loopback);
    CHECK(m.store_port == (v5 ? 10931 : 10911));
    CHECK(m.store_timestamp == (v5 ? 1796406537069 : 1796406326713));

    CHECK(property(m, "REAL_TOPIC") == m.topic);
    CHECK(property(m, "REAL_QID") == std::to_string(m.queue_id));
    CHECK(property(m, "TRAN_MSG") == "true");
    CHECK(property(m, "PGROUP") == "tx_producer_group");
    CHECK(property(m, "TRANSACTION_CHECK_TIMES") == "1");
    CHECK(property(m, "CLUSTER") == (v5 ? "DefaultCluster5" : "DefaultCluster"));
    CHECK(property(m, "WAIT") == "false");
    CHECK(property(m, "KEYS") == "key-unknown-1");
    CHECK(property(m, "TAGS") == "TagTx");
    CHECK(property(m, "__transactionId__") ==
          (v5 ? ext(header, "transactionId") : std::string("<absent>")));
    // 4.9.8 writes no 0x02 after the last pair, 5.3.3 does.
    CHECK(m.properties.ends_with('\x02') == v5);
  }
}

TEST_CASE("stored message: the pulled request of request-reply matches its send") {
  for (const std::string version : {"v4", "v5"}) {
    CAPTURE(version);
    const std::string dir = "request_reply/" + version + "/";
    const auto pull = header_of(frame_path(dir + "request_pull_by_responder_response.json"));
    const auto pull_request =
        header_of(capture_path(dir + "request_pull_by_responder_request.json"));
    const auto send = header_of(capture_path(dir + "request_send_request.json"));
    const auto sent = header_of(frame_path(dir + "request_send_response.json"));
    const std::string body = captured_body(dir + "request_pull_by_responder_response");
    const auto m = decode_whole(body);
    const bool v5 = version == "v5";

    CHECK(m.magic == stored_message_magic_v1);
    CHECK(m.topic == ext(send, "b"));
    CHECK(m.topic == ext(pull_request, "topic"));
    CHECK(std::to_string(m.queue_id) == ext(pull_request, "queueId"));
    CHECK(std::to_string(m.queue_id) == ext(sent, "queueId"));
    CHECK(std::to_string(m.queue_offset) == ext(sent, "queueOffset"));
    CHECK(std::to_string(m.queue_offset + 1) == ext(pull, "nextBeginOffset"));
    CHECK(offset_msg_id(m) == ext(sent, "msgId"));
    CHECK(std::to_string(m.born_timestamp) == ext(send, "g"));
    CHECK(std::to_string(m.sys_flag) == ext(send, "f"));
    CHECK(std::to_string(m.flag) == ext(send, "h"));
    CHECK(m.body == rmq::test::capture_body(dir + "request_send_request"));
    CHECK(m.body == "Hello request");
    CHECK(m.body_crc == stored_body_crc(m.body));
    CHECK(m.store_port == (v5 ? 10931 : 10911));
    CHECK(m.store_host == loopback);
    CHECK(m.born_host == loopback);

    // Every property the requester sent is stored, plus the broker's CLUSTER.
    const std::string sent_properties = ext(send, "i");
    std::vector<property_ref> sent_props;
    decode_properties(sent_properties, sent_props);
    CHECK(sent_props.size() >= 4);
    for (const auto& p : sent_props) {
      CAPTURE(p.name);
      // The 4.9.8 broker drops WAIT when it stores a message; 5.3.3 keeps it.
      if (!v5 && p.name == "WAIT") {
        CHECK(property(m, p.name) == "<absent>");
        continue;
      }
      CHECK(property(m, p.name) == p.value);
    }
    CHECK(property(m, "CORRELATION_ID").size() == 36);
    CHECK(property(m, "TTL") == "10000");
    CHECK(property(m, "REPLY_TO_CLIENT").find('@') != std::string::npos);
    CHECK(property(m, "CLUSTER") == (v5 ? "DefaultCluster5" : "DefaultCluster"));
  }
}

TEST_CASE("stored message: encoding the decoded fields gives the captured bytes") {
  for (const auto& [name, body] : captured_bodies()) {
    CAPTURE(name);
    const auto m = decode_whole(body);
    CHECK(encode(fields_of(m)) == body);
    // With the magic left to the encoder (short topics: V1) and the CRC computed.
    auto f = fields_of(m);
    f.magic = 0;
    f.body_crc = stored_body_crc(f.body);
    CHECK(encode(f) == body);
    // Appends after what `out` holds.
    std::string out = "prefix";
    encode_stored_message(out, f);
    CHECK(out == "prefix" + body);
  }
}

TEST_CASE("stored message: several messages back to back, as in a pull body") {
  std::string stream;
  std::vector<std::string> bodies;
  for (const auto& [name, body] : captured_bodies()) {
    stream += body;
    bodies.push_back(body);
  }
  std::string_view in = stream;
  std::size_t offset = 0;
  for (const auto& body : bodies) {
    stored_message_view m;
    REQUIRE(!decode_stored_message(in, m));
    CHECK(m.total_size == static_cast<std::int32_t>(body.size()));
    // Views into the stream, not copies.
    CHECK(m.topic.data() >= stream.data());
    CHECK(m.properties.data() + m.properties.size() == stream.data() + offset + body.size());
    offset += body.size();
    CHECK(in.size() == stream.size() - offset);
  }
  CHECK(in.empty());

  // A cut inside the second message: the first decodes, the second fails and stays in `in`.
  const std::string_view cut = std::string_view(stream).substr(0, bodies[0].size() + 50);
  in = cut;
  stored_message_view m;
  REQUIRE(!decode_stored_message(in, m));
  check_fails_unchanged(in);
}

TEST_CASE("stored message: every truncation fails without reading past the end") {
  for (const auto& [name, body] : captured_bodies()) {
    CAPTURE(name);
    for (std::size_t n = 0; n < body.size(); ++n) {
      CAPTURE(n);
      // A copy of exactly n bytes, so that AddressSanitizer catches any read past them.
      const std::string prefix = body.substr(0, n);
      check_fails_unchanged(prefix);
    }
  }
}

TEST_CASE("stored message: bad sizes, magic codes and lengths fail") {
  const std::string body = capture_body("transaction/v4/check_transaction_state_request");
  const auto m = decode_whole(body);
  const auto total = static_cast<std::uint32_t>(body.size());
  const auto corrupt = [&](std::size_t at, std::uint32_t v) {
    std::string bytes = body;
    put_be32(bytes, at, v);
    return bytes;
  };

  SUBCASE("TOTALSIZE") {
    for (const std::uint32_t bad :
         {0u, 1u, 90u, total - 1, total + 1, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu}) {
      CAPTURE(bad);
      check_fails_unchanged(corrupt(0, bad));
      check_fails_unchanged(corrupt(0, bad) + "trailing bytes");
    }
  }
  SUBCASE("MAGICCODE") {
    for (const std::uint32_t bad : {0u, 0xDAA320A6u, 0xDAA320A8u, 0xCBD43194u, 0xAABBCCDDu}) {
      CAPTURE(bad);
      check_fails_unchanged(corrupt(4, bad));
    }
    // V2 reads the topic length as two bytes: the V1 bytes then do not add up.
    check_fails_unchanged(corrupt(4, static_cast<std::uint32_t>(stored_message_magic_v2)));
  }
  const std::size_t body_len_at = 4 * 5 + 8 * 2 + 4 + 8 + 8 + 8 + 8 + 4 + 8;
  REQUIRE(body.substr(body_len_at + 4, m.body.size()) == m.body);
  SUBCASE("body length") {
    const auto len = static_cast<std::uint32_t>(m.body.size());
    for (const std::uint32_t bad :
         {len - 1, len + 1, total, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu}) {
      CAPTURE(bad);
      check_fails_unchanged(corrupt(body_len_at, bad));
    }
  }
  const std::size_t topic_len_at = body_len_at + 4 + m.body.size();
  const std::size_t props_len_at = topic_len_at + 1 + m.topic.size();
  SUBCASE("topic length") {
    for (const int bad : {0, 7, 9, 0x7F, 0x80, 0xFF}) {
      CAPTURE(bad);
      std::string bytes = body;
      bytes[topic_len_at] = static_cast<char>(bad);
      check_fails_unchanged(bytes);
    }
  }
  SUBCASE("properties length") {
    const auto len = static_cast<unsigned>(m.properties.size());
    for (const unsigned bad : {0u, len - 1, len + 1, 0x7FFFu, 0x8000u, 0xFFFFu}) {
      CAPTURE(bad);
      std::string bytes = body;
      bytes[props_len_at] = static_cast<char>(bad >> 8);
      bytes[props_len_at + 1] = static_cast<char>(bad);
      check_fails_unchanged(bytes);
    }
  }
  SUBCASE("host flags disagree with the bytes") {
    const std::size_t sys_flag_at = 4 * 5 + 8 * 2;
    for (const std::uint32_t bad : {0x10u, 0x20u, 0x30u}) {
      CAPTURE(bad);
      check_fails_unchanged(corrupt(sys_flag_at, bad));
    }
  }
}

TEST_CASE("stored message: IPv6 hosts and the V2 magic") {
  const std::string v6_a = "\x20\x01\x0d\xb8" + std::string(11, '\0') + "\x01";
  const std::string v6_b = "\xfe\x80" + std::string(13, '\0') + "\x02";
  stored_message_fields f;
  f.queue_id = 2;
  f.flag = -7;
  f.queue_offset = INT64_MAX;
  f.commit_log_offset = INT64_MIN;
  f.sys_flag = sys_flag::compressed | sys_flag::compression_zlib | sys_flag::transaction_prepared;
  f.born_timestamp = 1;
  f.born_port = 65535;
  f.store_timestamp = -1;
  f.store_port = 10911;
  f.reconsume_times = 16;
  f.prepared_transaction_offset = 99;
  f.body = "\x78\x5e compressed, as stored";
  f.topic = "T";
  f.properties = "TAGS\x01t\x02";
  f.body_crc = stored_body_crc(f.body);

  for (const auto& [born, store] : {std::pair{loopback, v6_a}, std::pair{v6_a, loopback},
                                    std::pair{v6_a, v6_b}, std::pair{loopback, loopback}}) {
    f.born_host = born;
    f.store_host = store;
    const std::string bytes = encode(f);
    CHECK(bytes.size() == stored_message_min_size + (born.size() - 4) + (store.size() - 4) +
                              f.body.size() + f.topic.size() + f.properties.size());
    const auto m = decode_whole(bytes);
    CHECK(m.born_host == born);
    CHECK(m.store_host == store);
    // The v6 bits follow the host sizes; the other bits are kept.
    CHECK(((m.sys_flag & sys_flag::bornhost_v6) != 0) == (born.size() == 16));
    CHECK(((m.sys_flag & sys_flag::storehost_v6) != 0) == (store.size() == 16));
    CHECK((m.sys_flag & ~(sys_flag::bornhost_v6 | sys_flag::storehost_v6)) == f.sys_flag);
    CHECK(m.queue_offset == INT64_MAX);
    CHECK(m.commit_log_offset == INT64_MIN);
    CHECK(m.flag == -7);
    CHECK(m.store_timestamp == -1);
    CHECK(m.body == f.body);
    CHECK(encode(fields_of(m)) == bytes);
    // The bits alone cannot make 4-byte hosts 16 bytes long.
    auto wrong = f;
    wrong.sys_flag |= sys_flag::bornhost_v6 | sys_flag::storehost_v6;
    CHECK(encode(wrong) == bytes);
  }

  f.born_host = loopback;
  f.store_host = v6_a;
  const std::string long_topic(200, 't');
  f.topic = long_topic;
  const std::string v2 = encode(f);  // magic left to the encoder: V2 for 200 bytes
  const auto m = decode_whole(v2);
  CHECK(m.magic == stored_message_magic_v2);
  CHECK(m.topic == long_topic);
  CHECK(v2.size() == stored_message_min_size + 1 + 12 + f.body.size() + 200 + f.properties.size());
  CHECK(encode(fields_of(m)) == v2);
  // A short topic may also be written with V2.
  f.topic = "short";
  f.magic = stored_message_magic_v2;
  CHECK(decode_whole(encode(f)).magic == stored_message_magic_v2);
  f.magic = 0;
  CHECK(decode_whole(encode(f)).magic == stored_message_magic_v1);
  // The largest topic V1 can carry, and an empty one.
  f.topic = std::string_view(long_topic).substr(0, 127);
  CHECK(decode_whole(encode(f)).magic == stored_message_magic_v1);
  f.topic = {};
  f.body = {};
  f.properties = {};
  CHECK(decode_whole(encode(f)).total_size ==
        static_cast<std::int32_t>(stored_message_min_size + 12));
}

TEST_CASE("stored message: what cannot be encoded throws and leaves the output alone") {
  stored_message_fields f;
  f.born_host = loopback;
  f.store_host = loopback;
  f.topic = "T";
  const std::string long_topic(128, 't');
  const std::string long_properties(32768, 'p');
  std::string out = "kept";
  const auto fails = [&](const stored_message_fields& bad) {
    CHECK_THROWS((void)encode_stored_message(out, bad));
    CHECK(out == "kept");
  };
  auto bad = f;
  bad.born_host = "\x7f\x00\x01"s;
  fails(bad);
  bad = f;
  bad.store_host = {};
  fails(bad);
  bad = f;
  bad.magic = 12345;
  fails(bad);
  bad = f;
  bad.magic = stored_message_magic_v1;
  bad.topic = long_topic;
  CHECK_THROWS_AS(encode_stored_message(out, bad), std::length_error);
  bad = f;
  bad.properties = long_properties;
  CHECK_THROWS_AS(encode_stored_message(out, bad), std::length_error);
  CHECK(out == "kept");
  bad.properties = std::string_view(long_properties).substr(0, 32767);
  CHECK(decode_whole(encode(bad)).properties.size() == 32767);
}

TEST_CASE("stored message: BODYCRC as the broker computes it") {
  CHECK(stored_body_crc("") == 0);
  CHECK(stored_body_crc("unknown-1") == 2082771662);     // CRC-32 4230255310, top bit cleared
  CHECK(stored_body_crc("Hello request") == 357139359);  // top bit already clear
}

TEST_CASE("stored message: decoding allocates nothing, nor encoding into room it has") {
  const std::string stream = capture_body("transaction/v5/check_transaction_state_request") +
                             captured_body("request_reply/v5/request_pull_by_responder_response");
  std::string out;
  out.reserve(stream.size());
  std::size_t decoded = 0;
  const auto allocations = rmq::test::allocations_during([&] {
    std::string_view in = stream;
    stored_message_view m;
    while (!in.empty() && !decode_stored_message(in, m)) {
      ++decoded;
      encode_stored_message(out, fields_of(m));
    }
  });
  CHECK(decoded == 2);
  CHECK(out == stream);
  CHECK(allocations == 0);
}
