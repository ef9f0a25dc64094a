#include "route/name_server_client.hpp"

#include "net/request.hpp"
#include "rmq/error.hpp"
#include "wire/codes.hpp"
#include "wire/headers.hpp"

#include <random>

namespace rmq::route {

name_server_client::name_server_client(net::connection_pool& pool,
                                       std::vector<std::string> addresses,
                                       request_settings settings, route_limits limits)
    : pool_(pool), addresses_(std::move(addresses)), settings_(settings), limits_(limits) {
  // Like the Java client: start at a random server so clients spread over them.
  if (!addresses_.empty()) current_ = std::random_device{}() % addresses_.size();
}

coro<route_reply> name_server_client::query_route(std::string topic,
                                                  net::clock::time_point deadline) {
  route_reply reply;
  if (addresses_.empty()) {
    reply.error = make_error_code(errc::no_name_server);
    co_return reply;
  }
  reply.error = make_error_code(errc::timed_out);
  for (std::size_t tried = 0; tried < addresses_.size(); ++tried) {
    const auto now = net::clock::now();
    if (now >= deadline) break;
    const std::size_t index = (current_ + tried) % addresses_.size();
    // Each remaining server gets an equal share of what is left of the budget.
    const auto share = (deadline - now) / static_cast<long>(addresses_.size() - tried);
    net::connection& conn = pool_.get(addresses_[index]);
    queries_.store(queries_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    const auto encode = [&](std::string& out, std::int32_t opaque) {
      wire::command_fields fields;
      fields.code = wire::request_code::get_routeinfo_by_topic;
      fields.language = settings_.language;
      fields.version = settings_.version;
      fields.opaque = opaque;
      wire::frame_writer writer(out, settings_.serialization, fields);
      wire::get_route_info_request_header header;
      header.topic = topic;
      header.write(writer);
      writer.finish();
    };
    const net::response r = co_await net::request(conn, encode, now + share);
    if (r.error) {
      reply.error = r.error;
      continue;  // transport failure: try the next server
    }
    if (r.frame->fields.code == wire::response_code::go_away) [[unlikely]] {
      // Told twice (the request resent once on a new connection, net/request.hpp): this
      // NameServer is shutting down; the next one answers.
      reply.error = make_broker_error(wire::response_code::go_away);
      continue;
    }
    current_ = index;
    reply.error = {};
    reply.response_code = r.frame->fields.code;
    if (r.frame->remark) reply.remark = std::string(*r.frame->remark);
    if (reply.response_code == wire::response_code::success) {
      auto parsed = wire::parse_route_data(r.frame->body, limits_);
      if (!parsed) {
        reply.error = parsed.error;
      } else {
        reply.route = std::move(parsed.route);
      }
    }
    co_return reply;
  }
  co_return reply;
}

}  // namespace rmq::route
