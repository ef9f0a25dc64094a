// Everything the brokers record for tests: messages, clients, transaction endings, plus the
// switch that turns message storage off under load. I/O thread only.
#pragma once

#include "store.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace rmq::sim {

struct recorder {
  bool store_enabled = true;
  message_store messages;
  std::vector<client_record> clients;
  std::vector<end_transaction_record> end_transactions;
  std::vector<std::string> recalled;  ///< ids (UNIQ_KEY) of the timer messages recalled

  /// The client record of `client_id` on `broker`, created on first sight.
  client_record& client(const std::string& broker, std::string_view client_id) {
    for (auto& c : clients) {
      if (c.broker_name == broker && c.client_id == client_id) return c;
    }
    client_record record;
    record.broker_name = broker;
    record.client_id = std::string(client_id);
    clients.push_back(std::move(record));
    return clients.back();
  }
};

}  // namespace rmq::sim
