#include "wire/properties.hpp"

#include <algorithm>
#include <charconv>

namespace rmq::wire {
namespace {

constexpr std::size_t max_int64_digits = 20;  // "-9223372036854775808"

[[nodiscard]] std::size_t decimal_size(std::int64_t value) noexcept {
  char buf[max_int64_digits];
  return static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, value).ptr - buf);
}

[[nodiscard]] constexpr std::size_t pair_size(std::string_view name, std::size_t value) noexcept {
  return name.size() + 1 + value + 1;
}

// Calls `emit(name, value)` for every pair in wire order; the one place that defines the order.
template <typename Emit, typename EmitNumber>
void for_each_property(const rmq::message& msg, const send_properties& per_send, Emit&& emit,
                       EmitNumber&& emit_number) {
  if (!msg.tags().empty()) emit(property_names::tags, msg.tags());
  if (!msg.keys().empty()) emit(property_names::keys, msg.keys());
  emit(property_names::wait_store_msg_ok,
       msg.wait_store_msg_ok() ? std::string_view("true") : std::string_view("false"));
  if (msg.delay_level() != 0) emit_number(property_names::delay_level, msg.delay_level());
  if (const auto at = msg.delivery_time_ms()) emit_number(property_names::timer_deliver_ms, *at);
  if (const auto sec = msg.delay_time_sec()) emit_number(property_names::timer_delay_sec, *sec);
  if (const auto ms = msg.delay_time_ms()) emit_number(property_names::timer_delay_ms, *ms);
  if (const auto id = effective_uniq_key(msg, per_send.uniq_key); !id.empty()) {
    emit(property_names::uniq_key, id);
  }
  for (const auto& p : per_send.extra) emit(p.name, p.value);
  if (!per_send.instance_id.empty()) emit(property_names::instance_id, per_send.instance_id);
  for (const auto& [name, value] : msg.properties()) emit(name, value);
  for (const auto& p : per_send.added) emit(p.name, p.value);
}

}  // namespace

void properties_writer::add(std::string_view name, std::string_view value) {
  out_.append(name);
  out_.push_back(name_value_separator);
  out_.append(value);
  out_.push_back(property_separator);
  any_ = true;
}

void properties_writer::add(std::string_view name, std::int64_t value) {
  char buf[max_int64_digits];
  const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  add(name, std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

void properties_writer::finish() noexcept {
  if (trailing_ == trailing_separator::omit && any_) out_.pop_back();
}

std::size_t append_properties(std::string& out, const rmq::message& msg,
                              const send_properties& per_send, trailing_separator trailing) {
  properties_writer writer(out, trailing);
  for_each_property(
      msg, per_send, [&](std::string_view n, std::string_view v) { writer.add(n, v); },
      [&](std::string_view n, std::int64_t v) { writer.add(n, v); });
  writer.finish();
  return writer.size();
}

std::optional<std::size_t> write_properties(char* out, std::size_t capacity,
                                            const rmq::message& msg,
                                            const send_properties& per_send,
                                            trailing_separator trailing) noexcept {
  char* p = out;
  char* const end = out + capacity;
  bool fits = true;
  bool cut = false;  // the last pair written had no room for its separator
  const auto pair = [&](std::string_view name, std::string_view value) {
    const std::size_t room = static_cast<std::size_t>(end - p);
    const std::size_t need = pair_size(name, value.size());
    if (!fits || cut || room + 1 < need) {
      fits = false;
      return;
    }
    p = std::copy(name.begin(), name.end(), p);
    *p++ = name_value_separator;
    p = std::copy(value.begin(), value.end(), p);
    // Without room for the separator this must be the last pair, and `omit` drops it.
    if (room < need) {
      cut = true;
    } else {
      *p++ = property_separator;
    }
  };
  for_each_property(msg, per_send, pair, [&](std::string_view name, std::int64_t value) {
    char buf[max_int64_digits];
    const auto digits_end = std::to_chars(buf, buf + sizeof buf, value).ptr;
    pair(name, std::string_view(buf, static_cast<std::size_t>(digits_end - buf)));
  });
  if (!fits || (cut && trailing == trailing_separator::keep)) return std::nullopt;
  if (trailing == trailing_separator::omit && p != out && !cut) --p;
  return static_cast<std::size_t>(p - out);
}

std::size_t encoded_properties_size(const rmq::message& msg, const send_properties& per_send,
                                    trailing_separator trailing) noexcept {
  std::size_t size = 0;
  std::size_t pairs = 0;
  for_each_property(
      msg, per_send,
      [&](std::string_view n, std::string_view v) {
        size += pair_size(n, v.size());
        ++pairs;
      },
      [&](std::string_view n, std::int64_t v) {
        size += pair_size(n, decimal_size(v));
        ++pairs;
      });
  if (trailing == trailing_separator::omit && pairs > 0) --size;
  return size;
}

namespace {

// Java's string2messageProperties loop; `on_pair` returns nothing.
template <typename OnPair>
void scan_properties(std::string_view text, OnPair&& on_pair) {
  const std::size_t len = text.size();
  std::size_t index = 0;
  while (index < len) {
    std::size_t end = text.find(property_separator, index);
    if (end == std::string_view::npos) end = len;
    if (end - index >= 3) {
      // Java searches the 0x01 to the end of the whole text, but a hit past this segment fails
      // its bound check, so searching the segment only is equivalent (and keeps this linear).
      const std::size_t found = text.substr(index, end - index).find(name_value_separator);
      const std::size_t sep = found == std::string_view::npos ? end : index + found;
      if (sep > index && sep < end - 1) {
        on_pair(text.substr(index, sep - index), text.substr(sep + 1, end - sep - 1));
      }
    }
    index = end + 1;
  }
}

}  // namespace

void decode_properties(std::string_view text, std::vector<property_ref>& out) {
  scan_properties(text, [&](std::string_view n, std::string_view v) { out.push_back({n, v}); });
}

std::optional<std::string_view> find_property(std::string_view text,
                                              std::string_view name) noexcept {
  std::optional<std::string_view> found;
  scan_properties(text, [&](std::string_view n, std::string_view v) {
    if (n == name) found = v;
  });
  return found;
}

}  // namespace rmq::wire
