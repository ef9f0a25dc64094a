// The connection pool over real loopback sockets: a connection whose address left every route
// is drained — its requests in flight still complete with their responses — and closed after.
#include "net/connection_pool.hpp"

#include "io/loop.hpp"
#include "rmq/error.hpp"
#include "support/remoting_peer.hpp"
#include "wire/command.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::remoting_peer;
namespace io = rmq::io;
namespace net = rmq::net;
namespace wire = rmq::wire;

namespace {

// One request's outcome, written on the loop thread, read by the test after `done`.
struct outcome {
  std::atomic<int> completions{0};
  std::error_code error;
  std::string body;

  static void complete(void* context, std::error_code ec,
                       const wire::command_view* response) noexcept {
    auto* self = static_cast<outcome*>(context);
    self->error = ec;
    if (response != nullptr) self->body = std::string(response->body);
    self->completions.fetch_add(1, std::memory_order_release);
  }
  [[nodiscard]] bool done() const noexcept {
    return completions.load(std::memory_order_acquire) != 0;
  }
};

class pool_harness {
 public:
  pool_harness() {
    loop_.start();
    run([&] { pool_.emplace(loop_, net::connection_options{}); });
  }
  ~pool_harness() {
    std::promise<void> closed;
    run([&] { pool_->close_all([&] { closed.set_value(); }); });
    closed.get_future().wait();
    run([&] { pool_.reset(); });
    loop_.stop();
  }

  template <class F>
  void run(F&& f) {
    std::promise<void> done;
    loop_.post([&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  void send(const std::string& address, outcome& out, const std::string& body) {
    run([&] {
      const auto ec = pool_->get(address).request(
          [&body](std::string& buffer, std::int32_t opaque) {
            wire::command_fields fields;
            fields.code = 310;
            fields.opaque = opaque;
            wire::frame_writer w(buffer, wire::serialize_type::json, fields);
            w.finish(body);
          },
          net::clock::now() + 30s, {&outcome::complete, &out});
      REQUIRE_FALSE(ec);
    });
  }

  net::connection_pool& pool() { return *pool_; }

 private:
  io::loop loop_;
  std::optional<net::connection_pool> pool_;
};

// Polls a condition the test cannot be notified of (another process's socket state), bounded
// so that a bug fails the test instead of hanging it.
template <class Pred>
bool eventually(Pred pred, std::chrono::seconds limit = 20s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST_CASE("a connection that left every route finishes its requests, then closes") {
  remoting_peer leaving(remoting_peer::policy::held);
  remoting_peer staying(remoting_peer::policy::echo);
  pool_harness h;

  outcome in_flight;
  outcome other;
  h.send(leaving.address(), in_flight, "in flight");
  h.send(staying.address(), other, "other");
  REQUIRE(eventually([&] { return other.done() && leaving.held() == 1; }));
  CHECK_FALSE(other.error);

  const std::vector<std::string> keep{staying.address()};
  h.run([&] {
    h.pool().retain_only(keep);
    CHECK(h.pool().size() == 1);
    CHECK(h.pool().find(leaving.address()) == nullptr);
    CHECK(h.pool().find(staying.address()) != nullptr);
  });
  // Drained, not closed: the response that arrives after retain_only completes the request.
  CHECK_FALSE(in_flight.done());
  CHECK(leaving.release() == 1);
  REQUIRE(eventually([&] { return in_flight.done(); }));
  CHECK(in_flight.completions.load() == 1);
  CHECK_FALSE(in_flight.error);
  CHECK(in_flight.body == "in flight");
  // Then the drained connection closes; the retained one stays open.
  CHECK(eventually([&] { return leaving.client_closes() == 1; }));
  CHECK(staying.client_closes() == 0);

  // The address may come back into a route later: that is a new connection.
  outcome again;
  h.send(leaving.address(), again, "again");
  REQUIRE(eventually([&] { return leaving.held() == 1; }));
  CHECK(leaving.release() == 1);
  REQUIRE(eventually([&] { return again.done(); }));
  CHECK_FALSE(again.error);
  CHECK(leaving.accepted() == 2);
}

TEST_CASE("an idle connection that left every route closes at once") {
  remoting_peer peer(remoting_peer::policy::echo);
  pool_harness h;
  outcome first;
  h.send(peer.address(), first, "x");
  REQUIRE(eventually([&] { return first.done(); }));
  h.run([&] { h.pool().retain_only({}); });
  CHECK(eventually([&] { return peer.client_closes() == 1; }));
  h.run([&] { CHECK(h.pool().size() == 0); });
}

TEST_CASE("closing the pool while a connection drains fails its request and completes once") {
  remoting_peer leaving(remoting_peer::policy::held);
  pool_harness h;
  outcome in_flight;
  h.send(leaving.address(), in_flight, "in flight");
  REQUIRE(eventually([&] { return leaving.held() == 1; }));
  h.run([&] { h.pool().retain_only({}); });  // draining: the request is still in flight
  CHECK_FALSE(in_flight.done());

  std::atomic<int> closed{0};
  h.run([&] { h.pool().close_all([&] { closed.fetch_add(1); }); });
  REQUIRE(eventually([&] { return closed.load() == 1 && in_flight.done(); }));
  CHECK(in_flight.completions.load() == 1);
  CHECK(in_flight.error == rmq::errc::shutting_down);
  CHECK(eventually([&] { return leaving.client_closes() == 1; }));
  CHECK(closed.load() == 1);
}
