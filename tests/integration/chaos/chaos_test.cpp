// Chaos: every send form of the producer (async callbacks, chained from handlers on the loop,
// coroutines on the producer's executor and on the user's own io_context, futures, blocking
// threads, oneway, batch, ordered to a queue or by a selector) against rmq-sim as a child
// process, while a seeded schedule of faults runs through its control channel. Checked per
// send id: completed exactly once; never after shutdown() returned; never later than its
// deadline plus 50 ms (200 ms in sanitizer builds); every success stored by the simulator.
// Checked for the process: open fds at the end equal those at the start; RSS over the last third
// of the run at most 10 % above the first third (under ASan and TSan the live heap instead: there
// the RSS is mostly the sanitizer runtime's, see memory_in_use).
//
// RMQ_CHAOS_SEED=N replays a run (the schedule and the settings; thread interleavings, and with
// them the sends chained from handlers, differ). RMQ_TEST_SCALE scales the fault phase (6 s ×
// scale, at least 4 s).
#include "chaos_random.hpp"
#include "chaos_schedule.hpp"
#include "chaos_settings.hpp"
#include "process_probes.hpp"
#include "rmq/producer.hpp"
#include "send_records.hpp"
#include "support/sim_process.hpp"
#include "support/test_scale.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

using namespace std::chrono_literals;
using namespace rmq::test::chaos;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr const char* main_topic = "ChaosTopic";

// --- the senders ------------------------------------------------------------------------------

struct pending_future {
  std::uint64_t id = 0;
  std::int64_t deadline_ns = 0;
  std::future<rmq::send_result> result;
  std::unique_ptr<rmq::message> msg;  // for the const message& form
};

struct chaos_context {
  chaos_context(rmq::producer& p, record_table& t, const run_settings& s, asio::io_context& u)
      : producer(p), table(t), settings(s), user(u) {}

  rmq::producer& producer;
  record_table& table;
  const run_settings& settings;
  asio::io_context& user;
  std::vector<rmq::message_queue> queues;  // of main_topic, fetched before the faults
  std::int64_t fault_start_ns = 0;         // set before the issuers start

  std::atomic<bool> stop{false};
  std::mutex pace_mutex;
  std::condition_variable stopped;  // notified by request_stop

  /// Pacing of the senders and of the schedule: waits until `until`, or less once the run is
  /// stopped (a timed wait on the stop signal, never a sleep that stop must wait out).
  void pace_until(clock_type::time_point until) {
    std::unique_lock lock(pace_mutex);
    stopped.wait_until(lock, until, [&] { return stop.load(); });
  }
  void request_stop() {
    {
      std::lock_guard lock(pace_mutex);
      stop.store(true);
    }
    stopped.notify_all();
  }
  std::atomic<int> loop_tasks{0};  // callback chains and coroutines on the producer's loops
  std::atomic<int> user_tasks{0};  // coroutines on the user's io_context
  std::mutex mutex;
  std::condition_variable user_tasks_done;
  std::atomic<std::uint64_t> unexpected_exceptions{0};
  std::mutex unexpected_mutex;
  std::string first_unexpected;

  // Futures: changed by the future thread only, under futures_mutex; the test thread looks at
  // them under it when shutdown() has returned, and owns them once the thread has ended.
  std::mutex futures_mutex;
  std::deque<pending_future> futures;
  std::vector<pending_future> late_futures;
  std::atomic<bool> shutdown_returned{false};

  void unexpected(const char* what) {
    if (unexpected_exceptions.fetch_add(1) == 0) {
      std::lock_guard lock(unexpected_mutex);
      first_unexpected = what;
    }
  }
  void user_task_done() {
    std::lock_guard lock(mutex);
    if (user_tasks.fetch_sub(1) == 1) user_tasks_done.notify_all();
  }

  [[nodiscard]] milliseconds effective(milliseconds timeout) const {
    return timeout.count() == 0 ? settings.config.send_timeout : timeout;
  }

  std::string pick_topic(seeded_random& rng) {
    if (rng.chance(0.1)) {
      const std::int64_t phase_ns = now_ns() - fault_start_ns;
      const std::size_t k = rng.below(late_topic_count);
      if (phase_ns >= ns_of(settings.late_topic_at[k])) return "ChaosLate" + std::to_string(k);
    }
    return main_topic;
  }

  /// A message with the send id in a property (`cid`), sometimes compressed, sometimes with
  /// its own UNIQ_KEY.
  static constexpr std::size_t max_body = 6000;
  static constexpr std::size_t max_small_body = 100;

  rmq::message make_message(seeded_random& rng, std::uint64_t id, int index, bool in_batch,
                            const std::string& topic) {
    // Compressed bodies (above compress_threshold) only for single messages: a batch is not
    // compressed, and its members stay small.
    const bool large = index == 0 && !in_batch && rng.chance(0.02);
    const std::size_t size = large ? rng.between(4200, max_body) : rng.between(1, max_small_body);
    std::string body = "m" + std::to_string(id) + "." + std::to_string(index) + ":";
    body.resize(std::max(body.size(), size), static_cast<char>('a' + id % 26));
    rmq::message msg(topic, rng.chance(0.5) ? "TagA" : "TagB", std::move(body));
    msg.set_keys("k" + std::to_string(id));
    msg.put_property("cid", std::to_string(id) + "." + std::to_string(index));
    if (rng.chance(0.05)) {
      msg.set_uniq_key("CHAOS" + std::to_string(settings.seed % 100000) + "X" + std::to_string(id) +
                       "X" + std::to_string(index));
    }
    return msg;
  }
  std::vector<rmq::message> make_batch(seeded_random& rng, std::uint64_t id, int count,
                                       const std::string& topic) {
    std::vector<rmq::message> batch;
    for (int i = 0; i < count; ++i) batch.push_back(make_message(rng, id, i, true, topic));
    return batch;
  }

  /// 0 (the producer's send_timeout) or a timeout of its own.
  static milliseconds pick_timeout(seeded_random& rng) {
    return rng.chance(0.4) ? milliseconds(0) : milliseconds(rng.between(200, 4000));
  }
  static shape pick_shape(seeded_random& rng) {
    const std::uint64_t p = rng.below(100);
    if (p < 40) return shape::single;
    if (p < 52) return shape::ordered_queue;
    if (p < 64) return shape::ordered_selector;
    if (p < 82) return shape::batch;
    return shape::oneway;
  }
  const rmq::message_queue& pick_queue(seeded_random& rng) const {
    return queues[rng.below(queues.size())];
  }
  static rmq::queue_selector selector() {
    return [](std::span<const rmq::message_queue> queues, const rmq::message& msg) {
      return queues.empty() ? std::size_t{0} : std::hash<std::string>{}(msg.keys()) % queues.size();
    };
  }
};

/// Random numbers for code running on a loop thread (handlers), one generator per thread.
seeded_random& loop_rng(std::uint64_t seed) {
  thread_local std::optional<seeded_random> rng;
  if (!rng) rng.emplace(seed ^ std::hash<std::thread::id>{}(std::this_thread::get_id()));
  return *rng;
}

// Callbacks: a chain of `remaining` sends, each started from the previous one's handler (on the
// loop thread) — during shutdown too: a send started on a loop thread then must still complete
// before shutdown() returns.
void callback_send(chaos_context& ctx, int remaining, bool on_loop, seeded_random& rng);

struct chain_handler {
  chaos_context* ctx;
  std::uint64_t id;
  int remaining;
  std::shared_ptr<void> keep;  // the message or batch of a const& / span form

  void operator()(std::error_code ec, rmq::send_result result) {
    ctx->table.complete(id, ec, &result);
    keep.reset();
    if (remaining > 1) {
      callback_send(*ctx, remaining - 1, true, loop_rng(ctx->settings.seed));
    } else {
      ctx->loop_tasks.fetch_sub(1);
    }
  }
};

void callback_send(chaos_context& ctx, int remaining, bool on_loop, seeded_random& rng) {
  const shape what = chaos_context::pick_shape(rng);
  const int count = what == shape::batch ? static_cast<int>(rng.between(2, 4)) : 1;
  const auto id = ctx.table.allocate(form::callback, what, on_loop, count);
  if (!id) {
    ctx.loop_tasks.fetch_sub(1);
    return;
  }
  const std::string topic = what == shape::ordered_queue ? main_topic : ctx.pick_topic(rng);
  rmq::send_options options;
  options.timeout = chaos_context::pick_timeout(rng);
  const bool by_reference = rng.chance(0.5);  // the const& / span overloads, else the rvalue ones
  auto& p = ctx.producer;
  chain_handler handler{&ctx, *id, remaining, nullptr};
  switch (what) {
    case shape::single:
    case shape::oneway:
    case shape::count: {
      rmq::message msg = ctx.make_message(rng, *id, 0, false, topic);
      ctx.table.start(*id, ctx.effective(options.timeout));
      const auto send = [&](auto&& message) {
        if (what == shape::single) {
          p.async_send(std::forward<decltype(message)>(message), std::move(options),
                       std::move(handler));
        } else {
          p.async_send_oneway(std::forward<decltype(message)>(message), std::move(options),
                              std::move(handler));
        }
      };
      if (by_reference) {
        auto kept = std::make_shared<rmq::message>(std::move(msg));
        const rmq::message& ref = *kept;
        handler.keep = std::move(kept);
        send(ref);
      } else {
        send(std::move(msg));
      }
      return;
    }
    case shape::ordered_queue: {
      auto kept = std::make_shared<rmq::message>(ctx.make_message(rng, *id, 0, false, topic));
      const rmq::message& ref = *kept;
      handler.keep = kept;
      const rmq::message_queue& queue = ctx.pick_queue(rng);
      if (by_reference) {
        ctx.table.start(*id, ctx.effective({}));
        p.async_send(ref, queue, std::move(handler));  // the shorthand: the producer's timeout
      } else {
        options.queue = queue;
        ctx.table.start(*id, ctx.effective(options.timeout));
        p.async_send(ref, std::move(options), std::move(handler));
      }
      return;
    }
    case shape::ordered_selector: {
      auto kept = std::make_shared<rmq::message>(ctx.make_message(rng, *id, 0, false, topic));
      const rmq::message& ref = *kept;
      handler.keep = kept;
      if (by_reference) {
        ctx.table.start(*id, ctx.effective({}));
        p.async_send(ref, chaos_context::selector(), std::move(handler));
      } else {
        options.selector = chaos_context::selector();
        ctx.table.start(*id, ctx.effective(options.timeout));
        p.async_send(ref, std::move(options), std::move(handler));
      }
      return;
    }
    case shape::batch: {
      std::vector<rmq::message> batch = ctx.make_batch(rng, *id, count, topic);
      ctx.table.start(*id, ctx.effective(options.timeout));
      if (by_reference) {
        auto kept = std::make_shared<std::vector<rmq::message>>(std::move(batch));
        const std::span<const rmq::message> span(*kept);
        handler.keep = std::move(kept);
        p.async_send_batch(span, std::move(options), std::move(handler));
      } else {
        p.async_send_batch(std::move(batch), std::move(options), std::move(handler));
      }
      return;
    }
  }
}

/// `sends` sends one after the other with asio::use_awaitable, on the producer's executor
/// (`kind` coroutine) or on the user's io_context (`user_coroutine`).
asio::awaitable<void> coroutine_sends(chaos_context& ctx, form kind, int sends,
                                      std::uint64_t seed) {
  seeded_random rng(seed);
  for (int i = 0; i < sends; ++i) {
    const shape what = chaos_context::pick_shape(rng);
    const int count = what == shape::batch ? static_cast<int>(rng.between(2, 4)) : 1;
    const auto id = ctx.table.allocate(kind, what, kind == form::coroutine, count);
    if (!id) break;
    const std::string topic = what == shape::ordered_queue ? main_topic : ctx.pick_topic(rng);
    rmq::send_options options;
    options.timeout = chaos_context::pick_timeout(rng);
    auto& p = ctx.producer;
    try {
      rmq::send_result result;
      switch (what) {
        case shape::single: {
          const rmq::message msg = ctx.make_message(rng, *id, 0, false, topic);
          ctx.table.start(*id, ctx.effective(options.timeout));
          result = co_await p.async_send(msg, std::move(options), asio::use_awaitable);
          break;
        }
        case shape::ordered_queue: {
          const rmq::message msg = ctx.make_message(rng, *id, 0, false, topic);
          options.queue = ctx.pick_queue(rng);
          ctx.table.start(*id, ctx.effective(options.timeout));
          result = co_await p.async_send(msg, std::move(options), asio::use_awaitable);
          break;
        }
        case shape::ordered_selector: {
          const rmq::message msg = ctx.make_message(rng, *id, 0, false, topic);
          ctx.table.start(*id, ctx.effective({}));
          result = co_await p.async_send(msg, chaos_context::selector(), asio::use_awaitable);
          break;
        }
        case shape::batch: {
          std::vector<rmq::message> batch = ctx.make_batch(rng, *id, count, topic);
          ctx.table.start(*id, ctx.effective(options.timeout));
          result = co_await p.async_send_batch(std::move(batch), std::move(options),
                                               asio::use_awaitable);
          break;
        }
        case shape::oneway:
        case shape::count: {
          rmq::message msg = ctx.make_message(rng, *id, 0, false, topic);
          ctx.table.start(*id, ctx.effective(options.timeout));
          result =
              co_await p.async_send_oneway(std::move(msg), std::move(options), asio::use_awaitable);
          break;
        }
      }
      ctx.table.complete(*id, {}, &result);
    } catch (const rmq::send_error& e) {
      ctx.table.complete(*id, e.code(), nullptr);
    } catch (const std::exception& e) {
      ctx.unexpected(e.what());
      ctx.table.complete(*id, make_error_code(std::errc::state_not_recoverable), nullptr);
    }
  }
  if (kind == form::coroutine) {
    ctx.loop_tasks.fetch_sub(1);
  } else {
    ctx.user_task_done();
  }
}

/// Starts callback chains and coroutines at a steady pace, at most async_window at a time.
void async_issuer(chaos_context& ctx, std::uint64_t seed) {
  seeded_random rng(seed);
  auto next = clock_type::now();
  while (!ctx.stop.load() && !ctx.table.full()) {
    next += ctx.settings.issuer_tick;
    const auto now = clock_type::now();
    if (next < now - 50ms) next = now;  // fell behind (a blocked gate): do not burst
    ctx.pace_until(next);
    if (ctx.loop_tasks.load() + ctx.user_tasks.load() >= ctx.settings.async_window) continue;
    const std::uint64_t p = rng.below(100);
    const int length = static_cast<int>(rng.between(1, 3));
    if (p < 55) {
      ctx.loop_tasks.fetch_add(1);
      callback_send(ctx, length, false, rng);
    } else if (p < 85 || !ctx.settings.user_coroutines) {
      ctx.loop_tasks.fetch_add(1);
      asio::co_spawn(ctx.producer.get_executor(),
                     coroutine_sends(ctx, form::coroutine, length, rng.next()), asio::detached);
    } else {
      ctx.user_tasks.fetch_add(1);
      asio::co_spawn(ctx.user, coroutine_sends(ctx, form::user_coroutine, length, rng.next()),
                     asio::detached);
    }
  }
}

/// Brings the producer's pools to this run's high water before the memory is first sampled. A
/// pooled send keeps the buffers it grew (a batch's body, a compressed body, its extras) for its
/// next use, and ops made at a later peak of sends in flight start small: without this, the
/// memory would grow during the run towards (peak in flight) × (largest message) as the faults
/// build up larger peaks. With a latency on every broker, each wave has the most sends in flight
/// that any loop can reach in the run, of the largest shapes the run sends.
void warm_pools(chaos_context& ctx, rmq::test::sim_process& sim, std::vector<std::string>& errors) {
  const auto& s = ctx.settings;
  const std::size_t wanted = static_cast<std::size_t>(s.peak_in_flight()) * s.config.loop_threads;
  const std::size_t total = std::min(wanted, s.config.max_in_flight_sends);
  const auto answer = sim.command("fault * latency=250");
  if (answer.rfind("ok", 0) != 0) errors.push_back("fault * latency=250 -> " + answer);
  struct wave_state {
    std::mutex mutex;
    std::condition_variable done;
    std::size_t left = 0;
  };
  for (const shape what : {shape::single, shape::batch, shape::ordered_selector}) {
    auto wave = std::make_shared<wave_state>();
    wave->left = total;
    std::size_t started = 0;
    for (; started < total; ++started) {
      const int count = what == shape::batch ? 4 : 1;
      const auto id = ctx.table.allocate(form::callback, what, false, count);
      if (!id) break;
      const auto handler = [&ctx, wave, id = *id](std::error_code ec, rmq::send_result result) {
        ctx.table.complete(id, ec, &result);
        std::lock_guard lock(wave->mutex);
        if (--wave->left == 0) wave->done.notify_all();
      };
      rmq::send_options options;
      options.timeout = s.config.send_timeout;
      if (what == shape::batch) {
        std::vector<rmq::message> batch;
        for (int i = 0; i < count; ++i) {
          batch.emplace_back(main_topic, std::string(chaos_context::max_small_body, 'w'));
          batch.back().put_property("cid", std::to_string(*id) + "." + std::to_string(i));
        }
        ctx.table.start(*id, options.timeout);
        ctx.producer.async_send_batch(std::move(batch), std::move(options), handler);
      } else {
        rmq::message msg(main_topic, std::string(chaos_context::max_body, 'w'));
        msg.put_property("cid", std::to_string(*id) + ".0");
        if (what == shape::ordered_selector) options.selector = chaos_context::selector();
        ctx.table.start(*id, options.timeout);
        ctx.producer.async_send(std::move(msg), std::move(options), handler);
      }
    }
    std::unique_lock lock(wave->mutex);
    wave->left -= total - started;  // ids ran out
    wave->done.wait_for(lock, 30s, [&] { return wave->left == 0; });
  }
  const auto cleared = sim.command("clear");
  if (cleared.rfind("ok", 0) != 0) errors.push_back("clear -> " + cleared);
}

void settle_future(chaos_context& ctx, pending_future& f, std::int64_t at = now_ns()) {
  try {
    const rmq::send_result result = f.result.get();
    ctx.table.complete(f.id, {}, &result, at);
  } catch (const rmq::send_error& e) {
    ctx.table.complete(f.id, e.code(), nullptr, at);
  } catch (const std::exception& e) {
    ctx.unexpected(e.what());
    ctx.table.complete(f.id, make_error_code(std::errc::state_not_recoverable), nullptr, at);
  }
}

/// asio::use_future: up to future_window in flight, all with the same timeout, so that the
/// oldest has the earliest deadline. Each is waited for until its deadline plus the slack; one
/// not ready then is late. After `stop` it issues no more but goes on settling through the
/// shutdown, until none is left (or, for late ones, until shutdown() has returned).
void future_actor(chaos_context& ctx, std::uint64_t seed) {
  seeded_random rng(seed);
  const milliseconds timeout = ctx.settings.future_timeout;
  auto& pending = ctx.futures;
  for (;;) {
    const bool issuing = !ctx.stop.load() && !ctx.table.full();
    if (!issuing && pending.empty() && (ctx.late_futures.empty() || ctx.shutdown_returned.load())) {
      break;
    }
    const auto next_issue = clock_type::now() + ctx.settings.future_pause;
    if (issuing && pending.size() < ctx.settings.future_window) {
      const shape what = chaos_context::pick_shape(rng);
      const int count = what == shape::batch ? static_cast<int>(rng.between(2, 4)) : 1;
      const auto id = ctx.table.allocate(form::future, what, false, count);
      if (!id) continue;  // the table is full: settle what is in flight
      const std::string topic = what == shape::ordered_queue ? main_topic : ctx.pick_topic(rng);
      rmq::send_options options;
      options.timeout = timeout;
      pending_future f;
      f.id = *id;
      auto& p = ctx.producer;
      switch (what) {
        case shape::single:
          f.msg = std::make_unique<rmq::message>(ctx.make_message(rng, *id, 0, false, topic));
          ctx.table.start(*id, timeout);
          f.result = p.async_send(*f.msg, std::move(options), asio::use_future);
          break;
        case shape::ordered_queue:
          options.queue = ctx.pick_queue(rng);
          ctx.table.start(*id, timeout);
          f.result = p.async_send(ctx.make_message(rng, *id, 0, false, topic), std::move(options),
                                  asio::use_future);
          break;
        case shape::ordered_selector:
          options.selector = chaos_context::selector();
          ctx.table.start(*id, timeout);
          f.result = p.async_send(ctx.make_message(rng, *id, 0, false, topic), std::move(options),
                                  asio::use_future);
          break;
        case shape::batch:
          ctx.table.start(*id, timeout);
          f.result = p.async_send_batch(ctx.make_batch(rng, *id, count, topic), std::move(options),
                                        asio::use_future);
          break;
        case shape::oneway:
        case shape::count:
          ctx.table.start(*id, timeout);
          f.result = p.async_send_oneway(ctx.make_message(rng, *id, 0, false, topic),
                                         std::move(options), asio::use_future);
          break;
      }
      f.deadline_ns = ctx.table[*id].deadline_ns;
      std::lock_guard lock(ctx.futures_mutex);
      pending.push_back(std::move(f));
    }
    // Settle what is ready; wait for the oldest until the next issue is due. The waits are
    // outside the lock (the test thread only looks at the futures under it).
    while (!pending.empty()) {
      pending_future& oldest = pending.front();
      const auto limit =
          clock_type::time_point(std::chrono::nanoseconds(oldest.deadline_ns)) + slack;
      const auto until = std::min(limit, next_issue);
      if (oldest.result.wait_until(until) == std::future_status::ready) {
        std::lock_guard lock(ctx.futures_mutex);
        settle_future(ctx, oldest);
        pending.pop_front();
        continue;
      }
      if (clock_type::now() >= limit) {
        ctx.table[oldest.id].late = true;
        std::lock_guard lock(ctx.futures_mutex);
        ctx.late_futures.push_back(std::move(oldest));
        pending.pop_front();
        continue;
      }
      break;
    }
    {
      std::lock_guard lock(ctx.futures_mutex);
      for (auto it = ctx.late_futures.begin(); it != ctx.late_futures.end();) {
        if (it->result.wait_for(0s) == std::future_status::ready) {
          settle_future(ctx, *it);
          it = ctx.late_futures.erase(it);
        } else {
          ++it;
        }
      }
    }
    ctx.pace_until(next_issue);
  }
}

/// The blocking calls, one after the other, in every overload.
void blocking_actor(chaos_context& ctx, std::uint64_t seed) {
  seeded_random rng(seed);
  auto& p = ctx.producer;
  while (!ctx.stop.load() && !ctx.table.full()) {
    const shape what = chaos_context::pick_shape(rng);
    const int count = what == shape::batch ? static_cast<int>(rng.between(2, 4)) : 1;
    const auto id = ctx.table.allocate(form::blocking, what, false, count);
    if (!id) break;
    const std::string topic = what == shape::ordered_queue ? main_topic : ctx.pick_topic(rng);
    rmq::send_options options;
    options.timeout = chaos_context::pick_timeout(rng);
    const bool with_options = rng.chance(0.5);
    std::error_code ec;
    rmq::send_result result;
    bool has_result = true;
    if (what == shape::batch) {
      const std::vector<rmq::message> batch = ctx.make_batch(rng, *id, count, topic);
      ctx.table.start(*id, ctx.effective(with_options ? options.timeout : milliseconds(0)));
      result = with_options ? p.send_batch(batch, options, ec) : p.send_batch(batch, ec);
    } else {
      const rmq::message msg = ctx.make_message(rng, *id, 0, false, topic);
      switch (what) {
        case shape::single:
          if (with_options) {
            ctx.table.start(*id, ctx.effective(options.timeout));
            result = p.send(msg, options, ec);
          } else if (rng.chance(0.5)) {
            ctx.table.start(*id, ctx.effective({}));
            try {
              result = p.send(msg);  // the throwing form
            } catch (const rmq::send_error& e) {
              ec = e.code();
            }
          } else {
            ctx.table.start(*id, ctx.effective({}));
            result = p.send(msg, ec);
          }
          break;
        case shape::ordered_queue:
          if (with_options) {
            options.queue = ctx.pick_queue(rng);
            ctx.table.start(*id, ctx.effective(options.timeout));
            result = p.send(msg, options, ec);
          } else {
            const rmq::message_queue& queue = ctx.pick_queue(rng);
            ctx.table.start(*id, ctx.effective({}));
            result = p.send(msg, queue, ec);
          }
          break;
        case shape::ordered_selector:
          if (with_options) {
            options.selector = chaos_context::selector();
            ctx.table.start(*id, ctx.effective(options.timeout));
            result = p.send(msg, options, ec);
          } else {
            ctx.table.start(*id, ctx.effective({}));
            result = p.send(msg, chaos_context::selector(), ec);
          }
          break;
        default:  // oneway
          has_result = false;
          ctx.table.start(*id, ctx.effective(with_options ? options.timeout : milliseconds(0)));
          ec = with_options ? p.send_oneway(msg, options) : p.send_oneway(msg);
          break;
      }
    }
    ctx.table.complete(*id, ec, has_result ? &result : nullptr);
    ctx.pace_until(clock_type::now() + ctx.settings.blocking_pause);
  }
}

std::uint64_t seed_of_run() {
  if (const char* text = std::getenv("RMQ_CHAOS_SEED"); text != nullptr && *text != '\0') {
    return std::strtoull(text, nullptr, 0);
  }
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

std::string replay_line(std::uint64_t seed) {
  std::string line = "RMQ_CHAOS_SEED=" + std::to_string(seed);
  for (const char* name : {"RMQ_IO_BACKEND", "RMQ_TEST_SCALE"}) {
    if (const char* value = std::getenv(name)) line += std::string(" ") + name + "=" + value;
  }
  return line + " " + RMQ_CHAOS_BINARY;
}

struct tally {
  std::uint64_t sends = 0, ok = 0, failed = 0;
};

}  // namespace

TEST_CASE("the fault schedule is a function of the seed and covers every fault kind") {
  const std::vector<std::string> brokers{"broker-a", "broker-b", "broker-c"};
  const auto a = rmq::test::chaos::make_schedule(42, 60s, brokers);
  const auto b = rmq::test::chaos::make_schedule(42, 60s, brokers);
  CHECK(rmq::test::chaos::describe(a) == rmq::test::chaos::describe(b));
  CHECK(rmq::test::chaos::describe(a) !=
        rmq::test::chaos::describe(rmq::test::chaos::make_schedule(43, 60s, brokers)));
  const std::string text = rmq::test::chaos::describe(a);
  for (const char* kind : {"stop ", "start ", "restart ", "reset-after=", "silent",
                           "latency=", "error=SYSTEM_BUSY", "error=FLUSH_", "split-writes",
                           "refuse", "namesrv down", "namesrv up", "fault namesrv silent"}) {
    CAPTURE(kind);
    CHECK(text.find(kind) != std::string::npos);
  }
  // The end brings every server back.
  CHECK(a.back().command == "clear");
  CHECK(a.back().at == 60s);
}

TEST_CASE("chaos: every send form under a seeded schedule of faults") {
  const std::int64_t test_start_ns = now_ns();
  const std::uint64_t seed = seed_of_run();
  const std::string replay = replay_line(seed);
  // Printed before anything runs, so that even a hang or a crash leaves the seed behind.
  std::fprintf(stderr, "chaos seed %llu; replay: %s\n", static_cast<unsigned long long>(seed),
               replay.c_str());
  INFO("chaos seed ", seed, "; replay: ", replay);

  const run_settings settings = settings_from(seed);
  const bool verbose = std::getenv("RMQ_CHAOS_VERBOSE") != nullptr;  // a trace on stderr
  INFO("settings: ", describe(settings));

  const std::string stats_path =
      (std::filesystem::temp_directory_path() /
       ("rmq-chaos-" + std::to_string(::getpid()) + "-" + std::to_string(seed) + ".json"))
          .string();
  std::string late_topics = main_topic;
  for (int k = 0; k < late_topic_count; ++k) late_topics += ",ChaosLate" + std::to_string(k);
  rmq::test::sim_process sim(
      RMQ_SIM_BINARY, {"--port", "0", "--brokers", "3", "--queues", "4", "--topics", late_topics,
                       "--broker-version", settings.personality, "--store", "on", "--stats-file",
                       stats_path, "--stats-messages", "--control-stdin", "--quiet-summary"});
  const auto schedule = rmq::test::chaos::make_schedule(seed, settings.fault_phase, sim.brokers());
  const std::string schedule_text = rmq::test::chaos::describe(schedule);
  if (verbose) {
    std::fprintf(stderr, "settings: %s\nschedule:\n%s", describe(settings).c_str(),
                 schedule_text.c_str());
  }

  // Sized up front and touched now: the records must not grow the RSS during the run.
  const double seconds =
      static_cast<double>(
          (settings.warmup + settings.fault_phase + settings.recovery + 5s).count()) /
      1000.0;
  record_table table(static_cast<std::size_t>(seconds * 3000.0));

  std::vector<std::string> command_errors;
  std::vector<std::uint64_t> memory_samples, rss_samples;
  std::error_code shutdown_ec;
  std::int64_t shutdown_started_ns = 0, shutdown_returned_ns = 0;
  std::uint64_t futures_not_ready_at_shutdown = 0;
  std::uint64_t after_shutdown_probe_failures = 0;
  std::uint64_t unexpected_exceptions = 0;
  int stuck_user_coroutines = 0;
  std::string first_unexpected;
  rmq::producer_stats stats{};
  const std::int64_t run_start_ns = now_ns();
  stall_probe stalls;
  std::int64_t pools_warmed_ms = 0;
  std::int64_t fault_start_ns = 0, fault_end_ns = 0;

  const std::size_t fds_before = lasting_open_fds();
  std::string fds_before_listing = fd_listing();
  std::size_t fds_after = 0;
  std::string fds_after_listing;
  {
    asio::io_context user;
    auto user_work = asio::make_work_guard(user);
    rmq::producer_config config = settings.config;
    config.name_servers = sim.namesrv();
    rmq::producer producer(config);
    REQUIRE_FALSE(producer.start());
    chaos_context ctx(producer, table, settings, user);
    REQUIRE_FALSE(producer.fetch_queues(main_topic, ctx.queues));
    REQUIRE(ctx.queues.size() == 12);
    const std::int64_t warm_start_ns = now_ns();
    warm_pools(ctx, sim, command_errors);
    pools_warmed_ms = (now_ns() - warm_start_ns) / 1000000;
    ctx.fault_start_ns = now_ns() + ns_of(settings.warmup);

    std::thread user_thread([&user] { user.run(); });
    std::thread issuer(async_issuer, std::ref(ctx), seed + 1);
    std::thread future_thread(future_actor, std::ref(ctx), seed + 2);
    std::vector<std::thread> blocking;
    for (int i = 0; i < settings.blocking_threads; ++i) {
      blocking.emplace_back(blocking_actor, std::ref(ctx), seed + 10 + static_cast<unsigned>(i));
    }

    // Warm-up without faults, then the schedule; the RSS is sampled from the first fault to the
    // end of the recovery (the waits pace the schedule and the sampling).
    ctx.pace_until(clock_type::time_point(std::chrono::nanoseconds(ctx.fault_start_ns)));
    fault_start_ns = now_ns();
    const auto phase_start = clock_type::now();
    const auto recovery_end = phase_start + settings.fault_phase + settings.recovery;
    auto next_sample = phase_start;
    std::size_t next_event = 0;
    while (clock_type::now() < recovery_end) {
      auto wake = std::min(next_sample, recovery_end);
      if (next_event < schedule.size())
        wake = std::min(wake, phase_start + schedule[next_event].at);
      ctx.pace_until(wake);
      const auto now = clock_type::now();
      while (next_event < schedule.size() && phase_start + schedule[next_event].at <= now) {
        const std::string& command = schedule[next_event].command;
        try {
          const std::string answer = sim.command(command);
          if (answer.rfind("ok", 0) != 0) command_errors.push_back(command + " -> " + answer);
        } catch (const std::exception& e) {
          command_errors.push_back(command + " -> " + e.what());
        }
        ++next_event;
        if (next_event == schedule.size()) fault_end_ns = now_ns();
      }
      if (now >= next_sample) {
        memory_samples.push_back(memory_in_use(table.bytes()));
        rss_samples.push_back(rss_bytes());
        if (verbose && memory_samples.size() % 10 == 1) {
          const auto p = producer.stats();
          std::fprintf(stderr,
                       "chaos +%lld ms: %s %.2f MiB, RSS %.1f MiB, %llu sends, %llu in flight, "
                       "%llu ok, %llu failed, %llu route queries\n",
                       static_cast<long long>((now_ns() - run_start_ns) / 1000000), memory_name,
                       static_cast<double>(memory_samples.back()) / 1048576.0,
                       static_cast<double>(rss_samples.back()) / 1048576.0,
                       static_cast<unsigned long long>(table.size()),
                       static_cast<unsigned long long>(p.in_flight),
                       static_cast<unsigned long long>(p.succeeded),
                       static_cast<unsigned long long>(p.failed),
                       static_cast<unsigned long long>(p.route_queries));
        }
        next_sample += 50ms;
      }
    }

    // Sends in flight for the shutdown: under a fault that holds them, wait (bounded) until some
    // have piled up.
    if (!settings.shutdown_fault.empty()) {
      try {
        const std::string answer = sim.command(settings.shutdown_fault);
        if (answer.rfind("ok", 0) != 0) {
          command_errors.push_back(settings.shutdown_fault + " -> " + answer);
        }
      } catch (const std::exception& e) {
        command_errors.push_back(settings.shutdown_fault + " -> " + e.what());
      }
      // Twenty sends started under that fault are in flight when shutdown() is called.
      (void)ctx.table.wait_for_sends(ctx.table.size() + 20, clock_type::now() + 1s);
    }

    // Stop issuing. Chains and coroutines on the loops finish their few sends (started from the
    // loop, racing the shutdown); blocking threads and coroutines on the user's io_context go
    // on into the shutdown.
    ctx.request_stop();
    issuer.join();
    stats = producer.stats();
    shutdown_started_ns = now_ns();
    shutdown_ec = producer.shutdown(settings.shutdown_timeout);
    shutdown_returned_ns = now_ns();
    table.set_shutdown_returned();

    // The futures in flight now (the future thread settles them, and checks their deadlines,
    // through the shutdown): every one must be ready.
    {
      std::lock_guard lock(ctx.futures_mutex);
      ctx.shutdown_returned.store(true);
      for (auto& f : ctx.futures) {
        if (f.result.wait_for(0s) != std::future_status::ready) {
          ++futures_not_ready_at_shutdown;
          table[f.id].after_shutdown = true;
        }
      }
      for (auto& f : ctx.late_futures) {
        if (f.result.wait_for(0s) != std::future_status::ready) {
          ++futures_not_ready_at_shutdown;
          table[f.id].after_shutdown = true;
        }
      }
    }
    future_thread.join();
    for (auto& f : ctx.late_futures) {  // late, and not ready when shutdown() returned
      if (f.result.wait_for(5s) == std::future_status::ready) settle_future(ctx, f);
    }

    for (auto& t : blocking) t.join();
    {
      std::unique_lock lock(ctx.mutex);
      // Their sends have failed with shutting_down by now: resumed soon after on `user`.
      if (!ctx.user_tasks_done.wait_for(lock, 30s, [&] { return ctx.user_tasks.load() == 0; })) {
        stuck_user_coroutines = ctx.user_tasks.load();
        user.stop();  // the sends they await never completed (reported below)
      }
    }

    // Sends started after shutdown() returned fail with shutting_down, exactly once.
    {
      struct probe_state {
        std::atomic<int> calls{0};
        std::promise<std::error_code> done;
      };
      auto probe = std::make_shared<probe_state>();
      auto probe_done = probe->done.get_future();
      producer.async_send(rmq::message(main_topic, "late"),
                          [probe](std::error_code ec, const rmq::send_result&) {
                            if (probe->calls.fetch_add(1) == 0) probe->done.set_value(ec);
                          });
      if (probe_done.wait_for(5s) != std::future_status::ready ||
          probe_done.get() != rmq::errc::shutting_down) {
        ++after_shutdown_probe_failures;
      }
      auto late_future = producer.async_send(rmq::message(main_topic, "late"), asio::use_future);
      if (late_future.wait_for(5s) != std::future_status::ready) {
        ++after_shutdown_probe_failures;
      } else {
        try {
          (void)late_future.get();
          ++after_shutdown_probe_failures;
        } catch (const rmq::send_error& e) {
          if (e.code() != rmq::errc::shutting_down) ++after_shutdown_probe_failures;
        }
      }
      if (probe->calls.load() != 1) ++after_shutdown_probe_failures;
    }

    user_work.reset();
    user_thread.join();
    stats.handler_exceptions = producer.stats().handler_exceptions;
    unexpected_exceptions = ctx.unexpected_exceptions.load();
    first_unexpected = ctx.first_unexpected;
  }
  fds_after = lasting_open_fds();
  fds_after_listing = fd_listing();  // now: the simulator's stop below closes its pipes
  const std::int64_t run_end_ns = now_ns();

  const int sim_exit = sim.stop();
  const std::int64_t sim_stopped_ns = now_ns();
  REQUIRE(sim_exit == 0);
  nlohmann::json sim_stats;
  {
    std::ifstream file(stats_path);
    REQUIRE(file.good());
    sim_stats = nlohmann::json::parse(file);
  }
  std::filesystem::remove(stats_path);
  const std::int64_t parsed_ns = now_ns();

  // What the simulator stored: (UNIQ_KEY, offsetMsgId) of every message.
  std::unordered_set<std::uint64_t> stored;
  std::uint64_t stored_oneway = 0;
  for (const auto& m : sim_stats.at("messages")) {
    const auto& props = m.at("properties");
    const auto key = props.find("UNIQ_KEY");
    if (key == props.end()) continue;
    stored.insert(fnv1a(key->get<std::string>(), m.at("offset_msg_id").get<std::string>()));
    const auto cid = props.find("cid");
    if (cid != props.end()) {
      const std::uint64_t id = std::strtoull(cid->get<std::string>().c_str(), nullptr, 10);
      if (id < table.size() && table[id].what == shape::oneway) ++stored_oneway;
    }
  }

  // --- invariants per send id ------------------------------------------------------------------
  stalls.stop();
  const std::int64_t allowed_lateness_ns = ns_of(slack) + stalls.worst_ns();
  std::vector<std::string> never, twice, after_shutdown, late, not_stored;
  std::int64_t max_lateness_ns = INT64_MIN;
  std::map<std::pair<form, shape>, tally> by_form;
  std::map<std::string, std::uint64_t> errors;
  const auto describe_send = [&](std::uint64_t id) {
    const send_record& r = table[id];
    std::ostringstream out;
    out << "send " << id << " (" << form_names[static_cast<std::size_t>(r.kind)] << " "
        << shape_names[static_cast<std::size_t>(r.what)] << (r.on_loop ? " from the loop" : "")
        << ", " << int(r.messages) << " message(s)) started +"
        << (r.started_ns - run_start_ns) / 1000000 << " ms, deadline +"
        << (r.deadline_ns - run_start_ns) / 1000000 << " ms";
    if (r.completions.load() > 0) {
      out << ", completed +" << (r.completed_ns - run_start_ns) / 1000000
          << " ms: " << (r.ok ? std::string(to_string(r.status)) : r.ec().message())
          << ", attempts " << r.attempts;
      if (r.msg_id[0] != '\0') out << ", msgId " << r.msg_id.data();
    }
    return out.str();
  };
  for (std::uint64_t id = 0; id < table.size(); ++id) {
    const send_record& r = table[id];
    auto& t = by_form[{r.kind, r.what}];
    ++t.sends;
    const std::uint32_t n = r.completions.load();
    if (n == 0) {
      never.push_back(describe_send(id));
      continue;
    }
    if (n > 1) twice.push_back(describe_send(id) + " — completed " + std::to_string(n) + " times");
    if (r.after_shutdown) after_shutdown.push_back(describe_send(id));
    r.ok ? ++t.ok : ++t.failed;
    if (!r.ok) ++errors[r.ec().message()];
    // A future found not ready at its deadline + slack is stamped when its waiter next saw it
    // ready: its lateness is an upper bound.
    const std::int64_t lateness = r.completed_ns - r.deadline_ns;
    max_lateness_ns = std::max(max_lateness_ns, lateness);
    if (lateness > allowed_lateness_ns) {
      late.push_back(describe_send(id) + " — " + std::to_string(lateness / 1000000) +
                     " ms after its deadline" + (r.late ? " (a future not ready in time)" : ""));
    }
    if (r.ok && r.what != shape::oneway) {
      if (r.ids_mismatch) {
        not_stored.push_back(describe_send(id) + " — msgId/offsetMsgId lists do not fit the batch");
      }
      for (int i = 0; i < r.messages && !r.ids_mismatch; ++i) {
        if (stored.count(r.stored_pair[static_cast<std::size_t>(i)]) == 0) {
          not_stored.push_back(describe_send(id) + " — message " + std::to_string(i) +
                               " not stored with that msgId/offsetMsgId");
        }
      }
    }
  }

  // --- the report ------------------------------------------------------------------------------
  const std::int64_t checked_ns = now_ns();
  std::ostringstream report;
  report << "chaos seed " << seed << ": " << table.size() << " sends";
  if (table.full()) report << " (record table full: issuers stopped early)";
  report << " in " << (run_end_ns - run_start_ns) / 1000000 << " ms (faults "
         << settings.fault_phase.count() << " ms, " << schedule.size() << " fault commands from +"
         << (fault_start_ns - run_start_ns) / 1000000 << " to +"
         << (fault_end_ns - run_start_ns) / 1000000 << " ms; shutdown "
         << (shutdown_returned_ns - shutdown_started_ns) / 1000000 << " ms with " << stats.in_flight
         << " sends in flight)\n";
  report << "  time: rmq-sim ready and records made in " << (run_start_ns - test_start_ns) / 1000000
         << " ms, pools warmed in " << pools_warmed_ms << " ms, rmq-sim stopped (stats written) in "
         << (sim_stopped_ns - run_end_ns) / 1000000 << " ms, stats parsed in "
         << (parsed_ns - sim_stopped_ns) / 1000000 << " ms, checked in "
         << (checked_ns - parsed_ns) / 1000000 << " ms\n";
  for (const auto& [key, t] : by_form) {
    report << "  " << form_names[static_cast<std::size_t>(key.first)] << " "
           << shape_names[static_cast<std::size_t>(key.second)] << ": " << t.sends << " sends, "
           << t.ok << " ok, " << t.failed << " failed\n";
  }
  report << "  errors:";
  for (const auto& [message, n] : errors) report << " [" << message << "] " << n << ";";
  report << "\n  stored by rmq-sim: " << sim_stats.at("stored_messages").get<std::uint64_t>()
         << " messages (" << stored_oneway << " oneway); faults injected:";
  report << " namesrv " << sim_stats.at("namesrv").at("faults_injected").get<std::uint64_t>();
  for (const auto& [name, b] : sim_stats.at("brokers").items()) {
    report << ", " << name << " " << b.at("faults_injected").get<std::uint64_t>() << " (conn "
           << b.at("connections_accepted").get<std::uint64_t>() << ")";
  }
  report << "\n  producer: retries " << stats.retries << ", timeouts " << stats.timeouts
         << ", route queries " << stats.route_queries << ", slot fallbacks " << stats.slot_fallbacks
         << ", frame pool fallbacks " << stats.frame_pool_fallbacks << "\n";
  report << "  max lateness " << (max_lateness_ns == INT64_MIN ? 0 : max_lateness_ns / 1000000)
         << " ms (allowed " << slack.count() << " ms + the worst stall seen, "
         << stalls.worst_ns() / 1000000 << " ms); futures not ready when shutdown() returned "
         << futures_not_ready_at_shutdown << "\n";
  // Mean of the first and of the last third of the samples.
  const auto thirds = [](const std::vector<std::uint64_t>& samples) {
    const std::size_t third = samples.size() / 3;
    double first = 0, last = 0;
    for (std::size_t i = 0; i < third; ++i) {
      first += static_cast<double>(samples[i]);
      last += static_cast<double>(samples[samples.size() - third + i]);
    }
    return third == 0
               ? std::pair{0.0, 0.0}
               : std::pair{first / static_cast<double>(third), last / static_cast<double>(third)};
  };
  const auto [first, last] = thirds(memory_samples);
  const auto [rss_first, rss_last] = thirds(rss_samples);
  report << "  " << memory_name << " first third " << first / 1048576.0 << " MiB, last third "
         << last / 1048576.0 << " MiB (" << memory_samples.size() << " samples; RSS "
         << rss_first / 1048576.0 << " -> " << rss_last / 1048576.0 << " MiB); fds " << fds_before
         << " -> " << fds_after;
  MESSAGE(report.str());

  const auto list = [](const std::vector<std::string>& items) {
    std::string text;
    for (std::size_t i = 0; i < items.size() && i < 20; ++i) text += "  " + items[i] + "\n";
    if (items.size() > 20) text += "  ... and " + std::to_string(items.size() - 20) + " more\n";
    return text;
  };
  const double memory_ratio = first > 0 ? last / first : 0;
  const bool all_ok = never.empty() && twice.empty() && after_shutdown.empty() && late.empty() &&
                      not_stored.empty() && table.extra_completions() == 0 &&
                      fds_before == fds_after && memory_ratio <= 1.10 && first > 0 &&
                      command_errors.empty() && stats.handler_exceptions == 0 &&
                      unexpected_exceptions == 0 && after_shutdown_probe_failures == 0 &&
                      stuck_user_coroutines == 0 && !shutdown_ec;
  if (!all_ok) MESSAGE("fault schedule of seed ", seed, ":\n", schedule_text);

  CHECK_MESSAGE(never.empty(), "sends that never completed:\n", list(never));
  CHECK_MESSAGE(twice.empty(), "sends completed more than once:\n", list(twice));
  CHECK_MESSAGE(table.extra_completions() == 0, "extra completions: ", table.extra_completions());
  CHECK_MESSAGE(stats.handler_exceptions == 0,
                "handlers that threw on a loop (a future set twice?): ", stats.handler_exceptions);
  CHECK_MESSAGE(after_shutdown.empty(), "sends completed after shutdown() returned:\n",
                list(after_shutdown));
  CHECK_MESSAGE(late.empty(), "sends completed later than their deadline + ", slack.count(),
                " ms + the worst stall seen (", stalls.worst_ns() / 1000000, " ms):\n", list(late));
  CHECK_MESSAGE(not_stored.empty(), "successes rmq-sim did not store:\n", list(not_stored));
  CHECK_MESSAGE(fds_before == fds_after, "open fds before the producer:\n", fds_before_listing,
                "after:\n", fds_after_listing);
  CHECK_MESSAGE(first > 0, "too few memory samples");
  CHECK_MESSAGE(memory_ratio <= 1.10, memory_name, " grew: last third ", last / 1048576.0,
                " MiB, first third ", first / 1048576.0, " MiB");
  CHECK_MESSAGE(command_errors.empty(), "rmq-sim refused control commands:\n",
                list(command_errors));
  CHECK_MESSAGE(unexpected_exceptions == 0,
                "exceptions other than rmq::send_error: ", unexpected_exceptions,
                " (first: ", first_unexpected, ")");
  CHECK_MESSAGE(after_shutdown_probe_failures == 0,
                "a send started after shutdown() did not fail once with shutting_down");
  CHECK_MESSAGE(!shutdown_ec, "shutdown: ", shutdown_ec.message());
  CHECK_MESSAGE(stuck_user_coroutines == 0, stuck_user_coroutines,
                " coroutines on the user's io_context still awaited a send 30 s after shutdown");
  CHECK(sim_stats.at("evicted_messages").get<std::uint64_t>() == 0);
}
