// rmq-send and rmq-bench as users run them: child processes against rmq-sim over loopback.
#include "sim_process.hpp"
#include "support/test_pki.hpp"
#include "support/test_scale.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct run_result {
  int exit_code = -1;
  std::string out;
};

/// Runs `args` to completion, capturing stdout (stderr passes through for the test log).
run_result run(std::vector<std::string> args) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  run_result r;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) {
    r.out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

/// A child whose stdout is read as it runs.
struct child {
  pid_t pid = -1;
  int out = -1;
};

child spawn(std::vector<std::string> args) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

/// Reads progress lines until one shows a non-zero msg/s (true) or stdout closes (false).
bool read_until_acked(const child& c, std::string& text) {
  std::size_t scanned = 0;
  char buffer[4096];
  for (;;) {
    for (std::size_t end; (end = text.find('\n', scanned)) != std::string::npos;) {
      const std::string line = text.substr(scanned, end - scanned);
      scanned = end + 1;
      const std::size_t unit = line.find(" msg/s ");
      if (!line.starts_with("[") || unit == std::string::npos) continue;
      const std::size_t number = line.find_last_of(' ', unit - 1) + 1;
      if (std::stod(line.substr(number, unit - number)) > 0) return true;
    }
    const ssize_t n = ::read(c.out, buffer, sizeof buffer);
    if (n <= 0) return false;
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

int finish(child& c, std::string& text) {
  char buffer[4096];
  for (ssize_t n; (n = ::read(c.out, buffer, sizeof buffer)) > 0;) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(c.out);
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("rmq_tools_e2e_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace

TEST_CASE("bad command lines exit with 2") {
  CHECK(run({RMQ_SEND_BIN}).exit_code == 2);  // --topic is required
  CHECK(run({RMQ_SEND_BIN, "--topic", "T", "--mode", "x"}).exit_code == 2);
  CHECK(run({RMQ_BENCH_BIN, "--size", "0"}).exit_code == 2);
  CHECK(run({RMQ_BENCH_BIN, "--compress", "gzip"}).exit_code == 2);
  CHECK(run({RMQ_BENCH_BIN, "--no-such-flag"}).exit_code == 2);
  CHECK(run({RMQ_BENCH_BIN, "--help"}).exit_code == 0);
}

TEST_CASE("rmq-send sends 10 messages to rmq-sim and exits 0") {
  rmq::bench::sim_process sim;
  rmq::bench::sim_options options;
  options.path = RMQ_SIM_BIN;
  options.brokers = 2;
  options.topic = "SendTopic";
  std::string error;
  REQUIRE_MESSAGE(sim.start(options, error), error);

  const run_result sync =
      run({RMQ_SEND_BIN, "--namesrv", sim.namesrv(), "--topic", "SendTopic", "--count", "10",
           "--tags", "A", "--keys", "k1 k2", "--property", "p=v", "--body", "hello"});
  INFO(sync.out);
  CHECK(sync.exit_code == 0);
  CHECK(count_lines_with(sync.out, "SEND_OK msgId=") == 10);
  CHECK(count_lines_with(sync.out, "broker=broker-") == 10);

  const run_result async =
      run({RMQ_SEND_BIN, "--namesrv", sim.namesrv(), "--topic", "SendTopic", "--count", "10",
           "--mode", "async", "--size", "100-200", "--quiet"});
  INFO(async.out);
  CHECK(async.exit_code == 0);
  CHECK(async.out.find("sent 10: ok 10, failed 0") != std::string::npos);

  const run_result batched = run({RMQ_SEND_BIN, "--namesrv", sim.namesrv(), "--topic", "SendTopic",
                                  "--count", "50", "--mode", "async", "--auto-batch", "--linger-us",
                                  "500", "--batch-max-messages", "8", "--quiet"});
  INFO(batched.out);
  CHECK(batched.exit_code == 0);
  CHECK(batched.out.find("sent 50: ok 50, failed 0") != std::string::npos);

  // Nothing listens on the NameServer port once rmq-sim is gone: every send fails.
  const std::string namesrv = sim.namesrv();
  sim.stop();
  const run_result failing = run({RMQ_SEND_BIN, "--namesrv", namesrv, "--topic", "SendTopic",
                                  "--count", "1", "--timeout", "300"});
  CHECK(failing.exit_code == 1);
}

TEST_CASE("rmq-bench against its embedded rmq-sim writes a complete JSON report") {
  const auto json_path = temp_file("out.json");
  const auto hgrm_path = temp_file("out.hgrm");
  const auto svg_path = temp_file("out.svg");
  // Not scaled: a sanitized producer needs a moment before its first acknowledgement.
  const double seconds = 2.0;
  const run_result r =
      run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--duration", std::to_string(seconds), "--warmup",
           "0.5", "--json", json_path.string(), "--hist", hgrm_path.string(), "--plot",
           svg_path.string()});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  std::ifstream in(json_path);
  REQUIRE(in.good());
  const nlohmann::json j = nlohmann::json::parse(in);
  for (const char* key : {"sent", "acked", "errors", "errors_by_kind", "per_broker", "duration_s",
                          "msgs_per_s", "cpu_us_per_msg", "peak_rss_kib", "latency_us"}) {
    CHECK_MESSAGE(j.contains(key), key);
  }
  for (const char* key : {"p50", "p90", "p99", "p999", "p9999", "max"}) {
    CHECK_MESSAGE(j["latency_us"].contains(key), key);
  }
  CHECK(j["acked"].get<std::uint64_t>() > 0);
  CHECK(j["errors"].get<std::uint64_t>() == 0);
  CHECK(j["per_broker"].size() == 2);  // round robin reaches both brokers
  CHECK(j["duration_s"].get<double>() >= seconds);
  REQUIRE(j.contains("steal_ms"));  // Linux has /proc/stat
  CHECK(j["steal_ms"]["total"].get<std::int64_t>() >= 0);
  CHECK(std::filesystem::file_size(hgrm_path) > 0);
  CHECK(std::filesystem::file_size(svg_path) > 0);
  std::filesystem::remove(json_path);
  std::filesystem::remove(hgrm_path);
  std::filesystem::remove(svg_path);
}

TEST_CASE("rmq-bench --trace reports every acknowledged send's trace record") {
  const auto json_path = temp_file("trace.json");
  const run_result r = run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--count", "2000", "--warmup", "0",
                            "--trace", "--json", json_path.string()});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  std::ifstream in(json_path);
  REQUIRE(in.good());
  const nlohmann::json j = nlohmann::json::parse(in);
  CHECK(j["errors"].get<std::uint64_t>() == 0);
  // The trace topic is created through TBW102 by the first trace message; shutdown flushes.
  CHECK(j["trace_records"].get<std::uint64_t>() + j["trace_dropped"].get<std::uint64_t>() ==
        j["acked"].get<std::uint64_t>());
  CHECK(j["trace_records"].get<std::uint64_t>() > 0);
  CHECK(j["trace_send_failures"].get<std::uint64_t>() == 0);
  std::filesystem::remove(json_path);
}

TEST_CASE("rmq-send and rmq-bench over TLS: --tls with a CA; a refused certificate fails") {
  const auto& pki = rmq::test::test_pki::get();
  rmq::bench::sim_process sim;
  rmq::bench::sim_options options;
  options.path = RMQ_SIM_BIN;
  options.topic = "TlsTopic";
  options.tls_cert = pki.server_cert();
  options.tls_key = pki.server_key();
  std::string error;
  REQUIRE_MESSAGE(sim.start(options, error), error);
  const run_result sent =
      run({RMQ_SEND_BIN, "--namesrv", sim.namesrv(), "--topic", "TlsTopic", "--count", "5",
           "--body", "secret", "--tls", "--tls-ca", pki.ca_cert()});
  INFO(sent.out);
  CHECK(sent.exit_code == 0);
  CHECK(count_lines_with(sent.out, "SEND_OK msgId=") == 5);
  // Without the CA the system's CAs do not know the test one: every send is refused.
  const run_result refused = run({RMQ_SEND_BIN, "--namesrv", sim.namesrv(), "--topic", "TlsTopic",
                                  "--count", "1", "--body", "x", "--tls", "--timeout", "1000"});
  INFO(refused.out);
  CHECK(refused.exit_code == 1);
  CHECK(refused.out.find("TLS handshake failed") != std::string::npos);
  sim.stop();

  const auto json_path = temp_file("tls.json");
  const run_result bench =
      run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--count", "2000", "--warmup", "0", "--tls",
           "--tls-ca", pki.ca_cert(), "--sim-tls-cert", pki.server_cert(), "--sim-tls-key",
           pki.server_key(), "--json", json_path.string()});
  INFO(bench.out);
  REQUIRE(bench.exit_code == 0);
  std::ifstream in(json_path);
  REQUIRE(in.good());
  const nlohmann::json j = nlohmann::json::parse(in);
  CHECK(j["tls"] == true);
  CHECK(j["errors"].get<std::uint64_t>() == 0);
  CHECK(j["acked"].get<std::uint64_t>() == 2000);
  std::filesystem::remove(json_path);
  // The embedded rmq-sim needs a certificate to serve TLS.
  CHECK(run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--count", "1", "--tls"}).exit_code == 2);
}

TEST_CASE("rmq-bench sync, open loop and oneway runs complete") {
  const std::string count = std::to_string(rmq::test::scaled(400, 50));
  const run_result sync =
      run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--mode", "sync", "--threads", "2", "--count",
           count, "--warmup", "0", "--raw-echo", "--brokers", "1"});
  INFO(sync.out);
  CHECK(sync.exit_code == 0);
  CHECK(sync.out.find("raw echo   p50") != std::string::npos);

  const run_result paced = run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--rate", "2000", "--count",
                                count, "--warmup", "0", "--inflight", "16"});
  INFO(paced.out);
  CHECK(paced.exit_code == 0);
  CHECK(paced.out.find("open loop at 2000 msg/s") != std::string::npos);

  // Two producers pace alternate messages on their own loops: together they send the count.
  const run_result two = run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--rate", "2000", "--count",
                              count, "--warmup", "0", "--inflight", "16", "--producers", "2"});
  INFO(two.out);
  CHECK(two.exit_code == 0);
  CHECK(two.out.find("acked " + count + ", errors 0") != std::string::npos);

  // A busy-polling loop paces the same messages and ends the run as well.
  const run_result polling =
      run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--rate", "2000", "--count", count, "--warmup", "0",
           "--inflight", "16", "--busy-poll", "200"});
  INFO(polling.out);
  CHECK(polling.exit_code == 0);
  CHECK(polling.out.find("acked " + count + ", errors 0") != std::string::npos);

  // The end of a paced run is where each sender deletes itself, from whichever callback of its
  // loop sees the budget spent: a few short runs exercise it (under ASan in the debug preset).
  for (int round = 0; round < 4; ++round) {
    const run_result end = run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--rate", "5000", "--count",
                                "100", "--warmup", "0", "--inflight", "4", "--brokers", "1"});
    INFO(end.out);
    CHECK(end.exit_code == 0);
    CHECK(end.out.find("acked 100, errors 0") != std::string::npos);
  }

  // Faster than two slots can follow: the pacer claims every message long before the backlog
  // drains, and the senders must outlive it until their last send completed.
  const run_result backlog = run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--rate", "1000000",
                                  "--count", count, "--warmup", "0", "--inflight", "2"});
  INFO(backlog.out);
  CHECK(backlog.exit_code == 0);
  CHECK(backlog.out.find("acked " + count + ", errors 0") != std::string::npos);

  // Automatic batching: every message acknowledged on its own, carried by fewer batches.
  const auto batch_json = temp_file("batched.json");
  const run_result batched =
      run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--count", count, "--warmup", "0", "--inflight",
           "64", "--auto-batch", "--linger-us", "200", "--json", batch_json.string()});
  INFO(batched.out);
  CHECK(batched.exit_code == 0);
  CHECK(batched.out.find("acked " + count + ", errors 0") != std::string::npos);
  {
    std::ifstream in(batch_json);
    const nlohmann::json j = nlohmann::json::parse(in);
    CHECK(j["auto_batches"].get<std::uint64_t>() > 0);
    CHECK(j["messages_per_batch"].get<double>() >= 1.0);
  }
  std::filesystem::remove(batch_json);

  const run_result oneway = run(
      {RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--mode", "oneway", "--count", count, "--warmup", "0"});
  INFO(oneway.out);
  CHECK(oneway.exit_code == 0);
  CHECK(oneway.out.find("written " + count) != std::string::npos);
}

TEST_CASE(
    "rmq-bench async: coroutine senders with binary headers; callback senders whose sends fail at "
    "once") {
  const std::string count = std::to_string(rmq::test::scaled(400, 50));
  const run_result coroutines =
      run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--api", "coroutine", "--inflight", "8", "--count",
           count, "--warmup", "0", "--headers", "binary"});
  INFO(coroutines.out);
  CHECK(coroutines.exit_code == 0);
  CHECK(coroutines.out.find("(coroutines)") != std::string::npos);
  CHECK(coroutines.out.find("binary headers") != std::string::npos);
  CHECK(coroutines.out.find("acked " + count + ", errors 0") != std::string::npos);

  // Callback senders of one body size share a group per producer, which the last of them
  // deletes: 7 senders over 3 producers (3, 2, 2), under ASan in the debug preset.
  const run_result groups = run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--inflight", "7",
                                 "--producers", "3", "--count", count, "--warmup", "0"});
  INFO(groups.out);
  CHECK(groups.exit_code == 0);
  CHECK(groups.out.find("acked " + count + ", errors 0") != std::string::npos);

  // A body over the producer's size limit fails inside async_send: each callback starts the
  // next send from within the last one, which must neither recurse without bound nor stall.
  const std::string failing = std::to_string(rmq::test::scaled(20000, 2000));
  const run_result refused = run({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--inflight", "2", "--count",
                                  failing, "--warmup", "0", "--size", "5000000"});
  INFO(refused.out);
  CHECK(refused.out.find("(callbacks)") != std::string::npos);
  CHECK(refused.out.find("acked 0, errors " + failing) != std::string::npos);
}

TEST_CASE("Ctrl-C stops rmq-bench, which drains and reports what was done") {
  const auto json_path = temp_file("interrupted.json");
  child bench = spawn({RMQ_BENCH_BIN, "--sim", RMQ_SIM_BIN, "--duration", "600", "--warmup", "0",
                       "--json", json_path.string()});
  std::string out;
  // A progress line with acknowledgements proves sends are flowing; then interrupt.
  REQUIRE(read_until_acked(bench, out));
  ::kill(bench.pid, SIGINT);
  const int code = finish(bench, out);
  INFO(out);
  CHECK(code == 0);
  CHECK(out.find("rmq-bench report (interrupted)") != std::string::npos);
  std::ifstream in(json_path);
  REQUIRE(in.good());
  const nlohmann::json j = nlohmann::json::parse(in);
  CHECK(j["interrupted"] == true);
  CHECK(j["acked"].get<std::uint64_t>() > 0);
  CHECK(j["sent"] == j["acked"].get<std::uint64_t>() + j["errors"].get<std::uint64_t>());
  std::filesystem::remove(json_path);
}
