#include "options.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>

namespace rmq::tools {

namespace {

bool parse_size(std::string_view text, std::size_t& out) noexcept {
  std::size_t multiplier = 1;
  if (!text.empty() && (text.back() == 'k' || text.back() == 'K')) multiplier = 1024;
  if (!text.empty() && (text.back() == 'm' || text.back() == 'M')) multiplier = 1024 * 1024;
  if (multiplier != 1) text.remove_suffix(1);
  std::size_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return false;
  if (value > std::numeric_limits<std::size_t>::max() / multiplier) return false;
  out = value * multiplier;
  return true;
}

}  // namespace

std::optional<send_mode> parse_send_mode(std::string_view text) noexcept {
  if (text == "sync") return send_mode::sync;
  if (text == "async") return send_mode::async;
  if (text == "oneway") return send_mode::oneway;
  return std::nullopt;
}

std::string_view to_string(send_mode mode) noexcept {
  switch (mode) {
    case send_mode::sync:
      return "sync";
    case send_mode::async:
      return "async";
    case send_mode::oneway:
      return "oneway";
  }
  return "?";
}

std::optional<size_range> parse_size_range(std::string_view text) noexcept {
  size_range range;
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos) {
    if (!parse_size(text, range.min)) return std::nullopt;
    range.max = range.min;
  } else if (!parse_size(text.substr(0, dash), range.min) ||
             !parse_size(text.substr(dash + 1), range.max)) {
    return std::nullopt;
  }
  if (range.min == 0 || range.min > range.max) return std::nullopt;
  return range;
}

std::optional<std::pair<std::string, std::string>> parse_property(std::string_view text) {
  const std::size_t equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0) return std::nullopt;
  return std::pair{std::string(text.substr(0, equals)), std::string(text.substr(equals + 1))};
}

bool parse_compression(std::string_view text, std::optional<rmq::compression>& out) noexcept {
  if (text == "none") {
    out.reset();
  } else if (text == "zlib") {
    out = rmq::compression::zlib;
  } else if (text == "zstd") {
    out = rmq::compression::zstd;
  } else if (text == "lz4") {
    out = rmq::compression::lz4;
  } else {
    return false;
  }
  return true;
}

void add_client_options(CLI::App& app, client_options& out, bool with_loop_threads) {
  app.add_option("--namesrv", out.namesrv, "NameServer addresses 'H:P;H:P'");
  app.add_option_function<std::string>(
         "--compress",
         [&out](const std::string& text) {
           if (!parse_compression(text, out.compress)) {
             throw CLI::ValidationError("--compress",
                                        "must be none, zlib, zstd or lz4, not '" + text + "'");
           }
         },
         "body compression above the threshold: none|zlib|zstd|lz4 (default none)")
      ->type_name("ALGO");
  app.add_option("--timeout", out.timeout_ms, "send timeout: the whole budget of one send, ms")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));
  app.add_option("--group", out.group, "producer group");
  app.add_option("--namespace", out.name_space,
                 "namespace: the group and topics are sent as NS%name, each message carries "
                 "INSTANCE_ID=NS (Java setNamespace; default none)")
      ->type_name("NS");
  // The secret and the token may come from the environment instead: a command line is
  // visible to every user of the machine (ps).
  app.add_option("--access-key", out.credentials.access_key,
                 "ACL access key: every request is signed (needs --secret-key)")
      ->envname("RMQ_ACCESS_KEY")
      ->type_name("KEY");
  app.add_option("--secret-key", out.credentials.secret_key,
                 "ACL secret key (or the RMQ_SECRET_KEY environment variable)")
      ->envname("RMQ_SECRET_KEY")
      ->type_name("SECRET");
  app.add_option("--security-token", out.credentials.security_token,
                 "ACL security token of temporary credentials (or RMQ_SECURITY_TOKEN)")
      ->envname("RMQ_SECURITY_TOKEN")
      ->type_name("TOKEN");
  app.add_option_function<std::string>(
         "--headers", [&out](const std::string& text) { out.binary_headers = text == "binary"; },
         "request header serialization: json (the Java client's default) | binary (ROCKETMQ)")
      ->check(CLI::IsMember({"json", "binary"}))
      ->type_name("FORMAT");
  app.add_option_function<std::string>(
         "--backend",
         [&out](const std::string& text) {
           out.backend = text == "io_uring" ? rmq::io_backend::io_uring
                         : text == "epoll"  ? rmq::io_backend::epoll
                                            : rmq::io_backend::automatic;
         },
         "I/O backend: automatic (io_uring where it runs, else epoll) | io_uring | epoll")
      ->check(CLI::IsMember({"automatic", "io_uring", "epoll"}))
      ->type_name("NAME");
  app.add_option("--log-level", out.log_level,
                 "the producer's log level, on stderr: trace | debug | info | warn | error | "
                 "critical | off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->type_name("LEVEL");
  // Automatic batching: --auto-batch turns it on with the defaults; each limit given turns it on
  // too, with that limit.
  const auto batching = [&out]() -> rmq::auto_batch_config& {
    if (!out.auto_batch) out.auto_batch.emplace();
    return *out.auto_batch;
  };
  app.add_flag_callback(
      "--auto-batch", [batching] { (void)batching(); },
      "batch single sends of a topic that start within the linger into one SEND_BATCH_MESSAGE");
  app.add_option_function<std::int64_t>(
         "--linger-us",
         [batching](std::int64_t us) { batching().linger = std::chrono::microseconds(us); },
         "automatic batching: how long a batch gathers, µs (0: one loop turn; default 1000)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1'000'000}))
      ->type_name("US");
  app.add_option_function<std::size_t>(
         "--batch-max-bytes", [batching](std::size_t n) { batching().max_bytes = n; },
         "automatic batching: largest batch body, bytes (default 32768)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{15u << 20}))
      ->type_name("N");
  app.add_option_function<std::size_t>(
         "--batch-max-messages", [batching](std::size_t n) { batching().max_messages = n; },
         "automatic batching: most messages per batch (default 512)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}))
      ->type_name("N");
  app.add_option_function<std::string>(
         "--trace",
         [&out](const std::string& topic) {
           out.trace.emplace();
           if (!topic.empty()) out.trace->topic = topic;
         },
         "message trace as the Java client's enableMsgTrace: a trace record per send, sent in "
         "batches to TOPIC (default RMQ_SYS_TRACE_TOPIC)")
      ->expected(0, 1)
      ->type_name("[TOPIC]");
  // TLS: --tls turns it on with the system's CAs; each --tls-* option turns it on too.
  const auto secured = [&out]() -> rmq::tls_config& {
    if (!out.tls) out.tls.emplace();
    return *out.tls;
  };
  app.add_flag_callback(
      "--tls", [secured] { (void)secured(); },
      "TLS on every NameServer and broker connection, verifying the servers' certificates");
  app.add_option_function<std::string>(
         "--tls-ca",
         [secured](const std::string& path) {
           (std::filesystem::is_directory(path) ? secured().ca_dir : secured().ca_file) = path;
         },
         "trusted CAs: a PEM file, or a hashed directory (default: the system's)")
      ->check(CLI::ExistingPath)
      ->type_name("FILE");
  auto* cert =
      app.add_option_function<std::string>(
             "--tls-cert", [secured](const std::string& path) { secured().cert_file = path; },
             "client certificate chain (PEM), for servers that require one (mutual TLS)")
          ->check(CLI::ExistingFile)
          ->type_name("FILE");
  auto* key = app.add_option_function<std::string>(
                     "--tls-key", [secured](const std::string& path) { secured().key_file = path; },
                     "the client certificate's private key (PEM, unencrypted)")
                  ->check(CLI::ExistingFile)
                  ->type_name("FILE");
  cert->needs(key);
  key->needs(cert);
  app.add_flag_callback(
      "--tls-no-verify", [secured] { secured().verify_server = false; },
      "accept any server certificate (self-signed test clusters): encrypted, not authenticated");
  app.add_option_function<std::string>(
         "--tls-server-name", [secured](const std::string& name) { secured().server_name = name; },
         "the name every server's certificate must carry, sent as SNI (default: each address's "
         "host; routes give brokers as IP:port, whose certificates then need an IP SAN)")
      ->type_name("NAME");
  if (with_loop_threads) {
    app.add_option("--loop-threads", out.loop_threads, "I/O loop threads per producer")
        ->check(CLI::Range(std::size_t{1}, std::size_t{64}));
    app.add_option("--busy-poll", out.busy_poll_us,
                   "µs an I/O loop keeps polling before it sleeps (0: sleep at once)")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{1'000'000}));
  }
}

void add_message_options(CLI::App& app, message_options& out, bool with_delay_level) {
  app.add_option("--topic", out.topic, "topic");
  app.add_option("--tags", out.tags, "message tag");
  app.add_option("--keys", out.keys, "message keys, space-separated");
  app.add_option_function<std::vector<std::string>>(
         "--property",
         [&out](const std::vector<std::string>& items) {
           for (const std::string& item : items) {
             auto property = parse_property(item);
             if (!property) {
               throw CLI::ValidationError("--property", "expects k=v, not '" + item + "'");
             }
             out.properties.push_back(std::move(*property));
           }
         },
         "user property k=v (repeatable)")
      ->type_name("K=V")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option_function<std::string>(
         "--size",
         [&out](const std::string& text) {
           auto range = parse_size_range(text);
           if (!range) {
             throw CLI::ValidationError(
                 "--size", "expects N or MIN-MAX bytes (0 < MIN <= MAX), not '" + text + "'");
           }
           out.size = *range;
         },
         "body size in bytes: N or MIN-MAX (uniform), k/m suffixes allowed (default 128)")
      ->type_name("N|MIN-MAX");
  if (with_delay_level) {
    auto* level =
        app.add_option("--delay-level", out.delay_level, "delay level 1..18 (0 = deliver now)")
            ->check(CLI::Range(0, 255));
    auto* sec = app.add_option("--delay-sec", out.delay_sec,
                               "deliver this many seconds after it is stored (TIMER_DELAY_SEC, "
                               "brokers >= 5.0)")
                    ->check(CLI::NonNegativeNumber);
    auto* ms = app.add_option("--delay-ms", out.delay_ms,
                              "deliver this many milliseconds after it is stored "
                              "(TIMER_DELAY_MS, brokers >= 5.0)")
                   ->check(CLI::NonNegativeNumber);
    level->excludes(sec)->excludes(ms);
    sec->excludes(ms);
  }
}

rmq::producer_config make_producer_config(const client_options& options) {
  rmq::producer_config config;
  config.name_servers = options.namesrv;
  config.group = options.group;
  config.name_space = options.name_space;
  config.credentials = options.credentials;
  config.send_timeout = std::chrono::milliseconds(options.timeout_ms);
  config.loop_threads = options.loop_threads;
  config.busy_poll = std::chrono::microseconds(options.busy_poll_us);
  config.backend = options.backend;
  config.auto_batch = options.auto_batch;
  config.trace = options.trace;
  config.tls = options.tls;
  config.serialization =
      options.binary_headers ? rmq::header_serialization::binary : rmq::header_serialization::json;
  if (options.compress) {
    config.compress_type = *options.compress;
  } else {
    config.compress_threshold = std::numeric_limits<std::size_t>::max();
  }
  // The tool's own logger, not registered: its level is the tool's, whatever spdlog's default.
  config.logger = std::make_shared<spdlog::logger>(
      "rmq", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  config.logger->set_level(spdlog::level::from_str(options.log_level));
  return config;
}

rmq::message make_message(const message_options& options) {
  rmq::message msg;
  msg.set_topic(options.topic);
  msg.set_tags(options.tags);
  msg.set_keys(options.keys);
  for (const auto& [name, value] : options.properties) msg.put_property(name, value);
  msg.set_delay_level(options.delay_level);
  if (options.delay_sec) msg.set_delay_time_sec(*options.delay_sec);
  if (options.delay_ms) msg.set_delay_time_ms(*options.delay_ms);
  return msg;
}

std::string make_filler(std::size_t size, std::uint64_t seed) {
  std::string text(size, 'a');
  std::uint64_t state = seed | 1;
  for (char& c : text) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    c = static_cast<char>('a' + state % 26);
  }
  return text;
}

std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    return bad_arguments(app.get_name(), e.what());
  }
  return std::nullopt;
}

int bad_arguments(std::string_view program, std::string_view what) {
  std::cerr << program << ": error: " << what << "\nRun with --help for more information.\n";
  return exit_bad_arguments;
}

}  // namespace rmq::tools
