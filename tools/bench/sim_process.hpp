// The embedded cluster: rmq-sim as a child process on loopback, pinned to its own CPU, in its
// own process group (a terminal's Ctrl-C reaches rmq-bench only, which then drains its sends
// before stopping the child) and killed by the kernel if rmq-bench dies.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace rmq::bench {

struct sim_options {
  std::string path;  ///< the rmq-sim binary
  std::size_t brokers = 2;
  std::string topic;  ///< created on every broker
  /// "ACCESS_KEY:SECRET_KEY": the brokers check every request's signature (--acl-account);
  /// empty: no ACL.
  std::string acl_account;
  /// PEM certificate and key: the NameServer and brokers serve TLS only (--tls-cert,
  /// --tls-key, --tls-mode enforcing); empty: plain TCP.
  std::string tls_cert;
  std::string tls_key;
  int cpu = -1;  ///< CPU to pin the child to; -1: not pinned
  std::chrono::seconds ready_timeout{15};
};

class sim_process {
 public:
  sim_process() = default;
  ~sim_process() { stop(); }
  sim_process(const sim_process&) = delete;
  sim_process& operator=(const sim_process&) = delete;

  /// Starts rmq-sim and waits for its `ready` line. false with `error` set on failure.
  bool start(const sim_options& options, std::string& error);
  /// SIGTERM, then waits (SIGKILL after a few seconds). Idempotent.
  void stop();

  [[nodiscard]] const std::string& namesrv() const noexcept { return namesrv_; }
  [[nodiscard]] const std::vector<std::string>& broker_lines() const noexcept { return brokers_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string namesrv_;
  std::vector<std::string> brokers_;
};

/// The rmq-sim binary next to this executable (same directory, or ../sim/ in a build tree);
/// empty when there is none.
[[nodiscard]] std::string find_sim_binary();

}  // namespace rmq::bench
