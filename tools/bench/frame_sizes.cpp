#include "frame_sizes.hpp"

#include "wire/codes.hpp"
#include "wire/command.hpp"
#include "wire/namespace.hpp"
#include "wire/properties.hpp"
#include "wire/route_data.hpp"

#include <string>

namespace rmq::bench {

namespace {
wire::serialize_type serialization(bool binary_headers) {
  return binary_headers ? wire::serialize_type::rocketmq : wire::serialize_type::json;
}
}  // namespace

std::size_t send_request_frame_size(const rmq::message& msg, std::string_view group,
                                    std::string_view name_space, bool binary_headers) {
  rmq::message copy = msg;
  if (copy.uniq_key().empty()) copy.set_uniq_key(std::string(32, 'F'));  // a generated id's size
  std::string properties;
  wire::send_properties per_send;
  per_send.instance_id = name_space;
  wire::append_properties(properties, copy, per_send);

  wire::remoting_command request;
  request.fields.code = wire::request_code::send_message_v2;
  request.fields.version = wire::default_request_version;
  request.fields.opaque = 1000000;
  request.ext_fields = {
      {"a", wire::wrap_namespace(name_space, group)},
      {"b", wire::wrap_namespace(name_space, copy.topic())},
      {"c", std::string(wire::auto_create_topic)},
      {"d", "4"},
      {"e", "3"},
      {"f", "0"},
      {"g", "1764000000000"},
      {"h", "0"},
      {"i", properties},
      {"j", "0"},
      {"k", "false"},
      {"m", "false"},
      {"n", "broker-a"},
  };
  request.has_ext_fields = true;
  request.body = copy.body();
  return request.encode(serialization(binary_headers)).size();
}

std::size_t send_response_frame_size(bool binary_headers) {
  wire::remoting_command response;
  response.fields.code = wire::response_code::success;
  response.fields.language = wire::language_code::java;
  response.fields.version = 409;
  response.fields.opaque = 1000000;
  response.fields.flag = wire::flag_response;
  response.ext_fields = {
      {"msgId", "7F00000100002A9F0000000000012345"},
      {"queueId", "3"},
      {"queueOffset", "123456"},
      {"MSG_REGION", "DefaultRegion"},
      {"TRACE_ON", "true"},
  };
  response.has_ext_fields = true;
  return response.encode(serialization(binary_headers)).size();
}

}  // namespace rmq::bench
