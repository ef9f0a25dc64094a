// SEND_BATCH_MESSAGE bodies (what rmq-sim and a broker walk): decode_batch on arbitrary bytes,
// strict (TOTALSIZE checked) and as a broker reads it. The strict reading may only reject more;
// decoded records must come back equal through append_batch_record, and their properties decode.
#include "wire/batch.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

bool same_records(const std::vector<rmq::wire::batch_record>& a,
                  const std::vector<rmq::wire::batch_record>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].flag != b[i].flag || a[i].body != b[i].body || a[i].properties != b[i].properties)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rmq::wire;
  const auto body = rmq::fuzz::as_text(data, size);
  std::vector<batch_record> strict;
  std::vector<batch_record> lenient;
  const auto strict_ec = decode_batch(body, strict, {.check_total_size = true});
  const auto lenient_ec = decode_batch(body, lenient, {.check_total_size = false});
  if (!strict_ec) FUZZ_CHECK(!lenient_ec && same_records(strict, lenient));
  if (lenient_ec) return 0;

  std::string encoded;
  std::vector<property_ref> props;
  for (const auto& r : lenient) {
    FUZZ_CHECK(r.properties.size() <= max_properties_size);
    append_batch_record(encoded, r.flag, r.body, r.properties);
    props.clear();
    decode_properties(r.properties, props);
  }
  std::vector<batch_record> again;
  FUZZ_CHECK(!decode_batch(encoded, again, {.check_total_size = true}));
  FUZZ_CHECK(same_records(again, lenient));
  return 0;
}
