// A recall handle, as a broker's send response hands it to us and the user hands it back:
// decode_recall_handle on arbitrary text must not crash, and what it accepts must encode back to
// a handle that decodes to the same parts.
#include "fuzz_check.hpp"
#include "wire/recall.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rmq::wire;
  const auto parts = decode_recall_handle(rmq::fuzz::as_text(data, size));
  if (!parts) return 0;
  FUZZ_CHECK(!parts->topic.empty() && !parts->broker_name.empty() && !parts->message_id.empty());
  const auto again = decode_recall_handle(encode_recall_handle(*parts));
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->topic == parts->topic && again->broker_name == parts->broker_name &&
             again->timestamp_ms == parts->timestamp_ms && again->message_id == parts->message_id);
  return 0;
}
