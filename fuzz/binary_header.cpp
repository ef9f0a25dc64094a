// ROCKETMQ binary remoting header (serialize type 1): decode_binary_header on arbitrary bytes; a
// header that decodes must survive frame_writer's binary encoding (within its documented limits).
#include "wire/binary_header.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rmq::fuzz::check_header_decoder(rmq::wire::decode_binary_header,
                                  rmq::wire::serialize_type::rocketmq,
                                  rmq::fuzz::as_text(data, size));
  return 0;
}
