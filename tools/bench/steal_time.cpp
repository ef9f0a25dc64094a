#include "steal_time.hpp"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace rmq::bench {

namespace {

// "cpu" / "cpuN" followed by user nice system idle iowait irq softirq steal ...: the eighth
// number, or nullopt.
std::optional<std::int64_t> steal_ticks(std::string_view fields) {
  std::int64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    while (!fields.empty() && fields.front() == ' ') fields.remove_prefix(1);
    const auto [end, ec] = std::from_chars(fields.data(), fields.data() + fields.size(), value);
    if (ec != std::errc{}) return std::nullopt;
    fields.remove_prefix(static_cast<std::size_t>(end - fields.data()));
  }
  return value;
}

}  // namespace

std::optional<steal_sample> parse_steal(std::string_view text, double tick_ms) {
  steal_sample sample;
  bool have_total = false;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.starts_with("cpu")) continue;
    line.remove_prefix(3);
    std::size_t cpu = 0;
    const bool aggregate = line.starts_with(' ');
    if (!aggregate) {
      const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), cpu);
      if (ec != std::errc{} || cpu > 65535) continue;
      line.remove_prefix(static_cast<std::size_t>(end - line.data()));
    }
    const auto ticks = steal_ticks(line);
    if (!ticks) return std::nullopt;
    const auto ms = static_cast<std::int64_t>(static_cast<double>(*ticks) * tick_ms);
    if (aggregate) {
      sample.total_ms = ms;
      have_total = true;
    } else {
      if (sample.ms_by_cpu.size() <= cpu) sample.ms_by_cpu.resize(cpu + 1, 0);
      sample.ms_by_cpu[cpu] = ms;
    }
  }
  if (!have_total) return std::nullopt;
  return sample;
}

std::optional<steal_sample> sample_steal() {
  std::ifstream in("/proc/stat");
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  const long ticks_per_s = ::sysconf(_SC_CLK_TCK);
  if (ticks_per_s <= 0) return std::nullopt;
  return parse_steal(text.str(), 1000.0 / static_cast<double>(ticks_per_s));
}

}  // namespace rmq::bench
