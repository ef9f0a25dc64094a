#include "steal_time.hpp"

#include "report.hpp"

#include <doctest/doctest.h>

#include <sstream>

using namespace rmq::bench;

TEST_CASE("steal time from /proc/stat text") {
  // user nice system idle iowait irq softirq steal guest guest_nice
  const char* text =
      "cpu  2479780 0 348198 1662883 275854 0 91811 49042 0 0\n"
      "cpu0 1424387 0 175651 521379 256053 0 55445 18844 0 0\n"
      "cpu1 1055392 0 172546 1141504 19800 0 36365 30198 0 0\n"
      "intr 1 2 3\n"
      "ctxt 42\n";
  const auto s = parse_steal(text, 10.0);
  REQUIRE(s);
  CHECK(s->total_ms == 490420);
  REQUIRE(s->ms_by_cpu.size() == 2);
  CHECK(s->ms_by_cpu[0] == 188440);
  CHECK(s->ms_by_cpu[1] == 301980);

  // Sparse CPU numbers (offline CPUs have no line) index by number.
  const auto sparse = parse_steal("cpu  1 2 3 4 5 6 7 8\ncpu3 1 2 3 4 5 6 7 9\n", 1.0);
  REQUIRE(sparse);
  REQUIRE(sparse->ms_by_cpu.size() == 4);
  CHECK(sparse->ms_by_cpu[3] == 9);
  CHECK(sparse->ms_by_cpu[0] == 0);

  // No steal column, no aggregate line, garbage: nothing rather than a wrong number.
  CHECK_FALSE(parse_steal("cpu  1 2 3 4 5 6 7\n", 10.0));
  CHECK_FALSE(parse_steal("cpu0 1 2 3 4 5 6 7 8\n", 10.0));
  CHECK_FALSE(parse_steal("cpu  1 2 x 4 5 6 7 8\n", 10.0));
  CHECK_FALSE(parse_steal("", 10.0));
}

TEST_CASE("the report shows steal time when the machine has it") {
  report r;
  CHECK_FALSE(to_json(r).contains("steal_ms"));
  r.steal.emplace();
  r.steal->total_ms = 530;
  r.steal->ms_by_cpu[0] = 200;
  r.steal->ms_by_cpu[1] = 330;
  const auto j = to_json(r);
  CHECK(j["steal_ms"]["total"] == 530);
  CHECK(j["steal_ms"]["cpu0"] == 200);
  CHECK(j["steal_ms"]["cpu1"] == 330);
  std::ostringstream text;
  print_report(text, r);
  CHECK(text.str().find("host steal 530 ms over the window (CPU 0: 200 ms, CPU 1: 330 ms)") !=
        std::string::npos);
}

TEST_CASE("this machine's /proc/stat parses") {
  const auto s = sample_steal();  // Linux only, as the library: every kernel since 2.6.11 has it
  REQUIRE(s);
  CHECK(s->total_ms >= 0);
  CHECK_FALSE(s->ms_by_cpu.empty());
}
