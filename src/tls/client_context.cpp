#include "tls/client_context.hpp"

#include "tls/error.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <stdexcept>
#include <string>

namespace rmq::tls {

namespace {

[[noreturn]] void refuse(const std::string& what) {
  throw std::invalid_argument(
      "TLS: " + what + ": " +
      take_openssl_error(std::make_error_code(std::errc::io_error)).message());
}

bool is_ip_address(const std::string& host) noexcept {
  unsigned char storage[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), storage) == 1 ||
         inet_pton(AF_INET6, host.c_str(), storage) == 1;
}

}  // namespace

std::string_view host_of(std::string_view address) noexcept {
  const std::size_t colon = address.rfind(':');
  std::string_view host = colon == std::string_view::npos ? address : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

client_context::client_context(const tls_config& config)
    : ctx_(SSL_CTX_new(TLS_client_method())),
      server_name_(config.server_name),
      verify_server_(config.verify_server) {
  ERR_clear_error();
  if (!ctx_) refuse("cannot create a context");
  SSL_CTX* ctx = ctx_.get();
  // RocketMQ's servers (Netty) speak TLS 1.2 and 1.3; older versions are broken.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A renegotiation would write while the application reads; no RocketMQ server asks for one.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  // AES-128-GCM first (OpenSSL's default offers AES-256 first): as strong as needed, and about
  // 30% less CPU per byte; a server with its own preference still decides.
  if (SSL_CTX_set_ciphersuites(
          ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1) {
    refuse("cannot set the TLS 1.3 cipher suites");
  }
  if (config.cert_file.empty() != config.key_file.empty()) {
    throw std::invalid_argument("TLS: cert_file and key_file go together (set both, or neither)");
  }
  if (!config.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, config.cert_file.c_str()) != 1) {
      refuse("cannot use the certificate file '" + config.cert_file + "'");
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      refuse("cannot use the key file '" + config.key_file + "'");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      refuse("the key file '" + config.key_file + "' does not match the certificate");
    }
  }
  if (!config.ca_file.empty() || !config.ca_dir.empty()) {
    const char* file = config.ca_file.empty() ? nullptr : config.ca_file.c_str();
    const char* dir = config.ca_dir.empty() ? nullptr : config.ca_dir.c_str();
    if (SSL_CTX_load_verify_locations(ctx, file, dir) != 1) {
      refuse("cannot load the CAs of '" + (file != nullptr ? config.ca_file : config.ca_dir) + "'");
    }
  } else if (verify_server_ && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    refuse("cannot load the system's default CAs");
  }
  SSL_CTX_set_verify(ctx, verify_server_ ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
}

SSL* client_context::new_ssl(std::string_view address) const {
  SSL* ssl = SSL_new(ctx_.get());
  if (ssl == nullptr) return nullptr;
  SSL_set_connect_state(ssl);
  const std::string name(server_name_.empty() ? host_of(address) : std::string_view(server_name_));
  const bool numeric = is_ip_address(name);
  // RFC 6066: SNI carries host names only, never an address.
  bool ok = numeric || SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
  if (ok && verify_server_) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = numeric ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
                 : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1;
  }
  if (!ok) {
    SSL_free(ssl);
    return nullptr;
  }
  return ssl;
}

}  // namespace rmq::tls
