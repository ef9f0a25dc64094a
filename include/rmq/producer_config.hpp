/// \file
/// rmq::producer_config: every setting of a producer, with the Java client's name beside each.
#pragma once

#include "rmq/credentials.hpp"
#include "rmq/io_backend.hpp"
#include "rmq/message.hpp"
#include "rmq/metrics.hpp"
#include "rmq/route_limits.hpp"
#include "rmq/send_hook.hpp"
#include "rmq/tls_config.hpp"
#include "rmq/transaction.hpp"

#include <spdlog/fwd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace rmq {

/// compressType: how bodies above producer_config::compress_threshold are compressed.
enum class compression {
  zlib,  ///< ZLIB (the Java client's default)
  zstd,  ///< Zstandard
  lz4,   ///< LZ4 frame
};
/// How request headers are encoded on the wire (serializeTypeCurrentRPC).
enum class header_serialization {
  json,    ///< JSON (the Java client's default)
  binary,  ///< the ROCKETMQ binary serialization: about half the cost to encode and decode
};
/// Which latency fault tables to use (Java 5.x: mild, at most 30 s; 4.9: up to 600 s).
enum class fault_table_preset {
  v5,    ///< 5.x tables: unavailable for at most 30 s
  v4_9,  ///< 4.9 tables: unavailable for up to 600 s
};

/// Latency fault tables: a send latency of at least latency_max[i] makes the broker unavailable
/// for not_available[i]; a failure counts as `isolation_latency`. Valid: both lists of the same
/// non-zero length, latency_max ascending, every duration within 0..1 h.
struct fault_table_config {
  std::vector<std::chrono::milliseconds> latency_max;    ///< latency thresholds, ascending
  std::vector<std::chrono::milliseconds> not_available;  ///< unavailability per threshold
  std::chrono::milliseconds isolation_latency{10000};    ///< the latency a failure counts as
};

/// Automatic batching (the Java 5.x client's autoBatch with batchMaxDelayMs and batchMaxBytes;
/// librdkafka's linger.ms): single sends of one topic (an ordered send's: of one queue) that
/// start within `linger` of each other on a loop go out as one SEND_BATCH_MESSAGE, each message
/// still completing on its own with its own result (docs/guide.md, "Automatic batching").
struct auto_batch_config {
  /// How long a batch gathers after its first message, 0..1 s: it leaves earlier once full,
  /// and never later than its earliest message's deadline allows. The linger comes out of each
  /// message's send_timeout. 0: the sends one turn of the loop starts (a burst, or the
  /// handlers of one read's responses), no timer.
  std::chrono::microseconds linger{1000};
  /// Largest encoded batch body, 1 byte..max_message_size (Java batchMaxBytes: 32 KiB). A
  /// message whose record alone is larger goes on its own.
  std::size_t max_bytes = 32 * 1024;
  /// Most messages in one batch, 1..65536.
  std::size_t max_messages = 512;
};

/// Message trace (the Java client's enableMsgTrace and customizedTraceTopic): after each traced
/// send, a trace record in the Java format goes into a bounded buffer, and an internal producer
/// sends the records in batches, asynchronously, to `topic`, where RocketMQ's dashboard and
/// tools read them (docs/guide.md, "Message trace"). A send is traced as in Java: once it got a
/// result from a broker with TRACE_ON true (a result not SEND_OK is traced with success false);
/// failed and oneway sends and sends to `topic` itself are not. The traced send never waits:
/// with the buffer full a record is dropped and counted (producer_stats::trace_dropped).
struct trace_config {
  /// Where trace messages go (RMQ_SYS_TRACE_TOPIC, as in Java): a valid topic name. Brokers
  /// create it through the create_topic_key when it does not exist (autoCreateTopicEnable), or
  /// at start with traceTopicEnable.
  std::string topic = "RMQ_SYS_TRACE_TOPIC";
  /// Records waiting to be sent, 1..1,048,576 (Java: 1024): beyond, records are dropped. The
  /// buffer holds twice as many records (those being sent), about 400 bytes each.
  std::size_t buffer_records = 1024;
  /// Most records in one trace message, 1..10,000 (Java: 100 per poll of its queue).
  std::size_t max_records_per_message = 100;
  /// Largest trace message body, 1 KiB..4 MiB (Java: 128000 - 10000); a single larger record
  /// still goes, alone.
  std::size_t max_message_size = 118000;
  /// How long the first record waits for more before they are sent, 0..1 s (Java polls its
  /// queue every 5 ms). A full message leaves at once.
  std::chrono::milliseconds flush_interval{5};
  /// Trace messages sent and not yet answered, 1..65,536; beyond, the sending waits (on the
  /// internal producer's thread, never on a traced send) while records gather in the buffer.
  std::size_t max_in_flight = 64;
};

/// Every setting of a producer (DefaultMQProducer's fields); checked by validate() and start().
struct producer_config {
  /// NameServer addresses, "host:port;host:port" (namesrvAddr), each with a port 1..65535.
  /// Empty: the NAMESRV_ADDR environment variable, as the Java client reads it.
  std::string name_servers;
  /// producerGroup: 1..255 characters of [%|a-zA-Z0-9_-], not DEFAULT_PRODUCER or
  /// CLIENT_INNER_PRODUCER.
  std::string group = "DEFAULT_PRODUCER_GROUP";
  /// namespace (Java setNamespace), NS below: brokers and NameServers know the group and every
  /// topic as "NS%name", and each message carries the property INSTANCE_ID=NS. Results,
  /// fetch_queues() and transaction checks name topics as the user does (a reply keeps the
  /// wrapped reply topic the broker names, as in Java). Left as they are: create_topic_key, the
  /// system topics of Java's TopicValidator (TBW102, RMQ_SYS_TRACE_TOPIC, BenchmarkTest, ...) and
  /// rmq_sys_ topics, system groups (CID_RMQ_SYS_...) and names that already start with "NS%";
  /// a retry or DLQ topic keeps its prefix in front
  /// ("%RETRY%NS%group"). Empty: no namespace (nothing changes and nothing is paid). Else
  /// 1..125 characters of [|a-zA-Z0-9_-] (the topic characters without the separator %), and
  /// the group in it must still be a valid group.
  std::string name_space;
  /// ACL account (Java's AclClientRPCHook with SessionCredentials): with an access key, every
  /// request to NameServers and brokers is signed (rmq::access_credentials). A broker that
  /// refuses the signature or the account's permissions fails the send with
  /// errc::access_denied, not retried. Empty access key (the default): nothing is signed and
  /// nothing is paid. An access key needs a secret key; a secret or token needs an access key.
  access_credentials credentials;
  /// instanceName: 1..255 bytes of printable ASCII without spaces (it goes into the client id,
  /// "<ip>@<instance>", of every heartbeat). "DEFAULT" becomes "<pid>#<nanotime>" at start, as
  /// in Java.
  std::string instance_name = "DEFAULT";

  // Every duration below is at most an hour: far above any sensible value, and every deadline
  // and timer (a clock reading plus a duration) stays far from overflowing.

  /// sendMsgTimeout: the whole budget of a send, 1 ms..1 h. Also the deadline of a heartbeat
  /// (as Java's mqClientApiTimeout), and of unregistering at shutdown once the shutdown's own
  /// deadline has passed: one attempt's share of it.
  std::chrono::milliseconds send_timeout{3000};
  /// sendMsgMaxTimeoutPerRequest: cap of one attempt, 1 ms..1 h (may exceed send_timeout, which
  /// still bounds the send). Empty: the budget shared fairly among the attempts allowed, so a
  /// hung attempt leaves room for the retries.
  std::optional<std::chrono::milliseconds> attempt_timeout;
  int retries_sync = 2;                                  ///< retryTimesWhenSendFailed, 0..15
  int retries_async = 2;                                 ///< retryTimesWhenSendAsyncFailed, 0..15
  bool retry_another_broker_when_not_stored_ok = false;  ///< retryAnotherBrokerWhenNotStoreOK

  std::size_t compress_threshold = 4096;  ///< compressMsgBodyOverHowmuch (SIZE_MAX: never)
  /// compressLevel, within the range of compress_type: zlib -1..9 (-1: zlib's default, 6; 0:
  /// stored, not compressed), zstd ZSTD_minCLevel()..ZSTD_maxCLevel() (-131072..22 with libzstd
  /// 1.5; 0: zstd's default, 3; negative: fast levels), lz4 any (not used: Java's lz4 writer has
  /// no level either).
  int compress_level = 5;
  compression compress_type = compression::zlib;  ///< compressType
  /// maxMessageSize: largest body, and largest encoded batch body, 1 byte..15 MiB. A larger body
  /// is refused with errc::body_too_large before any I/O. 15 MiB leaves room for the header in
  /// the 16 MiB remoting frame; brokers refuse bodies above their own maxMessageSize (4 MiB by
  /// default) with MESSAGE_ILLEGAL.
  std::size_t max_message_size = 4 * 1024 * 1024;
  /// The highest delay level the brokers' `messageDelayLevel` table has, 1..1000 (18 by
  /// default: 1s 5s 10s 30s 1m ... 2h). A broker delivers a higher level at its last one without
  /// a word; the producer refuses it with errc::delay_level_invalid before any I/O. Raise it
  /// when the brokers are configured with more levels.
  int max_delay_level = message::max_default_delay_level;

  bool fault_tolerance = true;  ///< sendLatencyFaultEnable (Java default false; docs/design.md)
  fault_table_preset fault_tables = fault_table_preset::v5;  ///< latency fault tables in use
  std::optional<fault_table_config> custom_fault_tables;     ///< overrides fault_tables when set

  /// heartbeatBrokerInterval, 1 ms..1 h. Brokers drop a producer not heard from for 120 s and
  /// close its connection: keep it well below that (Java: 30 s); longer suits only tests.
  std::chrono::milliseconds heartbeat_interval{30000};
  std::chrono::milliseconds route_refresh_interval{30000};  ///< pollNameServerInterval, 1 ms..1 h
  /// A topic not sent to for this long leaves the route cache at a route refresh (within two
  /// refresh intervals more), with the connections only its route needed; a later send queries
  /// its route again. 0: never (as Java, whose cache keeps every topic and queries each at
  /// every refresh); else 1 ms..1 h.
  std::chrono::milliseconds route_idle_timeout{300000};
  std::chrono::milliseconds connect_timeout{3000};  ///< connectTimeoutMillis, 1 ms..1 h (≤ budget)
  /// TLS on every NameServer and broker connection (tls_config: CAs, client certificate,
  /// server verification, on by default). Empty (the default): plain TCP, and nothing is paid.
  /// The handshake is part of the connect and bounded by connect_timeout.
  std::optional<tls_config> tls;

  /// Automatic batching of single sends (auto_batch_config). Empty (the default): every send
  /// is its own request, and nothing is paid. Batched: sync and async sends of a message without
  /// a delay level or timer, below compress_threshold, not to a retry topic, not a transaction's
  /// half message, a request or a reply, and with wait_store_msg_ok (the default); oneway sends
  /// and the rest go alone as before.
  std::optional<auto_batch_config> auto_batch;

  /// backPressureForAsyncSendNum: 1..8,388,607 (2^23 - 1), for the whole producer.
  std::size_t max_in_flight_sends = 65536;
  /// backPressureForAsyncSendSize, body bytes: 1..2^40 - 1.
  std::size_t max_in_flight_bytes = 256u << 20;
  /// When full: false = wait for room (bounded by the send's deadline), true = fail at once
  /// with errc::backpressure_full.
  bool fail_fast_when_full = false;

  /// createTopicKey (auto-created topics): a valid topic name one may send to.
  std::string create_topic_key = "TBW102";
  int default_topic_queue_nums = 4;  ///< defaultTopicQueueNums, >= 1
  rmq::route_limits route_limits;    ///< what a route may make the producer build
  /// Protocol version (MQVersion ordinal) sent in every header, 0..32767; the default is the
  /// 5.3.3 Java client's. What a producer's servers do with it: from 401 (4.9.4) NameServers
  /// answer routes in standard JSON (below, in a legacy form this client reads too); above 475
  /// (5.3.1) a 5.3 server shutting down gracefully answers GO_AWAY, which the producer handles
  /// (it resends once on a new connection, then moves on; docs/design.md).
  int protocol_version = 479;
  header_serialization serialization = header_serialization::json;  ///< request headers
  std::size_t loop_threads = 1;  ///< I/O loop threads, 1..64; connections are spread over them
  /// How long an I/O loop keeps polling for completions before it sleeps (no Java equivalent;
  /// as Seastar's idle poll). Spares the sleep and wake-up per burst of responses, which
  /// dominates the tail of a steady paced load, at the price of a core busy while sends are
  /// flowing. 0: sleep as soon as there is nothing to do. At most 1 s.
  std::chrono::microseconds busy_poll{0};
  /// The loops' kernel interface: io_uring where it can run, else epoll (automatic), or one of
  /// them forced. producer::backend() tells which one runs.
  io_backend backend = io_backend::automatic;

  /// Where the producer logs (spdlog). Empty: the logger named "rmq" in spdlog's registry; if
  /// the application has registered none when the producer starts, one is created then, with
  /// the sinks of spdlog's default logger and the registry's level and pattern, and registered
  /// under that name. The producer logs connections up, down, refused and reconnecting, route
  /// changes, brokers isolated and back, retries and final failures (rate-limited), shutdown
  /// steps and its configuration at start (info); never a line per successful send. A level
  /// that is off costs a comparison where a line would be.
  std::shared_ptr<spdlog::logger> logger;

  /// Hooks run before each send and after its completion (Java registerSendMessageHook), in
  /// this order, on the loop threads: rmq/send_hook.hpp says when and how. None: nothing is
  /// paid (one test of an empty list where each would run). Entries must not be null.
  std::vector<std::shared_ptr<send_hook>> send_hooks;

  /// Every metrics_interval (0: never) from start() to shutdown, producer::metrics() is taken
  /// and handed to metrics_callback (as librdkafka's statistics.interval.ms and stats_cb). It
  /// runs on a producer loop thread (the first loop's), so it must be short and must not block:
  /// render or copy what it needs and hand heavier work to another thread. What it throws is
  /// caught and logged. Both must be set, or neither; the interval is 100 ms..1 day.
  std::chrono::milliseconds metrics_interval{0};
  /// See metrics_interval.
  std::function<void(const producer_metrics&)> metrics_callback;

  /// Message trace (trace_config): set, an internal producer (group
  /// `_INNER_TRACE_PRODUCER-<group>-PRODUCE-<n>`, instance
  /// `PID_CLIENT_INNER_TRACE_PRODUCER_<name servers>`, one loop thread, these name servers and
  /// credentials, no namespace) starts with this one and sends the trace records; shutdown()
  /// and the destructor send what is buffered (within the shutdown's time) and then shut it
  /// down. The group must then be at most 214 characters (the trace group's is 255 at most).
  /// Empty (the default): no trace producer, no trace topic lookup, and nothing is paid.
  std::optional<trace_config> trace;

  // --- transactions (TransactionMQProducer) ------------------------------------------------
  /// Answers the brokers' checks of this group's half messages (checkLocalTransaction): a plain
  /// function, run on the transaction threads, or a coroutine, run on a loop
  /// (rmq/transaction.hpp). Empty: checks are ignored and counted (as Java logs them without a
  /// listener); the broker asks again later, up to its transactionCheckMax.
  transaction_checker checker;
  /// How long a local transaction may run before its answer counts as unknown (the broker then
  /// asks the checker), 1 ms..1 h. A coroutine gets a terminal cancellation then; a plain
  /// function is no longer waited for. No Java equivalent (Java waits without bound).
  std::chrono::milliseconds local_transaction_timeout{6000};
  /// The same bound for one check; its answer is then unknown, 1 ms..1 h.
  std::chrono::milliseconds check_timeout{3000};
  /// Threads that run plain local transactions and checkers, 1..64 (checkThreadPoolMinSize);
  /// started on first use.
  std::size_t transaction_threads = 1;
  /// Checks that may be under way at once on each loop, 1..1,000,000 (checkRequestHoldMax):
  /// further ones are dropped and counted, and the broker asks again later.
  std::size_t max_concurrent_checks = 2000;

  // --- request-reply -----------------------------------------------------------------------
  /// Requests that may wait for their reply at once, 1..8,388,607; beyond, a request fails with
  /// errc::backpressure_full (no Java equivalent).
  std::size_t max_pending_requests = 65536;

  /// Checks the configuration against the ranges above (also done by producer::start()):
  /// errc::configuration_invalid, or the group's own error (errc::group_blank, ...). Enum fields
  /// must hold one of their enumerators.
  [[nodiscard]] std::error_code validate() const;
};

}  // namespace rmq
