// UNIQ_KEY: the client-side message id (Java MessageClientIDSetter layout).
//
// Uppercase hex of: host IP (4 bytes, or 16 for IPv6) | pid low 16 bits (2) | per-process random
// (4; Java uses its class loader's hash code) | ms since the 1st of the current month 00:00 local
// time (4) | counter (2). 32 chars with IPv4, 56 with IPv6.
//
// Uniqueness. Across processes: IP + pid + a random 32-bit value drawn at start (and again in a
// child after fork()). Within the process: the time and counter fields come from one 64-bit
// atomic holding (epoch ms << 16 | counter), advanced by a CAS to max(previous + 1, now << 16).
// So the counter restarts at 0 in each new millisecond and, when more than 65536 ids are made in
// one millisecond, the 65537th borrows the next millisecond: the time field then runs slightly
// ahead of the wall clock (1 ms per extra 65536 ids) instead of repeating an id, which Java's
// plain counter would do. The same rule keeps ids unique when the wall clock steps back: the time
// field holds still until the clock catches up. An event loop takes its ids in blocks of 32
// (uniq_key_block): one CAS advances the atomic past the whole block, whose ids follow the same
// rule, and the rest of a block is dropped once its millisecond has passed. Lock-free (one CAS
// per id or per block, retried only under contention), allocation-free; month starts are recomputed
// (localtime_r/mktime) only when an id falls outside the cached month, i.e. once a month.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rmq::wire {

inline constexpr std::size_t uniq_key_ipv4_size = 32;
inline constexpr std::size_t uniq_key_ipv6_size = 56;
inline constexpr std::size_t uniq_key_max_size = uniq_key_ipv6_size;

/// What distinguishes this process's ids from other processes' ids.
struct host_identity {
  std::array<std::uint8_t, 16> ip{};  ///< first `ip_size` bytes used
  std::uint8_t ip_size = 4;           ///< 4 (IPv4, or a fake address) or 16 (IPv6)
  std::uint16_t pid = 0;              ///< low 16 bits of the process id
  std::uint32_t random = 0;           ///< drawn once per process
};

/// The host address part, chosen like Java's UtilAll.getIP: the first public IPv4 or IPv6
/// address (interface order) that passes Java's class-A/B/C sanity check, else the first private
/// IPv4 one, else any other non-loopback IPv4 address; loopback, link-local and site-local
/// addresses are never used. Without any, 4 bytes taken from the current time (Java's fake IP).
/// Plus this process's pid and a fresh random value.
[[nodiscard]] host_identity detect_host_identity();

/// A generated id in fixed storage.
struct uniq_key {
  std::array<char, uniq_key_max_size> chars{};
  std::uint8_t size = 0;

  [[nodiscard]] std::string_view view() const noexcept { return {chars.data(), size}; }
};

/// Local-time calendar month containing an instant, as epoch ms [start, next_start).
struct month_span {
  std::int64_t start_ms = 0;
  std::int64_t next_start_ms = 0;
};
[[nodiscard]] month_span local_month_of(std::int64_t epoch_ms) noexcept;

/// Ids reserved by one caller (an event loop's sends): it takes them one by one without
/// touching the generator's shared counter, which it moves once per block. Zero-initialised:
/// empty.
struct uniq_key_block {
  std::uint64_t next = 0;  ///< clock value (epoch ms << 16 | counter) of the next id
  std::uint64_t end = 0;   ///< one past the last reserved
};

class uniq_key_generator {
 public:
  /// Ids a block reserves at once: a few microseconds of a busy loop, so that ids reserved
  /// but unused (a block is dropped once its millisecond has passed) stay few.
  static constexpr std::uint64_t block_size = 32;

  explicit uniq_key_generator(const host_identity& identity) noexcept;
  uniq_key_generator(const uniq_key_generator&) = delete;
  uniq_key_generator& operator=(const uniq_key_generator&) = delete;

  /// Writes the next id into `out`, which must hold size() chars; returns size().
  std::size_t next(char* out) noexcept;
  [[nodiscard]] uniq_key next() noexcept;
  /// As next(char*), with `now_ms` as the wall-clock reading (epoch ms): for a caller that has
  /// a reading at hand (an event loop's), and for tests. Ids stay unique whatever it passes.
  std::size_t next_at(std::int64_t now_ms, char* out) noexcept;
  /// As next_at(now_ms, out), from `block`, which it refills when empty or when its next id
  /// would carry a millisecond before `now_ms`: one atomic operation per block_size ids
  /// instead of one per id. Ids stay unique across blocks, threads and the other calls.
  std::size_t next_at(std::int64_t now_ms, char* out, uniq_key_block& block) noexcept;

  /// Length of every id of this generator: 32 or 56.
  [[nodiscard]] std::size_t size() const noexcept { return prefix_size_ + 12; }
  [[nodiscard]] const host_identity& identity() const noexcept { return identity_; }

  /// Takes a new pid and random value; only while no other thread uses the generator (the
  /// process-wide generator calls it in a child after fork()).
  void renew_process_identity(std::uint16_t pid, std::uint32_t random) noexcept;

 private:
  void build_prefix() noexcept;
  /// Takes `count` consecutive clock values, none below now_ms << 16; returns the first.
  std::uint64_t reserve(std::int64_t now_ms, std::uint64_t count) noexcept;
  /// Writes the id of clock value `value`; returns its size.
  std::size_t format(std::uint64_t value, char* out) noexcept;

  host_identity identity_;
  std::array<char, 44> prefix_{};  // hex of ip | pid | random
  std::size_t prefix_size_ = 0;
  std::atomic<std::uint64_t> clock_{0};  // epoch ms << 16 | counter of the last id
  std::atomic<std::uint64_t> month_{0};  // start seconds << 24 | month length in seconds
};

/// The process-wide generator, created on first use.
[[nodiscard]] uniq_key_generator& default_uniq_key_generator();

/// Fields of an id, for tests and diagnostics.
struct uniq_key_fields {
  std::array<std::uint8_t, 16> ip{};
  std::uint8_t ip_size = 0;
  std::uint16_t pid = 0;
  std::uint32_t random = 0;
  std::uint32_t month_ms = 0;  ///< ms since the 1st of the month 00:00 local time
  std::uint16_t counter = 0;
};
/// Parses a 32- or 56-char hex id; nullopt for anything else.
[[nodiscard]] std::optional<uniq_key_fields> parse_uniq_key(std::string_view id) noexcept;

}  // namespace rmq::wire
