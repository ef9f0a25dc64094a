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
  clock::time_point start = clock::now();
  while (state.claim()) {
    std::size_t bytes = 0;
    const rmq::message& msg = next_message.next(rng, bytes);
    std::error_code ec;
    // Two statements, not a conditional: g++ 12 mishandles temporaries of co_await inside ?:.
    if (oneway) {
      (void)co_await producer.async_send_oneway(msg, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      (void)co_await producer.async_send(msg, asio::redirect_error(asio::use_awaitable, ec));
    }
    start = record_send(state, rec, start, ec, bytes);  // the next send starts now
  }
}

// Senders driven by completion handlers: each completion records its send and starts the
// next, on the producer's loop, with no coroutine frame in between.
//
// A completion reads its group (what the senders of one producer share, touched by every
// completion and so in the cache) and what its handler carries (the send's start), nothing of
// a sender's own: with one body size the senders have no state at all. A sender object last
// touched a round trip earlier would be a cache miss per send at depth, the load generator's
// cost counted as the client's. With a size range each sender keeps its message (refilled for
// every send anyway).
class sender_group {
 public:
  sender_group(rmq::producer& producer, run_state& state, recorder& rec,
               const message_supply& messages, bool oneway, std::size_t senders)
      : producer_(producer),
        state_(state),
        rec_(rec),
        messages_(messages),
        oneway_(oneway),
        live_(senders) {}

  class ranged_sender;

  /// Starts the next send of one sender of the shared message, or ends that sender. `now`:
  /// the clock's reading when the previous send of this sender was recorded, a few dozen
  /// nanoseconds ago (one reading per send instead of two: at millions of sends a second the
  /// load generator's clock readings were a tenth of the CPU it measures).
  void start_shared(clock::time_point now = clock::now()) {
    if (!state_.claim()) return sender_done();
    send(messages_.shared_message(), [this, start = now](std::error_code ec,
                                                         const rmq::send_result&) {
      const clock::time_point end = record_send(state_, rec_, start, ec, messages_.shared_bytes());
      then([this, end] { start_shared(end); });
    });
  }

  const message_supply& messages() const noexcept { return messages_; }

  template <class Done>
  void send(const rmq::message& msg, Done done) {
    if (oneway_) {
      producer_.async_send_oneway(msg, std::move(done));
    } else {
      producer_.async_send(msg, std::move(done));
    }
  }

  /// Runs `next` (the next send of a sender that just completed). A send refused at once
  /// completes inside its own start: past a few nested starts (on this thread's stack), start
  /// the next from the loop's queue instead of recursing deeper.
  template <class Next>
  void then(Next next) {
    static thread_local int nested = 0;
    if (nested >= max_nesting) {
      asio::post(producer_.get_executor(), std::move(next));
      return;
    }
    ++nested;
    next();  // may delete this group: only the thread-local is touched after it
    --nested;
  }

  run_state& state() noexcept { return state_; }
  recorder& rec() noexcept { return rec_; }

  /// One sender leaves; the last one deletes the group.
  void sender_done() {
    run_state& state = state_;
    if (--live_ == 0) delete this;
    state.sender_done();
  }

 private:
  static constexpr int max_nesting = 16;

  rmq::producer& producer_;
  run_state& state_;
  recorder& rec_;
  const message_supply& messages_;
  bool oneway_;
  std::size_t live_;  // senders not yet left: touched on the loop thread only
};

class sender_group::ranged_sender {
 public:
  ranged_sender(sender_group& group, std::uint64_t rng)
      : group_(group), message_(group.messages()), rng_(rng) {}

  /// Starts the next send, or leaves (deleting itself) once the run wants no more. `now`: as
  /// sender_group::start_shared's.
  void start_next(clock::time_point now = clock::now()) {
    if (!group_.state().claim()) {
      sender_group& group = group_;
      delete this;
      group.sender_done();
      return;
    }
    const rmq::message& msg = message_.next(rng_, bytes_);
    group_.send(msg, [this, start = now](std::error_code ec, const rmq::send_result&) {
      const clock::time_point end = record_send(group_.state(), group_.rec(), start, ec, bytes_);
      group_.then([this, end] { start_next(end); });
    });
  }

 private:
  sender_group& group_;
  message_supply::sender_message message_;
  std::uint64_t rng_;
  std::size_t bytes_ = 0;
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
  std::vector<sender_group*> groups;
  if (!context.options.coroutines) {
    for (std::size_t p = 0; p < context.producers.size(); ++p) {
      const std::size_t of_this =
          senders / context.producers.size() + (p < senders % context.producers.size() ? 1 : 0);
      groups.push_back(new sender_group(*context.producers[p], context.state, *recorders[p],
                                        context.messages, oneway, of_this));
    }
  }
  for (std::size_t i = 0; i < senders; ++i) {
    const std::size_t p = i % context.producers.size();
    rmq::producer& producer = *context.producers[p];
    run_state& state = context.state;
    const std::uint64_t rng = 0x2545f4914f6cdd1dULL * (i + 1);
    if (!context.options.coroutines) {
      sender_group* group = groups[p];
      if (context.messages.shared()) {
        asio::post(producer.get_executor(), [group] { group->start_shared(); });
      } else {
        auto* sender = new sender_group::ranged_sender(*group, rng);
        asio::post(producer.get_executor(), [sender] { sender->start_next(); });
      }
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

clock::time_point record_send(run_state& state, recorder& rec, clock::time_point start,
                              std::error_code ec, std::size_t bytes) {
  const clock::time_point end = clock::now();
  if (ec) {
    state.count_failure();
    rec.on_failure(start, end, ec);
  } else {
    state.count_success(bytes);
    rec.on_success(start, end, bytes);
  }
  return end;
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
