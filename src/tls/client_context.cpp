#include "tls/client_context.hpp"

#include "tls/error.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace rmq::tls {

namespace {

[[noreturn]] void refuse(const std::string& what) {
  throw std::invalid_argument(
      "TLS: " + what + ": " +
      take_openssl_error(std::make_error_code(std::errc::io_error)).message());
}

// Every certificate of every PEM file in `dir` (OpenSSL's hashed layout, or plain files), into
// the store now: a hashed-directory lookup would read files during handshakes, on the loop.
// Returns how many files held certificates; other files are skipped.
std::size_t load_ca_directory(X509_STORE* store, const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec)
    throw std::invalid_argument("TLS: cannot read the CA directory '" + dir + "': " + ec.message());
  std::size_t loaded = 0;
  for (const std::filesystem::directory_entry& entry : it) {
    if (!entry.is_regular_file(ec)) continue;  // follows the hashed layout's links
    if (X509_STORE_load_file(store, entry.path().c_str()) == 1) ++loaded;
  }
  ERR_clear_error();  // the files that were not PEM certificates
  return loaded;
}

// A key file protected by a passphrase fails to load instead of prompting on the terminal.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
  return 0;
}

// "[::1]" names the address ::1, as in "[::1]:9876".
std::string_view unbracketed(std::string_view name) noexcept {
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    return name.substr(1, name.size() - 2);
  }
  return name;
}

bool is_ip_address(const std::string& host) noexcept {
  unsigned char storage[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), storage) == 1 ||
         inet_pton(AF_INET6, host.c_str(), storage) == 1;
}

}  // namespace

std::string_view host_of(std::string_view address) noexcept {
  const std::size_t colon = address.rfind(':');
  return unbracketed(colon == std::string_view::npos ? address : address.substr(0, colon));
}

client_context::client_context(const tls_config& config)
    : ctx_((ERR_clear_error(), SSL_CTX_new(TLS_client_method()))),
      server_name_(unbracketed(config.server_name)),
      verify_server_(config.verify_server) {
  if (!ctx_) refuse("cannot create a context");
  SSL_CTX* ctx = ctx_.get();
  // RocketMQ's servers (Netty) speak TLS 1.2 and 1.3; older versions are broken.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A renegotiation would write while the application reads; no RocketMQ server asks for one.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  // AES-128-GCM first (OpenSSL's default offers AES-256 first): as strong as needed, and a
  // little cheaper (openssl speed, 16 KiB blocks, AES-NI: 4.3-4.5 against 4.1 GB/s); a server
  // with its own preference still decides.
  if (SSL_CTX_set_ciphersuites(
          ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1) {
    refuse("cannot set the TLS 1.3 cipher suites");
  }
  if (config.cert_file.empty() != config.key_file.empty()) {
    throw std::invalid_argument("TLS: cert_file and key_file go together (set both, or neither)");
  }
  if (!config.cert_file.empty()) {
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
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
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  if (!config.ca_file.empty() && X509_STORE_load_file(store, config.ca_file.c_str()) != 1) {
    refuse("cannot load the CAs of '" + config.ca_file + "'");
  }
  if (!config.ca_dir.empty() && load_ca_directory(store, config.ca_dir) == 0) {
    throw std::invalid_argument("TLS: no CA certificate in the directory '" + config.ca_dir + "'");
  }
  if (config.ca_file.empty() && config.ca_dir.empty() && verify_server_) {
    // The system's CAs ($SSL_CERT_FILE, else Debian's bundle), or its directory without one.
    const char* env = std::getenv(X509_get_default_cert_file_env());
    const std::string bundle = env != nullptr ? env : X509_get_default_cert_file();
    if (X509_STORE_load_file(store, bundle.c_str()) != 1) {
      ERR_clear_error();
      const char* dir_env = std::getenv(X509_get_default_cert_dir_env());
      const std::string dir = dir_env != nullptr ? dir_env : X509_get_default_cert_dir();
      if (load_ca_directory(store, dir) == 0) {
        throw std::invalid_argument("TLS: no system CA certificates (neither '" + bundle +
                                    "' nor '" + dir + "'): set ca_file");
      }
    }
  }
  // A configured CA is trusted as it is, an intermediate one too (as Java's trust managers do).
  X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
  SSL_CTX_set_verify(ctx, verify_server_ ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
}

SSL* client_context::new_ssl(std::string_view address) const {
  ERR_clear_error();  // what SSL_new leaves is then its own
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
