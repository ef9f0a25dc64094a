#include "send_cli.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>

namespace rmq::send_tool {

std::variant<send_options, int> parse_command_line(int argc, const char* const* argv) {
  send_options o;
  o.client.group = "rmq_send_producer";
  CLI::App app{"rmq-send: sends messages with rmq-coro and prints each result.", "rmq-send"};
  app.option_defaults()->always_capture_default();
  tools::add_client_options(app, o.client, false);
  tools::add_message_options(app, o.message, true);
  app.get_option("--topic")->required();
  auto* body = app.add_option("--body", o.body, "message body text");
  auto* size = app.get_option("--size");
  body->excludes(size);
  size->excludes(body);
  std::string mode = "sync";
  app.add_option("--mode", mode, "sync | async | oneway")
      ->check(CLI::IsMember({"sync", "async", "oneway"}));
  app.add_option("--count", o.count, "messages to send")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  app.add_option("--inflight", o.inflight, "async: sends in flight at most")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 16));
  app.add_flag("--quiet,-q", o.quiet, "print a summary instead of one line per result");
  std::string transaction;
  std::string check_answer;
  auto* tx = app.add_option("--transaction", transaction,
                            "send each message in a transaction whose local transaction "
                            "answers commit | rollback | unknown")
                 ->check(CLI::IsMember({"commit", "rollback", "unknown"}));
  app.add_option("--check-answer", check_answer,
                 "answer the brokers' transaction checks with commit | rollback (and wait for "
                 "one check per unknown transaction)")
      ->check(CLI::IsMember({"commit", "rollback"}))
      ->needs(tx);
  app.add_option("--check-wait", o.check_wait_ms,
                 "milliseconds to wait for the brokers' checks of unknown transactions")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));
  auto* request =
      app.add_flag("--request", o.request, "send each message as a request and print its reply");
  app.add_option("--request-timeout", o.request_timeout_ms,
                 "milliseconds a request waits for its reply (send included)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));
  request->excludes(tx);
  auto* recall = app.add_option("--recall", o.recall,
                                "recall the timer message of --topic whose send printed this "
                                "recallHandle (5.3 brokers with recall enabled), instead of "
                                "sending; repeatable");
  recall->excludes(tx)->excludes(request);

  if (auto code = tools::parse_command_line(app, argc, argv)) return *code;
  o.mode = *tools::parse_send_mode(mode);
  const auto state_of = [](const std::string& name) {
    return name == "commit"     ? rmq::transaction_state::commit
           : name == "rollback" ? rmq::transaction_state::rollback
                                : rmq::transaction_state::unknown;
  };
  if (!transaction.empty()) o.transaction = state_of(transaction);
  if (!check_answer.empty()) o.check_answer = state_of(check_answer);
  if ((o.transaction || o.request) && o.mode == tools::send_mode::oneway) {
    return tools::bad_arguments("rmq-send",
                                "--transaction and --request need a response: not "
                                "with --mode oneway");
  }
  if (o.message.topic.empty()) return tools::bad_arguments("rmq-send", "--topic must not be empty");
  if (o.client.namesrv.empty() && std::getenv("NAMESRV_ADDR") == nullptr) {
    return tools::bad_arguments("rmq-send", "--namesrv is required (or set NAMESRV_ADDR)");
  }
  if (o.body && o.body->empty()) {
    return tools::bad_arguments("rmq-send", "--body must not be empty (a send needs a body)");
  }
  if (o.message.delay_level > rmq::message::max_default_delay_level) {
    return tools::bad_arguments("rmq-send", "--delay-level must be 0..18");
  }
  return o;
}

}  // namespace rmq::send_tool
