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
/// errc::configuration_invalid (and logs why) when one cannot be used. A failed handshake fails
/// the requests that waited for it with errc::tls_handshake_failed and is logged with
/// OpenSSL's reason (e.g. "certificate verification failed: hostname mismatch").
struct tls_config {
  /// Trusted CAs, a PEM file of one or more certificates (tls.client.trustCertPath).
  std::string ca_file;
  /// Trusted CAs, a directory in OpenSSL's hashed layout (`openssl rehash`). With neither
  /// ca_file nor ca_dir: the system's default CAs.
  std::string ca_dir;
  /// The client's certificate chain, for servers that require one (mutual TLS;
  /// tls.client.certPath). Set together with key_file, or neither.
  std::string cert_file;
  /// The client certificate's private key, unencrypted (tls.client.keyPath).
  std::string key_file;
  /// Verify the server's certificate and name (see above). false: accept any certificate.
  bool verify_server = true;
  /// The name to verify, and to send as SNI, for every server; empty: each address's own host
  /// (SNI is sent only for a host name, never for an IP address).
  std::string server_name;
};

}  // namespace rmq
