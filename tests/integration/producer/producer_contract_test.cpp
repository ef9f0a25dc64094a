// The producer's contract with its users, against rmq-sim: handler and executor lifetimes, the
// arguments a send takes over, no completion inside the initiating call, user exceptions, and
// structured diagnostics. (Lifecycle and back-pressure: producer_lifecycle_test.cpp.)
#include "producer_fixture.hpp"
#include "support/test_scale.hpp"
#include "wire/codes.hpp"
#include "wire/compression.hpp"

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/system_executor.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

using namespace std::chrono_literals;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

rmq::message contract_message(std::string topic = "TopicTest") {
  rmq::message msg(std::move(topic), "contract body");
  msg.set_keys("k1");
  return msg;
}

// --- an executor that counts the outstanding work it is asked to track ----------------------

struct work_probe {
  std::atomic<int> work{0};          // tracked copies alive
  std::atomic<bool> guarded{false};  // a tracked copy has existed
  std::atomic<int> violations{0};    // untracked copies destroyed while no guard was held
  void check() noexcept {
    if (guarded.load() && work.load() == 0) violations.fetch_add(1);
  }
};

// Wraps an io_context executor (tracked or not, as Inner is). Tracked copies count themselves in
// the probe; every untracked copy, when destroyed, checks that some guard still counts: one
// that dies after the last guard could outlive the io_context.
template <class Inner, bool Tracked>
class probe_executor {
 public:
  static constexpr bool tracked = Tracked;

  probe_executor(Inner inner, std::shared_ptr<work_probe> probe) noexcept
      : inner_(std::move(inner)), probe_(std::move(probe)) {
    enter();
  }
  // Executors must be nothrow copyable; a move copies (as executor_binder's move does).
  probe_executor(const probe_executor& other) noexcept
      : inner_(other.inner_), probe_(other.probe_) {
    enter();
  }
  probe_executor& operator=(const probe_executor& other) noexcept {
    if (this != &other) {
      leave();
      inner_ = other.inner_;
      probe_ = other.probe_;
      enter();
    }
    return *this;
  }
  ~probe_executor() { leave(); }

  [[nodiscard]] asio::io_context& query(asio::execution::context_t) const noexcept {
    return asio::query(inner_, asio::execution::context);
  }
  [[nodiscard]] asio::execution::blocking_t query(asio::execution::blocking_t) const noexcept {
    return asio::query(inner_, asio::execution::blocking);
  }
  [[nodiscard]] static constexpr asio::execution::outstanding_work_t query(
      asio::execution::outstanding_work_t) noexcept {
    return Tracked
               ? asio::execution::outstanding_work_t(asio::execution::outstanding_work.tracked)
               : asio::execution::outstanding_work_t(asio::execution::outstanding_work.untracked);
  }
  [[nodiscard]] auto require(asio::execution::blocking_t::never_t p) const {
    using type = std::decay_t<decltype(asio::require(inner_, p))>;
    return probe_executor<type, Tracked>(asio::require(inner_, p), probe_);
  }
  [[nodiscard]] auto require(asio::execution::blocking_t::possibly_t p) const {
    using type = std::decay_t<decltype(asio::require(inner_, p))>;
    return probe_executor<type, Tracked>(asio::require(inner_, p), probe_);
  }
  [[nodiscard]] auto prefer(asio::execution::outstanding_work_t::tracked_t p) const {
    using type = std::decay_t<decltype(asio::prefer(inner_, p))>;
    return probe_executor<type, true>(asio::prefer(inner_, p), probe_);
  }
  [[nodiscard]] auto prefer(asio::execution::outstanding_work_t::untracked_t p) const {
    using type = std::decay_t<decltype(asio::prefer(inner_, p))>;
    return probe_executor<type, false>(asio::prefer(inner_, p), probe_);
  }
  template <class F>
  void execute(F&& f) const {
    asio::execution::execute(inner_, std::forward<F>(f));
  }
  friend bool operator==(const probe_executor& a, const probe_executor& b) noexcept {
    return a.inner_ == b.inner_;
  }
  friend bool operator!=(const probe_executor& a, const probe_executor& b) noexcept {
    return !(a == b);
  }

 private:
  void enter() noexcept {
    if constexpr (Tracked) {
      probe_->guarded.store(true);
      probe_->work.fetch_add(1);
    }
  }
  void leave() noexcept {
    if (!probe_) return;
    if constexpr (Tracked) {
      probe_->work.fetch_sub(1);
    } else {
      probe_->check();
    }
  }

  Inner inner_;
  std::shared_ptr<work_probe> probe_;
};

// A handler bound to the probe: like asio::bind_executor, its moves copy the executor.
struct probe_handler {
  using executor_type = probe_executor<asio::io_context::executor_type, false>;
  executor_type executor;
  std::shared_ptr<std::atomic<int>> calls;
  [[nodiscard]] executor_type get_executor() const noexcept { return executor; }
  void operator()(std::error_code, rmq::send_result) const { calls->fetch_add(1); }
};

// A handler whose executor comes from a user's specialization of asio::associated_executor
// (no nested executor_type), for the completion's own executor type only.
struct specialized_handler {
  asio::io_context::executor_type executor;
  std::shared_ptr<std::atomic<int>> calls;
  void operator()(std::error_code, rmq::send_result) const {
    if (executor.running_in_this_thread()) calls->fetch_add(1);
  }
};

// Waits until the producer's loop has finished whatever it was doing (a task posted behind it
// has run).
void settle(rmq::producer& producer) {
  std::promise<void> done;
  asio::post(producer.get_executor(), [&] { done.set_value(); });
  done.get_future().wait();
}

}  // namespace

template <>
struct asio::associated_executor<specialized_handler, asio::any_io_executor> {
  using type = asio::any_io_executor;
  static type get(const specialized_handler& h, const asio::any_io_executor& = {}) noexcept {
    return h.executor;
  }
};

TEST_CASE("a handler whose executor a user's specialization gives completes on that executor") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  const rmq::message msg = contract_message();
  asio::io_context io;
  auto calls = std::make_shared<std::atomic<int>>(0);
  f.producer->async_send(msg, specialized_handler{io.get_executor(), calls});
  f.producer->async_send(rmq::message("", "x"), specialized_handler{io.get_executor(), calls});
  io.run();  // returns once both handlers ran there: the send counts as the io_context's work
  CHECK(calls->load() == 2);
}

TEST_CASE("every copy of a handler and of its executor dies before the work guard") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  const rmq::message msg = contract_message();
  (void)f.producer->send(msg);  // route and connection ready: completions come from the reader
  const int rounds = rmq::test::scaled(200, 40);
  for (int i = 0; i < rounds; ++i) {
    asio::io_context io;
    auto probe = std::make_shared<work_probe>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    f.producer->async_send(msg, probe_handler{{io.get_executor(), probe}, calls});
    // One that fails at once takes the other path (posted rather than dispatched).
    f.producer->async_send(rmq::message("", "x"), probe_handler{{io.get_executor(), probe}, calls});
    io.run();  // returns once the last guard is gone
    settle(*f.producer);
    CHECK(calls->load() == 2);
    CHECK(probe->violations.load() == 0);
  }
}

TEST_CASE(
    "a strand of an io_context that ends right after its handler ran is never touched after") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  const rmq::message msg = contract_message();
  (void)f.producer->send(msg);
  const int rounds = rmq::test::scaled(300, 50);
  int completed = 0;
  for (int i = 0; i < rounds; ++i) {
    {
      asio::io_context io;
      auto strand = asio::make_strand(io);
      f.producer->async_send(msg,
                             asio::bind_executor(strand, [&](std::error_code ec, rmq::send_result) {
                               if (!ec) ++completed;
                             }));
      io.run();
    }  // the io_context, its strand service and every strand die here (ASan checks the rest)
    settle(*f.producer);
  }
  CHECK(completed == rounds);
}

// --- arguments the send takes over ----------------------------------------------------------

TEST_CASE("an rvalue message is taken over by the send") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  std::promise<rmq::send_result> done;
  std::string body(100, 'b');
  f.producer->async_send(rmq::message("TopicTest", body),
                         [&](std::error_code ec, rmq::send_result r) {
                           REQUIRE_FALSE(ec);
                           done.set_value(std::move(r));
                         });
  const rmq::send_result r = done.get_future().get();
  const auto stored = f.sim.messages();
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].body == body);
  CHECK(stored[0].property("UNIQ_KEY") == std::optional<std::string_view>(r.msg_id.view()));

  // An operation kept and awaited later: the message lives in the operation, then in the send.
  asio::io_context io;
  std::string got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto op = f.producer->async_send(rmq::message("TopicTest", "later"), asio::use_awaitable);
        const rmq::send_result later = co_await std::move(op);
        got = later.msg_id.str();
      },
      asio::detached);
  io.run();
  CHECK_FALSE(got.empty());
  CHECK(f.sim.messages().back().body == "later");

  // A batch vector taken over, and a oneway message.
  std::vector<rmq::message> batch{contract_message(), contract_message()};
  CHECK_FALSE(
      f.producer->async_send_batch(std::move(batch), asio::use_future).get().msg_id.empty());
  std::promise<std::error_code> oneway;
  f.producer->async_send_oneway(
      rmq::message("TopicTest", "oneway"),
      [&](std::error_code ec, rmq::send_result) { oneway.set_value(ec); });
  CHECK_FALSE(oneway.get_future().get());
}

TEST_CASE("an ordered send owns its queue and its selector") {
  producer_fixture f(
      sim_with(2, sim::personality::v5, {"TopicTest", "OrderedFresh", "OrderedFresh2"}));
  std::vector<rmq::message_queue> queues;
  REQUIRE_FALSE(f.producer->fetch_queues("TopicTest", queues));
  // A topic whose route is not cached yet: the send suspends for the route before it reads its
  // queue or calls its selector, long after the temporaries below are gone.
  const rmq::message msg = contract_message("OrderedFresh");
  std::promise<rmq::send_result> by_queue;
  f.producer->async_send(msg, rmq::message_queue{"OrderedFresh", queues[5].broker_name, 2},
                         [&](std::error_code ec, rmq::send_result r) {
                           REQUIRE_FALSE(ec);
                           by_queue.set_value(std::move(r));
                         });
  const rmq::send_result q = by_queue.get_future().get();
  CHECK(q.queue.broker_name == queues[5].broker_name);
  CHECK(q.queue.queue_id == 2);

  const rmq::message msg2 = contract_message("OrderedFresh2");
  std::promise<rmq::send_result> by_selector;
  {
    const std::size_t wanted = 3;
    f.producer->async_send(
        msg2,
        [wanted](std::span<const rmq::message_queue> qs, const rmq::message&) {
          return wanted % qs.size();
        },
        [&](std::error_code ec, rmq::send_result r) {
          REQUIRE_FALSE(ec);
          by_selector.set_value(std::move(r));
        });
  }
  CHECK(by_selector.get_future().get().queue.queue_id == 3);
}

TEST_CASE("a send to a queue of another topic is refused, as the Java client refuses it") {
  producer_fixture f(sim_with(1, sim::personality::v5, {"TopicTest", "Other"}));
  std::vector<rmq::message_queue> other;
  REQUIRE_FALSE(f.producer->fetch_queues("Other", other));
  std::error_code ec;
  const auto r = f.producer->send(contract_message(), other[0], ec);
  CHECK(ec == rmq::errc::invalid_argument);
  CHECK(r.status == rmq::send_status::failed);
  for (const auto& m : f.sim.messages()) CHECK(m.topic != "Other");
}

// --- never inside the initiating call ----------------------------------------------------------

TEST_CASE("a send that fails at once completes after the call returns, on the loop and off it") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  // On the loop: a callback that re-sends on error would recurse without bound if it ran inside
  // async_send. It runs after, each time.
  std::promise<void> finished;
  int remaining = 10000;
  bool inside_call = false;
  int ran_inside = 0;
  std::function<void()> resend = [&] {
    inside_call = true;
    f.producer->async_send(rmq::message("", "invalid"), [&](std::error_code ec, rmq::send_result) {
      CHECK(ec == rmq::errc::topic_blank);
      if (inside_call) ++ran_inside;
      if (--remaining == 0) {
        finished.set_value();
      } else {
        resend();
      }
    });
    inside_call = false;
  };
  asio::post(f.producer->get_executor(), resend);
  finished.get_future().wait();
  CHECK(ran_inside == 0);

  // Off the loop, and with a token whose completion would run inline if dispatched: the
  // system executor. It may run on another thread at once, but never on this one inside the
  // call.
  static thread_local bool in_call = false;
  std::atomic<bool> inline_run{false};
  std::promise<void> done;
  in_call = true;
  f.producer->async_send(
      rmq::message("", "invalid"),
      asio::bind_executor(asio::system_executor(), [&](std::error_code, rmq::send_result) {
        if (in_call) inline_run = true;
        done.set_value();
      }));
  in_call = false;
  done.get_future().wait();
  CHECK_FALSE(inline_run.load());
}

// --- user exceptions ----------------------------------------------------------------------------

TEST_CASE("a selector that throws or is empty fails its send, saying so") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  std::error_code ec;
  const rmq::queue_selector throwing = [](std::span<const rmq::message_queue>,
                                          const rmq::message&) -> std::size_t {
    throw std::runtime_error("no queue for this key");
  };
  auto r = f.producer->send(contract_message(), throwing, ec);
  CHECK(ec == rmq::errc::queue_selector_failed);
  CHECK(r.diagnostics.remark.find("no queue for this key") != std::string::npos);

  r = f.producer->send(contract_message(), rmq::queue_selector{}, ec);
  CHECK(ec == rmq::errc::queue_selector_failed);
  CHECK(r.diagnostics.remark.find("empty") != std::string::npos);

  const rmq::queue_selector out_of_range = [](std::span<const rmq::message_queue> qs,
                                              const rmq::message&) { return qs.size(); };
  r = f.producer->send(contract_message(), out_of_range, ec);
  CHECK(ec == rmq::errc::queue_selector_failed);
  CHECK(f.producer->send(contract_message()).status ==
        rmq::send_status::send_ok);  // the loop lives on
}

TEST_CASE("a completion handler that throws on the loop is caught, counted, and the loop goes on") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  std::promise<void> thrown;
  f.producer->async_send(contract_message(), [&](std::error_code, rmq::send_result) {
    thrown.set_value();
    throw std::runtime_error("user bug");
  });
  thrown.get_future().wait();
  settle(*f.producer);
  // A posted function that throws, too.
  asio::post(f.producer->get_executor(), [] { throw std::logic_error("posted bug"); });
  settle(*f.producer);
  CHECK(f.producer->stats().handler_exceptions == 2);
  CHECK(f.producer->send(contract_message()).status == rmq::send_status::send_ok);
}

// --- diagnostics in every form ------------------------------------------------------------------

TEST_CASE(
    "every form gives structured diagnostics: send_error, and the result of error-code forms") {
  producer_fixture f(sim_with(1, sim::personality::v5));
  f.sim.set_broker_faults("broker-a", {.error_code = rmq::wire::response_code::message_illegal,
                                       .error_remark = std::string("the remark of the broker")});
  const rmq::message msg = contract_message();
  const auto check_error = [&](const rmq::send_error& e) {
    CHECK(e.code() == rmq::make_broker_error(rmq::wire::response_code::message_illegal));
    CHECK(e.diagnostics().remark == "the remark of the broker");
    CHECK(e.diagnostics().brokers == "broker-a");
    CHECK(e.attempts() == 1);
    CHECK(e.topic() == "TopicTest");
    CHECK(std::string(e.what()).find("the remark of the broker") != std::string::npos);
  };
  // use_future
  try {
    (void)f.producer->async_send(msg, asio::use_future).get();
    FAIL("no exception");
  } catch (const rmq::send_error& e) {
    check_error(e);
  }
  // use_awaitable
  asio::io_context io;
  bool caught = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          (void)co_await f.producer->async_send(msg, asio::use_awaitable);
        } catch (const rmq::send_error& e) {
          check_error(e);
          caught = true;
        }
      },
      asio::detached);
  io.run();
  CHECK(caught);
  // blocking
  try {
    (void)f.producer->send(msg);
    FAIL("no exception");
  } catch (const rmq::send_error& e) {
    check_error(e);
  }
  // error-code forms: the result carries the same
  std::error_code ec;
  const auto r = f.producer->send(msg, ec);
  CHECK(r.status == rmq::send_status::failed);
  CHECK(r.diagnostics.remark == "the remark of the broker");
  CHECK(r.queue.topic == "TopicTest");
}

TEST_CASE("a broker's huge remark is bounded in the diagnostics") {
  // A 4 MiB response: under ThreadSanitizer on a busy machine it takes seconds to encode and
  // parse, and the test is about its remark, not its speed.
  rmq::producer_config config;
  config.send_timeout = std::chrono::seconds(60);
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  f.sim.set_broker_faults("broker-a", {.error_code = rmq::wire::response_code::message_illegal,
                                       .error_remark = std::string(4 << 20, 'r')});
  std::error_code ec;
  const auto r = f.producer->send(contract_message(), ec);
  CHECK(ec == rmq::make_broker_error(rmq::wire::response_code::message_illegal));
  CHECK(r.diagnostics.remark.size() < 2048);
  CHECK(r.diagnostics.remark.find(std::to_string(4 << 20)) != std::string::npos);  // says how long
}

TEST_CASE(
    "an attempt's share of the budget counts from when it is written, not before compressing") {
  // A body that zstd's slowest level takes a long time to compress, on the loop thread.
  std::string body(2 << 20, '\0');
  std::uint64_t x = 88172645463325252ull;
  for (char& c : body) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>('a' + (x % 16));  // half-compressible: slow at level 22
  }
  rmq::wire::body_codec codec;
  std::string compressed;
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE_FALSE(codec.compress(rmq::wire::compression_type::zstd, 22, body, compressed));
  const auto compress_time =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  // Three attempts share the budget: each gets a third, less than the compression takes, so an
  // attempt measured from before compressing would start with its time already spent.
  rmq::producer_config config;
  config.compress_type = rmq::compression::zstd;
  config.compress_level = 22;
  config.send_timeout = compress_time * 3 / 2 + 1500ms;
  config.fault_tolerance = true;
  producer_fixture f(sim_with(1, sim::personality::v5), config);
  (void)f.producer->send(contract_message());  // route and connection ready
  // Holds wherever zstd's level 22 takes over a second for 2 MiB (seconds under the sanitizers).
  WARN_MESSAGE(config.send_timeout / 3 < compress_time,
               "compression took only " << compress_time.count() << " ms: this run shows little");
  rmq::message big("TopicTest", body);
  std::error_code ec;
  const auto r = f.producer->send(big, ec);
  REQUIRE_FALSE(ec);
  CHECK(r.attempts == 1);  // the broker is healthy: no attempt timed out
  CHECK(f.producer->stats().retries == 0);
}
