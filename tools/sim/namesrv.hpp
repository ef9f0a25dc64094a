// NameServer behaviour: GET_ROUTEINFO_BY_TOPIC from the cluster's metadata.
#pragma once

#include "cluster.hpp"
#include "server.hpp"

namespace rmq::sim {

class namesrv_handler final : public request_handler {
 public:
  explicit namesrv_handler(cluster& metadata) : cluster_(metadata) {}
  /// Where the route counters go (the server's extra counters).
  void attach(server& owner) noexcept { counters_ = &owner.extra_counters(); }

  void handle(const wire::command_view& request, const fault_decision& fault,
              const request_source& from, std::string& out) override;
  [[nodiscard]] bool in_default_fault_scope(std::int32_t) const noexcept override { return true; }

 private:
  void route_query(const wire::command_view& request, std::string& out);

  cluster& cluster_;
  server_counters* counters_ = nullptr;
};

}  // namespace rmq::sim
