// Sync senders: threads calling the blocking send, closed loop or paced (--rate).
#include "runner.hpp"

#include <optional>

namespace rmq::bench {

std::vector<std::thread> start_sync_senders(const runner_context& context) {
  const bench_options& options = context.options;
  std::optional<pacer> pace;
  if (options.open_loop()) pace.emplace(context.state.start(), options.rate);
  context.state.add_senders(options.threads);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < options.threads; ++t) {
    rmq::producer& producer = *context.producers[t % context.producers.size()];
    recorder& rec = context.state.make_recorder();
    threads.emplace_back([&producer, &rec, &context, pace, t] {
      run_state& state = context.state;
      message_supply::sender_message next_message(context.messages);
      std::uint64_t rng = 0x9e3779b97f4a7c15ULL * (t + 1);
      for (;;) {
        clock::time_point start;
        if (pace) {
          // A paced sender needs the message's index: its intended time.
          const std::optional<std::uint64_t> index = state.claim_index();
          if (!index) break;
          start = pace->intended(*index);
          if (!sleep_until_or_stopped(state, start)) {
            state.abandon();
            break;
          }
        } else {
          if (!state.claim()) break;
          start = clock::now();
        }
        std::size_t bytes = 0;
        const rmq::message& msg = next_message.next(rng, bytes);
        std::error_code ec;
        (void)producer.send(msg, ec);
        (void)record_send(state, rec, start, ec, bytes);
      }
      state.sender_done();
    });
  }
  return threads;
}

}  // namespace rmq::bench
