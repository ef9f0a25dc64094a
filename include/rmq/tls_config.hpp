/// \file
/// rmq::tls_config: TLS for every connection of a producer (producer_config::tls).
#pragma once

#include <string>

namespace rmq {

/// TLS on the NameServer and broker connections (RocketMQ's `tls.enable`, with the client's
/// `tls.client` settings), done by OpenSSL on the producer's own loops: no extra thread, and
/// the handshake counts against connect_timeout like the TCP connect.
///
/// What is verified. By default the server's certificate must chain to a trusted CA and name
/// the server: `server_name` when set, otherwise the host of the address connected to — routes
/// give brokers as IP:port, so a broker's certificate must then carry that IP address as a
/// subjectAltName (an IP SAN); a NameServer given by name is checked by that name. This is
/// stricter than the Java client, which accepts any certificate unless
/// `tls.client.authServer=true`; `verify_server = false` is the switch for self-signed test
/// clusters (the connection is then encrypted but not authenticated).
///
/// Files are PEM. They are read once, by producer::start(), which fails with
/// errc::configuration_invalid (and logs why) when one cannot be used; no file is read after.
/// A refused handshake fails the requests that waited for it with errc::tls_handshake_failed,
/// is logged with OpenSSL's reason (e.g. "certificate verification failed: hostname
/// mismatch") and backs off like a refused connect. That includes a server refusing the
/// client's certificate with TLS 1.3, where the refusal comes as an alert after the client's
/// side of the handshake has finished. A handshake that does not finish within
/// connect_timeout fails as a connect does (errc::connect_failed, or errc::timed_out when the
/// send's own deadline came first).
struct tls_config {
  /// Trusted CAs, a PEM file of one or more certificates (tls.client.trustCertPath). Each is
  /// trusted as it is, an intermediate CA too.
  std::string ca_file;
  /// Trusted CAs, a directory: every PEM file in it (OpenSSL's hashed layout, or any names;
  /// other files are skipped; at least one certificate required). With neither ca_file nor
  /// ca_dir: the system's CAs (`$SSL_CERT_FILE`, else OpenSSL's default bundle, else its
  /// default directory).
  std::string ca_dir;
  /// The client's certificate chain, for servers that require one (mutual TLS;
  /// tls.client.certPath). Set together with key_file, or neither.
  std::string cert_file;
  /// The client certificate's private key, unencrypted (tls.client.keyPath): a key protected
  /// by a passphrase is refused, never prompted for.
  std::string key_file;
  /// Verify the server's certificate and name (see above). false: accept any certificate.
  bool verify_server = true;
  /// The name to verify, and to send as SNI, for every server; empty: each address's own host
  /// (SNI is sent only for a host name, never for an IP address).
  std::string server_name;
};

}  // namespace rmq
