// A producer with TLS against rmq-sim with TLS (Asio's ssl stream on its epoll path: an
// independent TLS implementation), certificates made at run time: sends of every form over TLS
// to the NameServer and the brokers; a certificate the producer must refuse (untrusted, another
// host), told as errc::tls_handshake_failed with the reason in the log; server_name; a plain
// producer against an enforcing server and a TLS one against a plain server; a server that
// closes mid-handshake; mutual TLS; files start() cannot use.
#include "producer_fixture.hpp"
#include "support/log_capture.hpp"
#include "support/test_pki.hpp"
#include "wire/codes.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::log_capture;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
using rmq::test::test_pki;
namespace sim = rmq::sim;

namespace {

sim::sim_config tls_sim(const std::string& cert, const std::string& key,
                        sim::tls_mode mode = sim::tls_mode::enforcing,
                        sim::personality version = sim::personality::v5) {
  sim::sim_config config = sim_with(2, version, {"TopicTest", "TxTopic"});
  config.tls.cert_file = cert;
  config.tls.key_file = key;
  config.tls.mode = mode;
  return config;
}

sim::sim_config trusted_sim(sim::tls_mode mode = sim::tls_mode::enforcing,
                            sim::personality version = sim::personality::v5) {
  return tls_sim(test_pki::get().server_cert(), test_pki::get().server_key(), mode, version);
}

/// A producer that trusts the test CA; its log goes to `log` when given.
rmq::producer_config tls_producer(const log_capture* log = nullptr) {
  rmq::producer_config config;
  config.tls.emplace();
  config.tls->ca_file = test_pki::get().ca_cert();
  config.send_timeout = 3s;
  if (log != nullptr) config.logger = log->logger();
  return config;
}

std::uint64_t handshakes(const sim::sim_counters& c) {
  return c.sum(&sim::server_counters::tls_handshakes);
}

std::uint64_t plain_refused(const sim::sim_counters& c) {
  return c.sum(&sim::server_counters::plain_connections_refused);
}

/// A send's error with a fresh producer of `config` against `sim_config`.
std::error_code send_error_with(sim::sim_config sim_config, rmq::producer_config config) {
  producer_fixture f(std::move(sim_config), std::move(config));
  std::error_code ec;
  (void)f.producer->send(rmq::message("TopicTest", "refused"), ec);
  return ec;
}

}  // namespace

TEST_CASE("tls: every kind of send, NameServer and brokers over TLS, both server versions") {
  for (auto version : {sim::personality::v4_9, sim::personality::v5}) {
    CAPTURE(rmq::test::version_name(version));
    producer_fixture f(trusted_sim(sim::tls_mode::enforcing, version), tls_producer());
    rmq::test::send_every_kind(*f.producer);
    // Many sends at once: pipelined over TLS, each completing once.
    std::vector<std::future<rmq::send_result>> futures;
    for (int i = 0; i < 2000; ++i) {
      futures.push_back(f.producer->async_send(rmq::message("TopicTest", std::string(200, 'p')),
                                               asio::use_future));
    }
    for (auto& future : futures) CHECK(future.get().status == rmq::send_status::send_ok);
    REQUIRE(f.sim.wait_until(
        [](const sim::sim_counters& c) {
          return c.broker_requests(rmq::wire::request_code::end_transaction) == 1 &&
                 c.broker_messages() == 2006;
        },
        10s));
    const sim::sim_counters c = f.sim.counters();
    CHECK(c.namesrv.tls_handshakes >= 1);
    CHECK(handshakes(c) >= 3);  // the NameServer and both brokers
    CHECK(plain_refused(c) == 0);
  }
}

TEST_CASE("tls: a certificate the producer cannot trust fails sends as tls_handshake_failed") {
  log_capture log(spdlog::level::warn);
  const auto& pki = test_pki::get();
  const std::error_code ec =
      send_error_with(tls_sim(pki.untrusted_cert(), pki.untrusted_key()), tls_producer(&log));
  CHECK(ec == rmq::errc::tls_handshake_failed);
  INFO(log.text());
  CHECK(rmq::test::mentions(log.text(),
                            "certificate verification failed: unable to get local issuer"));
}

TEST_CASE("tls: a certificate for another host fails; server_name names the host to verify") {
  const auto& pki = test_pki::get();
  log_capture log(spdlog::level::warn);
  CHECK(send_error_with(tls_sim(pki.elsewhere_cert(), pki.elsewhere_key()), tls_producer(&log)) ==
        rmq::errc::tls_handshake_failed);
  CHECK(rmq::test::mentions(log.text(), "IP address mismatch"));

  rmq::producer_config named = tls_producer();
  named.tls->server_name = "elsewhere.rmq.test";
  CHECK_FALSE(send_error_with(tls_sim(pki.elsewhere_cert(), pki.elsewhere_key()), named));

  rmq::producer_config unverified;
  unverified.tls.emplace();
  unverified.tls->verify_server = false;  // a self-signed test cluster
  CHECK_FALSE(send_error_with(tls_sim(pki.untrusted_cert(), pki.untrusted_key()), unverified));
}

TEST_CASE(
    "tls: an enforcing server closes a plain producer's connections; permissive serves both") {
  {
    producer_fixture f(trusted_sim(sim::tls_mode::enforcing), rmq::producer_config{});
    std::error_code ec;
    (void)f.producer->send(rmq::message("TopicTest", "plain"), ec);
    CHECK(ec);
    CHECK(plain_refused(f.sim.counters()) >= 1);
  }
  producer_fixture f(trusted_sim(sim::tls_mode::permissive), tls_producer());
  rmq::producer_config plain_config;
  plain_config.name_servers = f.sim.namesrv_address();
  plain_config.group = "PlainGroup";
  rmq::producer plain(plain_config);
  REQUIRE_FALSE(plain.start());
  std::error_code ec;
  CHECK(plain.send(rmq::message("TopicTest", "plain"), ec).status == rmq::send_status::send_ok);
  CHECK_FALSE(ec);
  CHECK(f.producer->send(rmq::message("TopicTest", "tls"), ec).status == rmq::send_status::send_ok);
  CHECK_FALSE(ec);
  CHECK(handshakes(f.sim.counters()) >= 1);
  REQUIRE_FALSE(plain.shutdown());
}

TEST_CASE("tls: a producer with TLS against a plain server fails the handshake") {
  log_capture log(spdlog::level::warn);
  CHECK(send_error_with(sim_with(1, sim::personality::v5), tls_producer(&log)) ==
        rmq::errc::tls_handshake_failed);
  CHECK(rmq::test::mentions(log.text(), "connect failed"));
}

TEST_CASE("tls: a broker that closes mid-handshake fails sends as tls_handshake_failed") {
  log_capture log(spdlog::level::warn);
  sim::sim_config config = trusted_sim();
  config.broker_faults.push_back({"*", sim::fault_spec{.close_mid_handshake = true}});
  producer_fixture f(std::move(config), tls_producer(&log));
  std::error_code ec;
  (void)f.producer->send(rmq::message("TopicTest", "cut"), ec);
  CHECK(ec == rmq::errc::tls_handshake_failed);
  CHECK(
      rmq::test::mentions(log.text(), "the server closed the connection during the TLS handshake"));
  // The NameServer answered over TLS: only the brokers cut the handshake.
  CHECK(f.sim.counters().namesrv.tls_handshakes >= 1);
}

TEST_CASE("tls: mutual TLS — the producer's certificate is accepted; without one it is refused") {
  const auto& pki = test_pki::get();
  sim::sim_config config = trusted_sim();
  config.tls.client_auth = sim::tls_client_auth::require;
  config.tls.client_ca_file = pki.ca_cert();
  rmq::producer_config with_cert = tls_producer();
  with_cert.tls->cert_file = pki.client_cert();
  with_cert.tls->key_file = pki.client_key();
  CHECK_FALSE(send_error_with(config, with_cert));
  // TLS 1.3: the client's side of the handshake ends first; the server's refusal is an alert
  // before any answer, told as a refused handshake all the same.
  log_capture log(spdlog::level::warn);
  const std::error_code refused = send_error_with(config, tls_producer(&log));
  CHECK(refused == rmq::errc::tls_handshake_failed);
  CHECK(rmq::test::mentions(log.text(), "certificate required"));
}

TEST_CASE("tls: start() refuses files it cannot use, and says which") {
  log_capture log(spdlog::level::err);
  rmq::producer_config config = tls_producer(&log);
  config.name_servers = "127.0.0.1:9876";
  config.tls->ca_file = test_pki::get().directory() + "/no-such-ca.pem";
  rmq::producer missing_ca(config);
  CHECK(missing_ca.start() == rmq::errc::configuration_invalid);
  CHECK(rmq::test::mentions(log.text(), "no-such-ca.pem"));

  config = tls_producer(&log);
  config.name_servers = "127.0.0.1:9876";
  config.tls->cert_file = test_pki::get().client_cert();
  config.tls->key_file = test_pki::get().server_key();
  rmq::producer mismatched(config);
  CHECK(mismatched.start() == rmq::errc::configuration_invalid);
  CHECK(rmq::test::mentions(log.text(), "server.key"));
}
