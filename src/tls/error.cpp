#include "tls/error.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <string>

namespace rmq::tls {

namespace {

// Values: OpenSSL's packed codes (library << 23 | reason) are at least 1 << 23, as every
// library number is positive; below them, ours.
constexpr int closed_value = 1;
constexpr int verify_base = 1 << 16;  // + X509_V_ERR_*, all far below 1 << 16

class tls_category final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "rmq.tls"; }
  [[nodiscard]] std::string message(int value) const override {
    if (value == closed_value) return "the server closed the connection during the TLS handshake";
    if (value >= verify_base && value < (1 << 23)) {
      return std::string("certificate verification failed: ") +
             X509_verify_cert_error_string(value - verify_base);
    }
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(value));
    const char* library = ERR_lib_error_string(static_cast<unsigned long>(value));
    std::string text = "TLS error: ";
    text += reason != nullptr ? reason : "unknown reason " + std::to_string(value);
    if (library != nullptr) (text += " (") += library, text += ")";
    return text;
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const tls_category instance;
  return instance;
}

std::error_code closed_during_handshake() noexcept {
  return {closed_value, category()};
}

std::error_code verification_failed(long result) noexcept {
  return {verify_base + static_cast<int>(result), category()};
}

std::error_code take_openssl_error(std::error_code fallback) noexcept {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  if (ERR_SYSTEM_ERROR(code)) return {ERR_GET_REASON(code), std::system_category()};
  // Library and reason only: the function code of older releases is always 0 in OpenSSL 3.
  return {static_cast<int>(ERR_PACK(ERR_GET_LIB(code), 0, ERR_GET_REASON(code))), category()};
}

std::error_code handshake_error(const SSL* ssl, std::error_code fallback) noexcept {
  // Without verification a bad certificate is recorded and accepted: not the reason then.
  const long verify = SSL_get_verify_result(ssl);
  if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0 && verify != X509_V_OK) {
    ERR_clear_error();
    return verification_failed(verify);
  }
  return take_openssl_error(fallback);
}

}  // namespace rmq::tls
