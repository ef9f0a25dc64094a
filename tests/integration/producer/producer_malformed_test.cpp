// The producer against servers that answer badly: malformed frames and headers, unknown and
// duplicate opaques, results missing their fields, answers to oneway requests, unusable routes,
// trickling and non-reading peers. Each case checks the error the user sees and that the send
// ends by its deadline, and prints how long it took (docs/reliability.md lists the figures).
#include "rmq/producer.hpp"
#include "support/scripted_peer.hpp"
#include "wire/codes.hpp"
#include "wire/route_data.hpp"

#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::peer_reply;
using rmq::test::peer_request;
using rmq::test::scripted_peer;
namespace code = rmq::wire::request_code;

namespace {

constexpr auto send_timeout = 1000ms;
// How late a send may end after its deadline before the test calls it a hang: generous, as
// the loop shares two cores with the peers' threads under the sanitizers.
constexpr auto hang_margin = 2000ms;

/// A response frame to `r` as a Java server writes it (JSON header).
std::string answer(const peer_request& r, std::int32_t response_code,
                   const std::vector<std::pair<std::string, std::string>>& fields = {},
                   std::string_view body = {}, std::int32_t opaque_delta = 0) {
  std::string out;
  rmq::wire::command_fields f;
  f.code = response_code;
  f.language = rmq::wire::language_code::java;
  f.version = 409;
  f.opaque = r.fields.opaque + opaque_delta;
  f.flag = rmq::wire::flag_response;
  rmq::wire::frame_writer w(out, rmq::wire::serialize_type::json, f);
  for (const auto& [name, value] : fields) w.field(name, value);
  w.finish(body);
  return out;
}

std::vector<std::pair<std::string, std::string>> send_result_fields() {
  return {{"msgId", "7F00000100002A9F0000000000000000"},
          {"queueId", "0"},
          {"queueOffset", "7"},
          {"MSG_REGION", "DefaultRegion"},
          {"TRACE_ON", "true"}};
}

std::string send_ok(const peer_request& r) {
  return answer(r, 0, send_result_fields());
}

/// The route a NameServer gives for one broker at `address`.
std::string route_body(const std::string& address, std::int32_t write_queues = 4,
                       std::int32_t perm = 6) {
  rmq::wire::topic_route_data route;
  route.queue_datas.push_back({"broker-a", write_queues, write_queues, perm, 0});
  route.broker_datas.push_back({"DefaultCluster", "broker-a", {{0, address}}, {}, {}});
  return rmq::wire::to_json(route, rmq::wire::route_json_style::standard);
}

/// Registration requests (heartbeat, unregister) get what a broker answers; sends get `on_send`.
scripted_peer::script broker_script(std::function<peer_reply(const peer_request&)> on_send) {
  return [on_send = std::move(on_send)](const peer_request& r) -> peer_reply {
    if (r.fields.code == code::heart_beat || r.fields.code == code::unregister_client) {
      return {answer(r, 0)};
    }
    return on_send(r);
  };
}

/// A NameServer script that answers every route query with `body` (code 0).
scripted_peer::script routes_of(std::string body) {
  return [body = std::move(body)](const peer_request& r) -> peer_reply {
    return {answer(r, 0, {}, body)};
  };
}

/// A frame whose length word is `length` followed by `tail`.
std::string frame_with_length(std::int32_t length, std::string_view tail = "xxxxxxxx") {
  const std::uint32_t be = htonl(static_cast<std::uint32_t>(length));
  std::string out(sizeof be, '\0');
  std::memcpy(out.data(), &be, sizeof be);
  out += tail;
  return out;
}

/// A JSON-header frame with `header` as its header text, as is.
std::string frame_with_header(std::string_view header) {
  std::string out = frame_with_length(static_cast<std::int32_t>(4 + header.size()), "");
  const std::uint32_t mark = htonl(static_cast<std::uint32_t>(header.size()));  // type 0: JSON
  out.append(reinterpret_cast<const char*>(&mark), sizeof mark);
  out += header;
  return out;
}

struct cluster_options {
  /// The route body the NameServer answers, given the broker's address.
  std::function<std::string(const std::string&)> route = [](const std::string& address) {
    return route_body(address);
  };
  std::optional<scripted_peer::script> namesrv;  ///< replaces `route` when set
  bool broker_reads = true;
  std::chrono::milliseconds timeout = send_timeout;  ///< the producer's send timeout
};

/// A producer whose NameServer and broker are scripted peers.
struct hostile_cluster {
  explicit hostile_cluster(std::function<peer_reply(const peer_request&)> on_send,
                           cluster_options options = {})
      : broker(broker_script(std::move(on_send)), options.broker_reads),
        namesrv(options.namesrv ? std::move(*options.namesrv)
                                : routes_of(options.route(broker.address()))),
        timeout(options.timeout) {
    rmq::producer_config config;
    config.name_servers = namesrv.address();
    config.group = "HostileGroup";
    config.send_timeout = timeout;
    producer = std::make_unique<rmq::producer>(config);
    REQUIRE_FALSE(producer->start());
  }
  ~hostile_cluster() {
    // A peer that never answers holds the unregister request for the whole grace period.
    producer->shutdown(timeout);
    producer.reset();
  }

  /// A blocking send: its error (none: success), result and time taken.
  struct outcome {
    std::error_code ec;
    rmq::send_result result;
    std::chrono::milliseconds took{};
  };
  outcome send(std::string body = "payload") {
    outcome o;
    const auto start = std::chrono::steady_clock::now();
    o.result = producer->send(rmq::message("HostileTopic", std::move(body)), o.ec);
    o.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    MESSAGE("ended with '" << (o.ec ? o.ec.message() : std::string("success")) << "' after "
                           << o.took.count() << " ms, " << o.result.attempts << " attempt(s)");
    CHECK(o.took < timeout + hang_margin);
    return o;
  }

  scripted_peer broker;
  scripted_peer namesrv;
  std::chrono::milliseconds timeout;
  std::unique_ptr<rmq::producer> producer;
};

}  // namespace

TEST_CASE("the scripted cluster itself: a well-formed answer is a result") {
  hostile_cluster c([](const peer_request& r) -> peer_reply { return {send_ok(r)}; });
  const auto o = c.send();
  REQUIRE_FALSE(o.ec);
  CHECK(o.result.offset_msg_id.view() == "7F00000100002A9F0000000000000000");
  CHECK(o.result.queue_offset == 7);
}

TEST_CASE("bad length words close the connection; the send fails with protocol_error") {
  struct bad_word {
    std::string what;
    std::int32_t length;
  };
  for (const bad_word& w :
       {bad_word{"negative", -1}, bad_word{"zero", 0}, bad_word{"below the header word", 3},
        bad_word{"above the largest frame", 16 * 1024 * 1024 + 1}}) {
    INFO(w.what);
    hostile_cluster c(
        [&](const peer_request&) -> peer_reply { return {frame_with_length(w.length)}; });
    const auto o = c.send();
    CHECK(o.ec == rmq::errc::protocol_error);
    CHECK(o.result.attempts == 1);  // bytes that do not decode are not retried
  }
}

TEST_CASE("truncated and wrong-typed headers fail the send with protocol_error") {
  struct bad_header {
    std::string what;
    std::string bytes;
  };
  const std::string header_past_frame = [] {
    std::string f = frame_with_length(8, "");
    const std::uint32_t mark = htonl(1000u);  // JSON, 1000-byte header in an 8-byte frame
    f.append(reinterpret_cast<const char*>(&mark), sizeof mark);
    return f + "{}{}";
  }();
  for (const bad_header& h :
       {bad_header{"header length past the frame", header_past_frame},
        bad_header{"JSON cut short", frame_with_header(R"({"code":0,"flag":1,"opa)")},
        bad_header{"opaque as a string",
                   frame_with_header(R"({"code":0,"flag":1,"opaque":"one","version":409})")},
        bad_header{"code as an object",
                   frame_with_header(R"({"code":{},"flag":1,"opaque":1,"version":409})")},
        bad_header{"extFields as a list",
                   frame_with_header(R"({"code":0,"extFields":[],"flag":1,"opaque":1})")},
        bad_header{"unknown serialization type", [] {
                     std::string f = frame_with_length(8, "");
                     const std::uint32_t mark = htonl((7u << 24) | 4u);
                     f.append(reinterpret_cast<const char*>(&mark), sizeof mark);
                     return f + "abcd";
                   }()}}) {
    INFO(h.what);
    hostile_cluster c([&](const peer_request&) -> peer_reply { return {h.bytes}; });
    const auto o = c.send();
    CHECK(o.ec == rmq::errc::protocol_error);
  }
}

TEST_CASE("an answer with an unknown opaque is dropped: the send times out, the connection stays") {
  hostile_cluster c([](const peer_request& r) -> peer_reply {
    return {answer(r, 0, send_result_fields(), {}, 1000)};
  });
  const auto o = c.send();
  CHECK(o.ec == rmq::errc::timed_out);
  CHECK(o.took >= send_timeout);
  CHECK(c.broker.accepted() == 1);
}

TEST_CASE("a duplicate answer is dropped; the next send gets its own") {
  std::atomic<int> sends{0};
  hostile_cluster c([&](const peer_request& r) -> peer_reply {
    auto fields = send_result_fields();
    fields[2].second = std::to_string(sends++);  // queueOffset tells the answers apart
    const std::string one = answer(r, 0, fields);
    return {one + one};
  });
  const auto first = c.send();
  const auto second = c.send();
  REQUIRE_FALSE(first.ec);
  REQUIRE_FALSE(second.ec);
  CHECK(first.result.queue_offset == 0);
  CHECK(second.result.queue_offset == 1);
  CHECK(c.broker.accepted() == 1);
}

TEST_CASE("a success without its required fields, or with a malformed number: invalid_response") {
  struct bad_result {
    std::string what;
    std::vector<std::pair<std::string, std::string>> fields;
  };
  auto without = [](std::string_view name) {
    auto fields = send_result_fields();
    std::erase_if(fields, [&](const auto& f) { return f.first == name; });
    return fields;
  };
  auto with = [](std::string_view name, std::string value) {
    auto fields = send_result_fields();
    for (auto& f : fields) {
      if (f.first == name) f.second = value;
    }
    return fields;
  };
  for (const bad_result& b :
       {bad_result{"no msgId", without("msgId")}, bad_result{"no queueId", without("queueId")},
        bad_result{"no queueOffset", without("queueOffset")}, bad_result{"no fields at all", {}},
        bad_result{"queueOffset not a number", with("queueOffset", "7x")},
        bad_result{"queueId out of range", with("queueId", "99999999999")}}) {
    INFO(b.what);
    hostile_cluster c(
        [&](const peer_request& r) -> peer_reply { return {answer(r, 0, b.fields)}; });
    const auto o = c.send();
    CHECK(o.ec == rmq::errc::invalid_response);
    CHECK(o.result.attempts == 1);  // the broker may have stored it: not sent again
  }
}

TEST_CASE("answers to oneway requests are dropped; the sends after them get their own") {
  hostile_cluster c([](const peer_request& r) -> peer_reply {
    // A oneway send answered as if it were a two-way one, and twice.
    const std::string reply = send_ok(r);
    return {r.oneway ? reply + reply : reply};
  });
  for (int i = 0; i < 20; ++i) {
    CHECK_FALSE(c.producer->send_oneway(rmq::message("HostileTopic", "oneway")));
  }
  const auto o = c.send();
  CHECK_FALSE(o.ec);
  CHECK(o.result.attempts == 1);
  CHECK(c.broker.requests(code::send_message_v2) == 21);
}

TEST_CASE("routes that cannot be used: no_writable_queue, invalid_route_data") {
  struct bad_route {
    std::string what;
    std::function<std::string(const std::string&)> body;
    rmq::errc expected;
  };
  for (const bad_route& b : {
           bad_route{"read-only queues", [](const std::string& a) { return route_body(a, 4, 4); },
                     rmq::errc::no_writable_queue},
           bad_route{"no write queue", [](const std::string& a) { return route_body(a, 0, 6); },
                     rmq::errc::no_writable_queue},
           bad_route{"no master address",
                     [](const std::string&) {
                       rmq::wire::topic_route_data route;
                       route.queue_datas.push_back({"broker-a", 4, 4, 6, 0});
                       route.broker_datas.push_back(
                           {"DefaultCluster", "broker-a", {{1, "127.0.0.1:1"}}, {}, {}});
                       return rmq::wire::to_json(route, rmq::wire::route_json_style::standard);
                     },
                     rmq::errc::no_writable_queue},
           bad_route{"over route_limits (2,000 queues on one broker)",
                     [](const std::string& a) { return route_body(a, 2000, 6); },
                     rmq::errc::invalid_route_data},
           bad_route{"not JSON", [](const std::string&) { return std::string("{\"queueDatas\":"); },
                     rmq::errc::invalid_route_data},
           bad_route{"empty body", [](const std::string&) { return std::string(); },
                     rmq::errc::invalid_route_data},
       }) {
    INFO(b.what);
    hostile_cluster c([](const peer_request& r) -> peer_reply { return {send_ok(r)}; },
                      {.route = b.body});
    const auto o = c.send();
    CHECK(o.ec == b.expected);
    CHECK(c.broker.requests(code::send_message_v2) == 0);
  }
}

TEST_CASE("a broker that resets or closes mid-answer: connection_lost, on a new connection each") {
  struct cut {
    std::string what;
    std::function<peer_reply(const peer_request&)> reply;
  };
  for (const cut& k :
       {cut{"reset on reading the request",
            [](const peer_request&) -> peer_reply { return {.after = peer_reply::then::reset}; }},
        cut{"half an answer, then reset",
            [](const peer_request& r) -> peer_reply {
              return {.bytes = send_ok(r).substr(0, 20), .after = peer_reply::then::reset};
            }},
        cut{"half an answer, then closed", [](const peer_request& r) -> peer_reply {
              return {.bytes = send_ok(r).substr(0, 20), .after = peer_reply::then::close};
            }}}) {
    INFO(k.what);
    hostile_cluster c(k.reply);
    const auto o = c.send();
    CHECK(o.ec == rmq::errc::connection_lost);
    CHECK(o.result.attempts == 3);  // retried: the request may not have arrived
    CHECK(c.broker.accepted() == 3);
  }
}

TEST_CASE("a NameServer that answers in bytes that do not decode: the send fails, nothing sent") {
  hostile_cluster c(
      [](const peer_request& r) -> peer_reply { return {send_ok(r)}; },
      {.namesrv = [](const peer_request&) -> peer_reply { return {frame_with_length(-7)}; }});
  const auto o = c.send();
  CHECK(o.ec == rmq::errc::protocol_error);
  CHECK(c.broker.requests(code::send_message_v2) == 0);
}

TEST_CASE("a trickling broker: byte by byte is a result; a byte per 50 ms, a timeout") {
  SUBCASE("fast enough: whole well within the deadline") {
    // A wide budget: each byte costs a wake-up of the peer's thread, slow under the sanitizers.
    hostile_cluster c(
        [](const peer_request& r) -> peer_reply { return {.bytes = send_ok(r), .byte_gap = 10us}; },
        {.timeout = 10s});
    const auto o = c.send();
    CHECK_FALSE(o.ec);
    CHECK(o.result.queue_offset == 7);
  }
  SUBCASE("too slow: the send ends at its deadline, the trickle goes on") {
    hostile_cluster c([](const peer_request& r) -> peer_reply {
      return {.bytes = send_ok(r), .byte_gap = 50ms};
    });
    const auto o = c.send();
    CHECK(o.ec == rmq::errc::timed_out);
    CHECK(o.took >= send_timeout);
  }
}

TEST_CASE("a broker that stops reading: sends end at their deadline, shutdown does not hang") {
  hostile_cluster c([](const peer_request& r) -> peer_reply { return {send_ok(r)}; },
                    {.broker_reads = false});
  // Megabyte bodies fill the socket buffers, so later requests wait unwritten in the client.
  std::vector<std::future<rmq::send_result>> futures;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 16; ++i) {
    futures.push_back(c.producer->async_send(
        rmq::message("HostileTopic", std::string(1024 * 1024, 'x')), asio::use_future));
  }
  int timed_out = 0;
  for (auto& f : futures) {
    try {
      (void)f.get();
    } catch (const rmq::send_error& e) {
      timed_out += e.code() == rmq::errc::timed_out ? 1 : 0;
    }
  }
  const auto took = std::chrono::steady_clock::now() - start;
  MESSAGE("16 sends of 1 MiB ended after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(timed_out == 16);
  CHECK(took < c.timeout + hang_margin);
  // The unregister request is never read either: shutdown waits for it up to its grace period
  // (as Java's unregisterClient waits for its timeout), not longer.
  const auto shutdown_start = std::chrono::steady_clock::now();
  CHECK_FALSE(c.producer->shutdown(c.timeout));
  const auto shutdown_took = std::chrono::steady_clock::now() - shutdown_start;
  MESSAGE("shutdown took "
          << std::chrono::duration_cast<std::chrono::milliseconds>(shutdown_took).count() << " ms");
  CHECK(shutdown_took < c.timeout + hang_margin);
}
