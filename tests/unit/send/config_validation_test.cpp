// producer_config::validate(): every field against what the producer can actually use.
#include "rmq/error.hpp"
#include "rmq/producer_config.hpp"
#include "wire/compression.hpp"
#include "wire/validation.hpp"

#include <climits>
#include <doctest/doctest.h>
#include <zstd.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using rmq::errc;
using rmq::producer_config;
using std::chrono::milliseconds;

namespace {

struct config_case {
  const char* what;
  std::function<void(producer_config&)> change;
};

bool valid_with(const std::function<void(producer_config&)>& change) {
  producer_config config;
  change(config);
  return !config.validate();
}

void check_all(const std::vector<config_case>& valid, const std::vector<config_case>& invalid) {
  for (const auto& c : valid) {
    CAPTURE(c.what);
    CHECK(valid_with(c.change));
  }
  for (const auto& c : invalid) {
    CAPTURE(c.what);
    producer_config config;
    c.change(config);
    CHECK(config.validate() == errc::configuration_invalid);
  }
}

constexpr milliseconds ms_max = milliseconds::max();

}  // namespace

TEST_CASE("producer_config: the defaults are valid") {
  CHECK_FALSE(producer_config{}.validate());
}

TEST_CASE("producer_config: compress_level within the range its compress_type accepts") {
  using rmq::compression;
  const auto level = [](compression type, int l) {
    return [=](producer_config& c) {
      c.compress_type = type;
      c.compress_level = l;
    };
  };
  check_all(
      {
          {"zlib -1 (zlib's default)", level(compression::zlib, -1)},
          {"zlib 0 (stored)", level(compression::zlib, 0)},
          {"zlib 1", level(compression::zlib, 1)},
          {"zlib 9", level(compression::zlib, 9)},
          {"zstd min", level(compression::zstd, ZSTD_minCLevel())},
          {"zstd 0 (zstd's default)", level(compression::zstd, 0)},
          {"zstd 22", level(compression::zstd, ZSTD_maxCLevel())},
          {"lz4 ignores the level", level(compression::lz4, 5)},
          {"lz4 any level", level(compression::lz4, INT_MIN)},
          {"lz4 any level", level(compression::lz4, INT_MAX)},
      },
      {
          {"zlib -2", level(compression::zlib, -2)},
          {"zlib -7", level(compression::zlib, -7)},
          {"zlib 10", level(compression::zlib, 10)},
          {"zlib 22", level(compression::zlib, 22)},
          {"zstd below min", level(compression::zstd, ZSTD_minCLevel() - 1)},
          {"zstd 23", level(compression::zstd, ZSTD_maxCLevel() + 1)},
          {"an unknown compression type",
           [](producer_config& c) { c.compress_type = static_cast<compression>(7); }},
      });
}

TEST_CASE("producer_config: every level validate() accepts compresses, every other fails") {
  // The codec is the truth: what validation lets through must not fail at send time.
  const std::string body(5000, 'x');
  rmq::wire::body_codec codec;
  for (const auto type : {rmq::wire::compression_type::zlib, rmq::wire::compression_type::zstd}) {
    for (const int level :
         {ZSTD_minCLevel() - 1, ZSTD_minCLevel(), -8, -2, -1, 0, 1, 5, 9, 10, 19, 22, 23}) {
      CAPTURE(rmq::wire::to_string(type));
      CAPTURE(level);
      std::string out;
      const bool compresses = !codec.compress(type, level, body, out);
      CHECK(rmq::wire::is_valid_compression_level(type, level) == compresses);
    }
  }
}

TEST_CASE("producer_config: durations are bounded, so deadlines and timers cannot overflow") {
  check_all(
      {
          {"send_timeout 1 ms", [](producer_config& c) { c.send_timeout = 1ms; }},
          {"send_timeout 1 h", [](producer_config& c) { c.send_timeout = 1h; }},
          {"attempt_timeout 1 h, above send_timeout",
           [](producer_config& c) { c.attempt_timeout = 1h; }},
          {"connect_timeout 1 h", [](producer_config& c) { c.connect_timeout = 1h; }},
          {"heartbeat_interval 1 h", [](producer_config& c) { c.heartbeat_interval = 1h; }},
          {"route_refresh_interval 1 h", [](producer_config& c) { c.route_refresh_interval = 1h; }},
          {"route_refresh_interval 1 ms",
           [](producer_config& c) { c.route_refresh_interval = 1ms; }},
          {"route_idle_timeout 0 (never)", [](producer_config& c) { c.route_idle_timeout = 0ms; }},
          {"route_idle_timeout 1 ms", [](producer_config& c) { c.route_idle_timeout = 1ms; }},
          {"route_idle_timeout 1 h", [](producer_config& c) { c.route_idle_timeout = 1h; }},
      },
      {
          {"send_timeout max", [](producer_config& c) { c.send_timeout = ms_max; }},
          {"send_timeout 1 h 1 ms", [](producer_config& c) { c.send_timeout = 1h + 1ms; }},
          {"send_timeout 0", [](producer_config& c) { c.send_timeout = 0ms; }},
          {"send_timeout negative", [](producer_config& c) { c.send_timeout = -1ms; }},
          {"attempt_timeout max", [](producer_config& c) { c.attempt_timeout = ms_max; }},
          {"attempt_timeout 1 h 1 ms", [](producer_config& c) { c.attempt_timeout = 1h + 1ms; }},
          {"attempt_timeout 0", [](producer_config& c) { c.attempt_timeout = 0ms; }},
          {"connect_timeout max", [](producer_config& c) { c.connect_timeout = ms_max; }},
          {"connect_timeout 0", [](producer_config& c) { c.connect_timeout = 0ms; }},
          {"heartbeat_interval max", [](producer_config& c) { c.heartbeat_interval = ms_max; }},
          {"heartbeat_interval 0", [](producer_config& c) { c.heartbeat_interval = 0ms; }},
          {"route_refresh_interval max",
           [](producer_config& c) { c.route_refresh_interval = ms_max; }},
          {"route_refresh_interval 1 h 1 ms",
           [](producer_config& c) { c.route_refresh_interval = 1h + 1ms; }},
          {"route_idle_timeout negative", [](producer_config& c) { c.route_idle_timeout = -1ms; }},
          {"route_idle_timeout 1 h 1 ms",
           [](producer_config& c) { c.route_idle_timeout = 1h + 1ms; }},
          {"route_idle_timeout max", [](producer_config& c) { c.route_idle_timeout = ms_max; }},
      });
}

TEST_CASE("producer_config: custom fault tables hold durations of 0..1 h") {
  const auto tables = [](std::vector<milliseconds> latency, std::vector<milliseconds> away,
                         milliseconds isolation) {
    return [=](producer_config& c) {
      c.custom_fault_tables = rmq::fault_table_config{latency, away, isolation};
    };
  };
  check_all(
      {
          {"the 4.9 tables", tables({50ms, 100ms, 550ms, 1000ms, 2000ms, 3000ms, 15000ms},
                                    {0ms, 0ms, 30s, 60s, 120s, 180s, 600s}, 30s)},
          {"an hour", tables({0ms, 1h}, {0ms, 1h}, 1h)},
      },
      {
          {"not_available max", tables({50ms}, {ms_max}, 10s)},
          {"not_available over an hour", tables({50ms}, {1h + 1ms}, 10s)},
          {"latency_max max", tables({50ms, ms_max}, {0ms, 1s}, 10s)},
          {"latency_max negative", tables({-1ms}, {1s}, 10s)},
          {"isolation_latency max", tables({50ms}, {1s}, ms_max)},
          {"isolation_latency negative", tables({50ms}, {1s}, -1ms)},
          {"lists of different lengths", tables({50ms, 100ms}, {1s}, 10s)},
          {"empty lists", tables({}, {}, 10s)},
          {"an unknown preset",
           [](producer_config& c) { c.fault_tables = static_cast<rmq::fault_table_preset>(9); }},
      });
}

TEST_CASE("producer_config: max_delay_level is 1..1000") {
  check_all(
      {
          {"1", [](producer_config& c) { c.max_delay_level = 1; }},
          {"18 (the default table)", [](producer_config& c) { c.max_delay_level = 18; }},
          {"1000", [](producer_config& c) { c.max_delay_level = 1000; }},
      },
      {
          {"0", [](producer_config& c) { c.max_delay_level = 0; }},
          {"-1", [](producer_config& c) { c.max_delay_level = -1; }},
          {"1001", [](producer_config& c) { c.max_delay_level = 1001; }},
      });
}

TEST_CASE("producer_config: max_message_size fits one remoting frame") {
  constexpr std::size_t mib = 1024 * 1024;
  CHECK(rmq::wire::max_message_size_limit == 15 * mib);
  check_all(
      {
          {"1 byte", [](producer_config& c) { c.max_message_size = 1; }},
          {"15 MiB", [](producer_config& c) { c.max_message_size = 15 * mib; }},
      },
      {
          {"0", [](producer_config& c) { c.max_message_size = 0; }},
          {"15 MiB + 1", [](producer_config& c) { c.max_message_size = 15 * mib + 1; }},
          {"16 MiB", [](producer_config& c) { c.max_message_size = 16 * mib; }},
          {"20 MiB", [](producer_config& c) { c.max_message_size = 20 * mib; }},
          {"SIZE_MAX",
           [](producer_config& c) {
             c.max_message_size = std::numeric_limits<std::size_t>::max();
           }},
      });
}

TEST_CASE("producer_config: in-flight limits fit the packed admission counter") {
  constexpr std::size_t max_sends = (std::size_t{1} << 23) - 1;
  constexpr std::size_t max_bytes = (std::size_t{1} << 40) - 1;
  check_all(
      {
          {"1 send", [](producer_config& c) { c.max_in_flight_sends = 1; }},
          {"2^23 - 1 sends", [](producer_config& c) { c.max_in_flight_sends = max_sends; }},
          {"1 byte", [](producer_config& c) { c.max_in_flight_bytes = 1; }},
          {"2^40 - 1 bytes", [](producer_config& c) { c.max_in_flight_bytes = max_bytes; }},
      },
      {
          {"0 sends", [](producer_config& c) { c.max_in_flight_sends = 0; }},
          {"2^23 sends", [](producer_config& c) { c.max_in_flight_sends = max_sends + 1; }},
          {"SIZE_MAX sends",
           [](producer_config& c) {
             c.max_in_flight_sends = std::numeric_limits<std::size_t>::max();
           }},
          {"0 bytes", [](producer_config& c) { c.max_in_flight_bytes = 0; }},
          {"2^40 bytes", [](producer_config& c) { c.max_in_flight_bytes = max_bytes + 1; }},
      });
}

TEST_CASE("producer_config: instance_name is 1..255 bytes of printable ASCII") {
  check_all(
      {
          {"DEFAULT", [](producer_config& c) { c.instance_name = "DEFAULT"; }},
          {"what Java makes", [](producer_config& c) { c.instance_name = "12345#9876543210"; }},
          {"punctuation", [](producer_config& c) { c.instance_name = "app-1.eu@10.0.0.1:x_y"; }},
          {"255 bytes", [](producer_config& c) { c.instance_name = std::string(255, 'i'); }},
      },
      {
          {"empty", [](producer_config& c) { c.instance_name = ""; }},
          {"256 bytes", [](producer_config& c) { c.instance_name = std::string(256, 'i'); }},
          {"a space", [](producer_config& c) { c.instance_name = "my app"; }},
          {"a tab", [](producer_config& c) { c.instance_name = "app\t1"; }},
          {"a control byte", [](producer_config& c) { c.instance_name = "app\x01"; }},
          {"DEL", [](producer_config& c) { c.instance_name = "app\x7f"; }},
          {"UTF-8", [](producer_config& c) { c.instance_name = "caf\xc3\xa9"; }},
      });
}

TEST_CASE("producer_config: name_space, and the group within it") {
  check_all(
      {
          {"no namespace", [](producer_config& c) { c.name_space = ""; }},
          {"a namespace", [](producer_config& c) { c.name_space = "ns1"; }},
          {"every allowed character", [](producer_config& c) { c.name_space = "MQ_INST_1|a-Z"; }},
          {"125 characters", [](producer_config& c) { c.name_space = std::string(125, 'n'); }},
          {"a group that fits once wrapped",
           [](producer_config& c) {
             c.name_space = "ns1";
             c.group = std::string(251, 'g');  // 255 with "ns1%"
           }},
      },
      {
          {"the separator", [](producer_config& c) { c.name_space = "ns%1"; }},
          {"a space", [](producer_config& c) { c.name_space = "ns 1"; }},
          {"a dot", [](producer_config& c) { c.name_space = "ns.1"; }},
          {"126 characters", [](producer_config& c) { c.name_space = std::string(126, 'n'); }},
          {"a group too long once wrapped",
           [](producer_config& c) {
             c.name_space = "ns1";
             c.group = std::string(252, 'g');  // 256 with "ns1%"
           }},
      });
}

TEST_CASE("producer_config: the other fields") {
  check_all(
      {
          {"name servers", [](producer_config& c) { c.name_servers = "127.0.0.1:9876"; }},
          {"two name servers, a name and spaces",
           [](producer_config& c) { c.name_servers = "10.0.0.1:9876; ns-b:9876 ;"; }},
          {"an IPv6 name server", [](producer_config& c) { c.name_servers = "[::1]:9876"; }},
          {"binary headers",
           [](producer_config& c) { c.serialization = rmq::header_serialization::binary; }},
          {"protocol version 475", [](producer_config& c) { c.protocol_version = 475; }},
          {"protocol version 479", [](producer_config& c) { c.protocol_version = 479; }},
          {"protocol version 32767", [](producer_config& c) { c.protocol_version = 32767; }},
          {"64 loops", [](producer_config& c) { c.loop_threads = 64; }},
          {"busy poll 1 s", [](producer_config& c) { c.busy_poll = 1s; }},
          {"15 retries", [](producer_config& c) { c.retries_sync = c.retries_async = 15; }},
      },
      {
          {"a name server without a port",
           [](producer_config& c) { c.name_servers = "127.0.0.1"; }},
          {"a name server port out of range",
           [](producer_config& c) { c.name_servers = "127.0.0.1:9876;host:99999"; }},
          {"an unknown serialization",
           [](producer_config& c) { c.serialization = static_cast<rmq::header_serialization>(5); }},
          {"protocol version 32768", [](producer_config& c) { c.protocol_version = 32768; }},
          {"protocol version -1", [](producer_config& c) { c.protocol_version = -1; }},
          {"0 loops", [](producer_config& c) { c.loop_threads = 0; }},
          {"65 loops", [](producer_config& c) { c.loop_threads = 65; }},
          {"busy poll over 1 s", [](producer_config& c) { c.busy_poll = 1s + 1us; }},
          {"16 retries", [](producer_config& c) { c.retries_sync = 16; }},
          {"negative retries", [](producer_config& c) { c.retries_async = -1; }},
          {"0 default queues", [](producer_config& c) { c.default_topic_queue_nums = 0; }},
          {"a route body limit under 1 KiB",
           [](producer_config& c) { c.route_limits.max_body_bytes = 1023; }},
          {"0 queues per topic", [](producer_config& c) { c.route_limits.max_queues = 0; }},
          {"a create-topic key one may not send to",
           [](producer_config& c) { c.create_topic_key = "SCHEDULE_TOPIC_XXXX"; }},
          {"a blank create-topic key", [](producer_config& c) { c.create_topic_key = ""; }},
      });
  // The group reports its own error.
  producer_config config;
  config.group = "DEFAULT_PRODUCER";
  CHECK(config.validate() == errc::group_reserved);
}

TEST_CASE("producer_config: auto_batch limits") {
  const auto with = [](auto change) {
    return [change](producer_config& c) {
      c.auto_batch.emplace();
      change(*c.auto_batch);
    };
  };
  check_all(
      {
          {"off (the default)", [](producer_config& c) { c.auto_batch.reset(); }},
          {"the defaults", with([](rmq::auto_batch_config&) {})},
          {"linger 0 (one loop turn)", with([](rmq::auto_batch_config& b) { b.linger = 0us; })},
          {"linger 1 s", with([](rmq::auto_batch_config& b) { b.linger = 1s; })},
          {"one byte", with([](rmq::auto_batch_config& b) { b.max_bytes = 1; })},
          {"max_message_size bytes",
           with([](rmq::auto_batch_config& b) { b.max_bytes = 4 * 1024 * 1024; })},
          {"one message", with([](rmq::auto_batch_config& b) { b.max_messages = 1; })},
          {"65536 messages", with([](rmq::auto_batch_config& b) { b.max_messages = 65536; })},
      },
      {
          {"negative linger", with([](rmq::auto_batch_config& b) { b.linger = -1us; })},
          {"linger above 1 s",
           with([](rmq::auto_batch_config& b) { b.linger = 1s + std::chrono::microseconds(1); })},
          {"no bytes", with([](rmq::auto_batch_config& b) { b.max_bytes = 0; })},
          {"above max_message_size",
           with([](rmq::auto_batch_config& b) { b.max_bytes = 4 * 1024 * 1024 + 1; })},
          {"no messages", with([](rmq::auto_batch_config& b) { b.max_messages = 0; })},
          {"65537 messages", with([](rmq::auto_batch_config& b) { b.max_messages = 65537; })},
      });
}

TEST_CASE("producer_config: trace settings within their ranges, a group the trace group can hold") {
  const auto traced_group = [](std::size_t size) {
    return [size](producer_config& c) {
      c.group = std::string(size, 'g');
      c.trace.emplace();
    };
  };
  const auto traced = [](std::function<void(rmq::trace_config&)> change) {
    return [change](producer_config& c) {
      c.trace.emplace();
      change(*c.trace);
    };
  };
  check_all(
      {
          {"defaults", traced([](rmq::trace_config&) {})},
          {"own topic", traced([](rmq::trace_config& t) { t.topic = "OrdersTrace"; })},
          {"no linger", traced([](rmq::trace_config& t) { t.flush_interval = 0ms; })},
          {"one record", traced([](rmq::trace_config& t) { t.buffer_records = 1; })},
          {"group 214", traced_group(214)},
      },
      {
          {"blank topic", traced([](rmq::trace_config& t) { t.topic.clear(); })},
          {"bad topic", traced([](rmq::trace_config& t) { t.topic = "a b"; })},
          {"no buffer", traced([](rmq::trace_config& t) { t.buffer_records = 0; })},
          {"huge buffer", traced([](rmq::trace_config& t) { t.buffer_records = (1u << 20) + 1; })},
          {"no records", traced([](rmq::trace_config& t) { t.max_records_per_message = 0; })},
          {"small message", traced([](rmq::trace_config& t) { t.max_message_size = 1023; })},
          {"negative linger", traced([](rmq::trace_config& t) { t.flush_interval = -1ms; })},
          {"long linger", traced([](rmq::trace_config& t) { t.flush_interval = 1001ms; })},
          {"nothing in flight", traced([](rmq::trace_config& t) { t.max_in_flight = 0; })},
          {"group 215", traced_group(215)},
      });
}

TEST_CASE("producer_config: tls takes a certificate and its key together, or neither") {
  const auto tls = [](const char* cert, const char* key) {
    return [=](producer_config& c) {
      c.tls.emplace();
      c.tls->cert_file = cert;
      c.tls->key_file = key;
    };
  };
  check_all(
      {{"tls with the defaults", tls("", "")}, {"a client certificate", tls("c.pem", "k.pem")}},
      {{"a certificate without its key", tls("c.pem", "")},
       {"a key without its certificate", tls("", "k.pem")}});
}
