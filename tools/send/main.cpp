// rmq-send: sends --count messages and prints each result — plain sends, transactional ones
// (--transaction) or requests (--request) — or recalls timer messages (--recall). Exit code 0 only
// when every one succeeded (SEND_OK; oneway: written; a transaction: END_TRANSACTION written and,
// with --check-answer, every unknown one checked; a request: its reply came), 1 otherwise, 2 for a
// bad command line.
#include "body_source.hpp"
#include "result_printer.hpp"
#include "rmq/producer.hpp"
#include "send_cli.hpp"

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <vector>

namespace {

using rmq::send_tool::result_printer;
using rmq::send_tool::send_options;

/// Messages of the sends in flight: a send needs its message alive until it completes.
class message_slots {
 public:
  message_slots(std::size_t n, const rmq::message& prototype) : slots_(n, prototype) {
    for (std::size_t i = 0; i < n; ++i) free_.push_back(i);
  }
  std::size_t acquire() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !free_.empty(); });
    const std::size_t i = free_.back();
    free_.pop_back();
    return i;
  }
  void release(std::size_t i) {
    std::lock_guard lock(mutex_);
    free_.push_back(i);
    changed_.notify_all();
  }
  void wait_all_free() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return free_.size() == slots_.size(); });
  }
  rmq::message& operator[](std::size_t i) { return slots_[i]; }

 private:
  std::vector<rmq::message> slots_;
  std::vector<std::size_t> free_;
  std::mutex mutex_;
  std::condition_variable changed_;
};

class body_maker {
 public:
  explicit body_maker(const send_options& o) : text_(o.body), source_(o.message.size) {}
  void fill(rmq::message& msg) {
    if (text_) {
      msg.set_body(*text_);
    } else {
      source_.fill(msg, rng_);
    }
  }

 private:
  const std::optional<std::string>& text_;
  rmq::tools::body_source source_;
  std::uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
};

void run_sync(rmq::producer& producer, const send_options& o, result_printer& printer) {
  rmq::message msg = rmq::tools::make_message(o.message);
  body_maker bodies(o);
  for (std::uint64_t i = 0; i < o.count; ++i) {
    bodies.fill(msg);
    std::error_code ec;
    if (o.mode == rmq::tools::send_mode::oneway) {
      ec = producer.send_oneway(msg);
      if (ec) {
        printer.failure(i, ec, rmq::send_result{});
      } else {
        printer.written(i);
      }
      continue;
    }
    const rmq::send_result result = producer.send(msg, ec);
    if (ec) {
      printer.failure(i, ec, result);
    } else {
      printer.success(i, result);
    }
  }
}

void run_async(rmq::producer& producer, const send_options& o, result_printer& printer) {
  const auto window = static_cast<std::size_t>(std::min<std::uint64_t>(o.inflight, o.count));
  message_slots slots(window, rmq::tools::make_message(o.message));
  body_maker bodies(o);
  for (std::uint64_t i = 0; i < o.count; ++i) {
    const std::size_t slot = slots.acquire();
    bodies.fill(slots[slot]);
    producer.async_send(slots[slot],
                        [&slots, &printer, slot, i](std::error_code ec, rmq::send_result result) {
                          if (ec) {
                            printer.failure(i, ec, result);
                          } else {
                            printer.success(i, result);
                          }
                          slots.release(slot);
                        });
  }
  slots.wait_all_free();
}

/// --transaction: one transactional send after the other; the local transaction answers as
/// told. Returns how many ended UNKNOW (the brokers will check those).
std::uint64_t run_transactions(rmq::producer& producer, const send_options& o,
                               result_printer& printer) {
  rmq::message msg = rmq::tools::make_message(o.message);
  body_maker bodies(o);
  std::uint64_t unknown = 0;
  const rmq::transaction_state decided = *o.transaction;
  for (std::uint64_t i = 0; i < o.count; ++i) {
    bodies.fill(msg);
    std::error_code ec;
    const rmq::transaction_result result = producer.send_in_transaction(
        msg, [decided](const rmq::message&, const rmq::send_result&) { return decided; }, ec);
    if (ec) {
      printer.failure(i, ec, result.send);
      continue;
    }
    printer.transaction(i, result);
    if (result.state == rmq::transaction_state::unknown) ++unknown;
  }
  return unknown;
}

/// --request: one request after the other; prints each reply.
void run_requests(rmq::producer& producer, const send_options& o, result_printer& printer) {
  rmq::message msg = rmq::tools::make_message(o.message);
  body_maker bodies(o);
  for (std::uint64_t i = 0; i < o.count; ++i) {
    bodies.fill(msg);
    std::error_code ec;
    const rmq::request_result result =
        producer.request(msg, std::chrono::milliseconds(o.request_timeout_ms), ec);
    if (ec) {
      printer.failure(i, ec, result.request);
    } else {
      printer.reply(i, result);
    }
  }
}

/// Answers the brokers' checks as told, and lets the caller wait for a number of them.
class check_counter {
 public:
  explicit check_counter(rmq::transaction_state answer) : answer_(answer) {}
  rmq::transaction_state answer(const rmq::transaction_check& check) {
    const std::lock_guard lock(mutex_);
    std::cout << "check msgId=" << check.msg_id << " topic=" << check.topic
              << " times=" << check.check_times << " answer=" << rmq::to_string(answer_)
              << std::endl;
    ++answered_;
    changed_.notify_all();
    return answer_;
  }
  /// Whether `count` checks were answered within `timeout`.
  bool wait_for(std::uint64_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return answered_ >= count; });
  }

 private:
  rmq::transaction_state answer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t answered_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  auto parsed = rmq::send_tool::parse_command_line(argc, argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  const send_options options = std::get<send_options>(std::move(parsed));

  rmq::producer_config config = rmq::tools::make_producer_config(options.client);
  std::optional<check_counter> checks;
  if (options.check_answer) {
    checks.emplace(*options.check_answer);
    config.checker = [&checks](const rmq::transaction_check& c) { return checks->answer(c); };
  }
  rmq::producer producer(std::move(config));
  if (const std::error_code ec = producer.start()) {
    std::cerr << "rmq-send: producer start failed: " << ec.message() << '\n';
    return 1;
  }
  result_printer printer(std::cout, options.quiet);
  const auto start = std::chrono::steady_clock::now();
  bool checks_ok = true;
  if (options.transaction) {
    const std::uint64_t unknown = run_transactions(producer, options, printer);
    // Each UNKNOW is checked by its broker later: stay up to answer (one check each).
    if (checks && unknown != 0 &&
        !checks->wait_for(unknown, std::chrono::milliseconds(options.check_wait_ms))) {
      std::cerr << "rmq-send: not every unknown transaction was checked within --check-wait\n";
      checks_ok = false;
    }
  } else if (!options.recall.empty()) {
    for (std::size_t i = 0; i < options.recall.size(); ++i) {
      std::error_code ec;
      const rmq::recall_result r = producer.recall(options.message.topic, options.recall[i], ec);
      printer.recall(i, ec, r);
    }
  } else if (options.request) {
    run_requests(producer, options, printer);
  } else if (options.mode == rmq::tools::send_mode::async) {
    run_async(producer, options, printer);
  } else {
    run_sync(producer, options, printer);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  producer.shutdown();
  if (options.quiet) printer.summary(elapsed);
  std::cout.flush();
  return printer.all_ok() && checks_ok ? 0 : 1;
}
