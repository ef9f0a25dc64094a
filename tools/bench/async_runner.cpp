// Closed-loop async/oneway senders: coroutines on the producer's own loop.
#include "runner.hpp"

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <exception>
#include <iostream>

namespace rmq::bench {

namespace {

asio::awaitable<void> send_loop(rmq::producer& producer, run_state& state, recorder& rec,
                                const message_supply& messages, bool oneway, std::uint64_t rng) {
  message_supply::sender_message next_message(messages);
  while (state.claim()) {
    std::size_t bytes = 0;
    const rmq::message& msg = next_message.next(rng, bytes);
    std::error_code ec;
    const clock::time_point start = clock::now();
    // Two statements, not a conditional: g++ 12 mishandles temporaries of co_await inside ?:.
    rmq::send_result result;
    if (oneway) {
      result =
          co_await producer.async_send_oneway(msg, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      result = co_await producer.async_send(msg, asio::redirect_error(asio::use_awaitable, ec));
    }
    record_send(state, rec, start, ec, result, bytes);
  }
}

// One send slot driven by completion handlers: each completion records its send and starts
// the next, on the producer's loop, with no coroutine frame in between.
class callback_sender {
 public:
  callback_sender(rmq::producer& producer, run_state& state, recorder& rec,
                  const message_supply& messages, bool oneway, std::uint64_t rng)
      : producer_(producer), state_(state), rec_(rec), next_message_(messages), oneway_(oneway),
        rng_(rng) {}

  /// Starts the next send, or leaves (deleting itself) once the run wants no more.
  void start_next() {
    if (!state_.claim()) {
      run_state& state = state_;
      delete this;
      state.sender_done();
      return;
    }
    const rmq::message& msg = next_message_.next(rng_, bytes_);
    start_ = clock::now();
    const auto done = [this](std::error_code ec, rmq::send_result result) { on_done(ec, result); };
    if (oneway_) {
      producer_.async_send_oneway(msg, done);
    } else {
      producer_.async_send(msg, done);
    }
  }

 private:
  void on_done(std::error_code ec, const rmq::send_result& result) {
    record_send(state_, rec_, start_, ec, result, bytes_);
    // A send refused at once completes inside its own start: past a few nested starts (on this
    // thread's stack), start the next from the loop's queue instead of recursing deeper.
    static thread_local int nested = 0;
    if (nested >= max_nesting) {
      asio::post(producer_.get_executor(), [this] { start_next(); });
      return;
    }
    ++nested;
    start_next();  // may delete this: only the thread-local is touched after it
    --nested;
  }

  static constexpr int max_nesting = 16;

  rmq::producer& producer_;
  run_state& state_;
  recorder& rec_;
  message_supply::sender_message next_message_;
  bool oneway_;
  std::uint64_t rng_;
  std::size_t bytes_ = 0;
  clock::time_point start_{};
};

}  // namespace

std::vector<std::thread> start_async_senders(const runner_context& context) {
  const bool oneway = context.options.mode == tools::send_mode::oneway;
  std::vector<recorder*> recorders;
  for (std::size_t p = 0; p < context.producers.size(); ++p) {
    recorders.push_back(&context.state.make_recorder());
  }
  const std::size_t senders = context.options.inflight;
  context.state.add_senders(senders);
  for (std::size_t i = 0; i < senders; ++i) {
    const std::size_t p = i % context.producers.size();
    rmq::producer& producer = *context.producers[p];
    run_state& state = context.state;
    const std::uint64_t rng = 0x2545f4914f6cdd1dULL * (i + 1);
    if (!context.options.coroutines) {
      auto* sender =
          new callback_sender(producer, state, *recorders[p], context.messages, oneway, rng);
      asio::post(producer.get_executor(), [sender] { sender->start_next(); });
      continue;
    }
    asio::co_spawn(producer.get_executor(),
                   send_loop(producer, state, *recorders[p], context.messages, oneway, rng),
                   [&state](std::exception_ptr error) {
                     if (error) {
                       try {
                         std::rethrow_exception(error);
                       } catch (const std::exception& e) {
                         std::cerr << "rmq-bench: sender failed: " << e.what() << '\n';
                       }
                     }
                     state.sender_done();
                   });
  }
  return {};
}

void record_send(run_state& state, recorder& rec, clock::time_point start, std::error_code ec,
                 const rmq::send_result& result, std::size_t bytes) {
  const clock::time_point end = clock::now();
  if (ec) {
    state.count_failure();
    rec.on_failure(start, end, ec);
  } else {
    state.count_success(bytes);
    rec.on_success(start, end, result.queue.broker_name, bytes);
  }
}

bool sleep_until_or_stopped(const run_state& state, clock::time_point until) {
  // Short steps so that Ctrl-C is seen quickly even at low rates.
  constexpr auto step = std::chrono::milliseconds(50);
  for (;;) {
    if (state.stopping()) return false;
    const clock::time_point now = clock::now();
    if (now >= until) return true;
    std::this_thread::sleep_until(std::min(until, now + step));
  }
}

}  // namespace rmq::bench
