// A throwaway PKI for TLS tests, made at run time with the `openssl` command (tools/test.sh
// installs it): a CA, a server certificate it signs for 127.0.0.1 and localhost, one it signs
// for another host only, a client certificate for mutual TLS, and a server certificate signed
// by a CA nobody trusts. EC P-256 keys: the whole set takes a few tens of milliseconds.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace rmq::test {

class test_pki {
 public:
  /// The process's PKI, made on first use in a fresh temporary directory, removed at exit.
  static const test_pki& get() {
    static const test_pki pki;
    return pki;
  }

  [[nodiscard]] std::string file(const char* name) const { return (dir_ / name).string(); }
  [[nodiscard]] std::string directory() const { return dir_.string(); }

  /// The CA that signs the server and client certificates.
  [[nodiscard]] std::string ca_cert() const { return file("ca.crt"); }
  /// Signed by the CA for IP 127.0.0.1, DNS localhost and DNS broker.rmq.test.
  [[nodiscard]] std::string server_cert() const { return file("server.crt"); }
  [[nodiscard]] std::string server_key() const { return file("server.key"); }
  /// Signed by the CA for DNS elsewhere.rmq.test only: the wrong host for 127.0.0.1.
  [[nodiscard]] std::string elsewhere_cert() const { return file("elsewhere.crt"); }
  [[nodiscard]] std::string elsewhere_key() const { return file("elsewhere.key"); }
  /// Signed by the CA, for a client (mutual TLS).
  [[nodiscard]] std::string client_cert() const { return file("client.crt"); }
  [[nodiscard]] std::string client_key() const { return file("client.key"); }
  /// client_key() protected by a passphrase ("secret").
  [[nodiscard]] std::string client_key_encrypted() const { return file("client-encrypted.key"); }
  /// For 127.0.0.1 and localhost, signed by a CA the client does not trust.
  [[nodiscard]] std::string untrusted_cert() const { return file("untrusted.crt"); }
  [[nodiscard]] std::string untrusted_key() const { return file("untrusted.key"); }

  ~test_pki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;

 private:
  test_pki() {
    std::string pattern = (std::filesystem::temp_directory_path() / "rmq-test-pki-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    const std::filesystem::path script = dir_ / "make.sh";
    std::ofstream(script) << script_text;
    const std::string command = "sh '" + script.string() + "' '" + dir_.string() + "'";
    if (std::system(command.c_str()) != 0) {
      throw std::runtime_error("creating the test PKI failed (is the openssl command installed?)");
    }
  }

  static constexpr const char* script_text = R"(set -eu
cd "$1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 2 -out "$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() {  # name subjectAltName issuer
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$1" -days 2 -out "$1.crt" \
    -CA "$3.crt" -CAkey "$3.key" -addext basicConstraints=CA:FALSE \
    -addext "subjectAltName=$2" -addext extendedKeyUsage=serverAuth,clientAuth
}
ca ca "rmq test CA"
leaf server "IP:127.0.0.1,DNS:localhost,DNS:broker.rmq.test" ca
leaf elsewhere "DNS:elsewhere.rmq.test" ca
leaf client "DNS:client.rmq.test" ca
openssl pkey -in client.key -aes-128-cbc -passout pass:secret -out client-encrypted.key
ca rogue-ca "rmq rogue CA"
leaf untrusted "IP:127.0.0.1,DNS:localhost" rogue-ca
)";

  std::filesystem::path dir_;
};

}  // namespace rmq::test
