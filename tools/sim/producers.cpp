#include "producers.hpp"

#include <algorithm>

namespace rmq::sim {

void producer_registry::add(std::string_view group, std::string_view client_id,
                            connection_id connection) {
  auto it = groups_.find(group);
  if (it == groups_.end())
    it = groups_.emplace(std::string(group), std::vector<connection_id>{}).first;
  auto& members = it->second;
  if (std::find(members.begin(), members.end(), connection) == members.end()) {
    members.push_back(connection);
  }
  // A reconnected client takes over its id on the new connection.
  clients_.insert_or_assign(std::string(client_id), connection);
}

void producer_registry::remove(std::string_view group, std::string_view client_id,
                               connection_id connection) {
  if (const auto it = groups_.find(group); it != groups_.end()) {
    std::erase(it->second, connection);
    if (it->second.empty()) groups_.erase(it);
  }
  if (const auto it = clients_.find(client_id); it != clients_.end()) clients_.erase(it);
}

void producer_registry::connection_closed(connection_id connection) {
  for (auto it = groups_.begin(); it != groups_.end();) {
    std::erase(it->second, connection);
    it = it->second.empty() ? groups_.erase(it) : std::next(it);
  }
  std::erase_if(clients_, [connection](const auto& entry) { return entry.second == connection; });
}

std::optional<connection_id> producer_registry::find_client(std::string_view client_id) const {
  const auto it = clients_.find(client_id);
  if (it == clients_.end()) return std::nullopt;
  return it->second;
}

std::optional<connection_id> producer_registry::pick(std::string_view group) {
  const auto it = groups_.find(group);
  if (it == groups_.end() || it->second.empty()) return std::nullopt;
  return it->second[turn_++ % it->second.size()];
}

std::size_t producer_registry::group_size(std::string_view group) const {
  const auto it = groups_.find(group);
  return it == groups_.end() ? 0 : it->second.size();
}

}  // namespace rmq::sim
