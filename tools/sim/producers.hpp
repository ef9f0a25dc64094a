// The producer connections one broker knows, like the Java ProducerManager: learnt from
// HEART_BEAT, forgotten on UNREGISTER_CLIENT and when the connection closes. The broker writes
// its own requests through them: transaction checks to a connection of the half message's
// producer group, reply pushes to the connection of the requester's client id. I/O thread only.
#pragma once

#include "server.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rmq::sim {

class producer_registry {
 public:
  /// A HEART_BEAT of `client_id` on `connection` named producer `group`.
  void add(std::string_view group, std::string_view client_id, connection_id connection);
  /// An UNREGISTER_CLIENT named producer `group`: the connection leaves the group and the
  /// client id is forgotten.
  void remove(std::string_view group, std::string_view client_id, connection_id connection);
  void connection_closed(connection_id connection);

  /// The connection of a client id (ProducerManager.findChannel).
  [[nodiscard]] std::optional<connection_id> find_client(std::string_view client_id) const;
  /// One connection of the group, taking turns (ProducerManager.getAvailableChannel).
  [[nodiscard]] std::optional<connection_id> pick(std::string_view group);
  [[nodiscard]] std::size_t group_size(std::string_view group) const;

 private:
  // Connections of a group in registration order; groups are dropped when they empty.
  std::map<std::string, std::vector<connection_id>, std::less<>> groups_;
  std::map<std::string, connection_id, std::less<>> clients_;
  std::uint64_t turn_ = 0;
};

}  // namespace rmq::sim
