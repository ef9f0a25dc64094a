// The pipelined connection on the io_uring loop over real loopback sockets, against a small
// blocking peer (tests/support/remoting_peer.hpp). Every request is checked for exactly one
// completion by its id.
#include "net/connection.hpp"

#include "io/loop.hpp"
#include "rmq/error.hpp"
#include "support/remoting_peer.hpp"
#include "support/test_scale.hpp"
#include "wire/command.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using rmq::errc;
using rmq::test::remoting_peer;
namespace io = rmq::io;
namespace net = rmq::net;
namespace wire = rmq::wire;

namespace {

// Runs a loop on its own thread and records each request's completion by id.
class harness {
 public:
  explicit harness(std::size_t requests) : records_(requests) { loop_.start(); }
  ~harness() {
    if (conn_) {
      run([&] { conn_->close([](void*) noexcept {}, nullptr); });
      wait_for([&] { return conn_closed(); });
    }
    loop_.stop();
  }

  io::loop& loop() { return loop_; }

  // Runs `f` on the loop thread and waits for it.
  template <class F>
  void run(F&& f) {
    std::promise<void> done;
    loop_.post([&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  void connect(const std::string& address, net::connection_options options = {}) {
    run([&] { conn_ = std::make_unique<net::connection>(loop_, address, options); });
  }
  net::connection& conn() { return *conn_; }

  // Loop thread: submits request `id` with body "id:<id>".
  std::error_code submit(std::size_t id, net::clock::time_point deadline,
                         net::request_kind kind = net::request_kind::two_way) {
    records_[id].submitted_at = net::clock::now();
    records_[id].deadline = deadline;
    const std::string body = "id:" + std::to_string(id);
    return conn_->request(
        [&body](std::string& out, std::int32_t opaque) {
          wire::command_fields fields;
          fields.code = 310;
          fields.opaque = opaque;
          wire::frame_writer w(out, wire::serialize_type::json, fields);
          w.field("b", "TopicTest");
          w.finish(body);
        },
        deadline, {&harness::on_complete, &records_[id]}, kind);
  }

  // Test thread: submits requests 0..n-1 on the loop, each due `budget` from now.
  void submit_all(std::size_t n, std::chrono::seconds budget = 60s,
                  net::request_kind kind = net::request_kind::two_way) {
    run([&] {
      for (std::size_t id = 0; id < n; ++id) {
        REQUIRE_FALSE(submit(id, net::clock::now() + budget, kind));
      }
    });
  }

  // Test thread: every request 0..n-1 got its own body back.
  void check_echoed(std::size_t n) {
    for (std::size_t id = 0; id < n; ++id) CHECK(records_[id].body == "id:" + std::to_string(id));
  }

  // Test thread: waits until `n` requests completed (bounded, so a bug fails instead of hangs).
  bool wait_completed(std::size_t n, std::chrono::seconds limit = 60s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return completed_ >= n; });
  }

  template <class Pred>
  bool wait_for(Pred pred, std::chrono::seconds limit = 30s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      bool ok = false;
      run([&] { ok = pred(); });
      if (ok) return true;
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, 5ms);  // woken early by completions
    }
    return false;
  }

  struct record {
    harness* owner = nullptr;
    std::size_t id = 0;
    std::atomic<int> completions{0};
    std::error_code error;
    std::string body;
    net::clock::time_point submitted_at{};
    net::clock::time_point deadline{};
    net::clock::time_point completed_at{};
  };
  std::deque<record>& records() { return records_; }

  void check_each_completed_once(std::size_t n) {
    for (std::size_t id = 0; id < n; ++id) {
      if (records_[id].completions.load() != 1) {
        FAIL("request " << id << " completed " << records_[id].completions.load() << " times");
      }
    }
  }

  void prepare() {
    for (std::size_t id = 0; id < records_.size(); ++id) {
      records_[id].owner = this;
      records_[id].id = id;
    }
  }

 private:
  bool conn_closed() { return conn_->current_state() == net::connection::state::closed; }

  static void on_complete(void* context, std::error_code ec, const wire::command_view* response) {
    auto* r = static_cast<record*>(context);
    r->error = ec;
    r->completed_at = net::clock::now();
    if (response != nullptr) r->body = std::string(response->body);
    r->completions.fetch_add(1);
    harness& h = *r->owner;
    std::lock_guard lock(h.mutex_);
    ++h.completed_;
    h.cv_.notify_all();
  }

  io::loop loop_;
  std::unique_ptr<net::connection> conn_;
  std::deque<record> records_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t completed_ = 0;
};

}  // namespace

TEST_CASE("many pipelined requests are all answered, coalesced into few sends") {
  remoting_peer peer(remoting_peer::policy::echo);
  const std::size_t n = rmq::test::scaled(100000, 2000);
  harness h(n);
  h.prepare();
  h.connect(peer.address());
  h.submit_all(n);
  REQUIRE(h.wait_completed(n));
  h.check_each_completed_once(n);
  for (std::size_t id = 0; id < n; ++id) {
    REQUIRE_FALSE(h.records()[id].error);
    REQUIRE(h.records()[id].body == "id:" + std::to_string(id));
  }
  net::connection_counters counters;
  h.run([&] { counters = h.conn().counters(); });
  CHECK(counters.responses == n);
  CHECK(counters.frames_sent == n);
  CHECK(counters.socket_sends < n / 10);  // written in large gathered sends
  CHECK(peer.accepted() == 1);            // one connection carried everything
}

TEST_CASE("responses out of order and split into single bytes are matched by opaque") {
  for (auto policy : {remoting_peer::policy::reverse, remoting_peer::policy::byte_by_byte}) {
    remoting_peer peer(policy);
    const std::size_t n = 300;
    harness h(n);
    h.prepare();
    h.connect(peer.address());
    h.submit_all(n);
    REQUIRE(h.wait_completed(n));
    h.check_each_completed_once(n);
    h.check_echoed(n);
  }
}

TEST_CASE("a buffer ring of two small buffers receives 1000 pipelined responses") {
  remoting_peer peer(remoting_peer::policy::echo);
  const std::size_t n = 1000;
  harness h(n);
  h.prepare();
  net::connection_options options;
  h.run([&] { options.receive_pool = &h.loop().make_buffer_pool(2, 256); });
  h.connect(peer.address(), options);
  h.submit_all(n);
  REQUIRE(h.wait_completed(n));
  h.check_each_completed_once(n);
  h.check_echoed(n);
}

TEST_CASE("a silent peer: requests time out at their deadline, never before") {
  remoting_peer peer(remoting_peer::policy::silent);
  const std::size_t n = 200;
  harness h(n);
  h.prepare();
  h.connect(peer.address());
  h.run([&] {
    const auto now = net::clock::now();
    for (std::size_t id = 0; id < n; ++id) {
      REQUIRE_FALSE(h.submit(id, now + 100ms + std::chrono::milliseconds(id % 50)));
    }
  });
  REQUIRE(h.wait_completed(n));
  h.check_each_completed_once(n);
  for (std::size_t id = 0; id < n; ++id) {
    const auto& r = h.records()[id];
    CHECK(r.error == errc::timed_out);
    CHECK(r.completed_at >= r.deadline);
    CHECK(r.completed_at <= r.deadline + 2s);
  }
  // A timeout never closes the connection.
  net::connection::state state{};
  h.run([&] { state = h.conn().current_state(); });
  CHECK(state == net::connection::state::connected);
}

TEST_CASE("a reset mid-stream fails every pending request exactly once") {
  remoting_peer peer(remoting_peer::policy::reset_after, 50);
  const std::size_t n = 500;
  harness h(n);
  h.prepare();
  h.connect(peer.address());
  h.submit_all(n);
  REQUIRE(h.wait_completed(n));
  h.check_each_completed_once(n);
  std::size_t ok = 0;
  for (std::size_t id = 0; id < n; ++id) {
    const auto& r = h.records()[id];
    if (!r.error) {
      ++ok;
      CHECK(r.body == "id:" + std::to_string(id));
    } else {
      CHECK(r.error == errc::connection_lost);
    }
  }
  CHECK(ok <= 50);
  CHECK(ok < n);
}

TEST_CASE("the next request after a failure reconnects") {
  // The peer answers one request per connection, then resets at the next.
  remoting_peer peer(remoting_peer::policy::reset_after, 1);
  harness h(3);
  h.prepare();
  h.connect(peer.address());
  h.run([&] { REQUIRE_FALSE(h.submit(0, net::clock::now() + 10s)); });
  REQUIRE(h.wait_completed(1));
  h.run([&] { REQUIRE_FALSE(h.submit(1, net::clock::now() + 10s)); });
  REQUIRE(h.wait_completed(2));
  CHECK(h.records()[1].error == errc::connection_lost);
  REQUIRE(
      h.wait_for([&] { return h.conn().current_state() == net::connection::state::disconnected; }));
  h.run([&] { REQUIRE_FALSE(h.submit(2, net::clock::now() + 10s)); });
  REQUIRE(h.wait_completed(3));
  h.check_each_completed_once(3);
  CHECK_FALSE(h.records()[0].error);
  CHECK_FALSE(h.records()[2].error);
  CHECK(peer.accepted() == 2);
}

TEST_CASE("refused connections fail requests, then fail fast during backoff") {
  std::string address;
  {
    remoting_peer closed(remoting_peer::policy::echo);
    address = closed.address();
  }  // nothing listens there any more
  harness h(3);
  h.prepare();
  net::connection_options options;
  options.failures_before_backoff = 1;
  options.backoff_initial = 10s;
  h.connect(address, options);
  h.run([&] { REQUIRE_FALSE(h.submit(0, net::clock::now() + 10s)); });
  REQUIRE(h.wait_completed(1));
  CHECK(h.records()[0].error == errc::connect_failed);
  std::error_code fast;
  h.run([&] { fast = h.submit(1, net::clock::now() + 10s); });
  CHECK(fast == errc::connect_failed);
}

TEST_CASE("closing with requests in flight completes each once with shutting_down") {
  remoting_peer peer(remoting_peer::policy::silent);
  const std::size_t n = 1000;
  harness h(n);
  h.prepare();
  h.connect(peer.address());
  std::atomic<bool> closed{false};
  h.submit_all(n);
  REQUIRE(h.wait_for([&] { return h.conn().counters().frames_sent == n; }));
  h.run([&] {
    h.conn().close([](void* c) noexcept { static_cast<std::atomic<bool>*>(c)->store(true); },
                   &closed);
  });
  REQUIRE(h.wait_completed(n));
  h.check_each_completed_once(n);
  for (std::size_t id = 0; id < n; ++id) CHECK(h.records()[id].error == errc::shutting_down);
  REQUIRE(h.wait_for([&] { return closed.load(); }));
  std::error_code after;
  h.run([&] { after = h.submit(0, net::clock::now() + 1s); });
  CHECK(after == errc::shutting_down);
}

TEST_CASE("requests posted to the loop from 8 threads all complete once") {
  remoting_peer peer(remoting_peer::policy::echo);
  const std::size_t per_thread = rmq::test::scaled(5000, 200);
  const std::size_t n = 8 * per_thread;
  harness h(n);
  h.prepare();
  h.connect(peer.address());
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = 0; i < per_thread; ++i) {
        const std::size_t id = t * per_thread + i;
        h.loop().post([&h, id] { (void)h.submit(id, net::clock::now() + 60s); });
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(h.wait_completed(n));
  h.check_each_completed_once(n);
  h.check_echoed(n);
}

TEST_CASE("oneway requests complete once written and get no response") {
  remoting_peer peer(remoting_peer::policy::echo);
  const std::size_t n = 100;
  harness h(n);
  h.prepare();
  h.connect(peer.address());
  h.submit_all(n, 10s, net::request_kind::oneway);
  REQUIRE(h.wait_completed(n));
  h.check_each_completed_once(n);
  for (std::size_t id = 0; id < n; ++id) CHECK_FALSE(h.records()[id].error);
  REQUIRE(h.wait_for([&] { return peer.requests() == n; }));
}
