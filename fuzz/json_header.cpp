// JSON remoting header (serialize type 0): decode_json_header on arbitrary bytes; a header that
// decodes must survive frame_writer's JSON encoding unchanged.
#include "wire/json_header.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rmq::wire::decode_scratch scratch;
  rmq::wire::command_view view;
  if (rmq::wire::decode_json_header(rmq::fuzz::as_text(data, size), scratch, view)) return 0;
  FUZZ_CHECK(view.type == rmq::wire::serialize_type::json);
  rmq::fuzz::check_command_round_trip(view);
  return 0;
}
