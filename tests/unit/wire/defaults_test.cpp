// The public configuration's protocol defaults are the wire layer's constants: one fact, checked
// here because the public header cannot include the library's internals.
#include "rmq/producer_config.hpp"
#include "wire/command.hpp"
#include "wire/headers.hpp"
#include "wire/route_data.hpp"

#include <doctest/doctest.h>

TEST_CASE("producer_config's protocol defaults are the wire layer's") {
  const rmq::producer_config config;
  CHECK(config.protocol_version == rmq::wire::default_request_version);
  CHECK(config.create_topic_key == rmq::wire::auto_create_topic);
  CHECK(rmq::wire::send_message_request_header{}.default_topic == rmq::wire::auto_create_topic);
  // The version this client announces is the one from which NameServers answer standard JSON.
  CHECK(rmq::wire::default_request_version >= rmq::wire::standard_route_json_version);
  CHECK(rmq::wire::default_request_version > rmq::wire::mq_version::v5_3_1);  // GO_AWAY handled
}
