// rmq-sim: command-line front end of rmq::sim::simulator.
#include "cli.hpp"
#include "simulator.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>
#include <thread>

namespace {

/// Executes one control line; returns the text to print.
std::string control(rmq::sim::simulator& sim, const std::string& line) {
  std::istringstream in(line);
  std::string verb;
  in >> verb;
  try {
    if (verb == "fault") {
      std::string target;
      in >> target;
      rmq::sim::fault_spec spec;
      std::string setting;
      while (in >> setting) {
        if (!rmq::sim::apply_fault_setting(setting, spec)) return "error bad setting " + setting;
      }
      if (target == "namesrv") {
        sim.set_namesrv_faults(spec);
      } else {
        sim.set_broker_faults(target, spec);
      }
      return "ok";
    }
    if (verb == "shutdown") {
      // shutdown BROKER [wait=MS]: graceful, GO_AWAY for MS (default 10000) before it stops.
      std::string name;
      std::string setting;
      in >> name >> setting;
      long wait_ms = 10'000;
      if (!setting.empty()) {
        char* end = nullptr;
        if (setting.starts_with("wait=")) wait_ms = std::strtol(setting.c_str() + 5, &end, 10);
        if (end == nullptr || *end != '\0' || end == setting.c_str() + 5 || wait_ms < 0) {
          return "error shutdown BROKER [wait=MS]";
        }
      }
      sim.shut_down_broker(name, std::chrono::milliseconds(wait_ms));
      return "ok";
    }
    if (verb == "stop" || verb == "start" || verb == "restart") {
      std::string name;
      in >> name;
      if (verb == "stop") sim.stop_broker(name);
      if (verb == "start") sim.start_broker(name);
      if (verb == "restart") {
        unsigned port = 0;
        in >> port;
        return "ok broker " + name + " " +
               sim.restart_broker_on_new_port(name, static_cast<std::uint16_t>(port));
      }
      return "ok";
    }
    if (verb == "namesrv") {
      std::string state;
      in >> state;
      if (state == "down") {
        sim.namesrv_down();
      } else if (state == "up") {
        sim.namesrv_up();
      } else {
        return "error namesrv up|down";
      }
      return "ok";
    }
    if (verb == "responder") {
      // Replaces the responder's settings: what a line leaves out takes its default.
      rmq::sim::responder_config config;
      std::string setting;
      while (in >> setting) {
        if (!rmq::sim::apply_responder_setting(setting, config)) {
          return "error bad setting " + setting;
        }
      }
      sim.set_responder(config);
      return "ok";
    }
    if (verb == "transactions") {
      // Changes only what the line names.
      auto config = sim.transaction_settings();
      std::string setting;
      while (in >> setting) {
        if (!rmq::sim::apply_transaction_setting(setting, config)) {
          return "error bad setting " + setting;
        }
      }
      sim.set_transaction_config(config);
      return "ok";
    }
    if (verb == "clear") {
      sim.clear_faults();
      return "ok";
    }
    if (verb == "stats") return sim.stats_json(false);
    return "error unknown command " + verb;
  } catch (const std::exception& e) {
    return std::string("error ") + e.what();
  }
}

}  // namespace

int main(int argc, char** argv) {
  rmq::sim::cli_options options;
  if (auto code = rmq::sim::parse_command_line(argc, argv, options)) return *code;

  // Block the stop signals in every thread; the main thread takes them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A peer that resets while we write must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  rmq::sim::simulator sim(options.config);
  try {
    sim.start();
  } catch (const std::exception& e) {
    // The simulator's own errors name it already.
    const std::string_view what = e.what();
    std::fprintf(stderr, "%s%s\n", what.starts_with("rmq-sim:") ? "" : "rmq-sim: ", e.what());
    return 1;
  }

  std::printf("namesrv - %s\n", sim.namesrv_address().c_str());
  for (const auto& broker : sim.brokers()) {
    if (broker.id == 0) {
      std::printf("broker %s %s\n", broker.name.c_str(), broker.address.c_str());
    } else {
      std::printf("broker %s %s %lld\n", broker.name.c_str(), broker.address.c_str(),
                  static_cast<long long>(broker.id));
    }
  }
  std::printf("ready\n");
  std::fflush(stdout);

  if (options.control_stdin) {
    // Detached: it may sit in a blocking read when the process exits.
    std::thread([&sim] {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        const std::string reply = control(sim, line);
        std::printf("%s\n", reply.c_str());
        std::fflush(stdout);
      }
      // The controlling process has gone (or closed its end): stop as on SIGTERM, rather than
      // outlive a test that crashed.
      ::kill(::getpid(), SIGTERM);
    }).detach();
  }

  int received = 0;
  sigwait(&stop_signals, &received);

  const std::string stats = sim.stats_json(options.stats_messages);
  sim.stop();
  if (!options.stats_file.empty()) {
    std::ofstream file(options.stats_file, std::ios::trunc);
    file << stats << "\n";
    if (!file) {
      std::fprintf(stderr, "rmq-sim: cannot write %s\n", options.stats_file.c_str());
      return 1;
    }
  }
  if (!options.quiet_summary) {
    const auto counters = sim.counters();
    std::printf("summary namesrv requests=%llu route_standard=%llu route_legacy=%llu\n",
                static_cast<unsigned long long>([&] {
                  unsigned long long total = 0;
                  for (const auto& [code, n] : counters.namesrv.requests) total += n;
                  return total;
                }()),
                static_cast<unsigned long long>(counters.namesrv.route_standard),
                static_cast<unsigned long long>(counters.namesrv.route_legacy));
    for (const auto& [name, c] : counters.brokers) {
      std::printf("summary broker %s messages=%llu\n", name.c_str(),
                  static_cast<unsigned long long>(c.messages));
    }
    std::fflush(stdout);
  }
  return 0;
}
