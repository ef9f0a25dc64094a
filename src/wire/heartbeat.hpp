// HeartbeatData: the JSON body of HEART_BEAT (34), which registers the client's producer groups
// with a broker (needed for transaction check-back and request-reply routing).
//
// 4.x writes {"clientID","consumerDataSet","producerDataSet"}; 5.x adds "heartbeatFingerprint"
// and "withoutSub" (fastjson, fields sorted by name). The Java client always lists its internal
// CLIENT_INNER_PRODUCER group besides the application's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rmq::wire {

inline constexpr std::string_view client_inner_producer_group = "CLIENT_INNER_PRODUCER";

enum class heartbeat_shape {
  v4,  ///< clientID, consumerDataSet, producerDataSet
  v5,  ///< the same plus heartbeatFingerprint and withoutSub
};

struct heartbeat_data {
  std::string client_id;
  std::vector<std::string> producer_groups;  ///< in body order
  std::size_t consumer_count = 0;            ///< entries of consumerDataSet (not decoded further)
  std::optional<std::int32_t> heartbeat_fingerprint;  ///< 5.x
  std::optional<bool> without_sub;                    ///< 5.x

  bool operator==(const heartbeat_data&) const = default;
};

/// Body of a producer-only client: CLIENT_INNER_PRODUCER, then `producer_groups` in order (the
/// inner group is not repeated if listed). v5 writes heartbeatFingerprint 0 and withoutSub false,
/// as the Java client does when heartbeat V2 is off.
[[nodiscard]] std::string encode_heartbeat(std::string_view client_id,
                                           std::span<const std::string> producer_groups,
                                           heartbeat_shape shape);
[[nodiscard]] std::string encode_heartbeat(std::string_view client_id,
                                           std::string_view producer_group, heartbeat_shape shape);

struct heartbeat_decode_result {
  heartbeat_data data;
  std::error_code error;  ///< rmq::errc::protocol_error when the body is not a HeartbeatData

  [[nodiscard]] explicit operator bool() const noexcept { return !error; }
};

/// Reads the client id and producer groups of any client's heartbeat (Java 4.x/5.x, other
/// languages' key orders). consumerDataSet entries are counted, not interpreted.
[[nodiscard]] heartbeat_decode_result decode_heartbeat(std::string_view body);

}  // namespace rmq::wire
