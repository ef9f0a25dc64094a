// What every loop of a producer is given: the settings derived once from producer_config.
#pragma once

#include "rmq/producer_config.hpp"
#include "wire/command.hpp"

#include <string>
#include <vector>

namespace rmq::send {

class transaction_threads;
class reply_table;

/// Settings derived once from producer_config.
struct loop_settings {
  producer_config config;
  std::vector<std::string> name_servers;
  std::string client_id;
  wire::serialize_type serialization = wire::serialize_type::json;
  /// The producer's threads for plain transaction functions (shared by its loops).
  transaction_threads* threads = nullptr;
  /// The producer's requests waiting for a reply (shared by its loops).
  reply_table* replies = nullptr;
};

}  // namespace rmq::send
