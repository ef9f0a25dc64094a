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

  if (auto code = tools::parse_command_line(app, argc, argv)) return *code;
  o.mode = *tools::parse_send_mode(mode);
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
