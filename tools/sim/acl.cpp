#include "acl.hpp"

#include "wire/codes.hpp"
#include "wire/request_signing.hpp"

#include <algorithm>

namespace rmq::sim {
namespace {

// 4.9.8 PlainPermissionManager.validate: the message, then the line that throws it, as
// UtilAll.exceptionSimpleDesc writes the exception and its first stack frame.
acl_denial v4_denial(std::string_view message, int line) {
  return {wire::response_code::system_error,
          "org.apache.rocketmq.acl.common.AclException: " + std::string(message) +
              ", org.apache.rocketmq.acl.plain.PlainPermissionManager.validate("
              "PlainPermissionManager.java:" +
              std::to_string(line) + ")"};
}

// 5.3.3 DefaultAuthenticationHandler: the AuthenticationException's message, as
// AuthenticationPipeline turns it into an AbortProcessException(NO_PERMISSION).
acl_denial v5_denial(std::string message) {
  return {wire::response_code::no_permission, std::move(message)};
}

}  // namespace

std::optional<acl_denial> check_acl(personality version, std::span<const acl_account> accounts,
                                    const wire::command_view& request) {
  if (accounts.empty()) return std::nullopt;
  const bool v5 = version == personality::v5;
  const std::optional<std::string_view> access_key = request.field(wire::access_key_field);
  if (!access_key) {
    return v5 ? v5_denial("username cannot be null.")
              : v4_denial("No accessKey is configured", 664);
  }
  const auto account = std::find_if(accounts.begin(), accounts.end(), [&](const acl_account& a) {
    return a.access_key == *access_key;
  });
  if (account == accounts.end()) {
    return v5 ? v5_denial("User:" + std::string(*access_key) + " is not found.")
              : v4_denial("No acl config for " + std::string(*access_key), 668);
  }
  const wire::signature_text expected =
      wire::signature_of(account->secret_key, request.ext_fields, request.body);
  const std::optional<std::string_view> signature = request.field(wire::signature_field);
  if (!signature || *signature != std::string_view(expected.data(), expected.size())) {
    return v5 ? v5_denial("check signature failed.")
              : v4_denial("Check signature failed for accessKey=" + std::string(*access_key), 684);
  }
  return std::nullopt;
}

std::optional<acl_account> parse_acl_account(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return std::nullopt;
  }
  return acl_account{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

}  // namespace rmq::sim
