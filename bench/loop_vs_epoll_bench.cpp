// Our io_uring loop against Asio's epoll io_context, fair by construction: every variant drives
// the same sans-I/O net::connection_core (same coalescing writer, same parse-everything reader,
// 64 KiB of receive buffer) against the same peer, rmq-sim in a child process pinned to another
// core. Only the backend differs:
//   uring:      io::tcp_socket on io::loop — one send (sendmsg for several iovecs) of the
//               core's iovecs, multishot recv into the loop's provided-buffer pool (64 × 64 KiB);
//   epoll:      asio::ip::tcp::socket on asio::io_context(1) — async_write of the same iovecs
//               as const_buffers, async_read_some into one 64 KiB buffer;
//   connection: the production driver net::connection on io::loop (deferred flush, deadline
//               timer, idle tracking) — what the producer runs, for reference.
// The request is SEND_MESSAGE_V2 with a binary header, encoded once by the wire codec; only its
// opaque is patched per send, so encoding cost does not dilute the comparison.
// The CPU column is the benchmark thread's CPU time: the client's own cost per message (kernel
// included, the peer's process excluded). Pipelined, the peer is the bottleneck, so msgs/s says
// little about the client; compare CPU per message there.
// Workloads: rtt = one request in flight (one iteration = one round trip); pipelined = a window
// of 1024 requests kept full (one iteration = one response, items/s = messages/s).
// Each loop runs on the benchmark thread, so no thread hop is measured.
#include "bench_support.hpp"
#include "io/loop.hpp"
#include "io/tcp.hpp"
#include "net/connection.hpp"
#include "net/connection_core.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"
#include "wire/headers.hpp"

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace rmq;
using benchmarks::sim_child;

constexpr std::size_t receive_buffer_size = 64 * 1024;
constexpr std::size_t pipelined_window = 1024;

std::unique_ptr<sim_child> g_peer;
asio::ip::tcp::endpoint g_endpoint;

// ---- the request: SEND_MESSAGE_V2 built once by the wire codec, opaque patched per send ----

struct request_template {
  std::string frame;
  std::size_t opaque_offset = 0;
  std::size_t body_size = 0;
};

std::string encode_request(std::int32_t opaque, std::size_t body_size) {
  std::string out;
  wire::command_fields fields;
  fields.code = wire::request_code::send_message_v2;
  fields.version = 401;
  fields.opaque = opaque;
  wire::frame_writer w(out, wire::serialize_type::rocketmq, fields);
  wire::send_message_request_header h;
  h.producer_group = "BenchmarkProducerGroup";
  h.topic = "BenchmarkTopic";
  h.queue_id = 1;
  h.born_timestamp = 1'764'000'000'000;
  h.properties = std::string_view(
      "TAGS\x01TagA\x02KEYS\x01order-000042\x02WAIT\x01true\x02"
      "UNIQ_KEY\x01"
      "7F00000100012A9F1B2C3D4E00000000001A\x02",
      80);
  h.reconsume_times = 0;
  h.unit_mode = false;
  h.batch = false;
  h.broker_name = "broker-a";
  h.write(w, rmq::wire::send_header_names::letters);
  w.finish(std::string(body_size, 'x'));
  return out;
}

/// Binary headers carry the opaque as a fixed big-endian int32: find it by encoding twice.
request_template make_template(std::size_t target_size) {
  // The body absorbs the difference, so the frame is exactly `target_size` bytes.
  std::size_t body = 128;
  const std::size_t probe = encode_request(0, body).size();
  body = probe > target_size ? body - std::min(body, probe - target_size)
                             : body + (target_size - probe);
  request_template t{encode_request(0x5A5A5A5A, body), 0, body};
  const std::string other = encode_request(0x12345678, body);
  for (std::size_t i = 0; i < t.frame.size(); ++i) {
    if (t.frame[i] != other[i]) {
      t.opaque_offset = i;
      break;
    }
  }
  return t;
}

const request_template& request_330() {
  static const request_template t = make_template(330);
  return t;
}

void append_request(std::string& out, std::int32_t opaque) {
  const request_template& t = request_330();
  const std::size_t start = out.size();
  out.append(t.frame);
  const auto u = static_cast<std::uint32_t>(opaque);
  const unsigned char be[4] = {static_cast<unsigned char>(u >> 24),
                               static_cast<unsigned char>(u >> 16),
                               static_cast<unsigned char>(u >> 8), static_cast<unsigned char>(u)};
  std::memcpy(out.data() + start + t.opaque_offset, be, 4);
}

// ---- the workload, shared by every backend ------------------------------------------------

/// Keeps `window` requests in flight; each response is one benchmark iteration.
class workload {
 public:
  workload(benchmark::State& state, std::size_t window, void (*finished)(void*), void* ctx)
      : state_(state), window_(window), finished_(finished), finished_ctx_(ctx) {}

  /// Starts the clock and fills the window through `submit(encode, deadline, waiter)`.
  template <class Submit>
  void start(Submit&& submit) {
    if (!state_.KeepRunning()) {
      finished_(finished_ctx_);
      return;
    }
    for (std::size_t i = 0; i < window_; ++i) submit_one(submit);
  }

  template <class Submit>
  void submit_one(Submit& submit) {
    ++in_flight_;
    submit([](std::string& out, std::int32_t opaque) { append_request(out, opaque); }, deadline_,
           net::response_waiter{&workload::on_response_thunk, this});
  }

  void bind_submit(void (*resubmit)(void*), void* ctx) {
    resubmit_ = resubmit;
    resubmit_ctx_ = ctx;
  }

  [[nodiscard]] std::uint64_t responses() const noexcept { return responses_; }
  [[nodiscard]] std::size_t response_size() const noexcept { return response_size_; }
  [[nodiscard]] bool failed() const noexcept { return failed_; }

 private:
  static void on_response_thunk(void* self, std::error_code ec, const wire::command_view* r) {
    static_cast<workload*>(self)->on_response(ec, r);
  }

  void on_response(std::error_code ec, const wire::command_view* r) {
    --in_flight_;
    ++responses_;
    if (ec || r == nullptr || r->fields.code != wire::response_code::success) {
      if (!failed_) state_.SkipWithError(ec ? ec.message().c_str() : "broker error response");
      failed_ = true;
      stopping_ = true;
    } else if (response_size_ == 0) {
      // Once: the codec re-encodes a decoded frame byte for byte.
      response_size_ = wire::remoting_command::from_view(*r).encode(r->type).size();
    }
    if (!stopping_ && state_.KeepRunning()) {
      resubmit_(resubmit_ctx_);
      return;
    }
    stopping_ = true;
    if (in_flight_ == 0) finished_(finished_ctx_);
  }

  benchmark::State& state_;
  std::size_t window_;
  void (*finished_)(void*);
  void* finished_ctx_;
  void (*resubmit_)(void*) = nullptr;
  void* resubmit_ctx_ = nullptr;
  // Far away: the deadline machinery is exercised identically by every backend but never fires.
  net::clock::time_point deadline_ = net::clock::now() + std::chrono::hours(1);
  std::size_t in_flight_ = 0;
  std::uint64_t responses_ = 0;
  std::size_t response_size_ = 0;
  bool stopping_ = false;
  bool failed_ = false;
};

/// Submits into a bare connection_core.
struct core_submit {
  net::connection_core* core;
  template <class Encode>
  void operator()(Encode&& encode, net::clock::time_point deadline, net::response_waiter w) {
    core->submit(std::forward<Encode>(encode), deadline, w);
  }
};

void report(benchmark::State& state, const workload& w, const net::connection_counters& c) {
  const double n = static_cast<double>(w.responses());
  state.SetItemsProcessed(state.iterations());
  state.counters["send_calls/msg"] = static_cast<double>(c.socket_sends) / n;
  state.counters["recv_chunks/msg"] = static_cast<double>(c.socket_receives) / n;
  state.counters["req_bytes"] = static_cast<double>(request_330().frame.size());
  state.counters["resp_bytes"] = static_cast<double>(w.response_size());
}

// ---- variant A: io_uring ------------------------------------------------------------------

class uring_client final : private io::receiver {
 public:
  uring_client(io::loop& l, benchmark::State& state, std::size_t window)
      : loop_(l), socket_(l), work_(state, window, &finished_thunk, this) {
    work_.bind_submit(&resubmit_thunk, this);
  }

  void start() {
    socket_.connect(connect_, g_endpoint, io::clock::now() + std::chrono::seconds(5));
  }

  [[nodiscard]] const workload& work() const noexcept { return work_; }
  [[nodiscard]] const net::connection_core& core() const noexcept { return core_; }

 private:
  struct connect_state final : io::connect_op {
    explicit connect_state(uring_client& c) : connect_op(&done), owner(c) {}
    static void done(io::connect_op* op, std::error_code ec) noexcept {
      auto& self = static_cast<connect_state*>(op)->owner;
      if (ec) {
        std::fprintf(stderr, "connect: %s\n", ec.message().c_str());
        self.loop_.stop();
        return;
      }
      self.socket_.start_receive(self);
      core_submit submit{&self.core_};
      self.work_.start(submit);
      self.flush();
    }
    uring_client& owner;
  };
  struct send_state final : io::write_op {
    explicit send_state(uring_client& c) : write_op(&done), owner(c) {}
    static void done(io::write_op* op, std::error_code ec, std::size_t n) noexcept {
      auto& self = static_cast<send_state*>(op)->owner;
      self.sending_ = false;
      if (ec) {
        self.core_.abort_write();
        self.core_.fail_all(ec);
        return;
      }
      self.core_.commit_write(n);
      self.flush();
    }
    uring_client& owner;
  };
  struct close_state final : io::close_op {
    explicit close_state(uring_client& c) : close_op(&done), owner(c) {}
    static void done(io::close_op* op, std::error_code) noexcept {
      static_cast<close_state*>(op)->owner.loop_.stop();
    }
    uring_client& owner;
  };

  static void resubmit_thunk(void* self) {
    auto* c = static_cast<uring_client*>(self);
    core_submit submit{&c->core_};
    c->work_.submit_one(submit);
  }
  static void finished_thunk(void* self) {
    auto* c = static_cast<uring_client*>(self);
    c->done_ = true;
    c->socket_.close(c->close_);
  }

  void flush() {
    if (sending_ || done_ || !core_.wants_write()) return;
    const auto iov = core_.prepare_write();
    if (iov.empty()) return;
    sending_ = true;
    socket_.send(send_, iov.data(), iov.size());
  }

  void on_receive(io::received_buffer buf) noexcept override {
    const std::error_code ec = core_.on_received(buf.data());
    buf.release();
    if (ec) std::fprintf(stderr, "protocol error: %s\n", ec.message().c_str());
    flush();  // everything the waiters submitted goes out in one send
  }
  void on_receive_end(std::error_code ec) noexcept override {
    if (!done_) {
      std::fprintf(stderr, "receive ended: %s\n", ec.message().c_str());
      core_.fail_all(ec);
    }
  }

  io::loop& loop_;
  io::tcp_socket socket_;
  net::connection_core core_;
  workload work_;
  connect_state connect_{*this};
  send_state send_{*this};
  close_state close_{*this};
  bool sending_ = false;
  bool done_ = false;
};

io::loop_options loop_options_for_bench() {
  io::loop_options o;
  o.buffer_count = 64;
  o.buffer_size = receive_buffer_size;
  return o;
}

void bm_uring(benchmark::State& state, std::size_t window) {
  io::loop l(loop_options_for_bench());
  uring_client client(l, state, window);
  l.post([&] { client.start(); });
  l.run();  // on this thread: until the client closed its socket
  const auto lc = l.counters();
  report(state, client.work(), client.core().counters());
  const double n = static_cast<double>(client.work().responses());
  state.counters["enters/msg"] = static_cast<double>(lc.enters) / n;
}

// ---- variant B: epoll (Asio's default io_context) -------------------------------------------

class epoll_client {
 public:
  epoll_client(asio::io_context& ctx, benchmark::State& state, std::size_t window)
      : socket_(ctx), buffer_(receive_buffer_size), work_(state, window, &finished_thunk, this) {
    work_.bind_submit(&resubmit_thunk, this);
  }

  void start() {
    socket_.async_connect(g_endpoint, [this](std::error_code ec) {
      if (ec) {
        std::fprintf(stderr, "connect: %s\n", ec.message().c_str());
        return;
      }
      socket_.set_option(asio::ip::tcp::no_delay(true));  // as io::tcp_socket does
      read();
      core_submit submit{&core_};
      work_.start(submit);
      flush();
    });
  }

  [[nodiscard]] const workload& work() const noexcept { return work_; }
  [[nodiscard]] const net::connection_core& core() const noexcept { return core_; }

 private:
  static void resubmit_thunk(void* self) {
    auto* c = static_cast<epoll_client*>(self);
    core_submit submit{&c->core_};
    c->work_.submit_one(submit);
  }
  static void finished_thunk(void* self) {
    auto* c = static_cast<epoll_client*>(self);
    c->done_ = true;
    std::error_code ignored;
    c->socket_.close(ignored);  // the pending read completes aborted; run() then returns
  }

  void read() {
    socket_.async_read_some(asio::buffer(buffer_), [this](std::error_code ec, std::size_t n) {
      if (ec) {
        if (!done_) {
          std::fprintf(stderr, "read: %s\n", ec.message().c_str());
          core_.fail_all(ec);
        }
        return;
      }
      const std::error_code pec = core_.on_received({buffer_.data(), n});
      if (pec) std::fprintf(stderr, "protocol error: %s\n", pec.message().c_str());
      flush();  // everything the waiters submitted goes out in one send
      if (!done_) read();
    });
  }

  void flush() {
    if (sending_ || done_ || !core_.wants_write()) return;
    const auto iov = core_.prepare_write();
    if (iov.empty()) return;
    buffers_.clear();
    for (const iovec& v : iov) buffers_.emplace_back(v.iov_base, v.iov_len);
    sending_ = true;
    // async_write: all bytes or an error, like the uring variant's MSG_WAITALL sendmsg.
    asio::async_write(socket_, buffers_, [this](std::error_code ec, std::size_t n) {
      sending_ = false;
      if (ec) {
        core_.abort_write();
        core_.fail_all(ec);
        return;
      }
      core_.commit_write(n);
      flush();
    });
  }

  asio::ip::tcp::socket socket_;
  std::vector<char> buffer_;
  std::vector<asio::const_buffer> buffers_;
  net::connection_core core_;
  workload work_;
  bool sending_ = false;
  bool done_ = false;
};

void bm_epoll(benchmark::State& state, std::size_t window) {
  asio::io_context ctx(1);  // one thread: Asio drops its internal locking
  epoll_client client(ctx, state, window);
  client.start();
  ctx.run();  // on this thread: until the socket is closed and nothing is pending
  report(state, client.work(), client.core().counters());
}

// ---- reference: the production driver, net::connection on io::loop -------------------------

class connection_client {
 public:
  connection_client(io::loop& l, benchmark::State& state, std::size_t window)
      : loop_(l),
        conn_(l, g_endpoint.address().to_string() + ":" + std::to_string(g_endpoint.port()),
              connection_options()),
        work_(state, window, &finished_thunk, this) {
    work_.bind_submit(&resubmit_thunk, this);
  }

  void start() {
    // Connect (untimed) with one warm-up request, then start the clock.
    conn_.request([](std::string& out, std::int32_t opaque) { append_request(out, opaque); },
                  io::clock::now() + std::chrono::seconds(5),
                  net::response_waiter{&warmed_up, this});
  }

  [[nodiscard]] const workload& work() const noexcept { return work_; }
  [[nodiscard]] const net::connection& connection() const noexcept { return conn_; }

 private:
  static net::connection_options connection_options() {
    net::connection_options o;
    o.idle_timeout = std::chrono::hours(1);
    return o;
  }
  struct conn_submit {
    net::connection* conn;
    template <class Encode>
    void operator()(Encode&& encode, net::clock::time_point deadline, net::response_waiter w) {
      (void)conn->request(std::forward<Encode>(encode), deadline, w);
    }
  };
  static void warmed_up(void* self, std::error_code ec, const wire::command_view*) {
    auto* c = static_cast<connection_client*>(self);
    if (ec) {
      std::fprintf(stderr, "warm-up: %s\n", ec.message().c_str());
      c->loop_.stop();
      return;
    }
    conn_submit submit{&c->conn_};
    c->work_.start(submit);
  }
  static void resubmit_thunk(void* self) {
    auto* c = static_cast<connection_client*>(self);
    conn_submit submit{&c->conn_};
    c->work_.submit_one(submit);
  }
  static void finished_thunk(void* self) {
    auto* c = static_cast<connection_client*>(self);
    c->conn_.close(
        +[](void* ctx) noexcept { static_cast<io::loop*>(ctx)->stop(); }, &c->loop_);
  }

  io::loop& loop_;
  net::connection conn_;
  workload work_;
};

void bm_connection(benchmark::State& state, std::size_t window) {
  io::loop l(loop_options_for_bench());
  std::optional<connection_client> client;
  l.post([&] {
    client.emplace(l, state, window);
    client->start();
  });
  l.run();
  if (!client) return;
  const auto lc = l.counters();
  report(state, client->work(), client->connection().counters());
  const double n = static_cast<double>(client->work().responses());
  state.counters["enters/msg"] = static_cast<double>(lc.enters) / n;
}

void register_all() {
  struct variant {
    const char* name;
    void (*fn)(benchmark::State&, std::size_t);
  };
  const variant variants[] = {
      {"uring", &bm_uring}, {"epoll", &bm_epoll}, {"connection", &bm_connection}};
  for (const auto& [label, window] :
       {std::pair<const char*, std::size_t>{"rtt", 1}, {"pipelined", pipelined_window}}) {
    for (const variant& v : variants) {
      const std::string name = std::string(label) + "/" + v.name;
      auto* b = benchmark::RegisterBenchmark(
          name.c_str(), [fn = v.fn, window = window](benchmark::State& s) { fn(s, window); });
      b->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(window == 1 ? 1.0 : 1.5);
      b->Repetitions(benchmarks::repetitions())->ReportAggregatesOnly(true);
      benchmarks::add_spread_statistics(b);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const int bench_cpu = benchmarks::int_from_env("RMQ_BENCH_CPU", 0);
  const int peer_cpu = benchmarks::int_from_env("RMQ_PEER_CPU", 1);
  const std::string sim = benchmarks::find_sim_binary();
  if (sim.empty()) {
    std::fprintf(stderr, "rmq-sim not found: build it or set RMQ_SIM\n");
    return 1;
  }
  g_peer = std::make_unique<sim_child>(sim, peer_cpu);
  const bool pinned = benchmarks::pin_this_thread(bench_cpu);
  const std::string& addr = g_peer->broker();
  const auto colon = addr.rfind(':');
  g_endpoint =
      asio::ip::tcp::endpoint(asio::ip::make_address(addr.substr(0, colon)),
                              static_cast<unsigned short>(std::stoi(addr.substr(colon + 1))));
  std::printf(
      "peer: %s (pid %d, cpu %d); benchmark cpu %d%s; SEND_MESSAGE_V2 request %zu bytes "
      "(binary header, %zu-byte body)\n",
      addr.c_str(), static_cast<int>(g_peer->pid()), peer_cpu, bench_cpu,
      pinned ? "" : " (not pinned)", request_330().frame.size(), request_330().body_size);
  benchmark::AddCustomContext("peer", "rmq-sim --brokers 1 --store off, child process");
  benchmark::AddCustomContext("bench_cpu", std::to_string(bench_cpu));
  benchmark::AddCustomContext("peer_cpu", std::to_string(peer_cpu));

  register_all();
  benchmarks::median_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);

  // Ratios of this run's medians, a over b: > 1 means a is better (less time per message,
  // less client CPU per message).
  const auto& r = reporter.results();
  auto ratio = [&](const std::string& workload, const std::string& a, const std::string& b) {
    auto ia = r.find(workload + "/" + a);
    auto ib = r.find(workload + "/" + b);
    if (ia == r.end() || ib == r.end() || ia->second.real_time == 0 || ia->second.cpu_time == 0) {
      return;
    }
    std::printf("%-10s %-13s vs %-6s  time %.3f  cpu %.3f\n", workload.c_str(), a.c_str(),
                b.c_str(), ib->second.real_time / ia->second.real_time,
                ib->second.cpu_time / ia->second.cpu_time);
  };
  std::printf("\nmedian ratios a vs b = b / a per message (> 1: a is faster / cheaper)\n");
  for (const char* w : {"rtt", "pipelined"}) {
    ratio(w, "uring", "epoll");
    ratio(w, "connection", "epoll");
  }
  benchmark::Shutdown();
  g_peer.reset();
  return 0;
}
