#include "trace/trace_record.hpp"

#include <charconv>
#include <iterator>
#include <span>

namespace rmq::trace {
namespace {

// Writes `value` into `digits` and returns the text.
std::string_view number(std::span<char, 24> digits, std::int64_t value) {
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), value).ptr;
  return {digits.data(), static_cast<std::size_t>(end - digits.data())};
}

// Java appends a null String as "null": a message without tags or keys.
std::string_view or_null(std::string_view text) {
  return text.empty() ? std::string_view("null") : text;
}

void append_key(std::string& out, std::string_view key) {
  if (key.empty()) return;
  if (!out.empty()) out.push_back(' ');
  out.append(key);
}

}  // namespace

void append_record(std::string& out, const trace_record& record) {
  char timestamp[24];
  char body_length[24];
  char cost[24];
  char type[24];
  // TraceDataEncoder's order for a Pub record.
  const std::string_view fields[] = {
      "Pub",
      number(timestamp, record.timestamp_ms),
      record.region_id,
      record.group,
      record.topic,
      record.msg_id,
      or_null(record.tags),
      or_null(record.keys),
      record.store_host,
      number(body_length, record.body_length),
      number(cost, record.cost_ms),
      number(type, static_cast<std::int64_t>(record.type)),
      record.offset_msg_id,
      record.success ? "true" : "false",
  };
  out.append(fields[0]);
  for (std::size_t i = 1; i < std::size(fields); ++i) {
    out.push_back(field_separator);
    out.append(fields[i]);
  }
  out.push_back(record_separator);
}

void append_keys(std::string& out, const trace_record& record) {
  append_key(out, record.msg_id);
  std::string_view keys = record.keys;
  while (!keys.empty()) {
    const std::size_t space = keys.find(' ');
    append_key(out, keys.substr(0, space));
    if (space == std::string_view::npos) break;
    keys.remove_prefix(space + 1);
  }
}

}  // namespace rmq::trace
