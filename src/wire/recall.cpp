#include "wire/recall.hpp"

#include "rmq/error.hpp"

#include <array>
#include <charconv>

namespace rmq::wire {
namespace {

constexpr std::string_view base64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

[[nodiscard]] int base64url_value(char c) noexcept {
  const std::size_t at = base64url_alphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

// Padded or not, as Java's Base64.getUrlDecoder accepts; nullopt for anything else.
[[nodiscard]] std::optional<std::string> decode_base64url(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    const int v = base64url_value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

[[nodiscard]] std::string encode_base64url(std::string_view bytes) {
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += base64url_alphabet[(v >> shift) & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += base64url_alphabet[(v >> 18) & 63];
    out += base64url_alphabet[(v >> 12) & 63];
    out += rest == 2 ? base64url_alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

std::optional<recall_handle> decode_recall_handle(std::string_view handle) {
  const std::optional<std::string> text = decode_base64url(handle);
  if (!text) return std::nullopt;
  std::array<std::string_view, 5> parts;  // version, topic, broker, timestamp, id
  std::string_view rest = *text;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::size_t space = rest.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    parts[i] = rest.substr(0, space);
    rest.remove_prefix(space + 1);
  }
  parts.back() = rest;
  for (const std::string_view part : parts) {
    if (part.empty() || part.find(' ') != std::string_view::npos) return std::nullopt;
  }
  if (parts[0] != "v1") return std::nullopt;
  recall_handle out;
  const auto [end, ec] =
      std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), out.timestamp_ms);
  if (ec != std::errc() || end != parts[3].data() + parts[3].size()) return std::nullopt;
  out.topic = std::string(parts[1]);
  out.broker_name = std::string(parts[2]);
  out.message_id = std::string(parts[4]);
  return out;
}

std::string encode_recall_handle(const recall_handle& parts) {
  return encode_base64url("v1 " + parts.topic + ' ' + parts.broker_name + ' ' +
                          std::to_string(parts.timestamp_ms) + ' ' + parts.message_id);
}

void recall_message_request_header::write(frame_writer& w) const {
  w.field("producerGroup", producer_group);
  w.field("bname", broker_name);
  w.field("topic", topic);
  w.field("recallHandle", recall_handle);
}

std::error_code recall_message_request_header::parse(const command_view& view) noexcept {
  const auto group = view.field("producerGroup");
  const auto topic_field = view.field("topic");
  const auto handle = view.field("recallHandle");
  if (!group || !topic_field || !handle) return make_error_code(errc::invalid_response);
  producer_group = *group;
  broker_name = view.field("bname").value_or(std::string_view{});
  topic = *topic_field;
  recall_handle = *handle;
  return {};
}

}  // namespace rmq::wire
