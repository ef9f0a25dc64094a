// rmq-sim configuration: the cluster to simulate and the faults to inject.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rmq::sim {

/// Which real server release the simulator imitates (taken from captured frames).
enum class personality {
  v4_9,  ///< answers in the request's serialization, version 409, no transactionId
  v5,    ///< always answers in JSON, version 479, adds transactionId, enableActingMaster
};

/// Perm bits of PermName.
inline constexpr int perm_inherit = 1;
inline constexpr int perm_write = 2;
inline constexpr int perm_read = 4;

/// A topic created up front on every broker (or on the listed ones).
struct topic_config {
  std::string name{};
  int read_queues = 0;   ///< 0: the simulator's default queue count
  int write_queues = 0;  ///< 0: same as read_queues
  int perm = perm_read | perm_write;
  std::vector<std::string> brokers{};  ///< empty: every broker
};

/// One broker process: a (name, id) pair with its own listener. id 0 is the master.
struct broker_config {
  std::string name;
  std::int64_t id = 0;
  std::uint16_t port = 0;  ///< 0: an ephemeral port
  int perm = perm_read | perm_write;
  /// The address routes give for this broker. Empty: its listener's "host:port". Any text is
  /// passed on as it is, so clients can be tested with an unusable route entry.
  std::string advertised_address{};
};

/// Faults of one server. Every knob is off by default; a default-constructed value means
/// "behave like a healthy server".
struct fault_spec {
  /// Request codes the request faults (latency, error, silence, reset) apply to. Empty: the
  /// server's default scope — the send requests (10, 310, 320) on a broker, every request on
  /// the name server.
  std::vector<std::int32_t> codes{};

  /// Added latency before the response is written: uniformly random in [min, max].
  std::chrono::microseconds latency_min{0};
  std::chrono::microseconds latency_max{0};

  /// Response code to answer instead of processing (e.g. 2 SYSTEM_BUSY). The stored-but-not-OK
  /// codes 10, 11, 12 store the message and answer a full send header with that code.
  std::optional<std::int32_t> error_code{};
  std::optional<std::string> error_remark{};  ///< default: the remark a real broker gives

  /// error_code and silence apply to every Nth matching request (1 = all of them).
  std::uint64_t every_nth = 1;

  bool silent = false;              ///< read matching requests but never answer them
  std::uint64_t reset_after = 0;    ///< reset a connection at its Nth matching request (0 = off)
  bool split_writes = false;        ///< write responses one byte per write
  bool refuse_connections = false;  ///< close the listener: connects are refused
  /// Broker: read END_TRANSACTION requests and drop them unprocessed (whatever `codes` says),
  /// so that their half messages stay pending and the broker checks back.
  bool drop_end_transaction = false;
  /// A server with TLS reads the client's first TLS record (its ClientHello) and closes the
  /// connection without answering: a server that goes away mid-handshake.
  bool close_mid_handshake = false;

  [[nodiscard]] bool has_latency() const noexcept { return latency_max.count() > 0; }
};

/// Transactional messages; names and defaults of the Java BrokerConfig.
struct transaction_config {
  /// How often each broker looks at its pending half messages (transactionCheckInterval).
  std::chrono::milliseconds check_interval{60'000};
  /// A pending half message is checked once it has been stored this long (transactionTimeOut;
  /// measured from when the simulator stored it, not from the client's born timestamp).
  std::chrono::milliseconds timeout{6'000};
  /// Checks of one half message before the broker discards it (transactionCheckMax).
  int check_max = 15;
  /// Half messages a broker keeps; beyond this the oldest is forgotten, pending or not.
  std::size_t capacity = 100'000;
};

/// The simulator answering request messages itself, like a responder client that consumes
/// them and sends SEND_REPLY_MESSAGE_V2: the reply is stored on a broker and pushed to the
/// requester's connection there. Off by default.
struct responder_config {
  bool enabled = false;
  std::string body_prefix = "reply:";  ///< reply body = prefix + request body
  /// Broker that stores and pushes the reply; empty: the broker that stored the request.
  std::string broker{};
  std::chrono::milliseconds delay{0};  ///< from storing the request to sending the reply
  bool withhold = false;  ///< requests are stored but never answered (requester timeouts)
  std::string producer_group = "rmq_sim_responder";  ///< the reply's producer group
};

/// An account of the brokers' ACL (sim/acl.hpp).
struct acl_account {
  std::string access_key;
  std::string secret_key;
};

/// What a server with TLS does with a connection whose first byte does not start a TLS
/// handshake (tls.server.mode of a real server; its `disabled` is a sim_config without TLS).
enum class tls_mode {
  permissive,  ///< serves TLS and plain connections alike (the real server's default)
  enforcing,   ///< closes plain connections
};

/// Whether a server asks TLS clients for a certificate (tls.server.need.client.auth).
enum class tls_client_auth {
  none,      ///< asks for none
  optional,  ///< asks; a client without one is served all the same
  require,   ///< asks; the handshake fails without one
};

/// TLS of the name server and every broker (a real server's tls.server.* settings, which its
/// name server and brokers share). On when cert_file and key_file are set (both or neither).
struct tls_config {
  std::string cert_file{};  ///< PEM certificate chain, leaf first (tls.server.certPath)
  std::string key_file{};   ///< PEM private key, unencrypted (tls.server.keyPath)
  tls_mode mode = tls_mode::permissive;
  tls_client_auth client_auth = tls_client_auth::none;
  /// PEM CA certificates a client certificate must chain to (tls.server.trustCertPath with
  /// tls.server.authClient=true). Empty: a client certificate is asked for but not verified, as
  /// by a real server with tls.server.authClient=false.
  std::string client_ca_file{};

  [[nodiscard]] bool enabled() const noexcept { return !cert_file.empty() || !key_file.empty(); }
};

struct sim_config {
  std::string host = "127.0.0.1";
  std::uint16_t namesrv_port = 0;  ///< 0: ephemeral
  std::string cluster = "DefaultCluster";
  std::vector<broker_config> brokers;  ///< empty: one master "broker-a"
  int default_queues = 4;
  bool auto_create = true;
  personality version = personality::v4_9;
  std::vector<topic_config> topics;
  std::string region = "DefaultRegion";
  bool trace_on = true;

  bool store = true;                       ///< keep decoded messages for inspection
  std::size_t store_capacity = 1'000'000;  ///< oldest messages are evicted beyond this
  std::size_t max_frame = 16u * 1024 * 1024;

  transaction_config transactions;
  responder_config responder;
  /// How long a broker waits for the requester's answer to a reply push before it answers the
  /// reply send with SYSTEM_ERROR (Broker2Client.callClient: 10 s).
  std::chrono::milliseconds reply_push_timeout{10'000};

  fault_spec namesrv_faults;
  std::vector<std::pair<std::string, fault_spec>> broker_faults;  ///< by broker name ("*": all)

  /// Empty: no ACL. Else the brokers accept only requests signed by one of these accounts.
  std::vector<acl_account> acl_accounts;
  /// recallMessageEnable (5 personality): RECALL_MESSAGE is refused with NO_PERMISSION when off,
  /// as by default on a real broker.
  bool recall_enabled = false;
  /// Server TLS; off by default.
  tls_config tls{};
};

/// Default broker names: broker-a, broker-b, ... broker-z, broker-aa, ...
[[nodiscard]] std::string default_broker_name(std::size_t index);

/// `count` masters with default names on consecutive ports after `first_port` (0: ephemeral).
[[nodiscard]] std::vector<broker_config> default_brokers(std::size_t count,
                                                         std::uint16_t first_port);

}  // namespace rmq::sim
