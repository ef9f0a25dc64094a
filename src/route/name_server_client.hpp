// GET_ROUTEINFO_BY_TOPIC against a list of NameServers, with failover: the last server that
// answered is asked first; on a transport failure the next one is tried, each attempt getting
// its share of the caller's remaining time, so one silent server cannot use up the budget.
#pragma once

#include "common/coro.hpp"
#include "net/connection_pool.hpp"
#include "wire/command.hpp"
#include "wire/route_data.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rmq::route {

/// Header settings of every request this client makes.
struct request_settings {
  wire::serialize_type serialization = wire::serialize_type::json;
  wire::language_code language = wire::language_code::cpp;
  std::int32_t version = wire::default_request_version;
};

struct route_reply {
  std::error_code error;           ///< transport failure, or invalid_route_data
  std::int32_t response_code = 0;  ///< when !error: SUCCESS or e.g. TOPIC_NOT_EXIST
  std::string remark;
  wire::topic_route_data route;  ///< when response_code is SUCCESS
};

class name_server_client {
 public:
  /// `addresses`: "host:port" each. An empty list makes every query fail with no_name_server.
  /// A route beyond `limits` is answered with invalid_route_data.
  name_server_client(net::connection_pool& pool, std::vector<std::string> addresses,
                     request_settings settings, route_limits limits = {});

  [[nodiscard]] coro<route_reply> query_route(std::string topic, net::clock::time_point deadline);

  [[nodiscard]] const std::vector<std::string>& addresses() const noexcept { return addresses_; }
  /// Any thread.
  [[nodiscard]] std::uint64_t queries() const noexcept {
    return queries_.load(std::memory_order_relaxed);
  }

 private:
  net::connection_pool& pool_;
  std::vector<std::string> addresses_;
  request_settings settings_;
  route_limits limits_;
  std::size_t current_ = 0;                // index of the server to ask first
  std::atomic<std::uint64_t> queries_{0};  // written by the loop thread only
};

}  // namespace rmq::route
