// ROCKETMQ binary remoting header (serialize type 1): decode_binary_header on arbitrary bytes; a
// header that decodes must survive frame_writer's binary encoding (within its documented limits).
#include "wire/binary_header.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rmq::wire::decode_scratch scratch;
  rmq::wire::command_view view;
  if (rmq::wire::decode_binary_header(rmq::fuzz::as_text(data, size), scratch, view)) return 0;
  FUZZ_CHECK(view.type == rmq::wire::serialize_type::rocketmq);
  rmq::fuzz::check_command_round_trip(view);
  return 0;
}
