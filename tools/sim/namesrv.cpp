#include "namesrv.hpp"

#include "faults.hpp"
#include "response.hpp"
#include "wire/codes.hpp"
#include "wire/headers.hpp"

namespace rmq::sim {

void namesrv_handler::handle(const wire::command_view& request, const fault_decision& fault,
                             const request_source&, std::string& out) {
  const personality version = cluster_.version();
  if (fault.error_code) {
    write_response(out, version, request, *fault.error_code,
                   fault.remark(version, cluster_.host()));
    return;
  }
  if (request.fields.code == wire::request_code::get_routeinfo_by_topic) {
    route_query(request, out);
    return;
  }
  write_not_supported(out, version, request);
}

void namesrv_handler::route_query(const wire::command_view& request, std::string& out) {
  const personality version = cluster_.version();
  wire::get_route_info_request_header header;
  if (header.parse(request)) {
    // The Java server fails to decode the custom header and answers from its exception handler.
    write_response(out, version, request, wire::response_code::system_error,
                   "org.apache.rocketmq.remoting.exception.RemotingCommandException: the custom "
                   "field <topic> is null");
    return;
  }
  auto route = cluster_.route(header.topic);
  if (!route) {
    ++counters_->route_not_found;
    const std::string remark =
        "No topic route info in name server for the topic: " + std::string(header.topic) +
        faq_suffix(version);
    write_response(out, version, request, wire::response_code::topic_not_exist, remark);
    return;
  }
  const auto style = wire::route_json_style_for(request.fields.version,
                                                header.accept_standard_json_only.value_or(false));
  if (style == wire::route_json_style::standard) {
    ++counters_->route_standard;
  } else {
    ++counters_->route_legacy;
  }
  write_response(out, version, request, wire::response_code::success, std::nullopt,
                 wire::to_json(*route, style));
}

}  // namespace rmq::sim
