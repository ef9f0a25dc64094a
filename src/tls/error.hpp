// TLS failures as std::error_code, in one category: OpenSSL's own errors (the packed code of
// ERR_get_error, whose message is OpenSSL's reason), a certificate that failed verification
// (X509_V_ERR_*, whose message says why: "hostname mismatch", "unable to get local issuer
// certificate"...), and a server that closed the connection during the handshake.
#pragma once

#include <openssl/ssl.h>

#include <system_error>

namespace rmq::tls {

[[nodiscard]] const std::error_category& category() noexcept;

/// The peer closed the connection before the handshake finished.
[[nodiscard]] std::error_code closed_during_handshake() noexcept;
/// The server's certificate failed verification with `result` (SSL_get_verify_result).
[[nodiscard]] std::error_code verification_failed(long result) noexcept;
/// The oldest error on this thread's OpenSSL error queue, which is then cleared; `fallback`
/// when the queue is empty.
[[nodiscard]] std::error_code take_openssl_error(std::error_code fallback) noexcept;
/// Why `ssl`'s handshake failed: the verification result when the certificate was refused,
/// else the queue's error (take_openssl_error).
[[nodiscard]] std::error_code handshake_error(const SSL* ssl, std::error_code fallback) noexcept;

/// True for the codes of this category (a handshake that failed rather than a socket).
[[nodiscard]] inline bool is_tls_error(std::error_code ec) noexcept {
  return ec.category() == category();
}

}  // namespace rmq::tls
