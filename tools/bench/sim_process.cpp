#include "sim_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

namespace rmq::bench {

namespace {

/// Reads one '\n'-terminated line from `fd` into `line` (without the newline), keeping any
/// bytes read past it in `pending`. false on EOF, error or deadline.
bool read_line(int fd, std::string& pending, std::string& line,
               std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const std::size_t nl = pending.find('\n');
    if (nl != std::string::npos) {
      line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char buffer[512];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    pending.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string find_sim_binary() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const auto dir = self.parent_path();
  for (const auto& candidate : {dir / "rmq-sim", dir / ".." / "sim" / "rmq-sim"}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.lexically_normal().string();
  }
  return {};
}

bool sim_process::start(const sim_options& options, std::string& error) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  const std::string brokers = std::to_string(options.brokers);
  std::vector<std::string> args = {options.path, "--port",  "0",   "--brokers",
                                   brokers,      "--store", "off", "--quiet-summary"};
  if (!options.topic.empty()) {
    args.emplace_back("--topics");
    args.push_back(options.topic);
  }
  if (!options.acl_account.empty()) {
    args.emplace_back("--acl-account");
    args.push_back(options.acl_account);
  }
  if (!options.tls_cert.empty()) {
    for (const std::string& arg :
         {std::string("--tls-cert"), options.tls_cert, std::string("--tls-key"), options.tls_key,
          std::string("--tls-mode"), std::string("enforcing")}) {
      args.push_back(arg);
    }
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return false;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    if (options.cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(options.cpu, &set);
      ::sched_setaffinity(0, sizeof set, &set);
    }
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  pid_ = pid;
  out_fd_ = pipe_fds[0];

  const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
  std::string pending;
  std::string line;
  while (read_line(out_fd_, pending, line, deadline)) {
    if (line == "ready") {
      if (namesrv_.empty()) {
        error = "rmq-sim printed no namesrv line";
        stop();
        return false;
      }
      return true;
    }
    if (line.rfind("namesrv ", 0) == 0) {
      namesrv_ = line.substr(line.rfind(' ') + 1);
    } else if (line.rfind("broker ", 0) == 0) {
      brokers_.push_back(line.substr(7));
    }
  }
  error = "rmq-sim (" + options.path + ") did not print 'ready'";
  stop();
  return false;
}

void sim_process::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      // Polling a child's exit: there is no waitpid with a timeout.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
  }
  if (out_fd_ >= 0) {
    ::close(out_fd_);
    out_fd_ = -1;
  }
}

}  // namespace rmq::bench
