// The configuration line a producer logs at start: every setting that changes behaviour, and
// secrets masked.
#include "send/config_description.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>

using namespace std::chrono_literals;
using rmq::send::config_description;

TEST_CASE("config description: name=value pairs, comma-separated, with units on durations") {
  config_description d;
  d.add("group", "g1").add("retries", 2).add("fault_tolerance", true).add("timeout", 3000ms);
  d.add("busy_poll", std::chrono::microseconds(50)).add("level", -1).add("bytes", SIZE_MAX);
  CHECK(d.text() ==
        "group=g1, retries=2, fault_tolerance=true, timeout=3000ms, busy_poll=50us, level=-1, "
        "bytes=18446744073709551615");
}

TEST_CASE("config description: a secret never shows its value") {
  config_description d;
  d.secret("secret_key", "s3cr3t-value").secret("session_token", "");
  CHECK(d.text() == "secret_key=***, session_token=(none)");
  CHECK(d.text().find("s3cr3t") == std::string::npos);
}

TEST_CASE("describe_config: the effective settings, with the resolved NameServers") {
  rmq::producer_config config;
  config.group = "orders";
  config.name_space = "shop";
  config.send_timeout = 1500ms;
  config.compress_type = rmq::compression::zstd;
  config.serialization = rmq::header_serialization::binary;
  const std::string text = rmq::send::describe_config(config, "10.0.0.1:9876", "10.0.0.9@42");
  CHECK(text.starts_with(
      "name_servers=10.0.0.1:9876, group=orders, name_space=shop, client_id=10.0.0.9@42, "
      "send_timeout=1500ms, attempt_timeout=shared, retries_sync=2"));
  CHECK(text.find("compress_type=zstd") != std::string::npos);
  CHECK(text.find("serialization=binary") != std::string::npos);
  CHECK(text.find("fault_tables=v5") != std::string::npos);
  CHECK(text.find("backend=automatic") != std::string::npos);
  CHECK(text.find("checker=none") != std::string::npos);
  CHECK(text.find("send_hooks=0, metrics_interval=0ms, trace=off, tls=off, checker=none") !=
        std::string::npos);
  CHECK(text.find("compress_threshold=4096") != std::string::npos);
  config.compress_threshold = SIZE_MAX;
  CHECK(rmq::send::describe_config(config, "", "").find("compress_threshold=never") !=
        std::string::npos);
  CHECK(
      text.ends_with("max_pending_requests=65536, credentials.access_key=(none), "
                     "credentials.secret_key=(none), credentials.security_token=(none)"));
  config.trace.emplace();
  CHECK(rmq::send::describe_config(config, "", "")
            .find("trace.topic=RMQ_SYS_TRACE_TOPIC, trace.buffer_records=1024, "
                  "trace.max_records_per_message=100, trace.max_message_size=118000, "
                  "trace.flush_interval=5ms, trace.max_in_flight=64, tls=off, checker=none") !=
        std::string::npos);
  config.trace.reset();
  config.tls.emplace();
  config.tls->ca_file = "/etc/rocketmq/ca.pem";
  config.tls->server_name = "brokers.example";
  CHECK(rmq::send::describe_config(config, "", "")
            .find("tls.ca_file=/etc/rocketmq/ca.pem, tls.ca_dir=(none), tls.cert_file=(none), "
                  "tls.key_file=(none), tls.verify_server=true, "
                  "tls.server_name=brokers.example, checker=none") != std::string::npos);
  config.tls.reset();
  // The access key is shown (it names the account); the secret and the token never are.
  config.credentials = {"orders-service", "s3cr3t-value", "t0ken-value"};
  const std::string secured = rmq::send::describe_config(config, "", "");
  CHECK(
      secured.ends_with("credentials.access_key=orders-service, credentials.secret_key=***, "
                        "credentials.security_token=***"));
  CHECK(secured.find("s3cr3t") == std::string::npos);
  CHECK(secured.find("t0ken") == std::string::npos);
}
