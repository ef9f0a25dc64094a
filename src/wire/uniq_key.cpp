#include "wire/uniq_key.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>

namespace rmq::wire {
namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";

char* write_hex(char* out, std::uint64_t value, int digits) noexcept {
  for (int i = digits - 1; i >= 0; --i) {
    out[i] = hex_digits[value & 0xF];
    value >>= 4;
  }
  return out + digits;
}

[[nodiscard]] std::int64_t now_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

[[nodiscard]] std::uint32_t process_random() noexcept {
  std::uint32_t value = 0;
  if (getrandom(&value, sizeof value, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof value)) {
    return value;
  }
  // No entropy available yet: mix the clock, the pid and an address (still differs per process).
  std::uint64_t mix = static_cast<std::uint64_t>(now_ms()) * 0x9E3779B97F4A7C15ULL;
  mix ^= static_cast<std::uint64_t>(getpid()) << 32;
  mix ^= reinterpret_cast<std::uintptr_t>(&value);
  return static_cast<std::uint32_t>(mix ^ (mix >> 32));
}

[[nodiscard]] std::uint16_t process_pid() noexcept {
  return static_cast<std::uint16_t>(static_cast<std::uint32_t>(getpid()) & 0xFFFF);
}

// Java UtilAll.ipCheck: a usable class A/B/C host address (not x.0.0.0 / x.1.1.1 style).
[[nodiscard]] bool java_ipv4_check(const std::uint8_t* ip) noexcept {
  if (ip[0] >= 1 && ip[0] <= 126) {
    if (ip[1] == 1 && ip[2] == 1 && ip[3] == 1) return false;
    return ip[1] != 0 || ip[2] != 0 || ip[3] != 0;
  }
  if (ip[0] >= 128 && ip[0] <= 191) {
    if (ip[2] == 1 && ip[3] == 1) return false;
    return ip[2] != 0 || ip[3] != 0;
  }
  if (ip[0] >= 192 && ip[0] <= 223) return ip[3] != 1 && ip[3] != 0;
  return false;
}

[[nodiscard]] bool is_private_ipv4(const std::uint8_t* ip) noexcept {
  return ip[0] == 10 || (ip[0] == 172 && ip[1] >= 16 && ip[1] <= 31) ||
         (ip[0] == 192 && ip[1] == 168);
}

// Java isInternalV6IP: any-local, link-local, loopback, site-local (fec0::/10).
[[nodiscard]] bool is_internal_ipv6(const in6_addr& a) noexcept {
  return IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_LINKLOCAL(&a) || IN6_IS_ADDR_LOOPBACK(&a) ||
         IN6_IS_ADDR_SITELOCAL(&a) || IN6_IS_ADDR_MULTICAST(&a);
}

struct candidate {
  int rank = 99;  // lower is better
  host_identity id;
};

void consider(candidate& best, int rank, const void* bytes, std::uint8_t size) noexcept {
  if (rank >= best.rank) return;  // first address of the best rank wins, in interface order
  best.rank = rank;
  best.id.ip_size = size;
  std::memcpy(best.id.ip.data(), bytes, size);
}

void pack_month(std::atomic<std::uint64_t>& month, const month_span& span) noexcept {
  const auto start_s = static_cast<std::uint64_t>(span.start_ms / 1000);
  const auto length_s = static_cast<std::uint64_t>((span.next_start_ms - span.start_ms) / 1000);
  month.store(start_s << 24 | (length_s & 0xFFFFFF), std::memory_order_relaxed);
}

}  // namespace

host_identity detect_host_identity() {
  candidate best;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (const ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
      if (it->ifa_addr == nullptr) continue;
      if (it->ifa_addr->sa_family == AF_INET) {
        const auto& sin = *reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
        const auto* ip = reinterpret_cast<const std::uint8_t*>(&sin.sin_addr.s_addr);
        if (ip[0] == 127 || ip[0] == 0) continue;
        if (java_ipv4_check(ip)) {
          consider(best, is_private_ipv4(ip) ? 1 : 0, ip, 4);
        } else if (!(ip[0] == 169 && ip[1] == 254)) {
          consider(best, 2, ip, 4);
        }
      } else if (it->ifa_addr->sa_family == AF_INET6) {
        const auto& sin6 = *reinterpret_cast<const sockaddr_in6*>(it->ifa_addr);
        if (is_internal_ipv6(sin6.sin6_addr)) continue;
        consider(best, 0, sin6.sin6_addr.s6_addr, 16);
      }
    }
    freeifaddrs(list);
  }
  if (best.rank == 99) {
    // Java createFakeIP: the low 4 bytes of the current time in ms.
    const auto ms = static_cast<std::uint64_t>(now_ms());
    const std::uint8_t fake[4] = {
        static_cast<std::uint8_t>(ms >> 24), static_cast<std::uint8_t>(ms >> 16),
        static_cast<std::uint8_t>(ms >> 8), static_cast<std::uint8_t>(ms)};
    consider(best, 98, fake, 4);
  }
  best.id.pid = process_pid();
  best.id.random = process_random();
  return best.id;
}

month_span local_month_of(std::int64_t epoch_ms) noexcept {
  // mktime re-reads TZ and rewrites glibc's time-zone state under a lock that sanitizers cannot
  // see; spans are computed about once a month, so a mutex of our own costs nothing and makes the
  // order visible to ThreadSanitizer when two loops start in the same instant.
  static std::mutex time_zone_mutex;
  const std::lock_guard lock(time_zone_mutex);
  const std::time_t t = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  tm.tm_mday = 1;
  tm.tm_hour = 0;
  tm.tm_min = 0;
  tm.tm_sec = 0;
  tm.tm_isdst = -1;  // let mktime find the DST state of that instant
  std::tm next = tm;
  next.tm_mon += 1;  // mktime normalises December + 1
  const std::time_t start = std::mktime(&tm);
  const std::time_t end = std::mktime(&next);
  return {static_cast<std::int64_t>(start) * 1000, static_cast<std::int64_t>(end) * 1000};
}

uniq_key_generator::uniq_key_generator(const host_identity& identity) noexcept
    : identity_(identity) {
  if (identity_.ip_size != 16) identity_.ip_size = 4;
  build_prefix();
  pack_month(month_, local_month_of(now_ms()));  // the first send does not pay for mktime
}

void uniq_key_generator::build_prefix() noexcept {
  char* p = prefix_.data();
  for (std::size_t i = 0; i < identity_.ip_size; ++i) p = write_hex(p, identity_.ip[i], 2);
  p = write_hex(p, identity_.pid, 4);
  p = write_hex(p, identity_.random, 8);
  prefix_size_ = static_cast<std::size_t>(p - prefix_.data());
}

void uniq_key_generator::renew_process_identity(std::uint16_t pid, std::uint32_t random) noexcept {
  identity_.pid = pid;
  identity_.random = random;
  build_prefix();
}

std::size_t uniq_key_generator::next(char* out) noexcept {
  return next_at(now_ms(), out);
}

uniq_key uniq_key_generator::next() noexcept {
  uniq_key key;
  key.size = static_cast<std::uint8_t>(next(key.chars.data()));
  return key;
}

std::size_t uniq_key_generator::next_at(std::int64_t now, char* out) noexcept {
  return format(reserve(now, 1), out);
}

std::size_t uniq_key_generator::next_at(std::int64_t now, char* out,
                                        uniq_key_block& block) noexcept {
  // A reserved id keeps the millisecond it was reserved in: once that has passed, the rest of
  // the block is dropped rather than handing out ids that claim an earlier time.
  if (block.next == block.end || static_cast<std::int64_t>(block.next >> 16) < now) {
    block.next = reserve(now, block_size);
    block.end = block.next + block_size;
  }
  return format(block.next++, out);
}

std::uint64_t uniq_key_generator::reserve(std::int64_t now, std::uint64_t count) noexcept {
  const std::uint64_t floor = static_cast<std::uint64_t>(std::max<std::int64_t>(now, 0)) << 16;
  std::uint64_t prev = clock_.load(std::memory_order_relaxed);
  std::uint64_t first = 0;
  do {
    first = std::max(prev + 1, floor);
  } while (!clock_.compare_exchange_weak(prev, first + count - 1, std::memory_order_relaxed));
  return first;
}

std::size_t uniq_key_generator::format(std::uint64_t value, char* out) noexcept {
  const auto ms = static_cast<std::int64_t>(value >> 16);
  std::uint64_t month = month_.load(std::memory_order_relaxed);
  auto start_ms = static_cast<std::int64_t>(month >> 24) * 1000;
  auto end_ms = start_ms + static_cast<std::int64_t>(month & 0xFFFFFF) * 1000;
  if (ms < start_ms || ms >= end_ms) {
    // Several threads may get here at a month boundary; each computes the same span.
    const month_span span = local_month_of(ms);
    pack_month(month_, span);
    start_ms = span.start_ms;
  }

  // Two sizes only: constant-size copies the compiler inlines (a library call per id otherwise).
  char* p = out;
  if (prefix_size_ == uniq_key_ipv4_size - 12) {
    std::memcpy(p, prefix_.data(), uniq_key_ipv4_size - 12);
  } else {
    std::memcpy(p, prefix_.data(), uniq_key_ipv6_size - 12);
  }
  p += prefix_size_;
  p = write_hex(p, static_cast<std::uint32_t>(ms - start_ms), 8);
  p = write_hex(p, value & 0xFFFF, 4);
  return static_cast<std::size_t>(p - out);
}

uniq_key_generator& default_uniq_key_generator() {
  static uniq_key_generator generator(detect_host_identity());
  // A forked child must not repeat the parent's ids: it gets its own pid and random value.
  // Registered after construction, so the handler never waits on an unfinished initialisation.
  [[maybe_unused]] static const bool renew_after_fork = [] {
    return pthread_atfork(nullptr, nullptr, [] {
             generator.renew_process_identity(process_pid(), process_random());
           }) == 0;
  }();
  return generator;
}

std::optional<uniq_key_fields> parse_uniq_key(std::string_view id) noexcept {
  if (id.size() != uniq_key_ipv4_size && id.size() != uniq_key_ipv6_size) return std::nullopt;
  std::array<std::uint8_t, uniq_key_max_size / 2> bytes{};
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    int v = 0;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    bytes[i / 2] = static_cast<std::uint8_t>(bytes[i / 2] << 4 | v);
  }
  uniq_key_fields f;
  f.ip_size = static_cast<std::uint8_t>(id.size() / 2 - 12);
  std::copy_n(bytes.data(), f.ip_size, f.ip.data());
  const std::uint8_t* p = bytes.data() + f.ip_size;
  const auto be = [&p](int n) {
    std::uint32_t v = 0;
    for (int i = 0; i < n; ++i) v = v << 8 | *p++;
    return v;
  };
  f.pid = static_cast<std::uint16_t>(be(2));
  f.random = be(4);
  f.month_ms = be(4);
  f.counter = static_cast<std::uint16_t>(be(2));
  return f;
}

}  // namespace rmq::wire
