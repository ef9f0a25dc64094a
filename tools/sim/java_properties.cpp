#include "java_properties.hpp"

#include "wire/properties.hpp"

#include <algorithm>

namespace rmq::sim {

std::int32_t java_string_hash(std::string_view utf8) noexcept {
  std::uint32_t hash = 0;
  const auto add = [&hash](std::uint32_t unit) { hash = 31 * hash + unit; };
  for (std::size_t i = 0; i < utf8.size();) {
    const auto byte = static_cast<unsigned char>(utf8[i]);
    std::uint32_t code = 0xFFFD;  // what Java decodes a malformed sequence to
    std::size_t length = 1;
    if (byte < 0x80) {
      code = byte;
    } else if ((byte & 0xE0) == 0xC0) {
      length = 2;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4;
    }
    if (length > 1) {
      if (i + length <= utf8.size()) {
        code = byte & (0x7F >> length);
        for (std::size_t k = 1; k < length; ++k) {
          const auto next = static_cast<unsigned char>(utf8[i + k]);
          if ((next & 0xC0) != 0x80) {
            code = 0xFFFD;
            length = k;
            break;
          }
          code = code << 6 | (next & 0x3F);
        }
      } else {
        code = 0xFFFD;
        length = utf8.size() - i;
      }
    }
    if (code > 0xFFFF) {
      code -= 0x10000;
      add(0xD800 + (code >> 10));
      add(0xDC00 + (code & 0x3FF));
    } else {
      add(code);
    }
    i += length;
  }
  return static_cast<std::int32_t>(hash);
}

void java_properties::parse(std::string_view text) {
  std::vector<wire::property_ref> pairs;
  wire::decode_properties(text, pairs);
  for (const auto& p : pairs) put(p.name, p.value);
}

void java_properties::put(std::string_view name, std::string_view value) {
  for (auto& e : entries_) {
    if (e.name == name) {
      e.value = std::string(value);
      return;
    }
  }
  entries_.push_back({std::string(name), std::string(value), next_insert_++});
}

void java_properties::remove(std::string_view name) {
  std::erase_if(entries_, [name](const entry& e) { return e.name == name; });
}

std::optional<std::string_view> java_properties::get(std::string_view name) const noexcept {
  for (const auto& e : entries_) {
    if (e.name == name) return std::string_view(e.value);
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> java_properties::ordered() const {
  // HashMap: table size a power of two, doubled while more than 3/4 full; bucket = the hash
  // with its high half folded in, masked.
  std::size_t buckets = version_ == personality::v5 ? 128 : 16;
  while (entries_.size() > buckets / 4 * 3) buckets *= 2;
  const auto bucket = [buckets](const entry& e) {
    const auto h = static_cast<std::uint32_t>(java_string_hash(e.name));
    return (h ^ (h >> 16)) & (buckets - 1);
  };
  std::vector<const entry*> order;
  order.reserve(entries_.size());
  for (const auto& e : entries_) order.push_back(&e);
  std::sort(order.begin(), order.end(), [&bucket](const entry* a, const entry* b) {
    const auto ba = bucket(*a);
    const auto bb = bucket(*b);
    return ba != bb ? ba < bb : a->inserted < b->inserted;
  });
  std::vector<std::pair<std::string, std::string>> result;
  result.reserve(order.size());
  for (const auto* e : order) result.emplace_back(e->name, e->value);
  return result;
}

std::string java_properties::to_string() const {
  std::string text;
  for (const auto& [name, value] : ordered()) {
    text += name;
    text += wire::name_value_separator;
    text += value;
    text += wire::property_separator;
  }
  if (version_ != personality::v5 && !text.empty()) text.pop_back();
  return text;
}

}  // namespace rmq::sim
