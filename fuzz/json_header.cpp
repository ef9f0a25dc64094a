// JSON remoting header (serialize type 0): decode_json_header on arbitrary bytes; a header that
// decodes must survive frame_writer's JSON encoding unchanged.
#include "wire/json_header.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rmq::fuzz::check_header_decoder(rmq::wire::decode_json_header, rmq::wire::serialize_type::json,
                                  rmq::fuzz::as_text(data, size));
  return 0;
}
