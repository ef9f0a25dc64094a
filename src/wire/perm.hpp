// Topic permission bits (PermName), as carried by QueueData.perm and TopicConfig.perm.
#pragma once

#include <cstdint>

namespace rmq::wire {

inline constexpr std::int32_t perm_priority = 8;
inline constexpr std::int32_t perm_read = 4;
inline constexpr std::int32_t perm_write = 2;
inline constexpr std::int32_t perm_inherit = 1;

[[nodiscard]] constexpr bool is_readable(std::int32_t perm) noexcept {
  return (perm & perm_read) != 0;
}
[[nodiscard]] constexpr bool is_writeable(std::int32_t perm) noexcept {
  return (perm & perm_write) != 0;
}
[[nodiscard]] constexpr bool is_inherited(std::int32_t perm) noexcept {
  return (perm & perm_inherit) != 0;
}

}  // namespace rmq::wire
