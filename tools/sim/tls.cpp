#include "tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>
#include <string>
#include <system_error>

namespace rmq::sim {

namespace {

[[noreturn]] void fail(std::error_code ec, const std::string& what) {
  throw std::system_error(ec, "rmq-sim: " + what);
}

// OpenSSL loads a key that belongs to another certificate than the one loaded and says only
// "key values mismatch".
bool is_key_mismatch(std::error_code ec) {
  if (ec.category() != asio::error::get_ssl_category()) return false;
  const auto code = static_cast<unsigned long>(ec.value());
  return ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH;
}

}  // namespace

tls_server_context::tls_server_context(const tls_config& config)
    : context_(asio::ssl::context::tls_server), mode_(config.mode) {
  if (config.cert_file.empty() || config.key_file.empty()) {
    throw std::invalid_argument(
        "rmq-sim: TLS needs both a certificate chain file and a private key file");
  }
  SSL_CTX* native = context_.native_handle();
  // What a current Netty server offers: TLS 1.2 and 1.3.
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  context_.set_options(asio::ssl::context::default_workarounds);

  std::error_code ec;
  context_.use_certificate_chain_file(config.cert_file, ec);
  if (ec) fail(ec, "cannot load the TLS certificate chain " + config.cert_file);
  context_.use_private_key_file(config.key_file, asio::ssl::context::pem, ec);
  if (is_key_mismatch(ec) || (!ec && SSL_CTX_check_private_key(native) != 1)) {
    throw std::invalid_argument("rmq-sim: the TLS private key " + config.key_file +
                                " does not match the certificate " + config.cert_file);
  }
  if (ec) fail(ec, "cannot load the TLS private key " + config.key_file);

  if (config.client_auth == tls_client_auth::none) {
    context_.set_verify_mode(asio::ssl::verify_none);
    return;
  }
  // A server that asks for client certificates must name its session context, or OpenSSL
  // fails every resumed handshake.
  static constexpr unsigned char session_context[] = "rmq-sim";
  SSL_CTX_set_session_id_context(native, session_context, sizeof session_context - 1);
  asio::ssl::verify_mode verify = asio::ssl::verify_peer;
  if (config.client_auth == tls_client_auth::require) {
    verify |= asio::ssl::verify_fail_if_no_peer_cert;
  }
  context_.set_verify_mode(verify);
  if (config.client_ca_file.empty()) {
    // tls.server.authClient=false: the real server takes any client certificate unverified.
    context_.set_verify_callback([](bool, asio::ssl::verify_context&) { return true; });
    return;
  }
  context_.load_verify_file(config.client_ca_file, ec);
  if (ec) fail(ec, "cannot load the TLS client CA file " + config.client_ca_file);
  // Name the accepted issuers in the certificate request, so that a client picks its right one.
  if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str())) {
    SSL_CTX_set_client_CA_list(native, names);
  }
}

}  // namespace rmq::sim
