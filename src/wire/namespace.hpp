// Namespaces (Java ClientConfig.setNamespace): a producer in namespace `ns` sends its topics and
// its group as `ns%Name`, and the brokers and NameServers know them only by that name. The rules
// are Java's NamespaceUtil: system topics (TBW102, the RMQ_SYS_ and rmq_sys_ topics) and system
// groups (CID_RMQ_SYS_...) stay as they are; a retry (`%RETRY%`) or dead-letter (`%DLQ%`) prefix
// stays in front, the namespace goes after it; a name that already carries the namespace is not
// wrapped again. An empty namespace leaves every name as it is.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace rmq::wire {

/// Between the namespace and the name (NamespaceUtil.NAMESPACE_SEPARATOR).
inline constexpr char namespace_separator = '%';
/// Java's prefix of dead-letter topics (MixAll.DLQ_GROUP_TOPIC_PREFIX); the retry prefix is
/// validation.hpp's retry_topic_prefix.
inline constexpr std::string_view dlq_topic_prefix = "%DLQ%";

/// A namespace a producer may use: 1..125 characters of `[|a-zA-Z0-9_-]` (the topic characters
/// without `%`, the separator, which would make wrapped names ambiguous; 125 leaves room for the
/// separator and a one-character name within the 127 of a topic). Empty: no namespace, valid.
/// Errors: configuration_invalid.
[[nodiscard]] std::error_code validate_namespace(std::string_view name_space) noexcept;

/// A topic or group that no namespace applies to (NamespaceUtil.isSystemResource, 4.9 rules):
/// TopicValidator's system topics, names starting with `rmq_sys_` or `CID_RMQ_SYS_`.
[[nodiscard]] bool is_system_resource(std::string_view name) noexcept;

/// `name` (after any retry or DLQ prefix) starts with `name_space%` (isAlreadyWithNamespace).
[[nodiscard]] bool carries_namespace(std::string_view name, std::string_view name_space) noexcept;

/// The name the brokers know: `name` in `name_space` (wrapNamespace). Unchanged when the
/// namespace or the name is empty, for a system resource, and when it already carries the
/// namespace; else `[%RETRY%|%DLQ%]name_space%rest`.
[[nodiscard]] std::string wrap_namespace(std::string_view name_space, std::string_view name);

/// wrap_namespace(name_space, name).size(), without building it.
[[nodiscard]] std::size_t wrapped_size(std::string_view name_space, std::string_view name) noexcept;

/// The name as its user knows it: `name` without `name_space` (withoutNamespace(resource, ns)),
/// the retry or DLQ prefix kept. Unchanged when it does not carry that namespace.
[[nodiscard]] std::string without_namespace(std::string_view name, std::string_view name_space);

}  // namespace rmq::wire
