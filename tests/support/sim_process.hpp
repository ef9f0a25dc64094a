// rmq-sim as a child process, for tests whose measurements must not include the simulator
// (allocation counts, CPU). Reads the listener lines up to `ready`; SIGTERM on destruction.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace rmq::test {

class sim_process {
 public:
  /// `binary`: path of rmq-sim; `args`: its arguments after the program name.
  sim_process(const std::string& binary, const std::vector<std::string>& args) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::vector<char*> argv;
    std::vector<std::string> storage{binary};
    storage.insert(storage.end(), args.begin(), args.end());
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      throw std::runtime_error("cannot start " + binary);
    }
    output_ = ::fdopen(out[0], "r");
    char line[512];
    while (std::fgets(line, sizeof line, output_) != nullptr) {
      std::string text(line);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      if (text == "ready") return;
      // "namesrv - 127.0.0.1:P" or "broker NAME 127.0.0.1:P"
      if (text.rfind("namesrv ", 0) == 0) namesrv_ = text.substr(text.rfind(' ') + 1);
    }
    throw std::runtime_error("rmq-sim exited before it was ready");
  }
  ~sim_process() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    if (output_ != nullptr) std::fclose(output_);
  }
  sim_process(const sim_process&) = delete;
  sim_process& operator=(const sim_process&) = delete;

  [[nodiscard]] const std::string& namesrv() const noexcept { return namesrv_; }

 private:
  pid_t pid_ = -1;
  FILE* output_ = nullptr;
  std::string namesrv_;
};

}  // namespace rmq::test
