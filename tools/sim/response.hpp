// Response framing shared by the name server and broker handlers: the personality decides the
// serialization and the version a response carries.
#pragma once

#include "config.hpp"
#include "wire/command.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rmq::sim {

/// Version ordinal the real servers put in their responses (V4_9_8, V5_3_3).
[[nodiscard]] constexpr std::int32_t server_version(personality version) noexcept {
  return version == personality::v5 ? 479 : 409;
}

/// 4.9 mirrors the request's serialization; 5.x answers in its default, JSON.
[[nodiscard]] constexpr wire::serialize_type response_type(
    personality version, const wire::command_view& request) noexcept {
  return version == personality::v5 ? wire::serialize_type::json : request.type;
}

[[nodiscard]] inline wire::command_fields response_fields(personality version,
                                                          const wire::command_view& request,
                                                          std::int32_t code) noexcept {
  wire::command_fields fields;
  fields.code = code;
  fields.language = wire::language_code::java;
  fields.version = server_version(version);
  fields.opaque = request.fields.opaque;
  fields.flag = wire::flag_response;
  return fields;
}

/// A response without extFields.
inline void write_response(std::string& out, personality version, const wire::command_view& request,
                           std::int32_t code, std::optional<std::string_view> remark = std::nullopt,
                           std::string_view body = {}) {
  wire::frame_writer writer(out, response_type(version, request),
                            response_fields(version, request, code), remark);
  writer.finish(body);
}

/// The answer of a real server to a code it has no processor for.
inline void write_not_supported(std::string& out, personality version,
                                const wire::command_view& request) {
  const std::string remark =
      " request type " + std::to_string(request.fields.code) + " not supported";
  write_response(out, version, request, 3, remark);
}

}  // namespace rmq::sim
