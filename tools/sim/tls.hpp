// Server TLS of rmq-sim: the OpenSSL context every listener shares, and how a server tells a TLS
// connection from a plain one by its first byte, as the real server's TlsModeHandler does.
#pragma once

#include "config.hpp"

#include <asio/ssl/context.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace rmq::sim {

/// Content type of a TLS handshake record: the first byte a TLS client sends.
inline constexpr std::uint8_t tls_handshake_record = 0x16;
/// A TLS record header: content type, version (2 bytes), body length (2 bytes, big-endian).
inline constexpr std::size_t tls_record_header_size = 5;

/// What a server with TLS does with a new connection, decided by its first byte.
enum class first_byte_verdict {
  tls,     ///< a TLS handshake record: handshake, then serve over TLS
  plain,   ///< serve it in the clear (permissive)
  refuse,  ///< close it (enforcing)
};

/// The real server's rule: 0x16 opens TLS in either mode; anything else is served plain when
/// permissive and closed when enforcing.
[[nodiscard]] constexpr first_byte_verdict classify_first_byte(std::uint8_t first,
                                                               tls_mode mode) noexcept {
  if (first == tls_handshake_record) return first_byte_verdict::tls;
  return mode == tls_mode::enforcing ? first_byte_verdict::refuse : first_byte_verdict::plain;
}

/// Body length of a TLS record from its header.
[[nodiscard]] constexpr std::size_t tls_record_length(
    std::span<const std::uint8_t, tls_record_header_size> header) noexcept {
  return static_cast<std::size_t>(header[3]) << 8 | header[4];
}

/// The settings of sim_config::tls loaded into one server-side OpenSSL context (TLS 1.2 and
/// 1.3), shared by the name server's and every broker's listener. Lives on the I/O thread.
class tls_server_context {
 public:
  /// Loads the certificate chain, the key and the client CA file. Throws std::invalid_argument
  /// when only one of cert_file and key_file is set or the key is not the certificate's,
  /// std::system_error (naming the file, with OpenSSL's reason) when a file cannot be loaded.
  explicit tls_server_context(const tls_config& config);

  [[nodiscard]] asio::ssl::context& context() noexcept { return context_; }
  [[nodiscard]] tls_mode mode() const noexcept { return mode_; }

 private:
  asio::ssl::context context_;
  tls_mode mode_;
};

}  // namespace rmq::sim
