// rmq-sim: a NameServer plus N brokers on loopback, with fault injection, in one object.
//
//   rmq::sim::sim_config config;
//   config.brokers = rmq::sim::default_brokers(2, 0);
//   config.topics.push_back({.name = "TopicTest"});
//   rmq::sim::simulator sim(config);
//   sim.start();                          // listeners bound, I/O thread running
//   ... connect to sim.namesrv_address() ...
//   sim.set_broker_faults("broker-a", {.error_code = 2});
//   auto messages = sim.messages();
//
// Every public member is thread-safe: state lives on the simulator's I/O thread and calls are
// executed there (the caller waits). Before start() they run directly.
#pragma once

#include "config.hpp"
#include "store.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rmq::sim {

/// Where a broker listens and whether it is up.
struct broker_endpoint {
  std::string name;
  std::int64_t id = 0;
  std::string address;  ///< "127.0.0.1:port"
  std::uint16_t port = 0;
  bool listening = false;
  bool registered = false;  ///< listed in routes
};

/// Counters of the whole simulator.
struct sim_counters {
  server_counters namesrv;
  std::vector<std::pair<std::string, server_counters>> brokers;  ///< "name" or "name#id"
  std::uint64_t stored_messages = 0;
  std::uint64_t evicted_messages = 0;

  /// Sum of the brokers' counts of `code`.
  [[nodiscard]] std::uint64_t broker_requests(std::int32_t code) const noexcept;
  /// Messages accepted by all brokers (batch members counted).
  [[nodiscard]] std::uint64_t broker_messages() const noexcept;
  /// One count summed over the NameServer and every broker: `sum(&server_counters::acl_denied)`.
  [[nodiscard]] std::uint64_t sum(std::uint64_t server_counters::*count) const noexcept;
  /// Requests of `code` the brokers sent to clients (39 checks, 326 reply pushes).
  [[nodiscard]] std::uint64_t broker_requests_sent(std::int32_t code) const noexcept;
  /// Clients' responses to those requests, summed over the brokers.
  [[nodiscard]] std::uint64_t broker_client_responses() const noexcept;
  /// Transaction and request-reply counts summed over the brokers.
  [[nodiscard]] transaction_counters transactions() const noexcept;
  [[nodiscard]] reply_counters replies() const noexcept;
};

class simulator {
 public:
  explicit simulator(sim_config config = {});
  ~simulator();
  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  /// Loads the TLS files (sim_config::tls), binds every listener and starts the I/O thread.
  /// Throws std::system_error when a port cannot be bound or a TLS file cannot be loaded,
  /// std::invalid_argument when the TLS settings name a certificate without a key (or the
  /// reverse) or a key that is not the certificate's.
  void start();
  /// Closes everything and joins the I/O thread. Idempotent.
  void stop();
  [[nodiscard]] bool running() const noexcept;

  // --- addresses ---------------------------------------------------------------------------
  [[nodiscard]] std::string namesrv_address() const;
  [[nodiscard]] std::uint16_t namesrv_port() const;
  [[nodiscard]] std::vector<broker_endpoint> brokers() const;
  /// Address of broker `name` (id 0 unless given); empty if there is no such broker.
  [[nodiscard]] std::string broker_address(std::string_view name, std::int64_t id = 0) const;

  // --- topics -----------------------------------------------------------------------------
  /// Creates the topic on the listed brokers (every broker when none). For a topic that exists
  /// there already, replaces its queue counts and perm (offsets kept; queues only grow): the
  /// run-time equivalent of `mqadmin updateTopic`, e.g. taking WRITE away from one broker.
  /// Routes answered from then on carry the new values.
  void create_topic(topic_config topic);
  void set_auto_create(bool on);

  // --- faults -----------------------------------------------------------------------------
  /// Replaces the faults of one broker ("*": every broker). Throws std::invalid_argument for an
  /// unknown broker.
  void set_broker_faults(std::string_view name, fault_spec faults, std::int64_t id = 0);
  void set_namesrv_faults(fault_spec faults);
  /// Every server back to healthy (listeners reopened, faults cleared).
  void clear_faults();

  /// Stops a broker: listener and connections closed, unregistered from the name server.
  void stop_broker(std::string_view name, std::int64_t id = 0);
  /// A 5.3 broker's graceful shutdown (enableShutdownGracefully): it unregisters from the name
  /// server, answers every request of a client above version 475 with GO_AWAY (code 1500,
  /// "please go away") for `wait` (shutdownWaitTimeSeconds), then stops. A 4.9 broker has no
  /// such shutdown: it unregisters and answers as usual until it stops. Returns at once.
  void shut_down_broker(std::string_view name, std::chrono::milliseconds wait, std::int64_t id = 0);
  /// Starts it again on its previous port.
  void start_broker(std::string_view name, std::int64_t id = 0);
  /// Stops it and starts it on `port` (0: a new ephemeral port), re-registered with the name
  /// server so routes change. Returns the new address.
  std::string restart_broker_on_new_port(std::string_view name, std::uint16_t port = 0,
                                         std::int64_t id = 0);
  /// Name server down: listener and connections closed. up: listening again on the same port.
  void namesrv_down();
  void namesrv_up();
  /// Closes every connection of one server, leaving its listener open.
  void drop_broker_connections(std::string_view name, std::int64_t id = 0);

  // --- what was received -------------------------------------------------------------------
  void set_store_enabled(bool on);
  [[nodiscard]] std::vector<stored_message> messages() const;
  [[nodiscard]] std::size_t message_count() const;
  void clear_messages();
  [[nodiscard]] std::vector<client_record> clients() const;
  [[nodiscard]] std::vector<end_transaction_record> end_transactions() const;
  /// Ids (UNIQ_KEY) of the timer messages recalled (RECALL_MESSAGE), in order.
  [[nodiscard]] std::vector<std::string> recalled() const;

  // --- transactions ------------------------------------------------------------------------
  /// Every half message the brokers keep and what became of it (oldest first per broker).
  [[nodiscard]] std::vector<transaction_record> transactions() const;
  /// New check interval, timeout, check maximum and capacity for every broker; a shorter
  /// interval takes effect at once.
  void set_transaction_config(transaction_config config);
  [[nodiscard]] transaction_config transaction_settings() const;

  // --- request-reply -----------------------------------------------------------------------
  /// Replies the brokers stored and pushed (or could not push), oldest first per broker.
  [[nodiscard]] std::vector<reply_record> replies() const;
  /// Turns the responder on, off or changes it; throws std::invalid_argument for an unknown
  /// broker name.
  void set_responder(responder_config config);
  [[nodiscard]] responder_config responder_settings() const;
  [[nodiscard]] sim_counters counters() const;

  /// Blocks until `predicate(counters())` holds or the timeout passes; re-checked whenever the
  /// simulator finished handling a read's requests. Returns whether it holds.
  bool wait_until(const std::function<bool(const sim_counters&)>& predicate,
                  std::chrono::milliseconds timeout);
  /// Shorthand: until the brokers accepted `count` messages in total.
  bool wait_for_messages(std::uint64_t count, std::chrono::milliseconds timeout);

  /// Counters (and, if asked, the stored messages) as one JSON document: rmq-sim writes it to
  /// --stats-file on exit for tests that run it as a separate process.
  [[nodiscard]] std::string stats_json(bool with_messages) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rmq::sim
