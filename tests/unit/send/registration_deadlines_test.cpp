// The waits of registration follow producer_config: a heartbeat waits as long as a send may,
// the unregister of a late shutdown gets one send attempt's time.
#include "send/registration.hpp"
#include "support/test_clock.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using rmq::send::heartbeat_deadline;
using rmq::send::unregister_deadline;

namespace {
using rmq::test::t0;
}

TEST_CASE("a heartbeat waits for its answer as long as a send may") {
  rmq::producer_config config;
  CHECK(heartbeat_deadline(config, t0) == t0 + 3000ms);  // the default send_timeout
  config.send_timeout = 750ms;
  CHECK(heartbeat_deadline(config, t0) == t0 + 750ms);
  config.send_timeout = 20s;
  CHECK(heartbeat_deadline(config, t0) == t0 + 20s);
}

TEST_CASE("unregistering waits until the shutdown's deadline while it lies ahead") {
  rmq::producer_config config;
  CHECK(unregister_deadline(config, t0 + 10s, t0) == t0 + 10s);
}

TEST_CASE("a late shutdown still unregisters, for one send attempt's time") {
  rmq::producer_config config;
  // The sync send's share: 3000 ms over 1 + 2 attempts.
  CHECK(unregister_deadline(config, t0 - 1s, t0) == t0 + 1000ms);
  config.send_timeout = 600ms;
  config.retries_sync = 5;
  CHECK(unregister_deadline(config, t0, t0) == t0 + 100ms);
  // A configured per-attempt cap is that time.
  config.attempt_timeout = 250ms;
  CHECK(unregister_deadline(config, t0 - 1s, t0) == t0 + 250ms);
  CHECK(unregister_deadline(config, t0 + 100ms, t0) == t0 + 250ms);
}
