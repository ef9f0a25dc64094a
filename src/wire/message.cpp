// rmq::message out-of-line members.
#include "rmq/message.hpp"

#include <algorithm>

namespace rmq {
namespace {

// Java String.trim(): drops every char <= U+0020 at both ends.
std::string trimmed(std::string s) {
  const auto keep = [](char c) { return static_cast<unsigned char>(c) > 0x20; };
  const auto first = std::find_if(s.begin(), s.end(), keep);
  const auto last = std::find_if(s.rbegin(), s.rend(), keep).base();
  if (first >= last) return {};
  return std::string(first, last);
}

template <typename Range>
std::string join_keys(const Range& keys) {
  std::string joined;
  for (const auto& key : keys) {
    joined.append(key);
    joined.push_back(message::key_separator);
  }
  return trimmed(std::move(joined));
}

}  // namespace

void message::set_keys(std::span<const std::string> keys) {
  keys_ = join_keys(keys);
}

void message::set_keys(std::initializer_list<std::string_view> keys) {
  keys_ = join_keys(keys);
}

void message::put_property(std::string_view name, std::string_view value) {
  for (auto& [n, v] : properties_) {
    if (n == name) {
      v.assign(value);
      return;
    }
  }
  properties_.emplace_back(std::string(name), std::string(value));
}

std::optional<std::string_view> message::property(std::string_view name) const noexcept {
  for (const auto& [n, v] : properties_) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

bool message::remove_property(std::string_view name) {
  const auto it = std::find_if(properties_.begin(), properties_.end(),
                               [&](const auto& p) { return p.first == name; });
  if (it == properties_.end()) return false;
  properties_.erase(it);
  return true;
}

}  // namespace rmq
