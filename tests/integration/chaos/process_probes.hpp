// What the chaos test measures of its own process: the clock, how late the machine wakes a
// sleeping thread, open fds, and memory (RSS, or the live heap under the sanitizers).
#pragma once

#include "chaos_settings.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

namespace rmq::test::chaos {

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline std::int64_t ns_of(milliseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

/// How late this machine wakes a thread that asked to: the worst oversleep of a thread that
/// waits 5 ms at a time through the run (a timed wait on its stop signal, so that stop() does
/// not wait out a nap). A send's completion is stamped by a thread that must
/// be scheduled (a blocking caller, a future's waiter, a user's io_context), so a machine that
/// stalled for 300 ms makes a send look 300 ms late; the lateness allowed is the slack plus
/// the worst stall seen, and a producer late by more than that is still caught.
class stall_probe {
 public:
  stall_probe() : thread_([this] { run(); }) {}
  ~stall_probe() { stop(); }
  stall_probe(const stall_probe&) = delete;
  stall_probe& operator=(const stall_probe&) = delete;
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    stopped_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] std::int64_t worst_ns() const noexcept { return worst_ns_.load(); }

 private:
  void run() {
    constexpr auto nap = std::chrono::milliseconds(5);
    std::unique_lock lock(mutex_);
    for (;;) {
      const auto asked = std::chrono::steady_clock::now() + nap;
      if (stopped_.wait_until(lock, asked, [&] { return stopping_; })) return;
      const std::int64_t over = now_ns() - asked.time_since_epoch().count();
      if (over > worst_ns_.load()) worst_ns_ = over;
    }
  }

  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stopping_ = false;
  std::atomic<std::int64_t> worst_ns_{0};
  std::thread thread_;
};

inline std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n - 1;  // the directory iterator's own descriptor
}

/// open_fds() as a leak check sees it: the least of a few readings, so that a descriptor another
/// thread holds for an instant (the memory sampler reading /proc/self/statm, a sanitizer's own
/// reads) is not taken for one the producer left open; a leaked one is in every reading.
inline std::size_t lasting_open_fds() {
  std::size_t least = open_fds();
  for (int i = 0; i < 4; ++i) least = std::min(least, open_fds());
  return least;
}

inline std::string fd_listing() {
  std::string text;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    text += "  " + entry.path().filename().string() + " -> " + (ec ? "?" : target.string()) + "\n";
  }
  return text;
}

inline std::uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

#if RMQ_CHAOS_SANITIZED
// Both runtimes export it (<sanitizer/allocator_interface.h>, which GCC does not install).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

/// The memory the RSS invariant compares. Under ASan and TSan the RSS is mostly the runtime's:
/// freed memory sits in ASan's quarantine (up to 256 MiB), and both allocators and their shadow
/// keep growing for a while whatever the program does, so there the live heap is compared
/// instead (less the record table, which is allocated once up front).
inline std::uint64_t memory_in_use(std::uint64_t fixed_bytes) {
#if RMQ_CHAOS_SANITIZED
  return __sanitizer_get_current_allocated_bytes() - fixed_bytes;
#else
  (void)fixed_bytes;
  return rss_bytes();
#endif
}
constexpr const char* memory_name = RMQ_CHAOS_SANITIZED ? "live heap" : "RSS";

}  // namespace rmq::test::chaos
