// Every fault knob of rmq-sim, observed over real sockets.
#include "sim_test_support.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <doctest/doctest.h>

namespace rmq::sim::test {

namespace {

std::optional<wire::remoting_command> send_one(blocking_client& client, std::string body = "x") {
  return client.call(send_v2("TopicTest", std::move(body)), wire::serialize_type::json,
                     reply_timeout);
}

}  // namespace

TEST_CASE("latency: fixed and random range") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));

  sim.set_broker_faults("broker-a", {.latency_min = 150ms, .latency_max = 150ms});
  auto start = std::chrono::steady_clock::now();
  auto reply = send_one(client);
  REQUIRE(reply);
  CHECK(reply->fields.code == 0);
  CHECK(std::chrono::steady_clock::now() - start >= 150ms);

  sim.set_broker_faults("broker-a", {.latency_min = 50ms, .latency_max = 100ms});
  for (int i = 0; i < 3; ++i) {
    start = std::chrono::steady_clock::now();
    REQUIRE(send_one(client));
    CHECK(std::chrono::steady_clock::now() - start >= 50ms);
  }
  // Only sends are delayed by default: a heartbeat is answered at once... but still answered.
  auto hb = client.call(
      make_request(wire::request_code::heart_beat, {}, R"({"clientID":"c","producerDataSet":[]})"),
      wire::serialize_type::json, reply_timeout);
  REQUIRE(hb);
  CHECK(sim.counters().brokers.at(0).second.faults_injected == 4);
}

TEST_CASE("error code on every request and on every Nth one") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));

  sim.set_broker_faults("broker-a", {.error_code = wire::response_code::system_busy});
  auto busy = send_one(client);
  REQUIRE(busy);
  CHECK(busy->fields.code == wire::response_code::system_busy);
  CHECK(busy->remark.value_or("") == "[REJECTREQUEST]system busy, start flow control for a while");
  CHECK(busy->ext_fields.empty());
  CHECK(sim.message_count() == 0);

  sim.set_broker_faults("broker-a", {.error_code = wire::response_code::service_not_available,
                                     .error_remark = "custom remark"});
  auto unavailable = send_one(client);
  REQUIRE(unavailable);
  CHECK(unavailable->fields.code == wire::response_code::service_not_available);
  CHECK(unavailable->remark == "custom remark");

  sim.set_broker_faults("broker-a",
                        {.error_code = wire::response_code::system_error, .every_nth = 3});
  std::vector<std::int32_t> codes;
  for (int i = 0; i < 6; ++i) {
    auto reply = send_one(client);
    REQUIRE(reply);
    codes.push_back(reply->fields.code);
  }
  CHECK(codes == std::vector<std::int32_t>{0, 0, 1, 0, 0, 1});
  CHECK(sim.message_count() == 4);

  sim.clear_faults();
  auto ok = send_one(client);
  REQUIRE(ok);
  CHECK(ok->fields.code == 0);
}

TEST_CASE("stored-but-not-OK statuses store the message and answer a full send result") {
  for (const auto code :
       {wire::response_code::flush_disk_timeout, wire::response_code::flush_slave_timeout,
        wire::response_code::slave_not_available}) {
    CAPTURE(code);
    simulator sim(make_config());
    sim.start();
    blocking_client client(sim.broker_address("broker-a"));
    sim.set_broker_faults("broker-a", {.error_code = code});
    auto reply = send_one(client, "stored anyway");
    REQUIRE(reply);
    CHECK(reply->fields.code == code);
    CHECK(field_or(*reply, "msgId").size() == 32);
    CHECK(field_or(*reply, "queueOffset") == "0");
    const auto messages = sim.messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0].response_code == code);
    CHECK(messages[0].body == "stored anyway");
  }
}

TEST_CASE("silence: requests are read and never answered") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.broker_address("broker-a"));
  sim.set_broker_faults("broker-a", {.silent = true});
  client.send(send_v2("TopicTest", "into the void"), wire::serialize_type::json);
  // Heartbeats are outside the default scope; requests are answered in order, so the heartbeat's
  // answer being the first frame proves the send got none.
  auto hb = client.call(
      make_request(wire::request_code::heart_beat, {}, R"({"clientID":"c","producerDataSet":[]})"),
      wire::serialize_type::json, reply_timeout);
  REQUIRE(hb);
  CHECK(hb->fields.opaque == 2);
  CHECK(sim.counters().broker_requests(wire::request_code::send_message_v2) == 1);
  CHECK(sim.message_count() == 0);

  // Scoped to heartbeats only: sends are answered again, heartbeats are not.
  sim.set_broker_faults("broker-a", {.codes = {wire::request_code::heart_beat}, .silent = true});
  client.send(make_request(wire::request_code::heart_beat, {}, R"({"clientID":"c"})"),
              wire::serialize_type::json);
  auto sent = send_one(client);
  REQUIRE(sent);
  CHECK(sent->fields.code == 0);
}

TEST_CASE("connection reset at the Nth request") {
  simulator sim(make_config());
  sim.start();
  sim.set_broker_faults("broker-a", {.reset_after = 3});
  blocking_client client(sim.broker_address("broker-a"));
  REQUIRE(send_one(client));
  REQUIRE(send_one(client));
  client.send(send_v2("TopicTest", "third"), wire::serialize_type::json);
  CHECK(client.wait_closed(reply_timeout));
  CHECK(client.reset_by_peer());
  CHECK(sim.message_count() == 2);

  // A new connection counts from zero again.
  blocking_client again(sim.broker_address("broker-a"));
  REQUIRE(send_one(again));
}

TEST_CASE("split writes: responses arrive one byte per write") {
  simulator sim(make_config());
  sim.start();
  sim.set_broker_faults("broker-a", {.split_writes = true});
  blocking_client client(sim.broker_address("broker-a"));
  auto reply = send_one(client);
  REQUIRE(reply);
  CHECK(reply->fields.code == 0);
  CHECK(field_or(*reply, "msgId").size() == 32);
  const auto counters = sim.counters().brokers.at(0).second;
  CHECK(counters.writes >= 100);  // a response of more than 100 bytes, one byte per write
}

TEST_CASE("refused connections, then accepted again") {
  simulator sim(make_config());
  sim.start();
  const std::string address = sim.broker_address("broker-a");
  blocking_client existing(address);
  REQUIRE(send_one(existing));  // accepted (not merely queued in the backlog) before refusing

  sim.set_broker_faults("broker-a", {.refuse_connections = true});
  blocking_client refused(address);
  CHECK_FALSE(refused.connected());
  CHECK(refused.connect_error() == std::errc::connection_refused);
  REQUIRE(send_one(existing));  // established connections keep working

  sim.clear_faults();
  blocking_client accepted(address);
  REQUIRE(accepted.connected());
  REQUIRE(send_one(accepted));
}

TEST_CASE("a stopped broker refuses connections and drops its clients") {
  simulator sim(make_config());
  sim.start();
  const std::string address = sim.broker_address("broker-a");
  blocking_client client(address);
  REQUIRE(send_one(client));
  sim.stop_broker("broker-a");
  CHECK(client.wait_closed(reply_timeout));
  CHECK_FALSE(blocking_client(address).connected());
  sim.start_broker("broker-a");
  blocking_client back(address);
  auto reply = send_one(back);
  REQUIRE(reply);
  CHECK(field_or(*reply, "queueOffset") == "1");  // state survives the restart
}

TEST_CASE("a stopped broker keeps its port: nobody else can bind it, connects are refused") {
  simulator sim(make_config());
  sim.start();
  const std::string address = sim.broker_address("broker-a");
  const auto port = static_cast<unsigned short>(std::stoi(address.substr(address.rfind(':') + 1)));
  sim.stop_broker("broker-a");
  {
    asio::io_context io;
    asio::ip::tcp::acceptor squatter(io);
    squatter.open(asio::ip::tcp::v4());
    std::error_code ec;
    squatter.bind({asio::ip::make_address("127.0.0.1"), port}, ec);
    CHECK(ec == asio::error::address_in_use);  // held, though not listening
  }
  blocking_client refused(address);
  CHECK(refused.connect_error() == std::errc::connection_refused);
  sim.start_broker("broker-a");
  blocking_client back(address);
  REQUIRE(back.connected());
  REQUIRE(send_one(back));
}

TEST_CASE("refused, then stopped, then faults cleared: the broker stays stopped until started") {
  simulator sim(make_config());
  sim.start();
  const std::string address = sim.broker_address("broker-a");
  sim.set_broker_faults("broker-a", {.refuse_connections = true});
  sim.stop_broker("broker-a");
  sim.clear_faults();
  CHECK(blocking_client(address).connect_error() == std::errc::connection_refused);
  sim.start_broker("broker-a");
  blocking_client back(address);
  REQUIRE(back.connected());
  REQUIRE(send_one(back));
}

TEST_CASE("name server down and up again") {
  simulator sim(make_config());
  sim.start();
  const std::string address = sim.namesrv_address();
  blocking_client client(address);
  REQUIRE(client.call(route_request("TopicTest"), wire::serialize_type::json, reply_timeout));

  sim.namesrv_down();
  CHECK(client.wait_closed(reply_timeout));
  CHECK_FALSE(blocking_client(address).connected());

  sim.namesrv_up();
  CHECK(sim.namesrv_address() == address);
  blocking_client again(address);
  auto reply = again.call(route_request("TopicTest"), wire::serialize_type::json, reply_timeout);
  REQUIRE(reply);
  CHECK(reply->fields.code == 0);
}

TEST_CASE("name server faults: error, latency, silence") {
  simulator sim(make_config());
  sim.start();
  blocking_client client(sim.namesrv_address());

  sim.set_namesrv_faults(
      {.error_code = wire::response_code::system_error, .error_remark = "name server not ready"});
  auto error = client.call(route_request("TopicTest"), wire::serialize_type::json, reply_timeout);
  REQUIRE(error);
  CHECK(error->fields.code == wire::response_code::system_error);
  CHECK(error->remark == "name server not ready");

  sim.set_namesrv_faults({.latency_min = 100ms, .latency_max = 100ms});
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(client.call(route_request("TopicTest"), wire::serialize_type::json, reply_timeout));
  CHECK(std::chrono::steady_clock::now() - start >= 100ms);

  sim.set_namesrv_faults({.codes = {wire::request_code::get_routeinfo_by_topic}, .silent = true});
  client.send(route_request("TopicTest"), wire::serialize_type::json);
  auto other = client.call(make_request(12345, {}), wire::serialize_type::json, reply_timeout);
  REQUIRE(other);
  CHECK(other->fields.code == wire::response_code::request_code_not_supported);
  CHECK(sim.counters().namesrv.faults_injected == 3);
}

TEST_CASE("faults on one broker leave the others alone; '*' hits all") {
  simulator sim(make_config(personality::v4_9, 2));
  sim.start();
  blocking_client a(sim.broker_address("broker-a"));
  blocking_client b(sim.broker_address("broker-b"));
  sim.set_broker_faults("broker-a", {.error_code = wire::response_code::system_busy});
  CHECK(send_one(a)->fields.code == wire::response_code::system_busy);
  CHECK(send_one(b)->fields.code == 0);
  sim.set_broker_faults("*", {.error_code = wire::response_code::no_permission});
  CHECK(send_one(a)->fields.code == wire::response_code::no_permission);
  CHECK(send_one(b)->fields.code == wire::response_code::no_permission);
  CHECK_THROWS_AS(sim.set_broker_faults("broker-z", {}), std::invalid_argument);
}

}  // namespace rmq::sim::test
