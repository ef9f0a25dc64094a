// Recall (wire/recall.hpp) against the 5.3.3 captures: the handle a broker gave a timer
// message's send decodes into its parts and is encoded back to the same text, and a RECALL_MESSAGE
// written from those parts is the Java client's frame (fuzz/captures/recall).
#include "wire/recall.hpp"

#include "unit/wire/captured_frames.hpp"
#include "wire/command.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>

namespace {

constexpr std::string_view captured_handle =
    "djEgVGltZXJUb3BpYyBicm9rZXItNWEgMTc5NjQwNjc2MTAwMSBDMDAwMDIwMjdENjgzMDk0NkUwOTEzNDgzRjMwMDAwMA"
    "==";

rmq::wire::remoting_command decode(const std::string& bytes) {
  rmq::wire::decode_scratch scratch;
  rmq::wire::command_view view;
  REQUIRE_FALSE(rmq::wire::decode_frame(std::string_view(bytes).substr(4), scratch, view));
  return rmq::wire::remoting_command::from_view(view);
}

}  // namespace

TEST_CASE("recall handle: the captured one decodes, and encodes back to the same text") {
  const auto parts = rmq::wire::decode_recall_handle(captured_handle);
  REQUIRE(parts);
  CHECK(parts->topic == "TimerTopic");
  CHECK(parts->broker_name == "broker-5a");
  CHECK(parts->timestamp_ms == 1796406761001);
  CHECK(parts->message_id == "C00002027D6830946E0913483F300000");
  CHECK(rmq::wire::encode_recall_handle(*parts) == captured_handle);
  // The send response that handed it out (tests/conformance/frames/recall).
  const auto response = decode(rmq::test::read_frame_hex("recall/send_timer_message_response"));
  CHECK(response.field("recallHandle") == std::optional<std::string_view>(captured_handle));
}

TEST_CASE("recall handle: what is not one is refused") {
  for (const std::string_view bad :
       {std::string_view(""), std::string_view("not base64!"),
        std::string_view("djEgVGltZXJUb3BpYw=="),  // "v1 TimerTopic": too few fields
        std::string_view("djIgVCBiIDEgaWQ="),      // "v2 T b 1 id": another version
        std::string_view("djEgVCBiIHggaWQ="),      // "v1 T b x id": the timestamp is no number
        std::string_view("djEgVCBiIDEgaWQgZXh0cmE=")}) {  // six fields
    CAPTURE(bad);
    CHECK_FALSE(rmq::wire::decode_recall_handle(bad));
  }
  // Java's URL decoder takes it without padding too.
  CHECK(rmq::wire::decode_recall_handle(captured_handle.substr(0, captured_handle.size() - 2)));
}

TEST_CASE("RECALL_MESSAGE written from the handle's parts is the Java client's frame") {
  const std::string captured = rmq::test::as_we_write_it(
      rmq::test::read_hex_file(rmq::test::capture_path("recall/recall_message_request.hex")),
      "JAVA");
  const auto java = decode(captured);
  const auto parts = rmq::wire::decode_recall_handle(captured_handle);
  REQUIRE(parts);
  rmq::wire::command_fields fields = java.fields;
  std::string written;
  rmq::wire::frame_writer writer(written, rmq::wire::serialize_type::json, fields);
  rmq::wire::recall_message_request_header header;
  header.producer_group = "timer_producer_group";
  header.broker_name = parts->broker_name;
  header.topic = parts->topic;
  header.recall_handle = captured_handle;
  header.write(writer);
  writer.finish();
  CHECK(written == captured);
  // And read back.
  rmq::wire::recall_message_request_header read;
  rmq::wire::decode_scratch scratch;
  rmq::wire::command_view view;
  REQUIRE_FALSE(rmq::wire::decode_frame(std::string_view(written).substr(4), scratch, view));
  REQUIRE_FALSE(read.parse(view));
  CHECK(read.recall_handle == captured_handle);
}
