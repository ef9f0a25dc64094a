// The trace producer's identity against the 4.9.8 capture: its group and instance name, and the
// HEART_BEAT they make (tests/conformance/frames/trace/trace_producer_heartbeat_request).
#include "trace/trace_dispatcher.hpp"
#include "unit/wire/captured_frames.hpp"
#include "wire/heartbeat.hpp"

#include <doctest/doctest.h>

#include <string>

namespace rmq::trace {
namespace {

TEST_CASE("the trace producer is named as Java names it, and its heartbeat is Java's") {
  producer_config traced;
  traced.group = "trace_producer_group";
  traced.credentials = {"ak", "sk", ""};
  traced.trace.emplace();
  const producer_config first = trace_producer_config(traced, "127.0.0.1:19876");
  const producer_config second = trace_producer_config(traced, "127.0.0.1:19876");
  CHECK(first.instance_name == "PID_CLIENT_INNER_TRACE_PRODUCER_127.0.0.1:19876");
  const std::string prefix = "_INNER_TRACE_PRODUCER-trace_producer_group-PRODUCE-";
  REQUIRE(first.group.starts_with(prefix));
  // Numbered per process, as Java's counter.
  CHECK(std::stoi(second.group.substr(prefix.size())) ==
        std::stoi(first.group.substr(prefix.size())) + 1);
  CHECK(first.credentials.access_key == "ak");
  CHECK(first.name_space.empty());
  CHECK_FALSE(first.trace);
  CHECK(first.send_timeout == std::chrono::milliseconds(5000));
  CHECK_FALSE(first.validate());

  // The captured trace producer was the process's first: PRODUCE-1.
  CHECK(wire::encode_heartbeat("192.0.2.2@" + first.instance_name, prefix + "1",
                               wire::heartbeat_shape::v4) ==
        test::captured_body("trace/trace_producer_heartbeat_request"));
}

}  // namespace
}  // namespace rmq::trace
