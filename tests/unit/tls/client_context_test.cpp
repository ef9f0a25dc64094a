// tls::client_context: the files tls_config names, and the errors that say which one is bad.
#include "tls/client_context.hpp"

#include "support/test_pki.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace {

using rmq::test::test_pki;

/// The text client_context throws for `config` ("" when it accepts it).
std::string refusal(const rmq::tls_config& config) {
  try {
    const rmq::tls::client_context context(config);
    return {};
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("a usable configuration is accepted") {
  const auto& pki = test_pki::get();
  rmq::tls_config config;
  config.ca_file = pki.ca_cert();
  CHECK(refusal(config).empty());
  config.cert_file = pki.client_cert();
  config.key_file = pki.client_key();
  CHECK(refusal(config).empty());
  config.ca_file.clear();
  config.ca_dir = pki.directory();  // not hashed: every PEM file in it is loaded
  CHECK(refusal(config).empty());
}

TEST_CASE("a CA directory that cannot be read, or holds no certificate, is refused at once") {
  const auto& pki = test_pki::get();
  rmq::tls_config config;
  config.ca_dir = pki.directory() + "/no-such-dir";
  CHECK(refusal(config).find("no-such-dir") != std::string::npos);
  const std::string empty = pki.directory() + "/empty-ca-dir";
  std::filesystem::create_directories(empty);
  std::ofstream(empty + "/notes.txt") << "not a certificate\n";
  config.ca_dir = empty;
  const std::string text = refusal(config);
  CHECK(text.find("no CA certificate") != std::string::npos);
  CHECK(text.find("empty-ca-dir") != std::string::npos);
}

TEST_CASE("a key protected by a passphrase is refused, never prompted for") {
  const auto& pki = test_pki::get();
  rmq::tls_config config;
  config.ca_file = pki.ca_cert();
  config.cert_file = pki.client_cert();
  config.key_file = pki.client_key_encrypted();
  // With a terminal's prompt this would wait for input; it fails instead.
  CHECK(refusal(config).find("client-encrypted.key") != std::string::npos);
}

TEST_CASE("each unusable file is named in the error") {
  const auto& pki = test_pki::get();
  rmq::tls_config config;
  config.ca_file = pki.directory() + "/missing.crt";
  CHECK(refusal(config).find("missing.crt") != std::string::npos);

  config = {};
  config.cert_file = pki.client_cert();
  CHECK(refusal(config).find("go together") != std::string::npos);

  config.key_file = pki.server_key();  // another certificate's key
  const std::string mismatch = refusal(config);
  CHECK(mismatch.find("server.key") != std::string::npos);
  CHECK(mismatch.find("mismatch") != std::string::npos);

  config.key_file = pki.ca_cert();  // not a key at all
  const std::string text = refusal(config);
  CHECK(text.find("ca.crt") != std::string::npos);
  CHECK(text.find("key file") != std::string::npos);
}

TEST_CASE("host_of takes the host of host:port, IPv6 without brackets") {
  CHECK(rmq::tls::host_of("127.0.0.1:9876") == "127.0.0.1");
  CHECK(rmq::tls::host_of("broker-a.example:10911") == "broker-a.example");
  CHECK(rmq::tls::host_of("[::1]:9876") == "::1");
}
