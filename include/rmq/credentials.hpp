/// \file
/// rmq::access_credentials: the access key pair of brokers with ACL (producer_config::credentials).
#pragma once

#include <string>

namespace rmq {

/// An ACL account (the Java client's SessionCredentials, given to AclClientRPCHook). With an
/// access key, every request the producer sends (NameServer and broker, heartbeats, unregister,
/// END_TRANSACTION, check-back answers, ...) is signed: extFields `AccessKey`, `SecurityToken`
/// when set, and `Signature` = Base64(HMAC-SHA1(secret_key, the other extFields' values in key
/// order + the body)). The secret key and the security token never appear in logs, diagnostics
/// or exception texts.
struct access_credentials {
  /// The account's access key; empty: requests are not signed (the other two must be empty).
  std::string access_key;
  /// The account's secret key, the HMAC-SHA1 key; required with an access key.
  std::string secret_key;
  /// A temporary credential's token (STS), sent as extFields `SecurityToken`; empty: none.
  std::string security_token;

  /// True when requests are to be signed.
  [[nodiscard]] bool enabled() const noexcept { return !access_key.empty(); }
};

}  // namespace rmq
