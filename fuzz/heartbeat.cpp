// HeartbeatData JSON (HEART_BEAT bodies, read by rmq-sim as a broker would): decode_heartbeat on
// arbitrary bytes; the decoded client id and producer groups must come back through
// encode_heartbeat in both shapes (which always list CLIENT_INNER_PRODUCER first, once).
#include "wire/heartbeat.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rmq::wire;
  const heartbeat_decode_result decoded = decode_heartbeat(rmq::fuzz::as_text(data, size));
  if (!decoded) return 0;
  std::vector<std::string> groups{std::string(client_inner_producer_group)};
  for (const auto& g : decoded.data.producer_groups)
    if (g != client_inner_producer_group) groups.push_back(g);
  for (const auto shape : {heartbeat_shape::v4, heartbeat_shape::v5}) {
    const auto again = decode_heartbeat(
        encode_heartbeat(decoded.data.client_id, decoded.data.producer_groups, shape));
    FUZZ_CHECK(!again.error);
    FUZZ_CHECK(again.data.client_id == decoded.data.client_id);
    FUZZ_CHECK(again.data.producer_groups == groups);
    FUZZ_CHECK(again.data.consumer_count == 0);
    const bool v5 = shape == heartbeat_shape::v5;
    FUZZ_CHECK(again.data.heartbeat_fingerprint == (v5 ? std::optional(0) : std::nullopt));
    FUZZ_CHECK(again.data.without_sub == (v5 ? std::optional(false) : std::nullopt));
  }
  return 0;
}
