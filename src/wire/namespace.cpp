#include "wire/namespace.hpp"

#include "rmq/error.hpp"
#include "wire/validation.hpp"

#include <algorithm>
#include <iterator>

namespace rmq::wire {
namespace {

// TopicValidator.SYSTEM_TOPIC_SET of the 4.9 client (a 4.9 broker adds its cluster and broker
// names to its own copy; a client's holds these only).
constexpr std::string_view system_topics[] = {
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "BenchmarkTest",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
};
constexpr std::string_view system_topic_prefix = "rmq_sys_";      // TopicValidator
constexpr std::string_view system_group_prefix = "CID_RMQ_SYS_";  // MixAll.CID_RMQ_SYS_PREFIX

constexpr std::size_t max_namespace_length = max_topic_length - 2;

// The retry or DLQ prefix `name` starts with, or nothing (Java checks retry first).
[[nodiscard]] std::string_view queue_prefix_of(std::string_view name) noexcept {
  if (name.starts_with(retry_topic_prefix)) return retry_topic_prefix;
  if (name.starts_with(dlq_topic_prefix)) return dlq_topic_prefix;
  return {};
}

// `name` would be wrapped: Java's early returns of wrapNamespace, in its order.
[[nodiscard]] bool needs_wrapping(std::string_view name_space, std::string_view name) noexcept {
  return !name_space.empty() && !name.empty() && !is_system_resource(name) &&
         !carries_namespace(name, name_space);
}

}  // namespace

std::error_code validate_namespace(std::string_view name_space) noexcept {
  // A topic's characters but the separator itself.
  const bool legal = !has_illegal_name_char(name_space) &&
                     name_space.find(namespace_separator) == std::string_view::npos;
  if (!legal || name_space.size() > max_namespace_length) {
    return make_error_code(errc::configuration_invalid);
  }
  return {};
}

bool is_system_resource(std::string_view name) noexcept {
  return std::find(std::begin(system_topics), std::end(system_topics), name) !=
             std::end(system_topics) ||
         name.starts_with(system_topic_prefix) || name.starts_with(system_group_prefix);
}

bool carries_namespace(std::string_view name, std::string_view name_space) noexcept {
  if (name_space.empty() || name.empty() || is_system_resource(name)) return false;
  const std::string_view rest = name.substr(queue_prefix_of(name).size());
  return rest.size() > name_space.size() && rest.starts_with(name_space) &&
         rest[name_space.size()] == namespace_separator;
}

std::string wrap_namespace(std::string_view name_space, std::string_view name) {
  if (!needs_wrapping(name_space, name)) return std::string(name);
  const std::string_view prefix = queue_prefix_of(name);
  std::string wrapped;
  wrapped.reserve(name.size() + name_space.size() + 1);
  wrapped.append(prefix).append(name_space);
  wrapped.push_back(namespace_separator);
  wrapped.append(name.substr(prefix.size()));
  return wrapped;
}

std::size_t wrapped_size(std::string_view name_space, std::string_view name) noexcept {
  return needs_wrapping(name_space, name) ? name.size() + name_space.size() + 1 : name.size();
}

std::string without_namespace(std::string_view name, std::string_view name_space) {
  if (!carries_namespace(name, name_space)) return std::string(name);
  const std::string_view prefix = queue_prefix_of(name);
  std::string bare(prefix);
  bare.append(name.substr(prefix.size() + name_space.size() + 1));
  return bare;
}

}  // namespace rmq::wire
