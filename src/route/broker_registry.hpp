// Brokers known to one loop's producer state, by dense id: the send hot path indexes arrays
// (fault table, connections) by broker_id instead of hashing broker names.
#pragma once

#include "common/string_map.hpp"
#include "net/connection_fwd.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rmq::route {

using broker_id = std::uint32_t;

/// One writable queue of a topic's publish list.
struct publish_queue {
  broker_id broker = 0;
  std::int32_t queue_id = 0;
};

struct broker_entry {
  std::string name;
  std::string master_address;         ///< "ip:port" of broker id 0; empty when unknown
  net::connection* master = nullptr;  ///< connection to master_address (owned by the pool)
  /// Changes whenever master_address does: what remembers an address compares this (a freed
  /// connection's memory may come back as another address's connection).
  std::uint32_t master_generation = 0;
  std::optional<std::int32_t> version;  ///< protocol version seen in the broker's responses
};

/// Loop thread only. Ids are never reused: an entry lives, at the same address, as long as the
/// producer (coroutines keep references to entries across suspensions).
class broker_registry {
 public:
  /// The id of `name`, created on first sight.
  broker_id intern(std::string_view name) {
    if (auto it = ids_.find(name); it != ids_.end()) return it->second;
    const auto id = static_cast<broker_id>(entries_.size());
    entries_.push_back({std::string(name), {}, nullptr, 0, std::nullopt});
    ids_.emplace(std::string(name), id);
    return id;
  }
  [[nodiscard]] std::optional<broker_id> find(std::string_view name) const {
    if (auto it = ids_.find(name); it != ids_.end()) return it->second;
    return std::nullopt;
  }
  [[nodiscard]] broker_entry& operator[](broker_id id) { return entries_[id]; }
  [[nodiscard]] const broker_entry& operator[](broker_id id) const { return entries_[id]; }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::deque<broker_entry> entries_;  // a deque: references stay valid as brokers are added
  string_map<broker_id> ids_;         // looked up by string_view: no string built per lookup
};

}  // namespace rmq::route
