// One TLS connection's state machine with no socket (sans-I/O): OpenSSL reads the peer's bytes
// from one memory BIO and writes its own into another. The caller feeds what the socket
// received, sends what output() holds, and moves plaintext in and out; this class never does
// I/O, never blocks and never calls back, so it is tested alone (tests/unit/tls).
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace rmq::tls {

class session {
 public:
  /// Takes ownership of `ssl` (a client or a server session), which must not have BIOs yet.
  explicit session(SSL* ssl);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  enum class progress {
    done,   ///< the handshake has finished
    more,   ///< it waits for the peer's bytes (send output() first)
    failed  ///< it failed: error() says why; output() may hold an alert for the peer
  };
  /// Runs the handshake as far as the bytes fed so far allow.
  progress handshake();
  [[nodiscard]] bool handshake_done() const noexcept { return SSL_is_init_finished(ssl_) == 1; }
  /// Why the handshake, a read or a write failed.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

  /// Bytes the peer sent, in order.
  void feed(std::string_view ciphertext);

  enum class read_status {
    ok,     ///< `got` bytes decrypted; call again while more may be buffered (has_input)
    eof,    ///< the peer ended the TLS stream (close_notify); `got` holds what came before it
    failed  ///< a bad record or an alert: error() says why; the stream is unusable
  };
  /// Decrypts what was fed into [out, out + capacity); `got` is 0 when nothing complete is
  /// buffered. A key update the peer asked for is answered with the next write() (OpenSSL 3
  /// sends its own update before the next record); reading may still produce output (an
  /// alert): send output() after.
  read_status read(char* out, std::size_t capacity, std::size_t& got);
  /// Fed bytes or decrypted plaintext that read() has not returned yet.
  [[nodiscard]] bool has_input() const noexcept;

  /// Encrypts `plaintext` into output(), in records of up to 16 KiB. False (error() says why)
  /// only when the session is unusable.
  bool write(std::string_view plaintext);

  /// Bytes for the peer, in order.
  [[nodiscard]] std::size_t output_size() const noexcept;
  /// Appends every byte of output() to `out` and empties it.
  void take_output(std::string& out);

  /// Output above this size is not kept allocated once taken.
  static constexpr std::size_t large_output = 1024 * 1024;

  [[nodiscard]] SSL* native() const noexcept { return ssl_; }

 private:
  SSL* ssl_;
  BIO* in_;   // the peer's bytes (owned by ssl_)
  BIO* out_;  // ours (owned by ssl_)
  std::error_code error_;
};

}  // namespace rmq::tls
