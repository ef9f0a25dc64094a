// The bounded trace buffer: records in order, drops counted when full, close() ends the taker.
#include "trace/trace_buffer.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <span>
#include <string>
#include <thread>

namespace rmq::trace {
namespace {

bool push_trace_id(trace_buffer& buffer, const std::string& id) {
  return buffer.push([&](trace_record& r) { r.msg_id.assign(id); });
}

TEST_CASE("a full trace buffer drops and counts, and never waits") {
  trace_buffer buffer(3, 2);
  CHECK(push_trace_id(buffer, "a"));
  CHECK(push_trace_id(buffer, "b"));
  CHECK(push_trace_id(buffer, "c"));
  CHECK_FALSE(push_trace_id(buffer, "d"));
  CHECK(buffer.dropped() == 1);

  std::span<const trace_record> taken = buffer.take(std::chrono::milliseconds(0));
  REQUIRE(taken.size() == 3);
  CHECK(taken[0].msg_id == "a");
  CHECK(taken[2].msg_id == "c");
  // Room again once taken; the taken records come back as storage on the next take.
  CHECK(push_trace_id(buffer, "e"));
  taken = buffer.take(std::chrono::milliseconds(0));
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].msg_id == "e");
}

TEST_CASE("a closed trace buffer hands out what it holds, then nothing") {
  trace_buffer buffer(4, 4);
  CHECK(push_trace_id(buffer, "a"));
  buffer.close();
  CHECK_FALSE(push_trace_id(buffer, "late"));
  CHECK(buffer.dropped() == 1);
  CHECK(buffer.take(std::chrono::seconds(10)).size() == 1);  // closed: no linger
  CHECK(buffer.take(std::chrono::seconds(10)).empty());
}

TEST_CASE("the trace buffer's taker wakes for the first record and for a full batch") {
  trace_buffer buffer(8, 2);
  std::size_t got = 0;
  // A linger far longer than the test: only the full batch (or close) can end it early.
  std::thread taker([&] { got = buffer.take(std::chrono::hours(1)).size(); });
  CHECK(push_trace_id(buffer, "a"));
  CHECK(push_trace_id(buffer, "b"));
  taker.join();
  CHECK(got == 2);
}

}  // namespace
}  // namespace rmq::trace
