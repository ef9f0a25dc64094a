// Request-reply as the client sees it, against real Java frames (fuzz/captures/request_reply and
// tests/conformance/frames/request_reply): the reply pushes of 4.9.8 and 5.3.3 brokers decode
// into the reply and its CORRELATION_ID; a reply is built from a request's properties as the
// Java MessageUtil builds it; correlation ids have the Java client's form.
#include "send/requests.hpp"

#include "rmq/detail/producer_initiate.hpp"
#include "unit/wire/captured_frames.hpp"
#include "wire/command.hpp"

#include <asio/io_context.hpp>
#include <doctest/doctest.h>

#include <cctype>
#include <set>
#include <string>

namespace rmq::send {
namespace {

struct decoded_push {
  explicit decoded_push(const std::string& name) : bytes(test::read_capture_hex(name)) {
    bool got = false;
    REQUIRE_FALSE(decoder.feed(bytes, [&](const wire::command_view& v) {
      view = v;
      got = true;
    }));
    REQUIRE(got);
  }
  std::string bytes;
  wire::frame_decoder decoder{wire::default_max_frame};
  wire::command_view view;
};

}  // namespace

TEST_CASE("a reply push of either server version decodes into the reply and its correlation") {
  struct form {
    const char* version;
    const char* topic;
    const char* correlation;
  };
  for (const form f :
       {form{"v4", "DefaultCluster_REPLY_TOPIC", "36372256-c76e-4a7c-a27f-539dd8f56728"},
        form{"v5", "DefaultCluster5_REPLY_TOPIC", "358e610e-b82e-4627-9b98-21901cb7bbba"}}) {
    CAPTURE(f.version);
    const decoded_push push(std::string("request_reply/") + f.version +
                            "/push_reply_message_to_client_request");
    message reply;
    std::string correlation;
    REQUIRE(decode_reply(push.view, reply, correlation));
    CHECK(correlation == f.correlation);
    CHECK(reply.topic() == f.topic);
    CHECK(reply.body() == "reply:Hello request");
    CHECK_FALSE(reply.uniq_key().empty());
    // The correlation and broker properties are not the user's.
    CHECK(reply.properties().empty());
  }
}

TEST_CASE("a reply push without a correlation id or with a bad header does not decode") {
  const decoded_push push("request_reply/v4/push_reply_message_to_client_request");
  wire::command_view no_header = push.view;
  no_header.ext_fields = {};
  message reply;
  std::string correlation;
  CHECK_FALSE(decode_reply(no_header, reply, correlation));
}

TEST_CASE("a reply is built from the request's properties as Java's MessageUtil builds it") {
  const request_properties request{{"CLUSTER", "DefaultCluster"},
                                   {"CORRELATION_ID", "36372256-c76e-4a7c-a27f-539dd8f56728"},
                                   {"REPLY_TO_CLIENT", "192.0.2.2@19821#13414006293158"},
                                   {"TTL", "10000"},
                                   {"UNIQ_KEY", "C00002024D6D30946E0913432FB80000"}};
  std::string body = "reply:Hello request";
  message reply;
  const detail::correlation_marker marker = detail::reply_to(request, body, reply);
  CHECK(reply.topic() == "DefaultCluster_REPLY_TOPIC");
  CHECK(reply.body() == "reply:Hello request");
  CHECK(reply.properties().empty());
  CHECK(marker.purpose == detail::send_purpose::reply);
  CHECK(marker.correlation_id == "36372256-c76e-4a7c-a27f-539dd8f56728");
  CHECK(marker.reply_to_client == "192.0.2.2@19821#13414006293158");
  CHECK(marker.ttl == "10000");

  std::string other = "x";
  message orphan;
  const detail::correlation_marker none = detail::reply_to({{"TTL", "1"}}, other, orphan);
  CHECK(orphan.topic().empty());  // no CLUSTER: the send fails with invalid_argument
  CHECK(none.correlation_id.empty());
}

TEST_CASE("correlation ids are distinct version 4 UUIDs") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = make_correlation_id();
    REQUIRE(id.size() == 36);
    CHECK(id[8] == '-');
    CHECK(id[13] == '-');
    CHECK(id[14] == '4');
    CHECK(std::string("89ab").find(id[19]) != std::string::npos);
    for (const char c : id) CHECK((c == '-' || std::isxdigit(static_cast<unsigned char>(c))));
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("the reply table hands a reply to its request once, and refuses beyond its capacity") {
  asio::io_context io;
  reply_table table(2);
  auto first = std::make_shared<reply_table::channel>(io.get_executor(), 1);
  auto second = std::make_shared<reply_table::channel>(io.get_executor(), 1);
  CHECK(table.add("a", first));
  CHECK_FALSE(table.add("a", second));  // in use
  CHECK(table.add("b", second));
  CHECK_FALSE(table.add("c", first));  // full
  message reply("T_REPLY_TOPIC", "body");
  CHECK(table.deliver("a", std::move(reply)));
  CHECK_FALSE(table.deliver("a", message("T", "late")));  // answered: a late copy is dropped
  table.remove("b");
  CHECK_FALSE(table.deliver("b", message("T", "gone")));
  CHECK(table.add("c", first));
  bool received = false;
  first->async_receive([&](std::error_code ec, message m) {
    CHECK_FALSE(ec);
    CHECK(m.body() == "body");
    received = true;
  });
  io.run();
  CHECK(received);
}

}  // namespace rmq::send
