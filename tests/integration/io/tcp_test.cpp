// TCP on the io loop over loopback: connect (ok, refused, timeout), pipelined send/receive,
// a starved buffer ring, peer reset, close and stop with operations pending, name resolution.
#include "io/tcp.hpp"

#include "io/async.hpp"
#include "io/resolve.hpp"
#include "rmq/error.hpp"
#include "support/allocation_counter.hpp"
#include "support/test_scale.hpp"
#include "unit/io/io_test_support.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace rmq::io;
using namespace rmq::io::test;

/// Blocking listening socket on 127.0.0.1, port chosen by the kernel.
struct listener {
  explicit listener(int backlog = 64) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, backlog) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~listener() { ::close(fd); }
  [[nodiscard]] int accept() const { return ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC); }
  [[nodiscard]] endpoint ep() const { return {asio::ip::make_address_v4("127.0.0.1"), port}; }
  int fd = -1;
  std::uint16_t port = 0;
};

/// A blocking client connection to `port` (used to fill a listen backlog).
int blocking_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

auto ec_future() {
  return asio::use_future([](std::error_code ec) { return ec; });
}

std::error_code get(std::future<std::error_code>& f) {
  REQUIRE(f.wait_for(hang_limit) == std::future_status::ready);
  return f.get();
}

/// Connects `s` to `ln` and returns the accepted peer's fd.
int connect_accepted(tcp_socket& s, listener& ln) {
  auto connected = async_connect(s, ln.ep(), clock::now() + 10s, ec_future());
  const int peer = ln.accept();
  REQUIRE(!get(connected));
  return peer;
}

void write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    REQUIRE(w > 0);
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

// ---- connect ------------------------------------------------------------------------------

TEST_CASE("connect to a listening socket, TCP_NODELAY, close") {
  running_loop rl;
  listener ln;
  tcp_socket s(rl.l);
  auto connected = async_connect(s, ln.ep(), clock::now() + 10s, ec_future());
  const int peer = ln.accept();
  REQUIRE(peer >= 0);
  CHECK(!get(connected));
  const int nodelay = rl.call([&] {
    int v = 0;
    socklen_t len = sizeof v;
    ::getsockopt(s.native_handle(), IPPROTO_TCP, TCP_NODELAY, &v, &len);
    return v;
  });
  CHECK(nodelay != 0);
  auto closed = async_close(s, ec_future());
  CHECK(!get(closed));
  CHECK_FALSE(rl.call([&] { return s.is_open(); }));
  ::close(peer);
}

TEST_CASE("connect refused on a closed port") {
  running_loop rl;
  std::uint16_t port = 0;
  {
    listener ln;  // bound, then closed: nothing listens there any more
    port = ln.port;
  }
  tcp_socket s(rl.l);
  auto f = async_connect(s, endpoint(asio::ip::make_address_v4("127.0.0.1"), port),
                         clock::now() + 10s, ec_future());
  CHECK(get(f) == asio::error::connection_refused);
  auto closed = async_close(s, ec_future());
  CHECK(!get(closed));
}

TEST_CASE("connect times out against a full backlog") {
  running_loop rl;
  listener ln(0);
  // Backlog 0 holds one completed connection; further SYNs are dropped while it is queued.
  const int filler = blocking_connect(ln.port);
  tcp_socket s(rl.l);
  const auto started = clock::now();
  auto f = async_connect(s, ln.ep(), started + 200ms, ec_future());
  CHECK(get(f) == rmq::errc::timed_out);
  CHECK(clock::now() - started >= 200ms);
  auto closed = async_close(s, ec_future());
  CHECK(!get(closed));
  ::close(filler);
}

TEST_CASE("connect: coroutine form and cancellation by close") {
  running_loop rl;
  listener ln(0);
  const int filler = blocking_connect(ln.port);
  tcp_socket s(rl.l);
  std::promise<std::error_code> connect_result;
  rl.call([&] {
    async_connect(s, ln.ep(), clock::now() + 1h,
                  [&](std::error_code ec) { connect_result.set_value(ec); });
  });
  auto closed = async_close(s, ec_future());
  auto cf = connect_result.get_future();
  REQUIRE(cf.wait_for(hang_limit) == std::future_status::ready);
  CHECK(cf.get() == asio::error::operation_aborted);
  CHECK(!get(closed));
  ::close(filler);

  // The coroutine form against a live listener, reusing the closed socket object.
  listener ok;
  auto fut = asio::co_spawn(
      rl.l.get_executor(),
      [&]() -> asio::awaitable<void> {
        co_await async_connect(s, ok.ep(), clock::now() + 10s, asio::use_awaitable);
        co_await async_close(s, asio::use_awaitable);
      },
      asio::use_future);
  const int peer = ok.accept();
  REQUIRE(fut.wait_for(hang_limit) == std::future_status::ready);
  fut.get();
  ::close(peer);
}

// ---- pipelined echo ---------------------------------------------------------------------

constexpr std::size_t message_size = 16;

void format_message(std::size_t i, char* out) {
  // Room for any size_t; the ids used stay below 10^10, so the text is exactly 16 bytes.
  char text[32];
  std::snprintf(text, sizeof text, "msg:%010zu\n", i % 10'000'000'000u);
  std::memcpy(out, text, message_size);
}

/// Sends `total` messages in gathered batches (one send in flight) and checks the echoed
/// stream byte by byte. Lives on the loop thread.
struct echo_client final : receiver {
  static constexpr std::size_t batch = 64;

  echo_client(tcp_socket& s, std::size_t n) : sock(s), total(n) {}

  // Operation nodes that know their owner (a connection embeds them the same way).
  struct sender_op final : write_op {
    explicit sender_op(echo_client& c) : write_op(&on_sent), owner(c) {}
    echo_client& owner;
  };
  struct closer_op final : close_op {
    explicit closer_op(echo_client& c) : close_op(&on_closed), owner(c) {}
    echo_client& owner;
  };

  void send_next() {
    const std::size_t count = std::min(batch, total - sent);
    for (std::size_t k = 0; k < count; ++k) {
      format_message(sent + k, storage + k * message_size);
      iov[k] = {storage + k * message_size, message_size};
    }
    in_flight = count;
    sock.send(sender, iov, count);
  }
  static void on_sent(write_op* op, std::error_code ec, std::size_t n) noexcept {
    echo_client* self = &static_cast<sender_op*>(op)->owner;
    if (ec || n != self->in_flight * message_size) ++self->send_errors;
    self->sent += self->in_flight;
    ++self->sends;
    // Steady state from here on: no allocation per send or receive.
    if (!self->counting && self->sent >= self->total / 10 && self->sent < self->total) {
      self->counting = true;  // on the loop thread: the peer's allocations are not counted
      rmq::test::start_counting_allocations(rmq::test::count_threads::this_one);
    }
    if (self->sent < self->total) self->send_next();
  }
  void on_receive(received_buffer buf) noexcept override {
    for (char c : buf.data()) {
      const std::size_t msg = received / message_size;
      if (received % message_size == 0) format_message(msg, expected);
      if (c != expected[received % message_size]) ++mismatches;
      ++received;
    }
    ++chunks;
    buf.release();
    if (received == total * message_size) {
      if (counting) steady_allocations = rmq::test::stop_counting_allocations();
      sock.close(closer);
    }
  }
  void on_receive_end(std::error_code ec) noexcept override {
    end_ec = ec;
    ++ends;
  }
  static void on_closed(close_op* op, std::error_code ec) noexcept {
    echo_client* self = &static_cast<closer_op*>(op)->owner;
    CHECK(!ec);
    self->done.set();
  }

  tcp_socket& sock;
  std::size_t total;
  sender_op sender{*this};
  closer_op closer{*this};
  char storage[batch * message_size];
  // A member, not a local of on_receive: a message split across two chunks is checked against
  // the text formatted when its first byte came.
  char expected[message_size];
  iovec iov[batch];
  std::size_t send_errors = 0, in_flight = 0, sent = 0, sends = 0;
  std::size_t received = 0, chunks = 0, mismatches = 0, ends = 0;
  bool counting = false;
  std::uint64_t steady_allocations = 0;
  std::error_code end_ec;
  event done;
};

TEST_CASE("multishot receive of pipelined small messages from an echo peer") {
  running_loop rl;
  listener ln;
  const std::size_t total = rmq::test::scaled(100'000, 2'000);
  std::thread peer([&] {
    const int fd = ln.accept();
    REQUIRE(fd >= 0);
    char buf[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      write_all(fd, buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
  });
  tcp_socket s(rl.l);
  auto connected = async_connect(s, ln.ep(), clock::now() + 10s, ec_future());
  REQUIRE(!get(connected));
  echo_client client(s, total);
  const auto before = rl.l.counters();
  rl.call([&] {
    s.start_receive(client);
    client.send_next();
  });
  REQUIRE(client.done.wait());
  peer.join();
  const auto after = rl.l.counters();
  CHECK(client.mismatches == 0);
  CHECK(client.send_errors == 0);
  CHECK(client.received == total * message_size);
  CHECK(client.ends == 1);
  CHECK(client.end_ec == asio::error::operation_aborted);
  CHECK(client.counting);
  CHECK(client.steady_allocations == 0);
  MESSAGE("messages=" << total << " steady-state allocations=" << client.steady_allocations
                      << " sends=" << client.sends << " recv chunks=" << client.chunks << " turns="
                      << after.turns - before.turns << " enters=" << after.enters - before.enters
                      << " cqes=" << after.cqes - before.cqes);
}

// ---- starved buffer ring ----------------------------------------------------------------

std::uint8_t pattern(std::size_t i) {
  return static_cast<std::uint8_t>(i * 131 + i / 7);
}

/// Holds every buffer until the next turn, so a two-buffer ring keeps running dry.
struct slow_reader final : receiver, task {
  explicit slow_reader(loop& lp) : task(&on_task), l(lp) {}
  void on_receive(received_buffer buf) noexcept override {
    for (char c : buf.data()) {
      if (static_cast<std::uint8_t>(c) != pattern(received)) ++mismatches;
      ++received;
    }
    held.push_back(std::move(buf));
    if (!queued) {
      queued = true;
      l.defer(*this);
    }
  }
  static void on_task(task* t, action) noexcept {
    auto* self = static_cast<slow_reader*>(t);
    self->queued = false;
    self->held.clear();  // releases: the pool wakes the waiting receive
  }
  void on_receive_end(std::error_code ec) noexcept override {
    end_ec = ec;
    ++ends;
    held.clear();
    done.set();
  }
  loop& l;
  std::deque<received_buffer> held;
  bool queued = false;
  std::size_t received = 0, mismatches = 0, ends = 0;
  std::error_code end_ec;
  event done;
};

TEST_CASE("a buffer ring of 2 small buffers: ENOBUFS, re-arm, no byte lost") {
  running_loop rl;
  listener ln;
  const std::size_t total = rmq::test::scaled(1 << 20, 64 * 1024);
  std::thread peer([&] {
    const int fd = ln.accept();
    REQUIRE(fd >= 0);
    std::vector<char> data(total);
    for (std::size_t i = 0; i < total; ++i) data[i] = static_cast<char>(pattern(i));
    write_all(fd, data.data(), total);
    ::close(fd);
  });
  tcp_socket s(rl.l);
  auto connected = async_connect(s, ln.ep(), clock::now() + 10s, ec_future());
  REQUIRE(!get(connected));
  slow_reader reader(rl.l);
  rl.call([&] { s.start_receive(reader, &rl.l.make_buffer_pool(2, 256)); });
  REQUIRE(reader.done.wait());
  peer.join();
  CHECK(reader.end_ec == asio::error::eof);
  CHECK(reader.ends == 1);
  CHECK(reader.received == total);
  CHECK(reader.mismatches == 0);
  const auto rearms = rl.call([&] { return s.receive_rearms(); });
  MESSAGE("bytes=" << total << " ENOBUFS re-arms=" << rearms);
  CHECK(rearms > 0);
  auto closed = async_close(s, ec_future());
  CHECK(!get(closed));
}

// ---- failures ---------------------------------------------------------------------------

struct recorder final : receiver {
  void on_receive(received_buffer buf) noexcept override { bytes += buf.size(); }
  void on_receive_end(std::error_code ec) noexcept override {
    end_ec = ec;
    if (++ends == 1) done.set();
  }
  std::size_t bytes = 0;
  int ends = 0;
  std::error_code end_ec;
  event done;
};

TEST_CASE("peer reset mid-stream") {
  running_loop rl;
  listener ln;
  tcp_socket s(rl.l);
  const int peer = connect_accepted(s, ln);
  recorder rec;
  rl.call([&] { s.start_receive(rec); });
  std::string data(1000, 'x');
  write_all(peer, data.data(), data.size());
  const linger hard{1, 0};  // close → RST
  ::setsockopt(peer, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  ::close(peer);
  REQUIRE(rec.done.wait());
  CHECK(rec.end_ec == asio::error::connection_reset);
  // Sending on the reset stream fails.
  std::string payload(100, 'y');
  iovec iov{payload.data(), payload.size()};
  auto sent = async_send(s, std::span<const iovec>(&iov, 1),
                         asio::use_future([](std::error_code ec, std::size_t) { return ec; }));
  REQUIRE(sent.wait_for(hang_limit) == std::future_status::ready);
  const auto send_ec = sent.get();
  CHECK((send_ec == asio::error::broken_pipe || send_ec == asio::error::connection_reset));
  auto closed = async_close(s, ec_future());
  CHECK(!get(closed));
  CHECK(rec.ends == 1);
}

/// A send that cannot finish: the peer never reads.
struct big_send {
  explicit big_send(std::size_t n) : bytes(n, 'z'), iov{bytes.data(), bytes.size()} {}
  std::string bytes;
  iovec iov;
};

TEST_CASE("close with operations pending: each completes once, close last") {
  running_loop rl;
  listener ln;
  tcp_socket s(rl.l);
  const int peer = connect_accepted(s, ln);
  recorder rec;
  big_send big(64 << 20);
  std::vector<int> order;
  std::promise<void> all;
  std::error_code send_ec, close_ec;
  std::size_t send_n = 0;
  rl.call([&] {
    s.start_receive(rec);
    async_send(s, std::span<const iovec>(&big.iov, 1), [&](std::error_code ec, std::size_t n) {
      send_ec = ec;
      send_n = n;
      order.push_back(1);
    });
  });
  rl.call([&] {
    CHECK(s.pending() == 2);
    async_close(s, [&](std::error_code ec) {
      close_ec = ec;
      order.push_back(2);
      all.set_value();
    });
  });
  auto f = all.get_future();
  REQUIRE(f.wait_for(hang_limit) == std::future_status::ready);
  rl.call([] {});
  CHECK(rec.ends == 1);
  CHECK(rec.end_ec == asio::error::operation_aborted);
  REQUIRE(order == std::vector<int>{1, 2});
  // A cancelled send reports operation_aborted, or the short count it got out before.
  CHECK((send_ec == asio::error::operation_aborted || send_n < big.bytes.size()));
  CHECK(!close_ec);
  CHECK(rl.call([&] { return s.pending(); }) == 0);
  ::close(peer);
}

TEST_CASE("send cancelled through its cancellation slot") {
  running_loop rl;
  listener ln;
  tcp_socket s(rl.l);
  const int peer = connect_accepted(s, ln);
  if (!rl.l.uses_epoll()) {
    CHECK(rl.call([&] { return rl.l.defer_taskrun(); }));  // this kernel grants DEFER_TASKRUN
  }
  big_send big(64 << 20);
  asio::cancellation_signal signal;
  std::promise<std::pair<std::error_code, std::size_t>> result;
  rl.call([&] {
    async_send(s, std::span<const iovec>(&big.iov, 1),
               asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, std::size_t n) {
                 result.set_value({ec, n});
               }));
  });
  rl.call([&] { signal.emit(asio::cancellation_type::terminal); });
  auto f = result.get_future();
  REQUIRE(f.wait_for(hang_limit) == std::future_status::ready);
  const auto [ec, n] = f.get();
  CHECK((ec == asio::error::operation_aborted || n < big.bytes.size()));
  auto closed = async_close(s, ec_future());
  CHECK(!get(closed));
  ::close(peer);
}

TEST_CASE("epoll: a second send while one is pending fails at once; close ends the first") {
  loop_options options;
  options.backend = rmq::io_backend::epoll;
  running_loop rl(options);
  REQUIRE(rl.l.uses_epoll());
  listener ln;
  tcp_socket s(rl.l);
  const int peer = connect_accepted(s, ln);
  big_send big(64 << 20);  // more than the socket buffers hold: the first send waits for room
  std::promise<std::pair<std::error_code, std::size_t>> first;
  std::promise<std::error_code> second;
  rl.call([&] {
    async_send(s, std::span<const iovec>(&big.iov, 1), [&](std::error_code ec, std::size_t n) {
      first.set_value({ec, n});
    });
    async_send(s, std::span<const iovec>(&big.iov, 1),
               [&](std::error_code ec, std::size_t) { second.set_value(ec); });
  });
  auto second_done = second.get_future();
  REQUIRE(second_done.wait_for(hang_limit) == std::future_status::ready);
  CHECK(second_done.get() == asio::error::already_started);
  auto closed = async_close(s, ec_future());
  CHECK(!get(closed));
  auto first_done = first.get_future();
  REQUIRE(first_done.wait_for(hang_limit) == std::future_status::ready);
  const auto [ec, n] = first_done.get();
  CHECK((ec == asio::error::operation_aborted || n < big.bytes.size()));
  ::close(peer);
}

/// Keeps every buffer until its receive ends.
struct hoarder final : receiver {
  void on_receive(received_buffer buf) noexcept override { held.push_back(std::move(buf)); }
  void on_receive_end(std::error_code ec) noexcept override {
    held.clear();
    end_ec = ec;
    ++ends;
  }
  std::vector<received_buffer> held;
  std::error_code end_ec;
  int ends = 0;
};

TEST_CASE("a receive parked on an empty buffer ring ends on close and on stop") {
  for (const bool by_stop : {false, true}) {
    CAPTURE(by_stop);
    auto rl = std::make_unique<running_loop>();
    listener ln;
    tcp_socket s(rl->l);
    const int peer = connect_accepted(s, ln);
    hoarder h;
    rl->call([&] { s.start_receive(h, &rl->l.make_buffer_pool(2, 64)); });
    std::string data(4096, 'p');
    write_all(peer, data.data(), data.size());
    // Round trips through the loop until the receive has parked (no sleeping).
    bool parked = false;
    for (int i = 0; i < 100000 && !parked; ++i) {
      parked = rl->call([&] { return s.receive_parked(); });
    }
    REQUIRE(parked);
    if (by_stop) {
      rl->l.stop();
    } else {
      auto closed = async_close(s, ec_future());
      CHECK(!get(closed));
    }
    rl.reset();
    CHECK(h.ends == 1);
    CHECK(h.end_ec == asio::error::operation_aborted);
    CHECK(s.pending() == 0);
    ::close(peer);
  }
}

TEST_CASE("loop stop with operations in flight: every one completes once") {
  listener ln;
  listener full(0);
  const int filler = blocking_connect(full.port);
  ledger book(5);
  std::vector<std::error_code> results(5);
  big_send big(64 << 20);
  recorder rec;
  auto rl = std::make_unique<running_loop>();
  tcp_socket a(rl->l);
  tcp_socket b(rl->l);
  auto connected = async_connect(a, ln.ep(), clock::now() + 10s, ec_future());
  const int peer = ln.accept();
  REQUIRE(!get(connected));
  rl->call([&] {
    a.start_receive(rec);
    async_send(a, std::span<const iovec>(&big.iov, 1), [&](std::error_code ec, std::size_t n) {
      results[0] = n < big.bytes.size() && !ec ? asio::error::operation_aborted : ec;
      book.hit(0);
    });
    async_connect(b, full.ep(), clock::now() + 1h, [&](std::error_code ec) {
      results[1] = ec;
      book.hit(1);
    });
    async_sleep_for(rl->l, 1h, [&](std::error_code ec) {  // allowed: the timer under test
      results[2] = ec;
      book.hit(2);
    });
    async_resolve(rl->l, "localhost:1", clock::now() + 1h, [&](std::error_code ec, endpoint) {
      results[3] = ec;
      book.hit(3);
    });
  });
  rl->l.stop();
  book.hit(4);  // the receive, checked below
  CHECK(book.exactly_once());
  CHECK(rec.ends == 1);
  CHECK(rec.end_ec == asio::error::operation_aborted);
  CHECK(results[0] == asio::error::operation_aborted);
  CHECK(results[1] == asio::error::operation_aborted);
  CHECK(results[2] == asio::error::operation_aborted);
  // The resolver may have answered before the stop.
  CHECK((results[3] == asio::error::operation_aborted || !results[3]));
  CHECK(a.pending() == 0);
  CHECK(b.pending() == 0);
  rl.reset();
  ::close(peer);
  ::close(filler);
}

// ---- name resolution --------------------------------------------------------------------

TEST_CASE("resolve host:port off the loop") {
  running_loop rl;
  auto resolve = [&](std::string_view text, clock::time_point deadline) {
    auto f =
        async_resolve(rl.l, text, deadline, asio::use_future([](std::error_code ec, endpoint ep) {
                        return std::pair{ec, ep};
                      }));
    REQUIRE(f.wait_for(hang_limit) == std::future_status::ready);
    return f.get();
  };
  const auto far = clock::now() + 30s;
  auto [ec1, ep1] = resolve("127.0.0.1:9876", far);
  CHECK(!ec1);
  CHECK(ep1 == endpoint(asio::ip::make_address("127.0.0.1"), 9876));
  auto [ec2, ep2] = resolve("[::1]:10911", far);
  CHECK(!ec2);
  CHECK(ep2.port() == 10911);
  CHECK(ep2.address().is_v6());
  auto [ec3, ep3] = resolve("localhost:9876", far);
  CHECK(!ec3);
  CHECK(ep3.address().is_loopback());
  CHECK(ep3.port() == 9876);
  CHECK(resolve("no-port", far).first == rmq::errc::name_resolution_failed);
  CHECK(resolve("host:99999", far).first == rmq::errc::name_resolution_failed);
  CHECK(resolve("localhost:1", clock::now() - 1s).first == rmq::errc::timed_out);
  CHECK(resolve("no-such-host.invalid:1", far).first == rmq::errc::name_resolution_failed);
}

}  // namespace
