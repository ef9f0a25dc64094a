// The stream decoder (frame_decoder) as the connection's reader uses it: the input after its
// first byte is the byte stream, fed whole and again in chunks whose sizes the first byte picks.
// Both feeds must see the same frames and the same error; every frame must survive a round trip
// through the encoder of its serialization, and so must every typed header that parses from it.
#include "fuzz_check.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"
#include "wire/headers.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using rmq::wire::command_view;

// A typed header that parses is written into a frame of the same code and serialization, parsed
// from it and written again: both writes must give the same bytes (decode(encode(x)) == x,
// compared on the encoding, so no header needs an operator==).
template <class Header, class Write>
void check_typed_header(const command_view& view, Write write) {
  Header header;
  if (header.parse(view)) return;
  const auto encode = [&](const Header& h) {
    std::string bytes;
    rmq::wire::frame_writer w(bytes, view.type, view.fields);
    write(h, w);
    w.finish();
    return bytes;
  };
  const std::string bytes = encode(header);
  rmq::wire::decode_scratch scratch;
  command_view again;
  FUZZ_CHECK(!rmq::wire::decode_frame(std::string_view(bytes).substr(4), scratch, again));
  Header reparsed;
  FUZZ_CHECK(!reparsed.parse(again));
  FUZZ_CHECK(encode(reparsed) == bytes);
}

void check_typed_headers(const command_view& view) {
  using namespace rmq::wire;
  const auto code = view.fields.code;
  const auto names = code == request_code::send_message || code == request_code::send_reply_message
                         ? send_header_names::long_names
                         : send_header_names::letters;
  check_typed_header<send_message_request_header>(
      view, [names](const auto& h, frame_writer& w) { h.write(w, names); });
  const auto plain = [](const auto& h, frame_writer& w) { h.write(w); };
  check_typed_header<send_message_response_header>(view, plain);
  check_typed_header<get_route_info_request_header>(view, plain);
  check_typed_header<end_transaction_request_header>(view, plain);
  check_typed_header<unregister_client_request_header>(view, plain);
  check_typed_header<check_transaction_state_request_header>(view, plain);
  check_typed_header<reply_message_request_header>(view, plain);
}

struct feed_result {
  std::vector<rmq::wire::remoting_command> frames;
  std::error_code error;
  std::size_t buffered = 0;
};

feed_result feed(std::string_view stream, std::size_t chunk, bool check) {
  // A small maximum frame, so that the bound is reached by inputs libFuzzer can make.
  rmq::wire::frame_decoder decoder(64 * 1024);
  feed_result result;
  const auto on_frame = [&](const command_view& view) {
    if (check) {
      check_typed_headers(view);
      rmq::fuzz::check_command_round_trip(view);
    }
    result.frames.push_back(rmq::wire::remoting_command::from_view(view));
  };
  while (!stream.empty() && !result.error) {
    const std::size_t n = chunk < stream.size() ? chunk : stream.size();
    result.error = decoder.feed(stream.substr(0, n), on_frame);
    stream.remove_prefix(n);
  }
  FUZZ_CHECK(decoder.error() == result.error);
  FUZZ_CHECK(decoder.buffered() <= 4 + decoder.max_frame());
  result.buffered = result.error ? 0 : decoder.buffered();
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = data[0] % 64 + 1;
  const auto stream = rmq::fuzz::as_text(data + 1, size - 1);
  const feed_result whole = feed(stream, stream.size(), true);
  const feed_result split = feed(stream, chunk, false);
  FUZZ_CHECK(whole.error == split.error);
  FUZZ_CHECK(whole.buffered == split.buffered);
  FUZZ_CHECK(whole.frames.size() == split.frames.size());
  for (std::size_t i = 0; i < whole.frames.size(); ++i)
    FUZZ_CHECK(rmq::fuzz::same(whole.frames[i], split.frames[i]));
  return 0;
}
