// The connection's state machine without sockets: bytes in, bytes out, events.
#include "net/connection_core.hpp"

#include "rmq/error.hpp"
#include "support/test_clock.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <functional>
#include <new>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using rmq::errc;
using net_clock = rmq::net::clock;
using rmq::net::connection_core;
using rmq::net::request_kind;
namespace wire = rmq::wire;

namespace {

using rmq::test::t0;

// Records every completion per request id, so exactly-once is checked per request.
struct recorder {
  struct entry {
    recorder* owner;
    int id;
  };
  std::deque<entry> entries;
  std::vector<int> completions;
  std::vector<std::error_code> errors;
  std::vector<std::string> bodies;
  std::function<void(int id)> on_complete;  // optional re-entrant action

  rmq::net::response_waiter waiter_for(int id) {
    if (completions.size() <= static_cast<std::size_t>(id)) {
      completions.resize(id + 1);
      errors.resize(id + 1);
      bodies.resize(id + 1);
    }
    entries.push_back({this, id});
    return {&recorder::complete, &entries.back()};
  }

  static void complete(void* context, std::error_code ec, const wire::command_view* response) {
    auto* e = static_cast<entry*>(context);
    recorder& r = *e->owner;
    ++r.completions[e->id];
    r.errors[e->id] = ec;
    if (response != nullptr) r.bodies[e->id] = std::string(response->body);
    if (r.on_complete) r.on_complete(e->id);
  }

  void check_all_exactly_once() const {
    for (std::size_t id = 0; id < completions.size(); ++id) {
      INFO("request " << id);
      CHECK(completions[id] == 1);
    }
  }
};

// Encodes a small request frame with the opaque the core assigns.
auto request_encoder(int code, std::string body = "payload") {
  return [code, body](std::string& out, std::int32_t opaque) {
    wire::command_fields fields;
    fields.code = code;
    fields.opaque = opaque;
    fields.version = 401;
    wire::frame_writer writer(out, wire::serialize_type::json, fields);
    writer.field("topic", "TopicTest");
    writer.finish(body);
  };
}

std::string take_write(connection_core& core, std::size_t limit = SIZE_MAX) {
  std::string sent;
  const auto iov = core.prepare_write();
  if (iov.empty()) return sent;  // everything pending had expired or was cancelled
  for (const iovec& v : iov) {
    sent.append(static_cast<const char*>(v.iov_base), v.iov_len);
  }
  if (sent.size() > limit) sent.resize(limit);
  core.commit_write(sent.size());
  return sent;
}

std::string drain_writes(connection_core& core) {
  std::string all;
  while (core.wants_write()) all += take_write(core);
  return all;
}

std::vector<wire::remoting_command> decode_all(std::string_view bytes) {
  std::vector<wire::remoting_command> commands;
  wire::frame_decoder decoder;
  const auto ec = decoder.feed(bytes, [&](const wire::command_view& view) {
    commands.push_back(wire::remoting_command::from_view(view));
  });
  REQUIRE_FALSE(ec);
  REQUIRE(decoder.buffered() == 0);
  return commands;
}

std::string response_for(const wire::remoting_command& request, std::string body, int code = 0) {
  wire::remoting_command response;
  response.fields.code = code;
  response.fields.opaque = request.fields.opaque;
  response.fields.flag = wire::flag_response;
  response.body = std::move(body);
  return response.encode(wire::serialize_type::json);
}

}  // namespace

TEST_CASE("pipelined requests are coalesced into one send and matched out of order") {
  connection_core core;
  recorder rec;
  constexpr int n = 500;
  for (int id = 0; id < n; ++id) {
    core.submit(request_encoder(310, "m" + std::to_string(id)), t0 + 3s, rec.waiter_for(id));
  }
  CHECK(core.in_flight() == n);
  const auto iov = core.prepare_write();
  CHECK(iov.size() == 1);  // every frame contiguous: one iovec
  std::size_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  std::string sent(static_cast<const char*>(iov[0].iov_base), total);
  core.commit_write(total);
  CHECK_FALSE(core.wants_write());
  CHECK(core.counters().frames_sent == n);
  CHECK(core.counters().socket_sends == 1);

  auto requests = decode_all(sent);
  REQUIRE(requests.size() == n);
  // Answer in a shuffled order, all responses in one chunk.
  std::mt19937 rng(7);
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::string responses;
  for (const std::size_t i : order) {
    responses += response_for(requests[i], "r" + std::string(requests[i].body.substr(1)));
  }
  CHECK_FALSE(core.on_received(responses));
  rec.check_all_exactly_once();
  for (int id = 0; id < n; ++id) {
    CHECK_FALSE(rec.errors[id]);
    CHECK(rec.bodies[id] == "r" + std::to_string(id));
  }
  CHECK(core.in_flight() == 0);
  CHECK(core.counters().responses == n);
}

TEST_CASE("responses split into 1-byte chunks still match") {
  connection_core core;
  recorder rec;
  for (int id = 0; id < 20; ++id) core.submit(request_encoder(310), t0 + 3s, rec.waiter_for(id));
  const auto requests = decode_all(drain_writes(core));
  std::string responses;
  for (const auto& r : requests) responses += response_for(r, "ok");
  for (const char c : responses) CHECK_FALSE(core.on_received(std::string_view(&c, 1)));
  rec.check_all_exactly_once();
}

TEST_CASE("partial writes resume where they stopped; oneway completes once fully written") {
  connection_core core;
  recorder rec;
  core.submit(request_encoder(310, std::string(1000, 'a')), t0 + 3s, rec.waiter_for(0),
              request_kind::oneway);
  core.submit(request_encoder(310, std::string(1000, 'b')), t0 + 3s, rec.waiter_for(1),
              request_kind::oneway);
  std::string sent;
  std::size_t step = 1;
  while (core.wants_write()) {
    sent += take_write(core, step);
    step = step * 3 + 7;  // uneven partial writes
    if (sent.size() < 1000) CHECK(rec.completions[0] == 0);
  }
  rec.check_all_exactly_once();
  const auto requests = decode_all(sent);
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].body == std::string(1000, 'a'));
  CHECK(requests[1].body == std::string(1000, 'b'));
  CHECK(requests[0].fields.opaque != requests[1].fields.opaque);
}

TEST_CASE("requests submitted during a send go into the next send") {
  connection_core core;
  recorder rec;
  core.submit(request_encoder(310, "first"), t0 + 3s, rec.waiter_for(0));
  const auto iov = core.prepare_write();
  REQUIRE(iov.size() == 1);
  core.submit(request_encoder(310, "second"), t0 + 3s, rec.waiter_for(1));
  CHECK(core.prepare_write().empty());  // one send in flight at a time
  std::string first(static_cast<const char*>(iov[0].iov_base), iov[0].iov_len);
  core.commit_write(first.size());
  const std::string second = drain_writes(core);
  CHECK(decode_all(first).at(0).body == "first");
  CHECK(decode_all(second).at(0).body == "second");
}

TEST_CASE("an expired unsent request is never written; an expired written one is abandoned") {
  connection_core core;
  recorder rec;
  core.submit(request_encoder(310, "early"), t0 + 1s, rec.waiter_for(0));
  const auto written = decode_all(drain_writes(core));
  core.submit(request_encoder(310, "unsent"), t0 + 1s, rec.waiter_for(1));
  core.submit(request_encoder(310, "later"), t0 + 5s, rec.waiter_for(2));
  CHECK(core.next_deadline() == t0 + 1s);

  core.expire(t0 + 999ms);
  CHECK(rec.completions[0] == 0);
  core.expire(t0 + 1s);
  CHECK(rec.completions[0] == 1);
  CHECK(rec.errors[0] == errc::timed_out);
  CHECK(rec.completions[1] == 1);
  CHECK(rec.errors[1] == errc::timed_out);
  CHECK(core.counters().timeouts == 2);
  CHECK(core.counters().expired_unsent == 1);

  const auto next = decode_all(drain_writes(core));
  REQUIRE(next.size() == 1);
  CHECK(next[0].body == "later");

  // The late response of the abandoned request is dropped and counted; the connection lives.
  CHECK_FALSE(core.on_received(response_for(written.at(0), "late")));
  CHECK(rec.completions[0] == 1);
  CHECK(core.counters().dropped_responses == 1);
  CHECK_FALSE(core.on_received(response_for(next[0], "fine")));
  rec.check_all_exactly_once();
  CHECK(rec.bodies[2] == "fine");
}

TEST_CASE("a silent peer cannot fill the table: abandoned slots are reclaimed") {
  connection_core core;
  recorder rec;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 64; ++i) {
      core.submit(request_encoder(310), t0 + std::chrono::seconds(round),
                  rec.waiter_for(round * 64 + i));
    }
    drain_writes(core);
    core.expire(t0 + std::chrono::seconds(round));
    CHECK(core.in_flight() == 0);
  }
  rec.check_all_exactly_once();
  CHECK(core.counters().timeouts == 50 * 64);
}

TEST_CASE("cancel completes once; a stale ticket is harmless") {
  connection_core core;
  recorder rec;
  const auto ticket = core.submit(request_encoder(310), t0 + 3s, rec.waiter_for(0));
  CHECK(core.cancel(ticket, make_error_code(std::errc::operation_canceled)));
  CHECK_FALSE(core.cancel(ticket, make_error_code(std::errc::operation_canceled)));
  CHECK(drain_writes(core).empty());
  rec.check_all_exactly_once();
}

TEST_CASE("state_of follows a request to the socket; cancel before it never writes it") {
  using rmq::net::request_state;
  connection_core core;
  recorder rec;
  const auto queued = core.submit(request_encoder(310, "queued"), t0 + 3s, rec.waiter_for(0));
  const auto written = core.submit(request_encoder(310, "written"), t0 + 3s, rec.waiter_for(1));
  CHECK(core.state_of(queued) == request_state::queued);
  // Cancelled while queued: removed, never written.
  CHECK(core.cancel(queued, make_error_code(std::errc::operation_canceled)));
  CHECK(core.state_of(queued) == request_state::free);
  const auto iov = core.prepare_write();
  CHECK(core.state_of(written) == request_state::writing);
  std::string sent;
  for (const iovec& v : iov) sent.append(static_cast<const char*>(v.iov_base), v.iov_len);
  core.commit_write(sent.size());
  CHECK(core.state_of(written) == request_state::written);
  const auto requests = decode_all(sent);
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].body == "written");
  // Cancelled once written: abandoned; its late response is dropped and the core goes on.
  CHECK(core.cancel(written, make_error_code(std::errc::operation_canceled)));
  CHECK_FALSE(core.on_received(response_for(requests[0], "late")));
  CHECK(core.counters().dropped_responses == 1);
  rec.check_all_exactly_once();
  CHECK(rec.errors[1] == std::errc::operation_canceled);
}

TEST_CASE("fail_all completes every request once and leaves the core reusable") {
  connection_core core;
  recorder rec;
  for (int id = 0; id < 10; ++id) core.submit(request_encoder(310), t0 + 3s, rec.waiter_for(id));
  (void)core.prepare_write();  // a send in flight on the socket that fails
  for (int id = 10; id < 20; ++id) core.submit(request_encoder(310), t0 + 3s, rec.waiter_for(id));
  core.fail_all(make_error_code(errc::connection_lost));
  rec.check_all_exactly_once();
  for (int id = 0; id < 20; ++id) CHECK(rec.errors[id] == errc::connection_lost);
  CHECK_FALSE(core.wants_write());  // the stale send still owns its buffer
  core.commit_write(0);             // the failed socket's send completes
  core.submit(request_encoder(310, "again"), t0 + 3s, rec.waiter_for(20));
  const auto requests = decode_all(drain_writes(core));
  REQUIRE(requests.size() == 1);
  CHECK_FALSE(core.on_received(response_for(requests[0], "ok")));
  rec.check_all_exactly_once();
}

TEST_CASE("garbage from the peer fails every request with protocol_error") {
  connection_core core;
  recorder rec;
  for (int id = 0; id < 5; ++id) core.submit(request_encoder(310), t0 + 3s, rec.waiter_for(id));
  drain_writes(core);
  const std::string garbage("\xff\xff\xff\xff\x00\x00\x00\x00", 8);
  CHECK(core.on_received(garbage));
  rec.check_all_exactly_once();
  for (int id = 0; id < 5; ++id) CHECK(rec.errors[id] == errc::protocol_error);
}

TEST_CASE("a waiter may fail the connection from inside the reader") {
  connection_core core;
  recorder rec;
  for (int id = 0; id < 3; ++id) core.submit(request_encoder(310), t0 + 3s, rec.waiter_for(id));
  const auto requests = decode_all(drain_writes(core));
  rec.on_complete = [&](int id) {
    if (id == 0) core.fail_all(make_error_code(errc::shutting_down));
  };
  std::string responses;
  for (const auto& r : requests) responses += response_for(r, "ok");
  CHECK_FALSE(core.on_received(responses));
  rec.check_all_exactly_once();
  CHECK_FALSE(rec.errors[0]);
  CHECK(rec.errors[1] == errc::shutting_down);
  CHECK(rec.errors[2] == errc::shutting_down);
}

TEST_CASE("a waiter may submit the next request from inside the reader") {
  connection_core core;
  recorder rec;
  int next_id = 1;
  rec.on_complete = [&](int) {
    if (next_id < 100) core.submit(request_encoder(310), t0 + 3s, rec.waiter_for(next_id++));
  };
  core.submit(request_encoder(310), t0 + 3s, rec.waiter_for(0));
  while (core.in_flight() > 0) {
    const auto requests = decode_all(drain_writes(core));
    REQUIRE(requests.size() == 1);
    CHECK_FALSE(core.on_received(response_for(requests[0], "ok")));
  }
  CHECK(next_id == 100);
  rec.check_all_exactly_once();
}

TEST_CASE("a request from the peer without a handler gets REQUEST_CODE_NOT_SUPPORTED") {
  connection_core core;
  wire::remoting_command check;
  check.fields.code = 39;  // CHECK_TRANSACTION_STATE
  check.fields.opaque = 77;
  CHECK_FALSE(core.on_received(check.encode(wire::serialize_type::rocketmq)));
  const auto replies = decode_all(drain_writes(core));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].fields.code == wire::response_code::request_code_not_supported);
  CHECK(replies[0].fields.opaque == 77);
  CHECK((replies[0].fields.flag & wire::flag_response) != 0);

  wire::remoting_command oneway = check;
  oneway.fields.flag = wire::flag_oneway;
  CHECK_FALSE(core.on_received(oneway.encode(wire::serialize_type::json)));
  CHECK_FALSE(core.wants_write());  // oneway requests are never answered
  CHECK(core.counters().server_requests == 2);
}

// --- the bounded pending buffer ------------------------------------------------------------

namespace {

// An encoder that outlives its request, as a request's awaiter does; counts its calls.
struct lasting_encoder {
  std::string body;
  int calls = 0;
  static void encode(void* self, std::string& out, std::int32_t opaque) {
    auto* e = static_cast<lasting_encoder*>(self);
    ++e->calls;
    request_encoder(310, e->body)(out, opaque);
  }
  connection_core::deferred_encoder ref() { return {&encode, this}; }
};

// The size of one frame of request_encoder(310, body) with a one-digit opaque (the first ten
// requests of a core).
std::size_t frame_size(const std::string& body) {
  std::string out;
  request_encoder(310, body)(out, 0);
  return out.size();
}

// Encoders for bodies "m0", "m1", … (one digit: every frame has the same size).
std::deque<lasting_encoder> numbered_encoders(int n) {
  std::deque<lasting_encoder> encoders;
  for (int id = 0; id < n; ++id) encoders.push_back({"m" + std::to_string(id)});
  return encoders;
}

// A core whose pending buffer holds at most `max_pending_bytes`.
connection_core bounded_core(std::size_t max_pending_bytes) {
  rmq::net::connection_core_options options;
  options.max_pending_bytes = max_pending_bytes;
  return connection_core(options);
}

}  // namespace

TEST_CASE("past max_pending_bytes, requests wait unencoded and go out in order") {
  const std::size_t frame = frame_size("m0");
  connection_core core = bounded_core(2 * frame);
  recorder rec;
  auto encoders = numbered_encoders(10);
  for (int id = 0; id < 10; ++id) {
    core.submit_deferrable(encoders[id].ref(), t0 + 3s, rec.waiter_for(id));
  }
  CHECK(core.in_flight() == 10);
  CHECK(core.pending_bytes() == 2 * frame);
  CHECK(core.counters().deferred == 8);
  for (int id = 0; id < 10; ++id) CHECK(encoders[id].calls == (id < 2 ? 1 : 0));

  std::string sent;
  while (core.wants_write()) {
    const std::string chunk = take_write(core);
    CHECK(decode_all(chunk).size() <= 2);  // never more than the bound in one buffer
    CHECK(core.pending_bytes() <= 2 * frame);
    sent += chunk;
  }
  const auto requests = decode_all(sent);
  REQUIRE(requests.size() == 10);
  std::string responses;
  for (int id = 0; id < 10; ++id) {
    CHECK(encoders[id].calls == 1);
    CHECK(requests[id].body == "m" + std::to_string(id));  // submission order kept
    responses += response_for(requests[id], "r" + std::to_string(id));
  }
  CHECK_FALSE(core.on_received(responses));
  rec.check_all_exactly_once();
  for (int id = 0; id < 10; ++id) CHECK(rec.bodies[id] == "r" + std::to_string(id));
}

TEST_CASE("a deferred request that expires or is cancelled is never encoded nor matched") {
  connection_core core = bounded_core(frame_size("m0"));
  recorder rec;
  auto encoders = numbered_encoders(4);
  core.submit_deferrable(encoders[0].ref(), t0 + 3s, rec.waiter_for(0));
  core.submit_deferrable(encoders[1].ref(), t0 + 1s, rec.waiter_for(1));
  const auto cancelled = core.submit_deferrable(encoders[2].ref(), t0 + 3s, rec.waiter_for(2));
  core.submit_deferrable(encoders[3].ref(), t0 + 3s, rec.waiter_for(3));
  CHECK(core.counters().deferred == 3);
  CHECK(core.state_of(cancelled) == rmq::net::request_state::deferred);

  // A peer answering an opaque it was never sent does not complete the waiting request.
  wire::remoting_command bogus;
  bogus.fields.opaque = cancelled.opaque;
  CHECK_FALSE(core.on_received(response_for(bogus, "too early")));
  CHECK(rec.completions[2] == 0);
  CHECK(core.counters().dropped_responses == 1);

  core.expire(t0 + 1s);
  CHECK(rec.completions[1] == 1);
  CHECK(rec.errors[1] == errc::timed_out);
  CHECK(core.counters().expired_unsent == 1);
  CHECK(core.cancel(cancelled, make_error_code(std::errc::operation_canceled)));

  const auto requests = decode_all(drain_writes(core));
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].body == "m0");
  CHECK(requests[1].body == "m3");
  CHECK(encoders[1].calls == 0);
  CHECK(encoders[2].calls == 0);
  std::string responses;
  for (const auto& r : requests) responses += response_for(r, "ok");
  CHECK_FALSE(core.on_received(responses));
  rec.check_all_exactly_once();
}

TEST_CASE("fail_all completes deferred requests once; the core then encodes at once again") {
  connection_core core = bounded_core(frame_size("m0"));
  recorder rec;
  auto encoders = numbered_encoders(6);
  for (int id = 0; id < 5; ++id) {
    core.submit_deferrable(encoders[id].ref(), t0 + 3s, rec.waiter_for(id));
  }
  core.fail_all(make_error_code(errc::connection_lost));
  rec.check_all_exactly_once();
  for (int id = 0; id < 5; ++id) CHECK(rec.errors[id] == errc::connection_lost);
  for (int id = 1; id < 5; ++id) CHECK(encoders[id].calls == 0);

  core.submit_deferrable(encoders[5].ref(), t0 + 3s, rec.waiter_for(5));
  CHECK(encoders[5].calls == 1);  // nothing waits any more: encoded on submit
  const auto requests = decode_all(drain_writes(core));
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].body == "m5");
}

TEST_CASE("a frame larger than max_pending_bytes still goes, alone") {
  connection_core core = bounded_core(16);
  recorder rec;
  std::deque<lasting_encoder> encoders{{std::string(100, 'a')}, {std::string(100, 'b')}};
  core.submit_deferrable(encoders[0].ref(), t0 + 3s, rec.waiter_for(0));
  core.submit_deferrable(encoders[1].ref(), t0 + 3s, rec.waiter_for(1));
  CHECK(core.counters().deferred == 1);
  const auto first = decode_all(take_write(core));
  REQUIRE(first.size() == 1);
  CHECK(first[0].body == std::string(100, 'a'));
  const auto second = decode_all(drain_writes(core));
  REQUIRE(second.size() == 1);
  CHECK(second[0].body == std::string(100, 'b'));
}

TEST_CASE("a steady stream through a full buffer writes every request once, in order") {
  // The deferred queue never runs empty here, so it is compacted as it goes.
  const std::size_t frame = frame_size("m0");
  connection_core core = bounded_core(4 * frame);
  recorder rec;
  auto encoders = numbered_encoders(10);
  int next = 0;
  int written = 0;
  const auto check_order = [&](const std::vector<wire::remoting_command>& requests) {
    for (const auto& r : requests) {
      CHECK(r.body == "m" + std::to_string(written % 10));
      ++written;
    }
  };
  for (int round = 0; round < 2000; ++round) {
    for (int i = 0; i < 6; ++i, ++next) {
      core.submit_deferrable(encoders[next % 10].ref(), t0 + 3s, rec.waiter_for(next));
    }
    const auto requests = decode_all(take_write(core));
    check_order(requests);
    std::string responses;
    for (const auto& r : requests) responses += response_for(r, "ok");
    CHECK_FALSE(core.on_received(responses));
  }
  CHECK(core.in_flight() == static_cast<std::size_t>(next - written));
  const auto rest = decode_all(drain_writes(core));
  check_order(rest);
  CHECK(written == next);
}

TEST_CASE("an encoder that throws at submit leaves no partial frame and no slot") {
  connection_core core;
  recorder rec;
  core.submit(request_encoder(310, "before"), t0 + 3s, rec.waiter_for(0));
  const std::size_t pending = core.pending_bytes();
  const auto throwing = [](std::string& out, std::int32_t) {
    out.append("half a frame");
    throw std::bad_alloc();
  };
  CHECK_THROWS_AS(core.submit(throwing, t0 + 3s, rec.waiter_for(1)), std::bad_alloc);
  CHECK(core.in_flight() == 1);
  CHECK(core.pending_bytes() == pending);
  CHECK(rec.completions[1] == 0);
  core.submit(request_encoder(310, "after"), t0 + 3s, rec.waiter_for(2));
  const auto requests = decode_all(drain_writes(core));
  REQUIRE(requests.size() == 2);  // the stream holds whole frames only
  CHECK(requests[0].body == "before");
  CHECK(requests[1].body == "after");
}
