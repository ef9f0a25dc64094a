// ACL signing (wire/request_signing.hpp) against the 4.9.8 Java client's signed frames
// (tests/conformance/frames/acl): the Signature of every signed frame is reproduced, and the
// frame writer, given the unsigned request, writes the captured bytes.
#include "wire/request_signing.hpp"

#include "support/allocation_counter.hpp"
#include "unit/wire/captured_frames.hpp"
#include "wire/command.hpp"
#include "wire/headers.hpp"

#include <doctest/doctest.h>

#include <array>
#include <optional>
#include <ostream>  // doctest prints std::error_code through it
#include <string>
#include <string_view>
#include <vector>

namespace rmq::wire {
namespace {

const access_credentials captured_account{"rmqAccess", "rmqSecret12345", ""};

// Decodes one whole frame into an owning command.
remoting_command decode_one(const std::string& bytes) {
  frame_decoder decoder;
  std::optional<remoting_command> decoded;
  const std::error_code ec =
      decoder.feed(bytes, [&](const command_view& v) { decoded = remoting_command::from_view(v); });
  REQUIRE_FALSE(ec);
  REQUIRE(decoded);
  return *decoded;
}

std::string hex_of(const std::array<unsigned char, 20>& mac) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text;
  for (const unsigned char b : mac) {
    text += digits[b >> 4];
    text += digits[b & 15];
  }
  return text;
}

std::string_view text_of(const signature_text& s) {
  return {s.data(), s.size()};
}

std::string mac_hex(std::string_view key, std::string_view data) {
  hmac_sha1 mac(key);
  mac.begin();
  mac.update(data);
  return hex_of(mac.finish());
}

// The captured request without the fields the signer adds: what our encoders write.
remoting_command unsigned_copy(const remoting_command& signed_request) {
  remoting_command plain = signed_request;
  plain.ext_fields.clear();
  for (const auto& [name, value] : signed_request.ext_fields) {
    if (name != access_key_field && name != signature_field)
      plain.ext_fields.emplace_back(name, value);
  }
  plain.has_ext_fields = !plain.ext_fields.empty();
  return plain;
}

constexpr std::array signed_frames = {
    "acl/get_routeinfo_signed_request",
    "acl/send_message_v2_signed_request",
    "acl/heartbeat_signed_request",
};

}  // namespace

TEST_CASE("HMAC-SHA1: RFC 2202 vectors, a key longer than the block, the README's examples") {
  CHECK(mac_hex(std::string(20, '\x0b'), "Hi There") == "b617318655057264e28bc0b6fb378c8ef146be00");
  CHECK(mac_hex("Jefe", "what do ya want for nothing?") ==
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  CHECK(
      mac_hex(std::string(80, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First") ==
      "aa4ae5e15272d00e95705637ce8a3b55ed402112");
  CHECK(mac_hex("rmqSecret12345", "rmqAccessAclTopic") ==
        "ce55c4abb1673871da8908e619e06ece8d734ebf");
  // begin() starts over: the same MAC twice.
  hmac_sha1 mac("rmqSecret12345");
  for (int i = 0; i < 2; ++i) {
    mac.begin();
    mac.update("rmqAccess");
    mac.update("AclTopic");
    CHECK(text_of(to_base64(mac.finish())) == "zlXEq7FnOHHaiQjmGeBuzo1zTr8=");
  }
}

TEST_CASE("the Signature of every captured signed request, right secret and wrong") {
  const std::array<std::pair<const char*, const char*>, 5> frames = {{
      {"acl/get_routeinfo_signed_request", "rmqSecret12345"},
      {"acl/send_message_v2_signed_request", "rmqSecret12345"},
      {"acl/heartbeat_signed_request", "rmqSecret12345"},
      {"acl/get_routeinfo_wrong_secret_request", "wrongSecret999"},
      {"acl/send_message_v2_wrong_secret_request", "wrongSecret999"},
  }};
  for (const auto& [name, secret] : frames) {
    CAPTURE(name);
    const remoting_command request = decode_one(rmq::test::read_frame_hex(name));
    std::vector<ext_field> fields;
    for (const auto& [k, v] : request.ext_fields) fields.push_back({k, v});
    const std::optional<std::string_view> captured = request.field(signature_field);
    REQUIRE(captured);
    CHECK(text_of(signature_of(secret, fields, request.body)) == *captured);
    // The other secret does not verify.
    const char* other =
        std::string_view(secret) == "wrongSecret999" ? "rmqSecret12345" : "wrongSecret999";
    CHECK(text_of(signature_of(other, fields, request.body)) != *captured);
  }
}

TEST_CASE(
    "a request written inside a signing scope is the Java client's signed frame, byte for byte") {
  request_signer signer(captured_account);
  // Twice over, and each frame twice in a row: the signer's orders, worked out per header shape,
  // are right whether the shape changed or not.
  for (const char* name :
       {signed_frames[0], signed_frames[0], signed_frames[1], signed_frames[1], signed_frames[2],
        signed_frames[0], signed_frames[2], signed_frames[1]}) {
    CAPTURE(name);
    // Java's frame, but for the key every decoder ignores ("serializeTypeCurrentRPC").
    const std::string captured = rmq::test::as_we_write_it(rmq::test::read_frame_hex(name), "JAVA");
    const remoting_command plain = unsigned_copy(decode_one(captured));
    std::string written;
    {
      const signing_scope scope(&signer);
      plain.encode(serialize_type::json, written);
    }
    CHECK(std::string_view(written) == std::string_view(captured));
    // Outside the scope the same command is written unsigned.
    CHECK(plain.encode(serialize_type::json) != captured);
    CHECK_FALSE(decode_one(plain.encode(serialize_type::json)).field(signature_field));
  }
}

TEST_CASE("binary headers are signed alike; a security token is sent and signed") {
  request_signer signer({"ak", "sk", "token-1"});
  remoting_command request;
  request.fields.code = 310;
  request.fields.opaque = 7;
  for (char c = 'a'; c <= 'n'; ++c) {
    if (c != 'l') request.set_field(std::string(1, c), std::string("value-") + c);
  }
  request.body = "body bytes";
  for (const auto type : {serialize_type::json, serialize_type::rocketmq}) {
    CAPTURE(static_cast<int>(type));
    std::string written;
    {
      const signing_scope scope(&signer);
      request.encode(type, written);
    }
    const remoting_command got = decode_one(written);
    CHECK(got.field(access_key_field) == std::optional<std::string_view>("ak"));
    CHECK(got.field(security_token_field) == std::optional<std::string_view>("token-1"));
    std::vector<ext_field> fields;
    for (const auto& [k, v] : got.ext_fields) fields.push_back({k, v});
    CHECK(fields.size() == 13 + 3);
    CHECK(got.field(signature_field) ==
          std::optional<std::string_view>(text_of(signature_of("sk", fields, got.body))));
    CHECK(got.body == request.body);
  }
}

TEST_CASE("responses are never signed, and scopes nest") {
  request_signer outer({"ak", "sk", ""});
  request_signer inner({"other", "sk2", ""});
  remoting_command response;
  response.fields.flag = flag_response;
  response.set_field("msgId", "x");
  const signing_scope scope(&outer);
  CHECK_FALSE(decode_one(response.encode(serialize_type::json)).field(signature_field));
  remoting_command request;
  request.set_field("topic", "T");
  {
    const signing_scope nested(&inner);
    CHECK(decode_one(request.encode(serialize_type::json)).field(access_key_field) ==
          std::optional<std::string_view>("other"));
    {
      const signing_scope none(nullptr);
      CHECK_FALSE(decode_one(request.encode(serialize_type::json)).field(access_key_field));
    }
  }
  CHECK(decode_one(request.encode(serialize_type::json)).field(access_key_field) ==
        std::optional<std::string_view>("ak"));
}

TEST_CASE("a request's own AccessKey or Signature field is replaced, as a Java map put does") {
  request_signer signer({"ak", "sk", ""});
  remoting_command request;
  request.set_field("topic", "T");
  request.set_field("AccessKey", "forged");
  request.set_field("Signature", "forged");
  std::string written;
  {
    const signing_scope scope(&signer);
    request.encode(serialize_type::json, written);
  }
  const remoting_command got = decode_one(written);
  CHECK(got.ext_fields.size() == 3);
  CHECK(got.field(access_key_field) == std::optional<std::string_view>("ak"));
  std::vector<ext_field> fields;
  for (const auto& [k, v] : got.ext_fields) fields.push_back({k, v});
  CHECK(got.field(signature_field) ==
        std::optional<std::string_view>(text_of(signature_of("sk", fields, got.body))));
}

TEST_CASE("java_hash_map_order: the orders the captures show, and a resize keeps bucket order") {
  const auto order_of = [](std::vector<std::string_view> names) {
    std::vector<ext_field> fields;
    for (const std::string_view n : names) fields.push_back({n, ""});
    std::vector<std::uint32_t> order;
    java_hash_map_order(fields, order);
    std::vector<std::string_view> ordered;
    for (const std::uint32_t i : order) ordered.push_back(names[i]);
    return ordered;
  };
  using names = std::vector<std::string_view>;
  CHECK(order_of({"topic", "AccessKey", "Signature"}) == names{"Signature", "topic", "AccessKey"});
  CHECK(order_of({"AccessKey", "Signature"}) == names{"Signature", "AccessKey"});
  CHECK(order_of({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "m", "n", "AccessKey",
                  "Signature"}) == names{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "m",
                                         "n", "Signature", "AccessKey"});
  // The captured END_TRANSACTION order (9 fields, as our encoder writes them) is a HashMap's.
  const names end_transaction{"producerGroup",
                              "bname",
                              "commitLogOffset",
                              "topic",
                              "msgId",
                              "tranStateTableOffset",
                              "commitOrRollback",
                              "transactionId",
                              "fromTransactionCheck"};
  CHECK(order_of(end_transaction) == end_transaction);
}

TEST_CASE("signing allocates nothing once the signer's scratch has grown") {
  request_signer signer(captured_account);
  send_message_request_header h;
  h.producer_group = "acl_producer_group";
  h.topic = "AclTopic";
  h.properties = "KEYS\x01key-acl\x02WAIT\x01true\x02TAGS\x01TagA";
  h.broker_name = "broker-a";
  std::string out;
  auto run = [&] {
    for (int i = 0; i < 100; ++i) {
      out.clear();
      const signing_scope scope(&signer);
      for (auto type : {serialize_type::json, serialize_type::rocketmq}) {
        command_fields f;
        f.code = 310;
        f.opaque = i;
        frame_writer w(out, type, f);
        h.write(w, send_header_names::letters);
        w.finish("Hello ACL");
      }
    }
  };
  run();
  CHECK(rmq::test::allocations_during(run) == 0);
  CHECK(decode_one(out.substr(0, rmq::test::read_be32(out, 0) + 4)).field(signature_field));
}

}  // namespace rmq::wire
