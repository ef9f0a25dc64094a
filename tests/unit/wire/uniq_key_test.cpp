#include "wire/uniq_key.hpp"

#include "support/test_scale.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace rmq::wire;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sets TZ for the scope of a test and restores it afterwards.
class scoped_tz {
 public:
  explicit scoped_tz(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~scoped_tz() {
    if (old_) {
      setenv("TZ", old_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  scoped_tz(const scoped_tz&) = delete;
  scoped_tz& operator=(const scoped_tz&) = delete;

 private:
  std::optional<std::string> old_;
};

host_identity example_identity() {
  host_identity id;
  id.ip = {127, 0, 0, 1};
  id.ip_size = 4;
  id.pid = 0x1234;
  id.random = 0x0A0B0C0D;
  return id;
}

// The fields of an id expected to be well formed.
uniq_key_fields id_fields(std::string_view id) {
  const std::optional<uniq_key_fields> fields = parse_uniq_key(id);
  REQUIRE(fields.has_value());
  return *fields;
}

// 2026-11-25T08:16:41.123Z and friends, epoch ms.
constexpr std::int64_t nov_25_2026 = 1795594601123;
constexpr std::int64_t nov_1_2026_utc = 1793491200000;
constexpr std::int64_t dec_1_2026_utc = 1796083200000;
constexpr std::int64_t jan_1_2027_utc = 1798761600000;

}  // namespace

TEST_CASE("uniq_key: layout of PROTOCOL.md 16 (IPv4, 32 hex chars)") {
  scoped_tz tz("UTC0");
  uniq_key_generator gen(example_identity());
  CHECK(gen.size() == uniq_key_ipv4_size);
  char out[uniq_key_max_size];
  REQUIRE(gen.next_at(nov_1_2026_utc + 0xABCD, out) == 32);
  CHECK(std::string_view(out, 32) == "7F00000112340A0B0C0D0000ABCD0000");
  REQUIRE(gen.next_at(nov_1_2026_utc + 0xABCD, out) == 32);
  CHECK(std::string_view(out, 32) == "7F00000112340A0B0C0D0000ABCD0001");

  const auto fields = parse_uniq_key("7F00000112340A0B0C0D0000ABCD0001");
  REQUIRE(fields.has_value());
  CHECK(fields->ip_size == 4);
  CHECK(fields->ip[0] == 127);
  CHECK(fields->ip[3] == 1);
  CHECK(fields->pid == 0x1234);
  CHECK(fields->random == 0x0A0B0C0D);
  CHECK(fields->month_ms == 0xABCD);
  CHECK(fields->counter == 1);
}

TEST_CASE("uniq_key: IPv6 identities give 56 chars") {
  host_identity id = example_identity();
  id.ip_size = 16;
  for (std::uint8_t i = 0; i < 16; ++i) id.ip[i] = static_cast<std::uint8_t>(0x20 + i);
  uniq_key_generator gen(id);
  const auto key = gen.next();
  REQUIRE(key.size == uniq_key_ipv6_size);
  CHECK(key.view().substr(0, 32) == "202122232425262728292A2B2C2D2E2F");
  const auto fields = parse_uniq_key(key.view());
  REQUIRE(fields.has_value());
  CHECK(fields->ip_size == 16);
  CHECK(fields->ip[15] == 0x2F);
  CHECK(fields->pid == 0x1234);
  CHECK(fields->random == 0x0A0B0C0D);
}

TEST_CASE("uniq_key: parse rejects wrong lengths and non-hex") {
  CHECK_FALSE(parse_uniq_key("").has_value());
  CHECK_FALSE(parse_uniq_key("7F00000112340A0B0C0D0000ABCD000").has_value());
  CHECK_FALSE(parse_uniq_key("7F00000112340A0B0C0D0000ABCD000G").has_value());
  CHECK(parse_uniq_key("7f00000112340a0b0c0d0000abcd0000").has_value());
  // A real id from the 4.9.8 capture: 192.0.2.2, pid 0x3E4C.
  const auto captured = parse_uniq_key("C00002023E4C5FFD2B277D597F89000A");
  REQUIRE(captured.has_value());
  CHECK(captured->ip[0] == 192);
  CHECK(captured->ip[3] == 2);
  CHECK(captured->pid == 0x3E4C);
  CHECK(captured->counter == 10);
}

TEST_CASE("uniq_key: the default generator encodes this host, pid and month time") {
  auto& gen = default_uniq_key_generator();
  const auto& id = gen.identity();
  const std::int64_t before = now_ms();
  const auto key = gen.next();
  const std::int64_t after = now_ms();
  REQUIRE(key.size == gen.size());
  const auto fields = parse_uniq_key(key.view());
  REQUIRE(fields.has_value());
  CHECK(fields->pid == static_cast<std::uint16_t>(getpid() & 0xFFFF));
  CHECK(fields->random == id.random);
  REQUIRE(fields->ip_size == id.ip_size);
  CHECK(std::equal(id.ip.begin(), id.ip.begin() + id.ip_size, fields->ip.begin()));
  if (id.ip_size == 4) CHECK(id.ip[0] != 127);  // never loopback

  const auto month = local_month_of(before);
  if (month.next_start_ms > after) {  // not across a month boundary
    CHECK(fields->month_ms >= before - month.start_ms);
    CHECK(fields->month_ms <= after - month.start_ms);
  }
  CHECK(key.view().find_first_not_of("0123456789ABCDEF") == std::string_view::npos);
}

TEST_CASE("uniq_key: month start in local time, including the year's end") {
  {
    scoped_tz tz("UTC0");
    const auto m = local_month_of(nov_25_2026);
    CHECK(m.start_ms == nov_1_2026_utc);
    CHECK(m.next_start_ms == dec_1_2026_utc);
    const auto d = local_month_of(jan_1_2027_utc - 1);
    CHECK(d.start_ms == dec_1_2026_utc);
    CHECK(d.next_start_ms == jan_1_2027_utc);
  }
  {
    scoped_tz tz("CST-8");  // UTC+8, no DST: 2026-11-30T20:00Z is Dec 1st, 04:00 local
    const auto m = local_month_of(dec_1_2026_utc - 4 * 3600 * 1000);
    CHECK(m.start_ms == dec_1_2026_utc - 8 * 3600 * 1000);
    CHECK(m.next_start_ms == jan_1_2027_utc - 8 * 3600 * 1000);
  }
}

TEST_CASE("uniq_key: the month start is recomputed when the month changes") {
  scoped_tz tz("UTC0");
  uniq_key_generator gen(example_identity());
  char out[uniq_key_max_size];
  gen.next_at(dec_1_2026_utc - 1, out);
  auto fields = parse_uniq_key(std::string_view(out, gen.size()));
  REQUIRE(fields.has_value());
  CHECK(fields->month_ms == dec_1_2026_utc - 1 - nov_1_2026_utc);
  gen.next_at(dec_1_2026_utc + 5, out);
  fields = parse_uniq_key(std::string_view(out, gen.size()));
  REQUIRE(fields.has_value());
  CHECK(fields->month_ms == 5);
  CHECK(fields->counter == 0);
}

TEST_CASE("uniq_key: more than 65536 ids in one ms borrow the next ms instead of repeating") {
  scoped_tz tz("UTC0");
  uniq_key_generator gen(example_identity());
  const std::int64_t now = nov_1_2026_utc + 1000;
  std::vector<std::string> ids;
  char out[uniq_key_max_size];
  for (int i = 0; i < 65536 + 10; ++i) {
    gen.next_at(now, out);
    ids.emplace_back(out, gen.size());
  }
  const uniq_key_fields first = id_fields(ids.front());
  const uniq_key_fields last_in_ms = id_fields(ids[65535]);
  const uniq_key_fields borrowed = id_fields(ids[65536]);
  CHECK(first.month_ms == 1000);
  CHECK(first.counter == 0);
  CHECK(last_in_ms.month_ms == 1000);
  CHECK(last_in_ms.counter == 0xFFFF);
  CHECK(borrowed.month_ms == 1001);
  CHECK(borrowed.counter == 0);
  std::sort(ids.begin(), ids.end());
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());

  // A wall clock that steps back does not repeat ids either.
  gen.next_at(now - 60'000, out);
  const uniq_key_fields after_step_back = id_fields(std::string_view(out, gen.size()));
  CHECK(after_step_back.month_ms == 1001);
  CHECK(after_step_back.counter == 10);
}

TEST_CASE("uniq_key: a block hands out reserved ids and is dropped once its millisecond passed") {
  scoped_tz tz("UTC0");
  uniq_key_generator gen(example_identity());
  const std::int64_t now = nov_1_2026_utc + 1000;
  char out[uniq_key_max_size];
  const auto last = [&] { return id_fields(std::string_view(out, gen.size())); };
  uniq_key_block block;
  gen.next_at(now, out, block);
  CHECK(last().month_ms == 1000);
  CHECK(last().counter == 0);
  // A call without the block takes the first id after the reserved ones.
  gen.next_at(now, out);
  CHECK(last().counter == uniq_key_generator::block_size);
  for (std::uint64_t i = 1; i < uniq_key_generator::block_size; ++i) {
    gen.next_at(now, out, block);
    CHECK(last().counter == i);
  }
  // Used up: the next block starts after the other call's id.
  gen.next_at(now, out, block);
  CHECK(last().counter == uniq_key_generator::block_size + 1);
  // A millisecond later the rest of the block would claim an earlier time: a new one is taken.
  gen.next_at(now + 1, out, block);
  CHECK(last().month_ms == 1001);
  CHECK(last().counter == 0);
}

TEST_CASE("uniq_key: a block that crosses counter 0xFFFF borrows the next ms and is kept") {
  scoped_tz tz("UTC0");
  uniq_key_generator gen(example_identity());
  const std::int64_t now = nov_1_2026_utc + 1000;
  char out[uniq_key_max_size];
  for (int i = 0; i < 65530; ++i) gen.next_at(now, out);
  uniq_key_block block;
  std::vector<std::string> ids;
  for (std::uint64_t i = 0; i < uniq_key_generator::block_size; ++i) {
    gen.next_at(now, out, block);
    ids.emplace_back(out, gen.size());
  }
  const uniq_key_fields first = id_fields(ids.front());
  const uniq_key_fields last_in_ms = id_fields(ids[5]);
  const uniq_key_fields borrowed = id_fields(ids[6]);
  const uniq_key_fields last = id_fields(ids.back());
  CHECK(first.month_ms == 1000);
  CHECK(first.counter == 65530);
  CHECK(last_in_ms.counter == 0xFFFF);
  CHECK(borrowed.month_ms == 1001);
  CHECK(borrowed.counter == 0);
  // Still the same block: ids ahead of the clock are not stale.
  CHECK(last.month_ms == 1001);
  CHECK(last.counter == uniq_key_generator::block_size - 7);
  gen.next_at(now, out);  // the first id after the block
  CHECK(id_fields(std::string_view(out, gen.size())).counter == uniq_key_generator::block_size - 6);
}

TEST_CASE("uniq_key: a block used after the wall clock steps back repeats no id") {
  scoped_tz tz("UTC0");
  uniq_key_generator gen(example_identity());
  const std::int64_t now = nov_1_2026_utc + 5000;
  char out[uniq_key_max_size];
  uniq_key_block block;
  std::vector<std::string> ids;
  for (std::uint64_t i = 0; i < 3 * uniq_key_generator::block_size; ++i) {
    // The clock steps back a minute after the first few ids and stays there.
    gen.next_at(i < 3 ? now : now - 60'000, out, block);
    ids.emplace_back(out, gen.size());
    gen.next_at(now - 60'000, out);  // interleaved with ids made without a block
    ids.emplace_back(out, gen.size());
  }
  for (const std::string& id : ids) {
    CHECK(id_fields(id).month_ms == 5000);  // held still until the clock catches up
  }
  std::sort(ids.begin(), ids.end());
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
}

TEST_CASE("uniq_key: ids made by 8 threads at once are unique") {
  constexpr std::size_t threads = 8;
  const std::size_t per_thread = rmq::test::scaled(1'000'000, 8 * 1024) / threads;
  auto& gen = default_uniq_key_generator();
  const auto& identity = gen.identity();
  const std::size_t size = gen.size();
  using id_chars = std::array<char, uniq_key_max_size>;
  std::vector<id_chars> ids(per_thread * threads, id_chars{});
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      // Half the threads take ids from blocks of their own (as event loops do).
      uniq_key_block block;
      for (std::size_t i = 0; i < per_thread; ++i) {
        char* out = ids[t * per_thread + i].data();
        if (t % 2 == 0) {
          gen.next(out);
        } else {
          gen.next_at(now_ms(), out, block);
        }
      }
    });
  }
  for (auto& w : workers) w.join();

  // All ids share this process's prefix (checked field by field), so they are unique exactly
  // when their (month ms, counter) suffixes are; sorting 48-bit numbers keeps this test fast.
  std::size_t malformed = 0;
  std::vector<std::uint64_t> suffixes;
  suffixes.reserve(ids.size());
  for (const auto& id : ids) {
    const auto f = parse_uniq_key(std::string_view(id.data(), size));
    if (!f || f->ip != identity.ip || f->ip_size != identity.ip_size || f->pid != identity.pid ||
        f->random != identity.random) {
      ++malformed;
      continue;
    }
    suffixes.push_back(std::uint64_t{f->month_ms} << 16 | f->counter);
  }
  CHECK(malformed == 0);
  std::sort(suffixes.begin(), suffixes.end());
  CHECK(std::adjacent_find(suffixes.begin(), suffixes.end()) == suffixes.end());
  MESSAGE(ids.size() << " ids checked");
}
