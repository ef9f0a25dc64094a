// The effective configuration of a producer as one log line, written once at start. Secrets
// (credentials, when the producer has some) go through config_description::secret, which never
// prints their value.
#pragma once

#include "rmq/producer_config.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace rmq::send {

/// "name=value, name=value, ..." built field by field.
class config_description {
 public:
  config_description& add(std::string_view name, std::string_view value);
  config_description& add(std::string_view name, const char* value) {
    return add(name, std::string_view(value));
  }
  config_description& add(std::string_view name, bool value);
  config_description& add(std::string_view name, std::chrono::milliseconds value);
  config_description& add(std::string_view name, std::chrono::microseconds value);
  template <class Integer>
  requires std::is_integral_v<Integer> config_description& add(std::string_view name,
                                                               Integer value) {
    if constexpr (std::is_signed_v<Integer>) {
      return add_number(name, static_cast<std::int64_t>(value));
    } else {
      return add_unsigned(name, static_cast<std::uint64_t>(value));
    }
  }
  /// A credential: "***" when it is set, "(none)" when empty; its value is never printed.
  config_description& secret(std::string_view name, std::string_view value);

  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  config_description& add_number(std::string_view name, std::int64_t value);
  config_description& add_unsigned(std::string_view name, std::uint64_t value);
  void begin(std::string_view name);

  std::string text_;
};

/// Every setting of `config` that changes behaviour, with `name_servers` as the producer
/// resolved them (the configured list, or NAMESRV_ADDR) and the producer's client id.
[[nodiscard]] std::string describe_config(const producer_config& config,
                                          std::string_view name_servers,
                                          std::string_view client_id);

}  // namespace rmq::send
