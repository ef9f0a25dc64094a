// Steady-state decoding and encoding allocate nothing (support/allocation_counter.hpp).
#include "support/allocation_counter.hpp"
#include "wire/command.hpp"
#include "wire/headers.hpp"
#include "wire_test_util.hpp"

#include <doctest/doctest.h>

#include <ostream>  // doctest prints std::error_code through it
#include <string>
#include <vector>

namespace rmq::wire {
namespace {

using rmq::test::allocations_during;

std::string sample_stream() {
  // JSON with escapes, numbers and unknown keys, a binary request, a binary response.
  std::string bytes = test::raw_frame(
      0,
      R"({"code":310,"extFields":{"a":"g","i":"TAGS\u0001TagA\u0002UNIQ_KEY\u0001AB\u0002","n":1,)"
      R"("x\ud83d\ude00":true},"flag":0,"language":"JAVA","opaque":3,"remark":"line\nnext",)"
      R"("serializeTypeCurrentRPC":"JSON","unknown":[{"a":[1,2]}],"version":409})",
      "hello");
  remoting_command c;
  c.fields.code = 310;
  c.remark = "r";
  for (int i = 0; i < 14; ++i) c.set_field(std::string(1, static_cast<char>('a' + i)), "value");
  c.body = std::string(300, 'b');
  c.encode(serialize_type::rocketmq, bytes);
  c.fields.flag = flag_response;
  c.encode(serialize_type::json, bytes);
  return bytes;
}

TEST_CASE("steady-state decoding allocates nothing, in place or split across chunks") {
  const std::string bytes = sample_stream();
  frame_decoder d;
  std::size_t frames = 0;
  std::size_t fields = 0;
  auto on_frame = [&](const command_view& v) {
    ++frames;
    fields += v.ext_fields.size();
    send_message_request_header h;
    if (v.fields.code == 310 && !v.is_response() && v.field("b")) (void)h.parse(v);
  };
  auto run = [&] {
    for (int round = 0; round < 50; ++round) {
      REQUIRE(!d.feed(bytes, on_frame));  // whole frames: in place
      // Split every frame boundary and inside frames: exercises the assembly buffer.
      for (std::size_t pos = 0; pos < bytes.size(); pos += 97) {
        REQUIRE(!d.feed(std::string_view(bytes).substr(pos, 97), on_frame));
      }
    }
  };
  run();  // warm-up: scratch and buffers reach their working size
  frames = 0;
  CHECK(allocations_during(run) == 0);
  CHECK(frames == 50 * 2 * 3);
  CHECK(fields > 0);
}

TEST_CASE("frame_writer allocates nothing once the buffer has grown") {
  send_message_request_header h;
  h.producer_group = "TestGroup";
  h.topic = "TopicTest";
  h.properties = "TAGS\x01TagA\x02WAIT\x01true\x02";
  h.reconsume_times = 0;
  h.unit_mode = false;
  h.batch = false;
  h.broker_name = "broker-a";
  std::string out;
  auto run = [&] {
    for (int i = 0; i < 100; ++i) {
      out.clear();
      for (auto type : {serialize_type::json, serialize_type::rocketmq}) {
        command_fields f;
        f.code = 310;
        f.opaque = i;
        frame_writer w(out, type, f);
        h.write(w, send_header_names::letters);
        w.finish("hello");
      }
    }
  };
  run();
  CHECK(allocations_during(run) == 0);
  CHECK(!out.empty());
}

TEST_CASE("the counter does count") {
  // Guards the two tests above against a counter that never fires.
  const std::uint64_t n = allocations_during([] {
    // Through a volatile pointer: an optimizing build may otherwise leave out the pair.
    std::vector<int>* volatile v = new std::vector<int>(100);
    delete v;
  });
  CHECK(n >= 2);
}

}  // namespace
}  // namespace rmq::wire
