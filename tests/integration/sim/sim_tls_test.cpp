// rmq-sim's server TLS over real loopback sockets: TLS and plain clients in both modes, client
// certificates, the mid-handshake fault, counters, and the errors of bad settings.
#include "cli.hpp"
#include "sim_test_support.hpp"
#include "sim_tls_client.hpp"
#include "support/test_pki.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <system_error>

namespace rmq::sim::test {

namespace {

using rmq::test::test_pki;

sim_config tls_sim_config(tls_mode mode = tls_mode::permissive,
                          tls_client_auth client_auth = tls_client_auth::none,
                          std::string client_ca = {}) {
  const auto& pki = test_pki::get();
  sim_config config = make_config();
  config.tls = {.cert_file = pki.server_cert(),
                .key_file = pki.server_key(),
                .mode = mode,
                .client_auth = client_auth,
                .client_ca_file = std::move(client_ca)};
  return config;
}

tls_test_client::options trusting_client() {
  return {.ca_file = test_pki::get().ca_cert()};
}

tls_test_client::options client_with(std::string cert, std::string key) {
  return {.ca_file = test_pki::get().ca_cert(),
          .cert_file = std::move(cert),
          .key_file = std::move(key)};
}

// Waits for a condition on the name server's counters.
bool namesrv_reaches(simulator& sim, const std::function<bool(const server_counters&)>& predicate) {
  return sim.wait_until([&](const sim_counters& c) { return predicate(c.namesrv); }, reply_timeout);
}

// A closed TLS stream without a close_notify: OpenSSL reports the truncation, Asio EOF.
bool ended_without_reset(std::error_code ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

}  // namespace

TEST_CASE("TLS: a client gets a route from the name server and sends to a broker") {
  simulator sim(tls_sim_config());
  sim.start();

  tls_test_client namesrv(sim.namesrv_address(), trusting_client());
  REQUIRE_FALSE(namesrv.handshake());
  const auto route = namesrv.call(route_request("TopicTest"));
  REQUIRE(route);
  CHECK(route->fields.code == 0);
  CHECK(route->body.find(sim.broker_address("broker-a")) != std::string::npos);

  tls_test_client broker(sim.broker_address("broker-a"), trusting_client());
  REQUIRE_FALSE(broker.handshake());
  const auto hb = broker.call(
      make_request(wire::request_code::heart_beat, {},
                   wire::encode_heartbeat("client-tls", "tls_group", wire::heartbeat_shape::v4)));
  REQUIRE(hb);
  CHECK(hb->fields.code == 0);
  const auto sent = broker.call(send_v2("TopicTest", "over tls"));
  REQUIRE(sent);
  CHECK(sent->fields.code == 0);
  REQUIRE(sim.wait_for_messages(1, reply_timeout));
  CHECK(sim.messages().at(0).body == "over tls");

  const auto c = sim.counters();
  CHECK(c.namesrv.tls_handshakes == 1);
  CHECK(c.brokers.at(0).second.tls_handshakes == 1);
  CHECK(c.namesrv.tls_handshake_failures == 0);
  const std::string stats = sim.stats_json(false);
  CHECK(stats.find(R"("tls_handshakes":1)") != std::string::npos);
  CHECK(stats.find(R"("plain_connections_refused":0)") != std::string::npos);
}

TEST_CASE("TLS: responses larger than a TLS record arrive whole, coalesced") {
  simulator sim(tls_sim_config());
  sim.start();
  tls_test_client broker(sim.broker_address("broker-a"), trusting_client());
  REQUIRE_FALSE(broker.handshake());

  // 500 sends in one write: their requests span many records, their responses too.
  constexpr int count = 500;
  std::string frames;
  for (int i = 0; i < count; ++i) {
    auto request = send_v2("TopicTest", std::string(200, 'x'));
    request.fields.opaque = 1000 + i;
    frames += request.encode(wire::serialize_type::json);
  }
  REQUIRE(broker.write(frames));
  for (int i = 0; i < count; ++i) {
    const auto response = broker.read_response(1000 + i);
    REQUIRE(response);
    CHECK(response->fields.code == 0);
  }
  CHECK(sim.message_count() == count);
  // Coalesced: fewer flushes than responses.
  CHECK(sim.counters().brokers.at(0).second.writes < count);
}

TEST_CASE("TLS: a broker's own requests reach the client, and its answers the broker") {
  auto config = tls_sim_config();
  config.responder.enabled = true;
  simulator sim(config);
  sim.start();
  tls_test_client requester(sim.broker_address("broker-a"), trusting_client());
  REQUIRE_FALSE(requester.handshake());
  constexpr std::string_view requester_id = "192.0.2.2@19821#13414006293158";
  REQUIRE(requester.call(make_request(
      wire::request_code::heart_beat, {},
      wire::encode_heartbeat(requester_id, "request_group", wire::heartbeat_shape::v4))));

  const auto sent = requester.call(send_v2(
      "TopicTest", "ping", 0,
      properties(
          {{"REPLY_TO_CLIENT", requester_id}, {"CORRELATION_ID", "c-1"}, {"TTL", "10000"}})));
  REQUIRE(sent);
  CHECK(sent->fields.code == 0);
  // The responder's reply, pushed by the broker on the same TLS connection.
  const auto push = requester.read_request(wire::request_code::push_reply_message_to_client);
  REQUIRE(push);
  CHECK(push->body == "reply:ping");
  REQUIRE(requester.respond(push->fields.opaque));
  REQUIRE(sim.wait_until([](const sim_counters& c) { return c.replies().delivered == 1; },
                         reply_timeout));
}

TEST_CASE("TLS permissive: plain clients are served as well") {
  simulator sim(tls_sim_config(tls_mode::permissive));
  sim.start();
  blocking_client plain(sim.namesrv_address());
  const auto route =
      plain.call(route_request("TopicTest"), wire::serialize_type::json, reply_timeout);
  REQUIRE(route);
  CHECK(route->fields.code == 0);

  blocking_client broker(sim.broker_address("broker-a"));
  const auto sent =
      broker.call(send_v2("TopicTest", "plain"), wire::serialize_type::json, reply_timeout);
  REQUIRE(sent);
  CHECK(sent->fields.code == 0);

  const auto c = sim.counters();
  CHECK(c.namesrv.tls_handshakes == 0);
  CHECK(c.namesrv.plain_connections_refused == 0);
}

TEST_CASE("TLS enforcing: a plain client is closed unanswered, a TLS client is served") {
  simulator sim(tls_sim_config(tls_mode::enforcing));
  sim.start();

  blocking_client plain(sim.namesrv_address());
  CHECK_FALSE(plain.call(route_request("TopicTest"), wire::serialize_type::json, reply_timeout));
  CHECK(plain.wait_closed(reply_timeout));
  CHECK_FALSE(plain.reset_by_peer());  // its bytes were read: EOF, not a reset
  REQUIRE(namesrv_reaches(sim, [](const auto& c) { return c.plain_connections_refused == 1; }));
  CHECK(sim.counters().namesrv.requests.empty());  // closed before anything was handled

  blocking_client plain_broker(sim.broker_address("broker-a"));
  CHECK_FALSE(plain_broker.call(send_v2("TopicTest", "refused"), wire::serialize_type::json,
                                reply_timeout));
  CHECK(plain_broker.wait_closed(reply_timeout));
  CHECK(sim.message_count() == 0);

  tls_test_client secure(sim.namesrv_address(), trusting_client());
  REQUIRE_FALSE(secure.handshake());
  const auto route = secure.call(route_request("TopicTest"));
  REQUIRE(route);
  CHECK(route->fields.code == 0);
}

TEST_CASE(
    "TLS client auth require: no certificate is refused, the CA's client certificate served") {
  const auto& pki = test_pki::get();
  simulator sim(tls_sim_config(tls_mode::enforcing, tls_client_auth::require, pki.ca_cert()));
  sim.start();

  SUBCASE("without a certificate") {
    tls_test_client anonymous(sim.namesrv_address(), trusting_client());
    // Under TLS 1.3 the client's side of the handshake ends before the server checks its
    // certificate: the refusal then comes as an alert on the first read.
    if (!anonymous.handshake()) {
      CHECK_FALSE(anonymous.call(route_request("TopicTest")));
    }
    REQUIRE(namesrv_reaches(sim, [](const auto& c) { return c.tls_handshake_failures == 1; }));
    CHECK(sim.counters().namesrv.tls_handshakes == 0);
    CHECK(sim.counters().namesrv.requests.empty());
  }
  SUBCASE("with a certificate of another CA") {
    tls_test_client stranger(sim.namesrv_address(),
                             client_with(pki.untrusted_cert(), pki.untrusted_key()));
    if (!stranger.handshake()) {
      CHECK_FALSE(stranger.call(route_request("TopicTest")));
    }
    REQUIRE(namesrv_reaches(sim, [](const auto& c) { return c.tls_handshake_failures == 1; }));
  }
  SUBCASE("with client.crt") {
    tls_test_client known(sim.namesrv_address(), client_with(pki.client_cert(), pki.client_key()));
    REQUIRE_FALSE(known.handshake());
    const auto route = known.call(route_request("TopicTest"));
    REQUIRE(route);
    CHECK(route->fields.code == 0);
    CHECK(sim.counters().namesrv.tls_handshakes == 1);
  }
}

TEST_CASE("TLS client auth optional: served with or without a certificate") {
  const auto& pki = test_pki::get();
  simulator sim(tls_sim_config(tls_mode::enforcing, tls_client_auth::optional, pki.ca_cert()));
  sim.start();

  tls_test_client anonymous(sim.namesrv_address(), trusting_client());
  REQUIRE_FALSE(anonymous.handshake());
  REQUIRE(anonymous.call(route_request("TopicTest")));

  tls_test_client known(sim.namesrv_address(), client_with(pki.client_cert(), pki.client_key()));
  REQUIRE_FALSE(known.handshake());
  REQUIRE(known.call(route_request("TopicTest")));
  CHECK(sim.counters().namesrv.tls_handshakes == 2);
}

TEST_CASE("TLS client auth without a client CA takes any certificate unverified") {
  const auto& pki = test_pki::get();
  simulator sim(tls_sim_config(tls_mode::enforcing, tls_client_auth::require));
  sim.start();

  tls_test_client stranger(sim.namesrv_address(),
                           client_with(pki.untrusted_cert(), pki.untrusted_key()));
  REQUIRE_FALSE(stranger.handshake());
  REQUIRE(stranger.call(route_request("TopicTest")));
}

TEST_CASE("fault close_mid_handshake: the ClientHello is read, then the connection closes") {
  simulator sim(tls_sim_config());
  sim.start();

  SUBCASE("name server") {
    sim.set_namesrv_faults({.close_mid_handshake = true});
    tls_test_client client(sim.namesrv_address(), trusting_client());
    const auto ec = client.handshake();
    CHECK(ended_without_reset(ec));
    REQUIRE(namesrv_reaches(sim, [](const auto& c) { return c.faults_injected == 1; }));
    CHECK(sim.counters().namesrv.tls_handshakes == 0);
    CHECK(sim.counters().namesrv.tls_handshake_failures == 0);

    // Plain connections are not in its scope.
    blocking_client plain(sim.namesrv_address());
    REQUIRE(plain.call(route_request("TopicTest"), wire::serialize_type::json, reply_timeout));

    sim.clear_faults();
    tls_test_client healthy(sim.namesrv_address(), trusting_client());
    REQUIRE_FALSE(healthy.handshake());
    REQUIRE(healthy.call(route_request("TopicTest")));
  }
  SUBCASE("broker, from the control channel's setting") {
    fault_spec spec;
    REQUIRE(apply_fault_setting("close-mid-handshake", spec));
    sim.set_broker_faults("broker-a", spec);
    tls_test_client client(sim.broker_address("broker-a"), trusting_client());
    CHECK(ended_without_reset(client.handshake()));
    REQUIRE(sim.wait_until(
        [](const sim_counters& c) { return c.brokers.at(0).second.faults_injected == 1; },
        reply_timeout));
  }
}

TEST_CASE("without TLS a TLS client is closed, as by a server with TLS disabled") {
  simulator sim(make_config());
  sim.start();
  tls_test_client client(sim.namesrv_address(), trusting_client());
  CHECK(client.handshake());
  // The handshake record does not decode as a frame.
  REQUIRE(namesrv_reaches(sim, [](const auto& c) { return c.decode_errors == 1; }));
  CHECK(sim.counters().namesrv.tls_handshakes == 0);
}

TEST_CASE("TLS settings that cannot work fail start() with the file and the reason") {
  const auto& pki = test_pki::get();
  const auto start_error = [](sim_config config) -> std::string {
    simulator sim(std::move(config));
    try {
      sim.start();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "started";
  };

  SUBCASE("a certificate without a key") {
    auto config = tls_sim_config();
    config.tls.key_file.clear();
    simulator sim(config);
    CHECK_THROWS_AS(sim.start(), std::invalid_argument);
  }
  SUBCASE("a key without a certificate") {
    auto config = tls_sim_config();
    config.tls.cert_file.clear();
    simulator sim(config);
    CHECK_THROWS_AS(sim.start(), std::invalid_argument);
  }
  SUBCASE("no such certificate file") {
    auto config = tls_sim_config();
    config.tls.cert_file = pki.file("missing.crt");
    const auto what = start_error(config);
    CHECK(what.find("cannot load the TLS certificate chain " + pki.file("missing.crt")) !=
          std::string::npos);
  }
  SUBCASE("a key file that holds no key") {
    auto config = tls_sim_config();
    config.tls.key_file = pki.server_cert();
    CHECK(start_error(config).find("cannot load the TLS private key " + pki.server_cert()) !=
          std::string::npos);
  }
  SUBCASE("a key of another certificate") {
    auto config = tls_sim_config();
    config.tls.key_file = pki.elsewhere_key();
    CHECK(start_error(config) == "rmq-sim: the TLS private key " + pki.elsewhere_key() +
                                     " does not match the certificate " + pki.server_cert());
  }
  SUBCASE("no such client CA file") {
    auto config =
        tls_sim_config(tls_mode::permissive, tls_client_auth::require, pki.file("missing-ca.crt"));
    CHECK(start_error(config).find("cannot load the TLS client CA file") != std::string::npos);
  }
}

TEST_CASE("command line: TLS options and the mid-handshake fault") {
  const auto parse = [](std::vector<std::string> args, cli_options& out) {
    args.insert(args.begin(), "rmq-sim");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return parse_command_line(static_cast<int>(argv.size()), argv.data(), out);
  };

  SUBCASE("every TLS option") {
    cli_options out;
    REQUIRE_FALSE(parse({"--tls-cert", "s.crt", "--tls-key", "s.key", "--tls-mode", "enforcing",
                         "--tls-client-auth", "require", "--tls-client-ca", "ca.crt"},
                        out));
    CHECK(out.config.tls.cert_file == "s.crt");
    CHECK(out.config.tls.key_file == "s.key");
    CHECK(out.config.tls.mode == tls_mode::enforcing);
    CHECK(out.config.tls.client_auth == tls_client_auth::require);
    CHECK(out.config.tls.client_ca_file == "ca.crt");
  }
  SUBCASE("defaults: permissive, no client certificate") {
    cli_options out;
    REQUIRE_FALSE(parse({"--tls-cert", "s.crt", "--tls-key", "s.key"}, out));
    CHECK(out.config.tls.mode == tls_mode::permissive);
    CHECK(out.config.tls.client_auth == tls_client_auth::none);
    cli_options plain;
    REQUIRE_FALSE(parse({}, plain));
    CHECK_FALSE(plain.config.tls.enabled());
  }
  SUBCASE("refused combinations") {
    cli_options out;
    CHECK(parse({"--tls-cert", "s.crt"}, out) == 2);
    CHECK(parse({"--tls-key", "s.key"}, out) == 2);
    CHECK(parse({"--tls-mode", "enforcing"}, out) == 2);
    CHECK(parse({"--tls-client-auth", "require"}, out) == 2);
    CHECK(parse({"--tls-cert", "s.crt", "--tls-key", "s.key", "--tls-mode", "strict"}, out)
              .value_or(0) != 0);
  }
  SUBCASE("the fault, per server") {
    cli_options out;
    REQUIRE_FALSE(parse({"--close-mid-handshake", "--namesrv-close-mid-handshake"}, out));
    CHECK(out.config.namesrv_faults.close_mid_handshake);
    REQUIRE(out.config.broker_faults.size() == 1);
    CHECK(out.config.broker_faults.at(0).second.close_mid_handshake);
  }
}

}  // namespace rmq::sim::test
