#include "cli.hpp"

#include "options.hpp"
#include "send_cli.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

template <class Parse>
auto parse_with(Parse parse, std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"tool"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse(static_cast<int>(argv.size()), argv.data());
}

auto bench(std::initializer_list<const char*> args) {
  return parse_with(rmq::bench::parse_command_line, args);
}
auto send(std::initializer_list<const char*> args) {
  return parse_with(rmq::send_tool::parse_command_line, args);
}

template <class Result>
int exit_code(const Result& r) {
  const int* code = std::get_if<int>(&r);
  return code != nullptr ? *code : -1;
}

}  // namespace

TEST_CASE("size ranges") {
  using rmq::tools::parse_size_range;
  CHECK(parse_size_range("128")->min == 128);
  CHECK(parse_size_range("128")->max == 128);
  CHECK(parse_size_range("100-200")->min == 100);
  CHECK(parse_size_range("100-200")->max == 200);
  CHECK(parse_size_range("1k")->min == 1024);
  CHECK(parse_size_range("1k-4m")->max == 4u << 20);
  for (const char* bad : {"", "0", "-5", "abc", "10-", "-10", "200-100", "1.5", "0-10", "5x"}) {
    CHECK_MESSAGE(!parse_size_range(bad), bad);
  }
}

TEST_CASE("properties, modes and compression") {
  CHECK(rmq::tools::parse_property("a=b")->first == "a");
  CHECK(rmq::tools::parse_property("a=b=c")->second == "b=c");
  CHECK_FALSE(rmq::tools::parse_property("=b"));
  CHECK_FALSE(rmq::tools::parse_property("ab"));
  CHECK(rmq::tools::parse_send_mode("oneway") == rmq::tools::send_mode::oneway);
  CHECK_FALSE(rmq::tools::parse_send_mode("batch"));
  std::optional<rmq::compression> c;
  CHECK(rmq::tools::parse_compression("zstd", c));
  CHECK(c == rmq::compression::zstd);
  CHECK(rmq::tools::parse_compression("none", c));
  CHECK_FALSE(c.has_value());
  CHECK_FALSE(rmq::tools::parse_compression("gzip", c));
}

TEST_CASE("rmq-bench defaults and flags") {
  auto r = bench({});
  REQUIRE(std::holds_alternative<rmq::bench::bench_options>(r));
  const auto& d = std::get<rmq::bench::bench_options>(r);
  CHECK(d.mode == rmq::tools::send_mode::async);
  CHECK(d.duration_s == 10);
  CHECK(d.brokers == 2);
  CHECK(d.embedded_sim());
  CHECK(!d.coroutines);

  auto f = bench({"--mode",    "sync",   "--threads",   "4",     "--rate",         "5000",
                  "--size",    "64-1k",  "--property",  "a=1",   "--property",     "b=2",
                  "--tags",    "T",      "--keys",      "k1 k2", "--compress",     "lz4",
                  "--timeout", "500",    "--producers", "2",     "--loop-threads", "2",
                  "--count",   "1000",   "--warmup",    "0",     "--json",         "x.json",
                  "--hist",    "x.hgrm", "--plot",      "x.svg", "--raw-echo",     "--topic",
                  "T1"});
  REQUIRE(std::holds_alternative<rmq::bench::bench_options>(f));
  const auto& o = std::get<rmq::bench::bench_options>(f);
  CHECK(o.mode == rmq::tools::send_mode::sync);
  CHECK(o.threads == 4);
  CHECK(o.rate == 5000);
  CHECK(o.open_loop());
  CHECK(o.message.size.min == 64);
  CHECK(o.message.size.max == 1024);
  REQUIRE(o.message.properties.size() == 2);
  CHECK(o.message.properties[1].first == "b");
  CHECK(o.client.compress == rmq::compression::lz4);
  CHECK(o.client.timeout_ms == 500);
  CHECK(o.count == 1000);
  CHECK(o.duration_s == 0);  // --count alone: no time limit
  CHECK(o.raw_echo);
  CHECK(o.message.topic == "T1");
  CHECK(!o.coroutines);
  CHECK(!o.client.binary_headers);
  CHECK(o.client.busy_poll_us == 0);
  auto c = bench({"--api", "coroutine", "--headers", "binary", "--busy-poll", "200"});
  REQUIRE(std::holds_alternative<rmq::bench::bench_options>(c));
  CHECK(std::get<rmq::bench::bench_options>(c).coroutines);
  CHECK(rmq::tools::make_producer_config(std::get<rmq::bench::bench_options>(c).client)
            .serialization == rmq::header_serialization::binary);
  CHECK(rmq::tools::make_producer_config(std::get<rmq::bench::bench_options>(c).client).busy_poll ==
        std::chrono::microseconds(200));
  CHECK(o.client.backend == rmq::io_backend::automatic);
  for (const auto backend : {rmq::io_backend::io_uring, rmq::io_backend::epoll}) {
    const std::string name(rmq::to_string(backend));
    auto b = bench({"--backend", name.c_str()});
    REQUIRE(std::holds_alternative<rmq::bench::bench_options>(b));
    CHECK(rmq::tools::make_producer_config(std::get<rmq::bench::bench_options>(b).client).backend ==
          backend);
  }

  CHECK(rmq::tools::make_producer_config(o.client).name_space.empty());  // none by default
  auto n = bench({"--namespace", "ns1"});
  REQUIRE(std::holds_alternative<rmq::bench::bench_options>(n));
  CHECK(
      rmq::tools::make_producer_config(std::get<rmq::bench::bench_options>(n).client).name_space ==
      "ns1");

  // --trace with no value: the Java default topic; with one: that topic; without: off.
  CHECK_FALSE(rmq::tools::make_producer_config(o.client).trace);
  auto traced = bench({"--trace"});
  REQUIRE(std::holds_alternative<rmq::bench::bench_options>(traced));
  const auto traced_config =
      rmq::tools::make_producer_config(std::get<rmq::bench::bench_options>(traced).client);
  REQUIRE(traced_config.trace);
  CHECK(traced_config.trace->topic == "RMQ_SYS_TRACE_TOPIC");
  auto own_topic = bench({"--trace", "BenchTrace", "--topic", "T2"});
  REQUIRE(std::holds_alternative<rmq::bench::bench_options>(own_topic));
  const auto& own = std::get<rmq::bench::bench_options>(own_topic);
  REQUIRE(own.client.trace);
  CHECK(own.client.trace->topic == "BenchTrace");
  CHECK(own.message.topic == "T2");

  const auto config = rmq::tools::make_producer_config(o.client);
  CHECK(config.send_timeout == std::chrono::milliseconds(500));
  CHECK(config.loop_threads == 2);
  CHECK(config.compress_type == rmq::compression::lz4);
  CHECK(config.serialization == rmq::header_serialization::json);
}

TEST_CASE("rmq-bench: later flags override earlier ones, as wrappers need") {
  // tools/run.sh passes its defaults first, then the user's flags.
  auto r = bench({"--duration", "10", "--mode", "async", "--inflight", "1024", "--mode", "sync",
                  "--threads", "1", "--duration", "3"});
  REQUIRE(std::holds_alternative<rmq::bench::bench_options>(r));
  const auto& o = std::get<rmq::bench::bench_options>(r);
  CHECK(o.mode == rmq::tools::send_mode::sync);
  CHECK(o.threads == 1);
  CHECK(o.duration_s == 3);
}

TEST_CASE("rmq-bench: bad arguments give exit code 2") {
  CHECK(exit_code(bench({"--help"})) == 0);
  for (auto args : std::vector<std::vector<const char*>>{
           {"--mode", "fast"},
           {"--api", "fast"},
           {"--headers", "xml"},
           {"--backend", "kqueue"},
           {"--size", "0"},
           {"--size", "abc"},
           {"--compress", "gzip"},
           {"--property", "novalue"},
           {"--inflight", "0"},
           {"--duration", "-1"},
           {"--duration", "0"},
           {"--rate", "-5"},
           {"--namesrv", "h:1", "--brokers", "3"},
           {"--producers", "8", "--inflight", "4"},
           {"--timeout", "0"},
           {"--busy-poll", "-1"},
           {"--busy-poll", "2000000"},
           {"--unknown"},
           {"positional"},
       }) {
    std::vector<const char*> argv{"rmq-bench"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = rmq::bench::parse_command_line(static_cast<int>(argv.size()), argv.data());
    CHECK_MESSAGE(exit_code(r) == 2, args.front());
  }
}

TEST_CASE("rmq-send flags and bad arguments") {
  auto r = send({"--namesrv", "127.0.0.1:9876", "--topic", "T", "--body", "hello", "--count", "3",
                 "--mode", "async", "--delay-level", "3", "--keys", "k", "--quiet", "--namespace",
                 "ns1"});
  REQUIRE(std::holds_alternative<rmq::send_tool::send_options>(r));
  const auto& o = std::get<rmq::send_tool::send_options>(r);
  CHECK(rmq::tools::make_producer_config(o.client).name_space == "ns1");
  CHECK(*o.body == "hello");
  CHECK(o.count == 3);
  CHECK(o.mode == rmq::tools::send_mode::async);
  CHECK(o.message.delay_level == 3);
  CHECK(o.quiet);
  const rmq::message msg = rmq::tools::make_message(o.message);
  CHECK(msg.delay_level() == 3);
  CHECK(msg.keys() == "k");

  CHECK(exit_code(send({"--help"})) == 0);
  ::unsetenv("NAMESRV_ADDR");
  CHECK(exit_code(send({"--topic", "T"})) == 2);  // no NameServer anywhere
  for (auto args : std::vector<std::vector<const char*>>{
           {},                                              // no --topic
           {"--topic", "T", "--body", "x", "--size", "5"},  // exclusive
           {"--topic", "T", "--mode", "batch"},
           {"--topic", "T", "--count", "0"},
           {"--topic", "T", "--delay-level", "19"},
           {"--topic", "T", "--body", ""},
           {"--topic", "T", "--property", "x"},
       }) {
    std::vector<const char*> argv{"rmq-send", "--namesrv", "127.0.0.1:9876"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto res = rmq::send_tool::parse_command_line(static_cast<int>(argv.size()), argv.data());
    CHECK_MESSAGE(exit_code(res) == 2, (args.empty() ? "(none)" : args.back()));
  }
}
