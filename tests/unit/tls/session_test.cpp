// tls::session with no socket: a client session and a server session (OpenSSL's own server,
// made here from the test PKI) exchange bytes in memory — the handshake, coalesced records,
// reads into a small buffer, close_notify, and the verification failures a client must tell.
#include "tls/session.hpp"

#include "support/test_pki.hpp"
#include "tls/client_context.hpp"
#include "tls/error.hpp"

#include <doctest/doctest.h>
#include <openssl/err.h>

#include <filesystem>
#include <memory>
#include <string>

namespace {

using rmq::test::test_pki;
using rmq::tls::session;

struct ctx_free {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using server_ctx = std::unique_ptr<SSL_CTX, ctx_free>;

server_ctx make_server(const std::string& cert, const std::string& key,
                       bool require_client_cert = false) {
  server_ctx ctx(SSL_CTX_new(TLS_server_method()));
  REQUIRE(SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) == 1);
  if (require_client_cert) {
    REQUIRE(SSL_CTX_load_verify_locations(ctx.get(), test_pki::get().ca_cert().c_str(), nullptr) ==
            1);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

std::unique_ptr<session> server_session(SSL_CTX* ctx) {
  SSL* ssl = SSL_new(ctx);
  SSL_set_accept_state(ssl);
  return std::make_unique<session>(ssl);
}

rmq::tls_config trusting_config() {
  rmq::tls_config config;
  config.ca_file = test_pki::get().ca_cert();
  return config;
}

/// Moves each side's output to the other until neither has any.
void pump(session& a, session& b) {
  std::string bytes;
  for (int round = 0; round < 16 && (a.output_size() > 0 || b.output_size() > 0); ++round) {
    bytes.clear();
    a.take_output(bytes);
    b.feed(bytes);
    if (!b.handshake_done()) (void)b.handshake();
    bytes.clear();
    b.take_output(bytes);
    a.feed(bytes);
    if (!a.handshake_done()) (void)a.handshake();
  }
}

/// Runs both handshakes to their end; the client's outcome.
session::progress handshake(session& client, session& server) {
  session::progress p = client.handshake();
  for (int round = 0; round < 8 && p == session::progress::more; ++round) {
    std::string bytes;
    client.take_output(bytes);
    server.feed(bytes);
    (void)server.handshake();
    bytes.clear();
    server.take_output(bytes);
    client.feed(bytes);
    p = client.handshake();
  }
  pump(client, server);  // the client's Finished, the server's tickets
  return p;
}

/// A client trusting the test CA and a server with the test certificate, handshaken.
struct connected_pair {
  explicit connected_pair(std::string_view address)
      : context(trusting_config()),
        client(context.new_ssl(address)),
        server_context(make_server(test_pki::get().server_cert(), test_pki::get().server_key())),
        server(server_session(server_context.get())) {
    REQUIRE(handshake(client, *server) == session::progress::done);
  }
  rmq::tls::client_context context;
  session client;
  server_ctx server_context;
  std::unique_ptr<session> server;
};

std::string read_all(session& s) {
  std::string out;
  char buf[1000];
  for (;;) {
    std::size_t got = 0;
    const auto status = s.read(buf, sizeof buf, got);
    REQUIRE(status != session::read_status::failed);
    out.append(buf, got);
    if (got == 0) return out;
  }
}

}  // namespace

TEST_CASE("a verified handshake, then data both ways in records of up to 16 KiB") {
  connected_pair pair("127.0.0.1:9876");
  session& client = pair.client;
  std::unique_ptr<session>& server = pair.server;
  CHECK(client.handshake_done());

  // 100 frames written as one gathered write become a run of full records, not 100 records.
  std::string frames;
  for (int i = 0; i < 100; ++i) frames += std::string(300, static_cast<char>('a' + i % 26));
  REQUIRE(client.write(frames));
  std::string wire;
  client.take_output(wire);
  CHECK(client.output_size() == 0);
  // 30,000 bytes: two records (16 KiB max each), each with at most 22 bytes of overhead
  // (5 header, 16 tag, 1 content type) under TLS 1.3.
  CHECK(wire.size() <= frames.size() + 2 * 22);
  server->feed(wire);
  // Read into a buffer smaller than a record: what is left stays buffered for the next read.
  CHECK(read_all(*server) == frames);

  REQUIRE(server->write("pong"));
  pump(*server, client);
  CHECK(read_all(client) == "pong");
  CHECK_FALSE(client.has_input());
}

TEST_CASE("bytes fed one at a time decrypt the same") {
  connected_pair pair("localhost:9876");
  session& client = pair.client;
  std::unique_ptr<session>& server = pair.server;
  REQUIRE(server->write("split across many reads"));
  std::string wire;
  server->take_output(wire);
  std::string got;
  for (const char c : wire) {
    client.feed(std::string_view(&c, 1));
    got += read_all(client);
  }
  CHECK(got == "split across many reads");
}

TEST_CASE("close_notify from the peer reads as eof") {
  connected_pair pair("127.0.0.1:1");
  session& client = pair.client;
  std::unique_ptr<session>& server = pair.server;
  REQUIRE(server->write("last words"));
  (void)SSL_shutdown(server->native());
  std::string wire;
  server->take_output(wire);
  client.feed(wire);
  char buf[64];
  std::size_t got = 0;
  // The last bytes and the end in one read: both told at once.
  CHECK(client.read(buf, sizeof buf, got) == session::read_status::eof);
  CHECK(std::string(buf, got) == "last words");
  CHECK(client.read(buf, sizeof buf, got) == session::read_status::eof);
  CHECK(got == 0);
}

TEST_CASE("ca_dir: the PEM files of a plain directory are the trusted CAs") {
  const auto& pki = test_pki::get();
  const std::string dir = pki.directory() + "/trusted-dir";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(pki.ca_cert(), dir + "/our-ca.pem",
                             std::filesystem::copy_options::overwrite_existing);
  rmq::tls_config config;
  config.ca_dir = dir;
  const rmq::tls::client_context context(config);
  auto server_ctx = make_server(pki.server_cert(), pki.server_key());
  session trusted(context.new_ssl("127.0.0.1:9876"));
  CHECK(handshake(trusted, *server_session(server_ctx.get())) == session::progress::done);
  auto rogue_ctx = make_server(pki.untrusted_cert(), pki.untrusted_key());
  session refused(context.new_ssl("127.0.0.1:9876"));
  CHECK(handshake(refused, *server_session(rogue_ctx.get())) == session::progress::failed);
}

TEST_CASE("a write larger than the kept output is handed over whole, and the session goes on") {
  connected_pair pair("127.0.0.1:9876");
  session& client = pair.client;
  std::unique_ptr<session>& server = pair.server;
  const std::string big(session::large_output + 12345, 'x');
  for (const std::string& plaintext : {big, std::string("small, after")}) {
    REQUIRE(client.write(plaintext));
    std::string wire;
    client.take_output(wire);
    CHECK(client.output_size() == 0);
    server->feed(wire);
    CHECK(read_all(*server) == plaintext);
  }
}

TEST_CASE("a certificate from an untrusted CA fails verification, and says so") {
  const auto& pki = test_pki::get();
  const rmq::tls::client_context context(trusting_config());
  session client(context.new_ssl("127.0.0.1:9876"));
  auto server_ctx = make_server(pki.untrusted_cert(), pki.untrusted_key());
  auto server = server_session(server_ctx.get());
  REQUIRE(handshake(client, *server) == session::progress::failed);
  CHECK(rmq::tls::is_tls_error(client.error()));
  CHECK(client.error().message().find("certificate verification failed") != std::string::npos);
  CHECK(client.error().message().find("local issuer") != std::string::npos);
  // The alert that tells the server why reached it (moved over by the handshake's pump).
  CHECK_FALSE(server->handshake_done());
  CHECK(server->error().message().find("unknown ca") != std::string::npos);
}

TEST_CASE("a certificate for another host fails: by IP address, and by name") {
  const auto& pki = test_pki::get();
  const rmq::tls::client_context context(trusting_config());
  auto server_ctx = make_server(pki.elsewhere_cert(), pki.elsewhere_key());
  {
    session client(context.new_ssl("127.0.0.1:9876"));
    auto server = server_session(server_ctx.get());
    REQUIRE(handshake(client, *server) == session::progress::failed);
    CHECK(client.error().message().find("IP address mismatch") != std::string::npos);
  }
  {
    session client(context.new_ssl("broker.rmq.test:10911"));
    auto server = server_session(server_ctx.get());
    REQUIRE(handshake(client, *server) == session::progress::failed);
    CHECK(client.error().message().find("hostname mismatch") != std::string::npos);
  }
}

TEST_CASE("server_name replaces the address's host, for every connection") {
  const auto& pki = test_pki::get();
  rmq::tls_config config = trusting_config();
  config.server_name = "elsewhere.rmq.test";
  const rmq::tls::client_context context(config);
  session client(context.new_ssl("127.0.0.1:9876"));
  auto server_ctx = make_server(pki.elsewhere_cert(), pki.elsewhere_key());
  auto server = server_session(server_ctx.get());
  CHECK(handshake(client, *server) == session::progress::done);
  // ... and is sent as SNI.
  const char* sni = SSL_get_servername(server->native(), TLSEXT_NAMETYPE_host_name);
  REQUIRE(sni != nullptr);
  CHECK(std::string(sni) == "elsewhere.rmq.test");
}

TEST_CASE("no SNI for an IP address; the host name for a name") {
  const auto& pki = test_pki::get();
  const rmq::tls::client_context context(trusting_config());
  auto server_ctx = make_server(pki.server_cert(), pki.server_key());
  {
    session client(context.new_ssl("127.0.0.1:9876"));
    auto server = server_session(server_ctx.get());
    REQUIRE(handshake(client, *server) == session::progress::done);
    CHECK(SSL_get_servername(server->native(), TLSEXT_NAMETYPE_host_name) == nullptr);
  }
  {
    session client(context.new_ssl("localhost:9876"));
    auto server = server_session(server_ctx.get());
    REQUIRE(handshake(client, *server) == session::progress::done);
    const char* sni = SSL_get_servername(server->native(), TLSEXT_NAMETYPE_host_name);
    REQUIRE(sni != nullptr);
    CHECK(std::string(sni) == "localhost");
  }
}

TEST_CASE("verify_server off accepts a certificate nobody trusts") {
  const auto& pki = test_pki::get();
  rmq::tls_config config;
  config.verify_server = false;
  const rmq::tls::client_context context(config);
  session client(context.new_ssl("127.0.0.1:9876"));
  auto server_ctx = make_server(pki.untrusted_cert(), pki.untrusted_key());
  auto server = server_session(server_ctx.get());
  CHECK(handshake(client, *server) == session::progress::done);
}

TEST_CASE("mutual TLS: the client's certificate reaches a server that requires one") {
  const auto& pki = test_pki::get();
  rmq::tls_config config = trusting_config();
  config.cert_file = pki.client_cert();
  config.key_file = pki.client_key();
  const rmq::tls::client_context context(config);
  session client(context.new_ssl("127.0.0.1:9876"));
  auto server_ctx = make_server(pki.server_cert(), pki.server_key(), true);
  auto server = server_session(server_ctx.get());
  REQUIRE(handshake(client, *server) == session::progress::done);
  CHECK(server->handshake_done());
  X509* peer = SSL_get0_peer_certificate(server->native());
  REQUIRE(peer != nullptr);
}

TEST_CASE("a server that requires a client certificate refuses a client without one") {
  const auto& pki = test_pki::get();
  const rmq::tls::client_context context(trusting_config());
  session client(context.new_ssl("127.0.0.1:9876"));
  auto server_ctx = make_server(pki.server_cert(), pki.server_key(), true);
  auto server = server_session(server_ctx.get());
  // TLS 1.3: the client finishes first; the server's refusal is an alert the next read meets.
  (void)handshake(client, *server);
  CHECK_FALSE(server->handshake_done());
  char buf[16];
  std::size_t got = 0;
  CHECK(client.read(buf, sizeof buf, got) == session::read_status::failed);
  CHECK(client.error().message().find("certificate required") != std::string::npos);
}
