// The message properties string (name 0x01 value 0x02 ...), as a broker or a pushed reply hands
// it to us: decode_properties and find_property on arbitrary bytes must agree (last duplicate
// wins), and the decoded pairs must come back equal through properties_writer, with or without
// the trailing separator (the first input byte picks). UNIQ_KEY values are parsed as ids.
#include "wire/properties.hpp"

#include "fuzz_check.hpp"
#include "wire/uniq_key.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rmq::wire;
  if (size == 0) return 0;
  const auto trailing = (data[0] & 1) != 0 ? trailing_separator::keep : trailing_separator::omit;
  const std::string_view text = rmq::fuzz::as_text(data + 1, size - 1);

  std::vector<property_ref> props;
  decode_properties(text, props);
  for (std::size_t i = 0; i < props.size() && i < 64; ++i) {
    const auto& p = props[i];
    FUZZ_CHECK(!p.name.empty() && !p.value.empty());
    FUZZ_CHECK(p.name.find(name_value_separator) == std::string_view::npos);
    FUZZ_CHECK(p.name.find(property_separator) == std::string_view::npos);
    FUZZ_CHECK(p.value.find(property_separator) == std::string_view::npos);
    std::optional<std::string_view> last;
    for (const auto& q : props)
      if (q.name == p.name) last = q.value;
    FUZZ_CHECK(find_property(text, p.name) == last);
  }

  std::string encoded;
  properties_writer writer(encoded, trailing);
  for (const auto& p : props) writer.add(p.name, p.value);
  writer.finish();
  FUZZ_CHECK(writer.size() == encoded.size());
  std::vector<property_ref> again;
  decode_properties(encoded, again);
  FUZZ_CHECK(again == props);

  if (const auto id = find_property(text, property_names::uniq_key)) (void)parse_uniq_key(*id);
  (void)parse_uniq_key(text);
  return 0;
}
