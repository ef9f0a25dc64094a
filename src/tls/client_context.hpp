// The client side of TLS for one producer: an SSL_CTX made from tls_config (CAs, the client's
// certificate, verification), shared by every connection of every loop (OpenSSL allows
// SSL_new on one context from many threads), and the per-connection settings: which name is
// verified and sent as SNI.
#pragma once

#include "rmq/tls_config.hpp"

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace rmq::tls {

class client_context {
 public:
  /// Reads the files `config` names. Throws std::invalid_argument saying which setting or file
  /// could not be used and OpenSSL's reason.
  explicit client_context(const tls_config& config);

  /// A new client session for a connection to `address` ("host:port"): SNI and the name or
  /// IP address verified as tls_config says. nullptr only when OpenSSL cannot allocate.
  [[nodiscard]] SSL* new_ssl(std::string_view address) const;

  [[nodiscard]] bool verifies_server() const noexcept { return verify_server_; }

 private:
  struct ctx_deleter {
    void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
  };
  std::unique_ptr<SSL_CTX, ctx_deleter> ctx_;
  std::string server_name_;
  bool verify_server_;
};

/// The host of "host:port" (an IPv6 address without its brackets).
[[nodiscard]] std::string_view host_of(std::string_view address) noexcept;

}  // namespace rmq::tls
