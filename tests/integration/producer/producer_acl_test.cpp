// A producer with ACL credentials against rmq-sim in ACL mode, whose brokers check every
// request's signature as the real ones do (the NameServer checks nothing) and refuse in their
// version's form: 4.9 SYSTEM_ERROR with an AclException remark, 5.3 NO_PERMISSION. Every request
// the producer sends is signed; a refusal ends the send at once with errc::access_denied naming
// the access key; the secret and the token are written nowhere.
#include "producer_fixture.hpp"
#include "support/log_capture.hpp"
#include "wire/codes.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using rmq::test::log_capture;
using rmq::test::producer_fixture;
using rmq::test::sim_with;
namespace sim = rmq::sim;

namespace {

constexpr const char* access_key = "rmqAccess";
constexpr const char* secret_key = "rmqSecret12345";

/// Two brokers with ACL (one account): a retried denial would reach the second.
sim::sim_config with_acl(sim::personality version) {
  sim::sim_config config = sim_with(2, version, {"TopicTest", "TxTopic"});
  config.acl_accounts.push_back({access_key, secret_key});
  return config;
}

rmq::producer_config signed_by(std::string key, std::string secret, std::string token = {}) {
  rmq::producer_config config;
  config.credentials = {std::move(key), std::move(secret), std::move(token)};
  return config;
}

std::uint64_t acl_denied(const sim::sim_counters& c) {
  return c.sum(&sim::server_counters::acl_denied);
}

}  // namespace

TEST_CASE("acl: every request a producer sends is signed and accepted") {
  for (auto version : {sim::personality::v4_9, sim::personality::v5}) {
    CAPTURE(rmq::test::version_name(version));
    producer_fixture f(with_acl(version), signed_by(access_key, secret_key, "sts-token"));
    rmq::test::send_every_kind(*f.producer);
    REQUIRE(f.sim.wait_until(
        [](const sim::sim_counters& c) {
          // the send, the oneway send and the half message; END_TRANSACTION is oneway too
          return c.broker_requests(rmq::wire::request_code::end_transaction) == 1 &&
                 c.broker_requests(rmq::wire::request_code::send_message_v2) == 3;
        },
        10s));
    REQUIRE_FALSE(f.producer->shutdown(3s));  // unregisters from both brokers

    const sim::sim_counters c = f.sim.counters();
    CHECK(acl_denied(c) == 0);
    CHECK(c.broker_requests(rmq::wire::request_code::heart_beat) >= 2);
    CHECK(c.broker_requests(rmq::wire::request_code::unregister_client) == 2);
    CHECK(c.broker_requests(rmq::wire::request_code::send_message_v2) == 3);
    CHECK(c.broker_requests(rmq::wire::request_code::send_batch_message) == 1);
  }
}

TEST_CASE("acl: a check-back's answer is signed too: the broker takes it and commits") {
  for (auto version : {sim::personality::v4_9, sim::personality::v5}) {
    CAPTURE(rmq::test::version_name(version));
    sim::sim_config config = with_acl(version);
    config.transactions.check_interval = 50ms;
    config.transactions.timeout = 50ms;
    rmq::producer_config producer_config = signed_by(access_key, secret_key);
    producer_config.checker = [](const rmq::transaction_check&) {
      return rmq::transaction_state::commit;
    };
    producer_fixture f(config, producer_config);
    std::error_code ec;
    const rmq::transaction_result tx = f.producer->send_in_transaction(
        rmq::message("TxTopic", "checked"),
        [](const rmq::message&, const rmq::send_result&) {
          return rmq::transaction_state::unknown;
        },
        ec);
    REQUIRE_FALSE(ec);
    // An unsigned answer would be dropped (a refused oneway request gets no answer) and the
    // half message would stay pending.
    const bool committed = f.sim.wait_until(
        [&](const sim::sim_counters&) {
          for (const sim::transaction_record& r : f.sim.transactions()) {
            if (r.transaction_id == tx.send.msg_id.view() &&
                r.state == sim::transaction_state::committed) {
              return true;
            }
          }
          return false;
        },
        10s);
    CHECK(committed);
    CHECK(acl_denied(f.sim.counters()) == 0);
  }
}

TEST_CASE("acl: a refusal fails the send at once with access_denied, in both servers' forms") {
  struct refused_case {
    const char* what;
    rmq::producer_config config;
    const char* v4_remark;
    const char* v5_remark;
    const char* our_words;
  };
  const std::vector<refused_case> cases = {
      {"wrong secret", signed_by(access_key, "wrongSecret999"),
       "AclException: Check signature failed for accessKey=rmqAccess, "
       "org.apache.rocketmq.acl.plain.PlainPermissionManager.validate("
       "PlainPermissionManager.java:684)",
       "check signature failed.", "access key rmqAccess refused by broker-"},
      {"unknown access key", signed_by("nobody", secret_key),
       "AclException: No acl config for nobody", "User:nobody is not found.",
       "access key nobody refused by broker-"},
      {"no credentials", rmq::producer_config{}, "AclException: No accessKey is configured",
       "username cannot be null.", "unsigned request refused by broker-"},
  };
  for (auto version : {sim::personality::v4_9, sim::personality::v5}) {
    for (const refused_case& c : cases) {
      CAPTURE(rmq::test::version_name(version));
      CAPTURE(c.what);
      producer_fixture f(with_acl(version), c.config);
      std::error_code ec;
      const rmq::send_result r = f.producer->send(rmq::message("TopicTest", "refused"), ec);
      CHECK(ec == rmq::errc::access_denied);
      CHECK(r.attempts == 1);  // not retried on the other broker
      INFO("remark: " << r.diagnostics.remark);
      CHECK(rmq::test::mentions(r.diagnostics.remark, c.our_words));
      CHECK(rmq::test::mentions(r.diagnostics.remark,
                                version == sim::personality::v5 ? c.v5_remark : c.v4_remark));
      CHECK(f.sim.counters().broker_requests(rmq::wire::request_code::send_message_v2) == 1);
      // The throwing form says the same.
      try {
        (void)f.producer->send(rmq::message("TopicTest", "refused"));
        FAIL("a refused send returned");
      } catch (const rmq::send_error& e) {
        CHECK(e.code() == rmq::errc::access_denied);
        CHECK(rmq::test::mentions(e.what(), c.our_words));
      }
    }
  }
}

TEST_CASE("acl: the secret key and the security token appear in no log, diagnostic or error") {
  const std::string secret = "S3cret-never-written";
  const std::string token = "T0ken-never-written";
  const std::string wrong = "Wr0ng-never-written";
  log_capture log(spdlog::level::trace);
  std::string texts;  // every diagnostic and error text the user gets
  {
    sim::sim_config config = with_acl(sim::personality::v5);
    config.acl_accounts.push_back({"tracer", secret});
    rmq::producer_config signed_config = signed_by("tracer", secret, token);
    signed_config.logger = log.logger();
    producer_fixture good(config, signed_config);
    std::error_code ec;
    REQUIRE_FALSE(good.producer->send(rmq::message("TopicTest", "ok"), ec).msg_id.empty());

    rmq::producer_config wrong_config = signed_by("tracer", wrong, token);
    wrong_config.logger = log.logger();
    producer_fixture bad(config, wrong_config);
    const rmq::send_result r = bad.producer->send(rmq::message("TopicTest", "refused"), ec);
    CHECK(ec == rmq::errc::access_denied);
    texts += r.diagnostics.remark + '\n' + r.diagnostics.describe("TopicTest", r.attempts) + '\n' +
             ec.message() + '\n';
    try {
      (void)bad.producer->send(rmq::message("TopicTest", "refused"));
    } catch (const std::exception& e) {
      texts += std::string(e.what()) + '\n';
    }
    REQUIRE_FALSE(good.producer->shutdown(3s));
    REQUIRE_FALSE(bad.producer->shutdown(3s));
  }
  const std::string all = log.text() + texts;
  INFO(all);
  // The access key is named: the operator knows the account.
  CHECK(rmq::test::mentions(all, "tracer"));
  CHECK(rmq::test::mentions(log.text(), "credentials.secret_key=***"));
  CHECK(rmq::test::mentions(log.text(), "credentials.security_token=***"));
  CHECK_FALSE(rmq::test::mentions(all, secret));
  CHECK_FALSE(rmq::test::mentions(all, token));
  CHECK_FALSE(rmq::test::mentions(all, wrong));
}

TEST_CASE("acl: credentials are validated at start") {
  for (const rmq::access_credentials& bad :
       {rmq::access_credentials{"ak", "", ""}, rmq::access_credentials{"", "sk", ""},
        rmq::access_credentials{"", "", "token"}}) {
    rmq::producer_config config;
    config.name_servers = "127.0.0.1:9876";
    config.credentials = bad;
    CHECK(config.validate() == rmq::errc::configuration_invalid);
  }
  rmq::producer_config config;
  config.name_servers = "127.0.0.1:9876";
  config.credentials = {"ak", "sk", "token"};
  CHECK_FALSE(config.validate());
}
