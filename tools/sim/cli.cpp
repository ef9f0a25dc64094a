#include "cli.hpp"

#include "acl.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace rmq::sim {

namespace {

struct code_name {
  std::string_view name;
  std::int32_t code;
};
constexpr code_name code_names[] = {
    {"SUCCESS", 0},
    {"SYSTEM_ERROR", 1},
    {"SYSTEM_BUSY", 2},
    {"REQUEST_CODE_NOT_SUPPORTED", 3},
    {"FLUSH_DISK_TIMEOUT", 10},
    {"SLAVE_NOT_AVAILABLE", 11},
    {"FLUSH_SLAVE_TIMEOUT", 12},
    {"MESSAGE_ILLEGAL", 13},
    {"SERVICE_NOT_AVAILABLE", 14},
    {"VERSION_NOT_SUPPORTED", 15},
    {"NO_PERMISSION", 16},
    {"TOPIC_NOT_EXIST", 17},
    {"NO_BUYER_ID", 204},
    {"NOT_IN_CURRENT_UNIT", 205},
    {"GO_AWAY", 1500},
};

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(separator, start), text.size());
    if (end > start) parts.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

template <class T>
bool parse_number(std::string_view text, T& value) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_ms(std::string_view text, std::chrono::microseconds& out) {
  try {
    std::size_t used = 0;
    const double ms = std::stod(std::string(text), &used);
    if (used != text.size() || ms < 0) return false;
    out = std::chrono::microseconds(static_cast<std::int64_t>(ms * 1000.0));
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

bool parse_whole_ms(std::string_view text, std::chrono::milliseconds& out) {
  std::int64_t ms = 0;
  if (!parse_number(text, ms) || ms < 0) return false;
  out = std::chrono::milliseconds(ms);
  return true;
}

/// "key=value" or a bare "key".
std::pair<std::string_view, std::string_view> split_setting(std::string_view setting) {
  const auto eq = setting.find('=');
  return {setting.substr(0, eq),
          eq == std::string_view::npos ? std::string_view{} : setting.substr(eq + 1)};
}

bool parse_codes(std::string_view text, std::vector<std::int32_t>& codes) {
  codes.clear();
  for (const auto& part : split(text, ',')) {
    std::int32_t code = 0;
    if (!parse_number(part, code)) return false;
    codes.push_back(code);
  }
  return true;
}

/// Fault options of one server as given on the command line.
struct fault_options {
  std::string latency;
  std::string error;
  std::string remark;
  std::uint64_t every_nth = 1;
  bool silent = false;
  std::uint64_t reset_after = 0;
  bool split_writes = false;
  bool refuse = false;
  bool close_mid_handshake = false;
  std::string codes;

  void add(CLI::App& app, const std::string& prefix, const std::string& who) {
    app.add_option("--" + prefix + "latency", latency,
                   "Added latency of " + who + " responses in ms: MS or MIN-MAX (uniform)")
        ->group("Faults");
    app.add_option("--" + prefix + "error-code", error,
                   "Answer " + who +
                       " requests with this response code, by number or name "
                       "(SYSTEM_BUSY, SYSTEM_ERROR, SERVICE_NOT_AVAILABLE, NO_PERMISSION, "
                       "TOPIC_NOT_EXIST, ...); FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT and "
                       "SLAVE_NOT_AVAILABLE store the message and answer a full send result")
        ->group("Faults");
    app.add_option("--" + prefix + "error-remark", remark,
                   "Remark of the injected error (default: what a real server says)")
        ->group("Faults");
    app.add_option("--" + prefix + "every-nth", every_nth,
                   "Apply the error code and silence to every Nth matching request only")
        ->group("Faults");
    app.add_flag("--" + prefix + "silent", silent,
                 "Read matching " + who + " requests but never answer them")
        ->group("Faults");
    app.add_option("--" + prefix + "reset-after", reset_after,
                   "Reset (RST) a " + who + " connection at its Nth matching request")
        ->group("Faults");
    app.add_flag("--" + prefix + "split-writes", split_writes,
                 "Write " + who + " responses one byte per write")
        ->group("Faults");
    app.add_flag("--" + prefix + "refuse-connections", refuse,
                 "Close the " + who + " listener so that connects are refused")
        ->group("Faults");
    app.add_flag("--" + prefix + "close-mid-handshake", close_mid_handshake,
                 "TLS: read a " + who + " client's ClientHello, then close without answering")
        ->group("Faults");
    app.add_option("--" + prefix + "fault-codes", codes,
                   "Request codes the request faults apply to, comma-separated (default: the "
                   "sends 10,310,320 on a broker, every request on the name server)")
        ->group("Faults");
  }

  [[nodiscard]] bool to_spec(fault_spec& spec, std::string& error_text) const {
    if (!latency.empty() && !parse_latency(latency, spec)) {
      error_text = "bad latency: " + latency;
      return false;
    }
    if (!error.empty()) {
      spec.error_code = parse_response_code(error);
      if (!spec.error_code) {
        error_text = "unknown response code: " + error;
        return false;
      }
    }
    if (!remark.empty()) spec.error_remark = remark;
    spec.every_nth = every_nth == 0 ? 1 : every_nth;
    spec.silent = silent;
    spec.reset_after = reset_after;
    spec.split_writes = split_writes;
    spec.refuse_connections = refuse;
    spec.close_mid_handshake = close_mid_handshake;
    if (!codes.empty() && !parse_codes(codes, spec.codes)) {
      error_text = "bad request code list: " + codes;
      return false;
    }
    return true;
  }
};

/// TLS options of the NameServer and every broker, named after the real server's settings.
struct tls_options {
  std::string cert;
  std::string key;
  std::string mode = "permissive";
  std::string client_auth = "none";
  std::string client_ca;
  CLI::Option* mode_option = nullptr;
  CLI::Option* client_auth_option = nullptr;
  CLI::Option* client_ca_option = nullptr;

  void add(CLI::App& app) {
    app.add_option("--tls-cert", cert,
                   "TLS: PEM certificate chain of every server (tls.server.certPath); with "
                   "--tls-key, the NameServer and the brokers take TLS connections")
        ->group("TLS");
    app.add_option("--tls-key", key, "TLS: PEM private key, unencrypted (tls.server.keyPath)")
        ->group("TLS");
    mode_option = app.add_option("--tls-mode", mode,
                                 "TLS: permissive serves TLS and plain connections, enforcing "
                                 "closes plain ones (tls.server.mode)")
                      ->check(CLI::IsMember({"permissive", "enforcing"}))
                      ->capture_default_str()
                      ->group("TLS");
    client_auth_option =
        app.add_option("--tls-client-auth", client_auth,
                       "TLS: ask clients for a certificate: none, optional, or require (the "
                       "handshake fails without one) (tls.server.need.client.auth)")
            ->check(CLI::IsMember({"none", "optional", "require"}))
            ->capture_default_str()
            ->group("TLS");
    client_ca_option =
        app.add_option("--tls-client-ca", client_ca,
                       "TLS: PEM CA certificates client certificates must chain to "
                       "(tls.server.trustCertPath); without it a client certificate is not "
                       "verified, as with tls.server.authClient=false")
            ->group("TLS");
  }

  [[nodiscard]] bool to_config(tls_config& config, std::string& error_text) const {
    if (cert.empty() != key.empty()) {
      error_text = "--tls-cert and --tls-key go together: give both or neither";
      return false;
    }
    if (cert.empty()) {
      for (const CLI::Option* option : {mode_option, client_auth_option, client_ca_option}) {
        if (option->count() > 0) {
          error_text = option->get_name() + " needs --tls-cert and --tls-key";
          return false;
        }
      }
      return true;
    }
    config.cert_file = cert;
    config.key_file = key;
    config.mode = mode == "enforcing" ? tls_mode::enforcing : tls_mode::permissive;
    config.client_auth = client_auth == "require"    ? tls_client_auth::require
                         : client_auth == "optional" ? tls_client_auth::optional
                                                     : tls_client_auth::none;
    config.client_ca_file = client_ca;
    return true;
  }
};

}  // namespace

std::optional<std::int32_t> parse_response_code(std::string_view text) {
  std::int32_t code = 0;
  if (parse_number(text, code)) return code;
  for (const auto& entry : code_names) {
    if (entry.name == text) return entry.code;
  }
  return std::nullopt;
}

bool parse_latency(std::string_view text, fault_spec& spec) {
  const auto dash = text.find('-');
  std::chrono::microseconds low{}, high{};
  if (dash == std::string_view::npos) {
    if (!parse_ms(text, low)) return false;
    high = low;
  } else if (!parse_ms(text.substr(0, dash), low) || !parse_ms(text.substr(dash + 1), high) ||
             high < low) {
    return false;
  }
  spec.latency_min = low;
  spec.latency_max = high;
  return true;
}

bool apply_fault_setting(std::string_view setting, fault_spec& spec) {
  const auto eq = setting.find('=');
  const std::string_view key = setting.substr(0, eq);
  const std::string_view value =
      eq == std::string_view::npos ? std::string_view{} : setting.substr(eq + 1);
  if (key == "latency") return parse_latency(value, spec);
  if (key == "error") {
    spec.error_code = parse_response_code(value);
    return spec.error_code.has_value();
  }
  if (key == "remark") {
    spec.error_remark = std::string(value);
    return true;
  }
  if (key == "nth") return parse_number(value, spec.every_nth) && spec.every_nth > 0;
  if (key == "silent") {
    spec.silent = true;
    return true;
  }
  if (key == "reset-after") return parse_number(value, spec.reset_after);
  if (key == "split-writes") {
    spec.split_writes = true;
    return true;
  }
  if (key == "refuse") {
    spec.refuse_connections = true;
    return true;
  }
  if (key == "codes") return parse_codes(value, spec.codes);
  if (key == "drop-end-transaction") {
    spec.drop_end_transaction = true;
    return true;
  }
  if (key == "close-mid-handshake") {
    spec.close_mid_handshake = true;
    return value.empty();
  }
  return false;
}

bool apply_responder_setting(std::string_view setting, responder_config& config) {
  const auto [key, value] = split_setting(setting);
  if (key == "on" || key == "off") {
    config.enabled = key == "on";
    return value.empty();
  }
  if (key == "prefix") {
    config.body_prefix = std::string(value);
    return true;
  }
  if (key == "broker") {
    config.broker = std::string(value);
    return true;
  }
  if (key == "group") {
    config.producer_group = std::string(value);
    return !value.empty();
  }
  if (key == "delay") return parse_whole_ms(value, config.delay);
  if (key == "withhold") {
    config.withhold = true;
    return value.empty();
  }
  return false;
}

bool apply_transaction_setting(std::string_view setting, transaction_config& config) {
  const auto [key, value] = split_setting(setting);
  if (key == "interval") return parse_whole_ms(value, config.check_interval);
  if (key == "timeout") return parse_whole_ms(value, config.timeout);
  if (key == "max") return parse_number(value, config.check_max) && config.check_max >= 0;
  if (key == "capacity") return parse_number(value, config.capacity) && config.capacity > 0;
  return false;
}

std::optional<int> parse_command_line(int argc, char** argv, cli_options& out) {
  CLI::App app{
      "rmq-sim: a RocketMQ NameServer plus brokers on one host, speaking the remoting protocol "
      "like Apache RocketMQ 4.9.x or 5.x, with fault injection.\n"
      "Prints one line per listener ('namesrv - HOST:PORT', 'broker NAME HOST:PORT [ID]') and "
      "then 'ready'; exits cleanly on SIGINT or SIGTERM.",
      "rmq-sim"};
  sim_config& config = out.config;

  int namesrv_port = 9876;
  std::size_t broker_count = 1;
  std::string broker_names;
  int slaves = 0;
  std::string topics;
  std::string auto_create = "on";
  std::string version = "4.9";
  std::string store = "on";
  std::string trace_on = "on";
  std::vector<std::string> perms;
  std::string fault_broker = "*";

  app.add_option("--port", namesrv_port,
                 "NameServer port; the brokers listen on the following ports (0: every "
                 "listener on a free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--host", config.host, "Address to listen on and to advertise in routes")
      ->capture_default_str();
  app.add_option("--brokers", broker_count, "Number of master brokers")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--broker-names", broker_names,
                 "Comma-separated broker names (default broker-a, broker-b, ...); their count "
                 "overrides --brokers");
  app.add_option("--slaves", slaves, "Slaves per master (broker ids 1..N; they refuse sends)")
      ->check(CLI::Range(0, 8))
      ->capture_default_str();
  app.add_option("--cluster", config.cluster, "Cluster name in routes")->capture_default_str();
  app.add_option("--queues", config.default_queues, "Read/write queues per topic (and TBW102)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--topics", topics,
                 "Topics to create on every broker, comma-separated; NAME:Q gives one its own "
                 "queue count");
  app.add_option("--auto-create", auto_create,
                 "on: TBW102 (perm 7) is served and a send with defaultTopic TBW102 creates an "
                 "unknown topic; off: unknown topics get TOPIC_NOT_EXIST")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--broker-version", version,
                 "Personality: 4.9 (answers in the request's serialization, version 409) or 5 "
                 "(always JSON, version 479, transactionId in send results)")
      ->check(CLI::IsMember({"4.9", "5"}))
      ->capture_default_str();
  app.add_option("--store", store, "Keep the received messages decoded (off for load tests)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--store-capacity", config.store_capacity,
                 "Messages kept at most; the oldest are evicted")
      ->capture_default_str();
  app.add_option("--perm", perms,
                 "Broker permission NAME=PERM (6 read-write, 4 read-only, 2 write-only); "
                 "repeatable");
  app.add_option("--region", config.region, "MSG_REGION of send results")->capture_default_str();
  app.add_option("--trace-on", trace_on, "TRACE_ON of send results")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--max-frame", config.max_frame,
                 "Largest accepted frame in bytes; a longer length word closes the connection")
      ->capture_default_str();
  app.add_option("--stats-file", out.stats_file,
                 "Write the counters as JSON to this file on exit (route answers by form, "
                 "requests by code, messages per broker)");
  app.add_flag("--stats-messages", out.stats_messages,
               "Include the stored messages (topic, tags, keys, properties, body, ...) in the "
               "stats file");
  app.add_flag("--control-stdin", out.control_stdin,
               "Read control commands from standard input, one per line: 'fault TARGET "
               "SETTING...' (TARGET: namesrv, a broker name or *; SETTING: latency=MS|MIN-MAX "
               "error=CODE remark=TEXT nth=N silent reset-after=N split-writes refuse "
               "codes=C1,C2 drop-end-transaction close-mid-handshake; no setting clears), "
               "'stop BROKER', 'start BROKER', 'restart BROKER [PORT]', 'shutdown BROKER "
               "[wait=MS]' (graceful: unregister, GO_AWAY for MS, then stop), 'namesrv down', "
               "'namesrv up', 'clear', 'responder on|off [prefix=TEXT] [broker=NAME] "
               "[delay=MS] [withhold] [group=NAME]', 'transactions [interval=MS] [timeout=MS] "
               "[max=N] [capacity=N]', 'stats'");
  app.add_flag("--quiet-summary", out.quiet_summary, "Do not print the summary on exit");

  std::int64_t check_interval = config.transactions.check_interval.count();
  std::int64_t transaction_timeout = config.transactions.timeout.count();
  std::int64_t push_timeout = config.reply_push_timeout.count();
  app.add_option("--transaction-check-interval", check_interval,
                 "How often a broker checks back its pending half messages, in ms "
                 "(transactionCheckInterval)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{86'400'000}))
      ->capture_default_str()
      ->group("Transactions");
  app.add_option("--transaction-timeout", transaction_timeout,
                 "Age in ms from which a pending half message is checked back "
                 "(transactionTimeOut)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{86'400'000}))
      ->capture_default_str()
      ->group("Transactions");
  app.add_option("--transaction-check-max", config.transactions.check_max,
                 "Checks of one half message before the broker discards it (transactionCheckMax)")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str()
      ->group("Transactions");
  app.add_option("--transaction-capacity", config.transactions.capacity,
                 "Half messages a broker keeps; the oldest are forgotten beyond this")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}))
      ->capture_default_str()
      ->group("Transactions");
  app.add_option("--reply-push-timeout", push_timeout,
                 "How long a broker waits in ms for the requester to acknowledge a reply push "
                 "before it answers the reply send with SYSTEM_ERROR")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}))
      ->capture_default_str()
      ->group("Request-reply");

  std::string responder = "off";
  std::int64_t responder_delay = 0;
  app.add_option("--responder", responder,
                 "on: the simulator answers every request message (REPLY_TO_CLIENT + "
                 "CORRELATION_ID) with a reply pushed to the requester, like a responder client")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str()
      ->group("Request-reply");
  app.add_option("--responder-prefix", config.responder.body_prefix,
                 "Reply body = this prefix + the request's body")
      ->capture_default_str()
      ->group("Request-reply");
  app.add_option("--responder-broker", config.responder.broker,
                 "Broker that stores and pushes the replies (default: the request's broker)")
      ->group("Request-reply");
  app.add_option("--responder-delay", responder_delay, "Delay before each reply, in ms")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{3'600'000}))
      ->capture_default_str()
      ->group("Request-reply");
  app.add_flag("--responder-withhold", config.responder.withhold,
               "Store requests but send no replies (requester timeouts)")
      ->group("Request-reply");

  std::string recall = "off";
  app.add_option(
         "--recall", recall,
         "recallMessageEnable (5 personality): on, brokers take RECALL_MESSAGE; off (a real "
         "broker's default), they refuse it with NO_PERMISSION. Timer messages get a recall "
         "handle either way")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  std::vector<std::string> acl_accounts;
  app.add_option("--acl-account", acl_accounts,
                 "ACL: brokers accept only requests signed by one of these accounts, "
                 "ACCESS_KEY:SECRET_KEY (repeatable); refusals in the personality's form "
                 "(4.9: SYSTEM_ERROR with AclException, 5: NO_PERMISSION). NameServers check "
                 "nothing, as the real ones")
      ->group("ACL");

  tls_options tls;
  tls.add(app);

  fault_options broker_faults;
  fault_options namesrv_faults;
  bool drop_end_transaction = false;
  app.add_option("--fault-broker", fault_broker,
                 "Broker the broker fault options apply to (default: every broker)")
      ->group("Faults");
  app.add_flag("--drop-end-transaction", drop_end_transaction,
               "Drop END_TRANSACTION requests unprocessed, so that the broker checks back")
      ->group("Faults");
  broker_faults.add(app, "", "broker");
  namesrv_faults.add(app, "namesrv-", "name server");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  config.namesrv_port = static_cast<std::uint16_t>(namesrv_port);
  config.auto_create = auto_create == "on";
  config.version = version == "5" ? personality::v5 : personality::v4_9;
  config.store = store == "on";
  config.trace_on = trace_on == "on";
  config.transactions.check_interval = std::chrono::milliseconds(check_interval);
  config.transactions.timeout = std::chrono::milliseconds(transaction_timeout);
  config.reply_push_timeout = std::chrono::milliseconds(push_timeout);
  config.responder.enabled = responder == "on";
  config.responder.delay = std::chrono::milliseconds(responder_delay);
  config.recall_enabled = recall == "on";
  for (const std::string& text : acl_accounts) {
    auto account = parse_acl_account(text);
    if (!account) {
      std::cerr << "rmq-sim: --acl-account: expected ACCESS_KEY:SECRET_KEY, got '" << text << "'\n";
      return 2;
    }
    config.acl_accounts.push_back(std::move(*account));
  }

  std::vector<std::string> names = split(broker_names, ',');
  if (names.empty()) {
    for (std::size_t i = 0; i < broker_count; ++i) names.push_back(default_broker_name(i));
  }
  int next_port = namesrv_port == 0 ? 0 : namesrv_port + 1;
  for (const auto& name : names) {
    for (int id = 0; id <= slaves; ++id) {
      broker_config broker;
      broker.name = name;
      broker.id = id;
      broker.port = static_cast<std::uint16_t>(next_port);
      if (next_port != 0) ++next_port;
      config.brokers.push_back(std::move(broker));
    }
  }
  for (const auto& entry : perms) {
    const auto eq = entry.find('=');
    int perm = 0;
    if (eq == std::string::npos || !parse_number(std::string_view(entry).substr(eq + 1), perm)) {
      std::cerr << "rmq-sim: bad --perm " << entry << "\n";
      return 2;
    }
    bool found = false;
    for (auto& broker : config.brokers) {
      if (broker.name == entry.substr(0, eq)) {
        broker.perm = perm;
        found = true;
      }
    }
    if (!found) {
      std::cerr << "rmq-sim: --perm names an unknown broker: " << entry << "\n";
      return 2;
    }
  }
  for (const auto& entry : split(topics, ',')) {
    topic_config topic;
    const auto colon = entry.find(':');
    topic.name = entry.substr(0, colon);
    if (colon != std::string::npos &&
        !parse_number(std::string_view(entry).substr(colon + 1), topic.read_queues)) {
      std::cerr << "rmq-sim: bad topic " << entry << "\n";
      return 2;
    }
    config.topics.push_back(std::move(topic));
  }

  std::string error_text;
  if (!tls.to_config(config.tls, error_text)) {
    std::cerr << "rmq-sim: " << error_text << "\n";
    return 2;
  }
  fault_spec broker_spec;
  if (!broker_faults.to_spec(broker_spec, error_text) ||
      !namesrv_faults.to_spec(config.namesrv_faults, error_text)) {
    std::cerr << "rmq-sim: " << error_text << "\n";
    return 2;
  }
  if (fault_broker != "*") {
    bool found = false;
    for (const auto& broker : config.brokers) found = found || broker.name == fault_broker;
    if (!found) {
      std::cerr << "rmq-sim: --fault-broker names an unknown broker: " << fault_broker << "\n";
      return 2;
    }
  }
  if (!config.responder.broker.empty() &&
      std::none_of(config.brokers.begin(), config.brokers.end(),
                   [&](const broker_config& b) { return b.name == config.responder.broker; })) {
    std::cerr << "rmq-sim: --responder-broker names an unknown broker: " << config.responder.broker
              << "\n";
    return 2;
  }
  broker_spec.drop_end_transaction = drop_end_transaction;
  config.broker_faults.emplace_back(fault_broker, broker_spec);
  return std::nullopt;
}

}  // namespace rmq::sim
