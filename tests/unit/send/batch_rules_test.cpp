// The rules of automatic batching (send/batch_rules.hpp), without a loop or a socket.
#include "send/batch_rules.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace std::chrono_literals;
using rmq::auto_batch_config;
using rmq::detail::send_kind;
using rmq::detail::send_purpose;
namespace batching = rmq::send;

namespace {

constexpr std::size_t threshold = 4096;

bool batchable(const rmq::message& msg, send_kind mode = send_kind::async,
               send_purpose purpose = send_purpose::plain) {
  return batching::may_auto_batch(msg, mode, purpose, threshold);
}

}  // namespace

TEST_CASE("auto batch: which sends may join a batch") {
  const rmq::message plain("TopicTest", "body");
  CHECK(batchable(plain));
  CHECK(batchable(plain, send_kind::sync));
  CHECK_FALSE(batchable(plain, send_kind::oneway));
  CHECK_FALSE(batchable(plain, send_kind::async, send_purpose::half_message));
  CHECK_FALSE(batchable(plain, send_kind::async, send_purpose::request));
  CHECK_FALSE(batchable(plain, send_kind::async, send_purpose::reply));

  rmq::message delayed = plain;
  delayed.set_delay_level(3);
  CHECK_FALSE(batchable(delayed));
  rmq::message timer = plain;
  timer.set_delay_time_sec(10);
  CHECK_FALSE(batchable(timer));

  CHECK(batchable(rmq::message("TopicTest", std::string(threshold - 1, 'x'))));
  CHECK_FALSE(batchable(rmq::message("TopicTest", std::string(threshold, 'x'))));
  CHECK_FALSE(batchable(rmq::message("%RETRY%group", "body")));

  rmq::message no_wait = plain;
  no_wait.set_wait_store_msg_ok(false);
  CHECK_FALSE(batchable(no_wait));
}

TEST_CASE("auto batch: a batch's limits in bytes and messages") {
  auto_batch_config limits;
  limits.max_bytes = 1000;
  limits.max_messages = 3;
  CHECK_FALSE(batching::too_big_to_batch(1000, limits));
  CHECK(batching::too_big_to_batch(1001, limits));

  CHECK(batching::fits({0, 0}, 1000, limits));
  CHECK(batching::fits({600, 1}, 400, limits));
  CHECK_FALSE(batching::fits({600, 1}, 401, limits));
  CHECK_FALSE(batching::fits({30, 3}, 10, limits));  // the count, whatever the bytes

  CHECK_FALSE(batching::full({600, 2}, limits));
  CHECK(batching::full({30, 3}, limits));
  // No record (22 bytes at least) fits beside 979 bytes.
  CHECK(batching::full({979, 1}, limits));
  CHECK_FALSE(batching::full({977, 1}, limits));
}

TEST_CASE("auto batch: a batch leaves at its linger's end, or in time for its members") {
  using tp = std::chrono::steady_clock::time_point;
  const tp opened{1s};
  // Plenty of budget: the linger.
  CHECK(batching::leave_by(opened, 1000us, opened, opened + 3s) == opened + 1ms);
  // The linger would take more than half the budget: half of it.
  CHECK(batching::leave_by(opened, 1s, opened, opened + 100ms) == opened + 50ms);
  // A member that joins later with less time left.
  CHECK(batching::leave_by(opened, 5ms, opened + 1ms, opened + 5ms) == opened + 3ms);
  // A member already past its deadline: at once.
  CHECK(batching::leave_by(opened, 5ms, opened + 2ms, opened + 1ms) == opened + 2ms);
  // Linger 0 leaves at once (the loop leaves it at the turn's end instead, without a timer).
  CHECK(batching::leave_by(opened, 0us, opened, opened + 3s) == opened);
}

TEST_CASE("auto batch: each member's offset msgId from the response's list") {
  batching::offset_id_cursor ids("AA,BB,CC");
  CHECK(ids.next() == "AA");
  CHECK(ids.next() == "BB");
  CHECK(ids.next() == "CC");
  CHECK(ids.next().empty());  // fewer ids than members: the rest get none
  CHECK(ids.next().empty());

  batching::offset_id_cursor one("AA");
  CHECK(one.next() == "AA");
  CHECK(one.next().empty());

  batching::offset_id_cursor none("");
  CHECK(none.next().empty());
}

TEST_CASE("auto batch: each attempt's share of what is left of the earliest deadline") {
  using tp = std::chrono::steady_clock::time_point;
  const tp now{10s};
  // Three attempts left of 3 s: 1 s each.
  CHECK(batching::batch_attempt_deadline(now, now + 3s, 3, std::nullopt) == now + 1s);
  // A member with a short deadline left: the others get the rest of theirs, split again.
  CHECK(batching::batch_attempt_deadline(now, now + 2s, 2, std::nullopt) == now + 1s);
  CHECK(batching::batch_attempt_deadline(now, now + 2s, 1, std::nullopt) == now + 2s);
  // A configured cap, never past the deadline.
  CHECK(batching::batch_attempt_deadline(now, now + 3s, 3, std::optional(500ms)) == now + 500ms);
  CHECK(batching::batch_attempt_deadline(now, now + 300ms, 3, std::optional(500ms)) == now + 300ms);
  // Nothing left: the deadline itself.
  CHECK(batching::batch_attempt_deadline(now, now - 1ms, 2, std::nullopt) == now - 1ms);
}
