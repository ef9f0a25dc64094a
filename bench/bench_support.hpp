// Helpers shared by the benchmarks: CPU pinning, rmq-sim as a pinned child process, and a
// reporter that keeps the median of every benchmark so that main() can print ratios of one run.
#pragma once

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace rmq::benchmarks {

/// An integer from an environment variable, else `fallback` (CPUs: -1 disables pinning).
inline int int_from_env(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

/// Repetitions of each benchmark: $RMQ_BENCH_REPETITIONS, else 5. (A benchmark's own
/// Repetitions() overrides --benchmark_repetitions, hence the variable.)
inline int repetitions() {
  const int n = int_from_env("RMQ_BENCH_REPETITIONS", 5);
  return n > 0 ? n : 5;
}

/// Pins the calling thread (and the threads it creates later) to one CPU. Silently a no-op
/// when the CPU does not exist, so the benchmarks still run on a one-core machine.
inline bool pin_this_thread(int cpu) {
  if (cpu < 0 || cpu >= static_cast<int>(std::thread::hardware_concurrency())) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

/// The rmq-sim binary: $RMQ_SIM, else next to this executable's build directory.
inline std::string find_sim_binary() {
  if (const char* env = std::getenv("RMQ_SIM"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const auto dir = self.parent_path();
  for (const auto& candidate : {dir / "rmq-sim", dir / ".." / "tools" / "sim" / "rmq-sim"}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.lexically_normal().string();
  }
  return {};
}

/// rmq-sim (`--port 0 --brokers 1 --store off`) as a child process pinned to `cpu`: a peer
/// that lives in another process, as a broker does, and never shares a core with the client.
class sim_child {
 public:
  sim_child(const std::string& path, int cpu) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    std::vector<std::string> args = {path, "--port",  "0",   "--brokers",
                                     "1",  "--store", "off", "--quiet-summary"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the benchmark
      if (::getppid() != parent) ::_exit(127);
      if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        ::sched_setaffinity(0, sizeof set, &set);
      }
      ::dup2(fds[1], STDOUT_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
    read_banner();
  }
  ~sim_child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  sim_child(const sim_child&) = delete;
  sim_child& operator=(const sim_child&) = delete;

  [[nodiscard]] const std::string& namesrv() const noexcept { return namesrv_; }
  [[nodiscard]] const std::string& broker() const noexcept { return broker_; }  ///< "ip:port"
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  void read_banner() {
    std::string pending;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) break;
      pending.append(buf, static_cast<std::size_t>(n));
      for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        const std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (line == "ready") {
          if (broker_.empty()) throw std::runtime_error("rmq-sim printed no broker line");
          return;
        }
        const auto last = line.substr(line.rfind(' ') + 1);
        if (line.rfind("namesrv ", 0) == 0) namesrv_ = last;
        if (line.rfind("broker ", 0) == 0 && broker_.empty()) broker_ = last;
      }
    }
    throw std::runtime_error("rmq-sim did not print 'ready'");
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string namesrv_;
  std::string broker_;
};

/// Console reporter that also remembers each benchmark's median (real time per iteration and
/// items per second), so a run can end with ratios computed from the same run.
class median_reporter : public benchmark::ConsoleReporter {
 public:
  struct medians {
    double real_time = 0;  ///< per iteration, in the benchmark's time unit
    double cpu_time = 0;
    double items_per_second = 0;
    std::map<std::string, double> counters;
  };

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") {
        auto& m = results_[r.run_name.function_name];
        m.real_time = r.GetAdjustedRealTime();
        m.cpu_time = r.GetAdjustedCPUTime();
        for (const auto& [name, c] : r.counters) {
          if (name == "items_per_second") m.items_per_second = c.value;
          m.counters[name] = c.value;
        }
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  [[nodiscard]] const std::map<std::string, medians>& results() const noexcept { return results_; }

 private:
  std::map<std::string, medians> results_;
};

/// min and max over the repetitions, next to Google Benchmark's mean/median/stddev/cv.
inline void add_spread_statistics(benchmark::internal::Benchmark* b) {
  b->ComputeStatistics("min", [](const std::vector<double>& v) {
    double m = v.empty() ? 0 : v.front();
    for (double x : v) m = x < m ? x : m;
    return m;
  });
  b->ComputeStatistics("max", [](const std::vector<double>& v) {
    double m = v.empty() ? 0 : v.front();
    for (double x : v) m = x > m ? x : m;
    return m;
  });
}

}  // namespace rmq::benchmarks
