// A connection to an address that is not "host:port" with a valid port (a bad route entry):
// every request is refused at once with errc::invalid_address, nothing is queued, and neither
// the resolver nor a socket is ever used.
#include "net/connection.hpp"
#include "rmq/error.hpp"
#include "unit/io/io_test_support.hpp"
#include "wire/command.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>

using namespace std::chrono_literals;
using rmq::errc;
namespace net = rmq::net;
namespace wire = rmq::wire;
using rmq::io::test::event;
using rmq::io::test::running_loop;

namespace {

struct outcome {
  std::atomic<int> completions{0};
  std::error_code error;
  event done;
};

void on_complete(void* context, std::error_code ec, const wire::command_view*) {
  auto* o = static_cast<outcome*>(context);
  o->error = ec;
  if (o->completions.fetch_add(1) == 0) o->done.set();
}

void encode(std::string& out, std::int32_t opaque) {
  wire::command_fields fields;
  fields.code = 310;
  fields.opaque = opaque;
  wire::frame_writer w(out, wire::serialize_type::json, fields);
  w.finish("body");
}

}  // namespace

TEST_CASE("connection: an address that is not host:port is refused before any I/O") {
  running_loop rl;
  for (const char* address : {"not-an-address", "host:99999", "1.2.3.4", "1.2.3.4:0",
                              "1.2.3.4:port", "1.2.3.4:", ":10911", "[::1]", "[::1]10911", ""}) {
    CAPTURE(address);
    std::unique_ptr<net::connection> conn;
    outcome first;
    outcome second;
    std::error_code refused[2];
    rl.call([&] {
      conn = std::make_unique<net::connection>(rl.l, address);
      const auto deadline = net::clock::now() + 60s;
      refused[0] = conn->request(encode, deadline, {&on_complete, &first});
      refused[1] = conn->request(encode, deadline, {&on_complete, &second});
    });
    CHECK(refused[0] == errc::invalid_address);
    CHECK(refused[1] == errc::invalid_address);
    // A request that was taken completes later (before: connect_failed from the resolver).
    if (!refused[0]) REQUIRE(first.done.wait());
    if (!refused[1]) REQUIRE(second.done.wait());
    CHECK(first.completions == 0);
    CHECK(second.completions == 0);
    rl.call([&] {
      CHECK(conn->current_state() == net::connection::state::disconnected);
      CHECK(conn->in_flight() == 0);
      CHECK(conn->connects() == 0);
    });
    event closed;
    rl.call([&] { conn->close([](void* c) noexcept { static_cast<event*>(c)->set(); }, &closed); });
    REQUIRE(closed.wait());
    rl.call([&] { conn.reset(); });
  }
}
