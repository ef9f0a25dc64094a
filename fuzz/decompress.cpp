// Compressed message bodies (zlib, zstd, lz4 frames) as a pushed reply or a stored message brings
// them: body_codec::decompress on arbitrary bytes, with an output bound the input picks (up to
// 1 MiB). The output never exceeds the bound, a failure leaves it empty, and what decompresses
// comes back equal through compress. Input: [type][bound lo][bound hi][compressed bytes].
#include "fuzz_check.hpp"
#include "wire/compression.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rmq::wire;
  if (size < 3) return 0;
  constexpr compression_type types[] = {compression_type::zlib, compression_type::zstd,
                                        compression_type::lz4};
  const compression_type type = types[data[0] % 3];
  const std::size_t max_output = (std::size_t{data[1]} | std::size_t{data[2]} << 8) * 16;
  const auto in = rmq::fuzz::as_text(data + 3, size - 3);

  // One codec for the whole run, as the client keeps one per loop: a failed stream must not
  // spoil the contexts for the next one.
  static body_codec codec;
  std::string out = "not empty";
  const auto ec = codec.decompress(type, in, out, max_output);
  FUZZ_CHECK(out.size() <= max_output);
  if (ec) {
    FUZZ_CHECK(out.empty());
    return 0;
  }
  std::string compressed;
  FUZZ_CHECK(!codec.compress(type, 1, out, compressed));
  std::string back;
  FUZZ_CHECK(!codec.decompress(type, compressed, back, max_output));
  FUZZ_CHECK(back == out);
  return 0;
}
