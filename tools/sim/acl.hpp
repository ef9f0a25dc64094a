// ACL as the brokers check it (the NameServers of both versions check nothing): every request
// must carry an account's AccessKey and a Signature made with its secret
// (wire/request_signing.hpp). A refusal is answered in the server version's own form:
//  - 4.9 (PlainAccessValidator, ACL 1.0): SYSTEM_ERROR (1), the AclException's text and its
//    first stack frame, as the remoting layer writes any exception of an RPC hook;
//  - 5.3 (rocketmq-auth, ACL 2.0): NO_PERMISSION (16), the authentication failure's message.
// Permissions are not modelled: an authenticated account may do everything.
#pragma once

#include "config.hpp"
#include "wire/command.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rmq::sim {

/// A refusal: the response code and remark the server answers with.
struct acl_denial {
  std::int32_t code = 0;
  std::string remark;
};

/// Checks `request` against `accounts`; nullopt when it may proceed.
[[nodiscard]] std::optional<acl_denial> check_acl(personality version,
                                                  std::span<const acl_account> accounts,
                                                  const wire::command_view& request);

/// Parses "ACCESS_KEY:SECRET_KEY" (the secret may contain ':'); nullopt when malformed.
[[nodiscard]] std::optional<acl_account> parse_acl_account(std::string_view text);

}  // namespace rmq::sim
