// Bodies in the broker's store format (CHECK_TRANSACTION_STATE, PULL_MESSAGE FOUND), as the
// client's reader walks them: decode_stored_message on arbitrary bytes until it stops. A decoded
// message lies inside the input, its views inside its TOTALSIZE bytes, its hosts match the sysFlag
// bits, and encoding its fields gives back exactly the bytes it was decoded from; a failed decode
// leaves the input where it was. Decoded properties are walked as the client would.
#include "wire/stored_message.hpp"

#include "fuzz_check.hpp"
#include "wire/properties.hpp"
#include "wire/sys_flag.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

std::size_t host_size(std::int32_t sys_flag, std::int32_t bit) {
  return (sys_flag & bit) != 0 ? 16 : 4;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rmq::wire;
  std::string_view in = rmq::fuzz::as_text(data, size);
  std::string encoded;
  std::vector<property_ref> props;
  while (!in.empty()) {
    const std::string_view before = in;
    stored_message_view m;
    if (decode_stored_message(in, m)) {
      FUZZ_CHECK(in.data() == before.data() && in.size() == before.size());
      break;
    }
    FUZZ_CHECK(m.total_size >= static_cast<std::int32_t>(stored_message_min_size));
    const auto used = static_cast<std::size_t>(m.total_size);
    FUZZ_CHECK(used <= before.size() && in.data() == before.data() + used);
    const std::string_view whole = before.substr(0, used);
    FUZZ_CHECK(m.magic == stored_message_magic_v1 || m.magic == stored_message_magic_v2);
    FUZZ_CHECK(m.born_host.size() == host_size(m.sys_flag, sys_flag::bornhost_v6));
    FUZZ_CHECK(m.store_host.size() == host_size(m.sys_flag, sys_flag::storehost_v6));
    for (const auto part : {m.born_host, m.store_host, m.body, m.topic, m.properties})
      FUZZ_CHECK(inside(part, whole));
    FUZZ_CHECK(m.topic.size() <= (m.magic == stored_message_magic_v1 ? 127u : 32767u));
    FUZZ_CHECK(m.properties.size() <= max_properties_size);

    encoded.clear();
    encode_stored_message(encoded, fields_of(m));
    FUZZ_CHECK(encoded == whole);

    props.clear();
    decode_properties(m.properties, props);
    (void)find_property(m.properties, property_names::uniq_key);
    (void)stored_body_crc(m.body);
  }
  return 0;
}
