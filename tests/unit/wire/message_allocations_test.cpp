// The send-path encoders allocate nothing once their buffers have grown. Counts heap allocations
// of the calling thread (support/allocation_counter.hpp).
#include "rmq/message.hpp"
#include "support/allocation_counter.hpp"
#include "wire/batch.hpp"
#include "wire/compression.hpp"
#include "wire/properties.hpp"
#include "wire/uniq_key.hpp"
#include "wire/validation.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using rmq::test::allocations_during;
using namespace rmq::wire;

TEST_CASE("allocations: properties, UNIQ_KEY, batch and compression in steady state") {
  rmq::message msg("TopicTest", "TagA", std::string(8192, 'z'));
  msg.set_keys({"order-1", "user-2"});
  msg.set_delay_level(3);
  msg.put_property("color", "red");
  auto& ids = default_uniq_key_generator();
  const std::vector<rmq::message> batch(3, rmq::message("TopicTest", "TagA", "body"));
  body_codec codec;
  std::string props;
  std::string body;
  std::string compressed;
  std::string msg_ids;

  const auto one_send = [&] {
    const uniq_key id = ids.next();
    props.clear();
    append_properties(props, msg, {.uniq_key = id.view(), .extra = {}});
    (void)find_property(props, "UNIQ_KEY");
    (void)validate_message(msg);
    body.clear();
    msg_ids.clear();
    (void)encode_batch(batch, ids, body, &msg_ids);
    (void)codec.compress_if_needed(msg.body(), {}, compressed);
  };
  // The counter sees allocations at all.
  CHECK(allocations_during([] { std::string grown(1000, 'x'); }) > 0);

  one_send();  // buffers and codec contexts grow here
  one_send();
  CHECK(allocations_during(one_send) == 0);
  CHECK(!props.empty());
  CHECK(!body.empty());
  CHECK(compressed.size() == 31);
}
