// What every loop of a producer is given: the settings derived once from producer_config.
#pragma once

#include "common/log.hpp"
#include "rmq/producer_config.hpp"
#include "wire/command.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rmq::detail {
struct cancel_hub;
}

namespace rmq::tls {
class client_context;
}  // namespace rmq::tls

namespace rmq::send {

class transaction_threads;
class reply_table;

/// Settings derived once from producer_config.
struct loop_settings {
  producer_config config;
  /// The producer group as brokers know it: config.group in config.name_space
  /// (wire/namespace.hpp), wrapped once here for every heartbeat, send and END_TRANSACTION.
  std::string group;
  std::vector<std::string> name_servers;
  std::string client_id;
  wire::serialize_type serialization = wire::serialize_type::json;
  /// The producer's threads for plain transaction functions (shared by its loops).
  transaction_threads* threads = nullptr;
  /// The producer's requests waiting for a reply (shared by its loops).
  reply_table* replies = nullptr;
  /// Open while the producer's loops exist: what lets another thread post to a loop safely.
  std::shared_ptr<detail::cancel_hub> hub;
  /// The producer's TLS context (config.tls set), shared by every loop's connections; it
  /// outlives the loops. nullptr: plain TCP.
  std::shared_ptr<const tls::client_context> tls;

  /// The fields of a request of `code` this producer sends (its protocol version).
  [[nodiscard]] wire::command_fields request_fields(std::int32_t code,
                                                    std::int32_t opaque) const noexcept {
    wire::command_fields fields;
    fields.code = code;
    fields.version = config.protocol_version;
    fields.opaque = opaque;
    return fields;
  }

  /// Where the loop's components log: config.logger (resolved at start), else spdlog's default.
  [[nodiscard]] spdlog::logger& logger() const noexcept {
    return log::or_default(config.logger.get());
  }
};

}  // namespace rmq::send
