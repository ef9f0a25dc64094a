// rmq-sim as a child process, for tests whose measurements must not include the simulator
// (allocation counts, CPU, RSS, fds). Reads the listener lines up to `ready`; with
// --control-stdin, command() writes a control line and reads the answer; stop() (or the
// destructor) sends SIGTERM and waits, so that --stats-file has been written.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace rmq::test {

class sim_process {
 public:
  /// `binary`: path of rmq-sim; `args`: its arguments after the program name (the caller passes
  /// --control-stdin to use command()). Returns once the child has printed `ready`.
  sim_process(const std::string& binary, const std::vector<std::string>& args) {
    // A command written to a child that died must fail as an error, not kill the test.
    std::signal(SIGPIPE, SIG_IGN);
    int in[2];   // parent writes in[1], child reads stdin
    int out[2];  // child writes stdout, parent reads out[0]
    // O_CLOEXEC: neither the producer's nor any later child inherits these pipes; dup2 in the
    // child clears the flag on its standard input and output.
    if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      throw std::runtime_error("pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    std::vector<std::string> storage{binary};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    input_ = in[1];
    output_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      close_pipes();
      throw std::runtime_error("cannot start " + binary);
    }
    for (;;) {
      std::string line;
      if (!read_line(line, std::chrono::seconds(30))) {
        stop();
        throw std::runtime_error("rmq-sim exited (or hung) before it was ready");
      }
      if (line == "ready") break;
      // "namesrv - 127.0.0.1:P" or "broker NAME 127.0.0.1:P [ID]"
      if (line.rfind("namesrv ", 0) == 0) namesrv_ = line.substr(line.rfind(' ') + 1);
      if (line.rfind("broker ", 0) == 0) {
        const auto name_end = line.find(' ', 7);
        brokers_.push_back(line.substr(7, name_end - 7));
      }
    }
  }
  ~sim_process() { stop(); }
  sim_process(const sim_process&) = delete;
  sim_process& operator=(const sim_process&) = delete;

  [[nodiscard]] const std::string& namesrv() const noexcept { return namesrv_; }
  /// Broker names in the order rmq-sim listed them.
  [[nodiscard]] const std::vector<std::string>& brokers() const noexcept { return brokers_; }

  /// Sends one control line and returns the answer line (`ok ...`, `error ...`, or the JSON of
  /// `stats`). Throws std::runtime_error when the child does not answer within `timeout`.
  std::string command(const std::string& line,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string text = line + "\n";
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(input_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("rmq-sim: cannot write control command: " + line);
      done += static_cast<std::size_t>(n);
    }
    std::string answer;
    if (!read_line(answer, timeout)) {
      throw std::runtime_error("rmq-sim: no answer to control command: " + line);
    }
    return answer;
  }

  /// SIGTERM, then waits for the child: up to a minute (it writes --stats-file first), then
  /// SIGKILL. Returns its exit status (-1 if it did not exit normally, or was already stopped).
  int stop() {
    if (pid_ < 0) return -1;
    ::kill(pid_, SIGTERM);
    if (!exited_within(std::chrono::seconds(60))) ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    close_pipes();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  // Waits on a pidfd, which becomes readable when the child exits (without reaping it).
  bool exited_within(std::chrono::milliseconds timeout) const {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (fd < 0) return true;  // no pidfd: waitpid will block as before
    pollfd p{fd, POLLIN, 0};
    int ready = 0;
    while ((ready = ::poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
    }
    ::close(fd);
    return ready > 0;
  }

  bool read_line(std::string& line, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{output_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      char chunk[4096];
      const ssize_t n = ::read(output_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;  // the child closed its output: it exited
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  void close_pipes() {
    if (input_ >= 0) ::close(std::exchange(input_, -1));
    if (output_ >= 0) ::close(std::exchange(output_, -1));
  }

  pid_t pid_ = -1;
  int input_ = -1;
  int output_ = -1;
  std::string buffer_;
  std::string namesrv_;
  std::vector<std::string> brokers_;
};

}  // namespace rmq::test
