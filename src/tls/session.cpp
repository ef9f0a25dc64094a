#include "tls/session.hpp"

#include "tls/error.hpp"

#include <openssl/err.h>

#include <new>

namespace rmq::tls {

session::session(SSL* ssl) : ssl_(ssl), in_(BIO_new(BIO_s_mem())), out_(BIO_new(BIO_s_mem())) {
  if (in_ == nullptr || out_ == nullptr) {
    BIO_free(in_);
    BIO_free(out_);
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  // An empty memory BIO reports "retry" rather than end of file: the peer's next bytes are
  // simply not here yet.
  BIO_set_mem_eof_return(in_, -1);
  BIO_set_mem_eof_return(out_, -1);
  SSL_set_bio(ssl_, in_, out_);
}

session::~session() {
  SSL_free(ssl_);
}

session::progress session::handshake() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return progress::done;
  const int why = SSL_get_error(ssl_, rc);
  if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) return progress::more;
  error_ = handshake_error(ssl_, closed_during_handshake());
  return progress::failed;
}

void session::feed(std::string_view ciphertext) {
  // A memory BIO copies and grows as needed; it fails only when memory does.
  if (!ciphertext.empty() &&
      BIO_write(in_, ciphertext.data(), static_cast<int>(ciphertext.size())) <= 0) {
    throw std::bad_alloc();
  }
}

session::read_status session::read(char* out, std::size_t capacity, std::size_t& got) {
  got = 0;
  ERR_clear_error();
  while (got < capacity) {
    std::size_t n = 0;
    if (SSL_read_ex(ssl_, out + got, capacity - got, &n) == 1) {
      got += n;
      continue;
    }
    switch (SSL_get_error(ssl_, 0)) {
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE:
        return read_status::ok;
      case SSL_ERROR_ZERO_RETURN:
        return read_status::eof;  // with the last bytes before it, when they came together
      default:
        error_ = take_openssl_error(std::make_error_code(std::errc::protocol_error));
        return read_status::failed;
    }
  }
  return read_status::ok;
}

bool session::has_input() const noexcept {
  return SSL_pending(ssl_) > 0 || BIO_ctrl_pending(in_) > 0;
}

bool session::write(std::string_view plaintext) {
  if (plaintext.empty()) return true;
  ERR_clear_error();
  std::size_t written = 0;
  // Into a memory BIO a write never waits: it takes everything, or the session is broken.
  if (SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written) == 1 &&
      written == plaintext.size()) {
    return true;
  }
  error_ = take_openssl_error(std::make_error_code(std::errc::io_error));
  return false;
}

std::size_t session::output_size() const noexcept {
  return BIO_ctrl_pending(out_);
}

void session::take_output(std::string& out) {
  // Read out rather than reset: a memory BIO's reset clears its whole allocation.
  const std::size_t size = BIO_ctrl_pending(out_);
  if (size == 0) return;
  const std::size_t start = out.size();
  out.resize(start + size);
  std::size_t taken = 0;
  if (BIO_read_ex(out_, out.data() + start, size, &taken) != 1) taken = 0;
  out.resize(start + taken);  // a memory BIO hands over all it holds
  if (size > large_output) {
    // A memory BIO keeps its largest allocation: one big send would be kept per connection.
    if (BIO* fresh = BIO_new(BIO_s_mem())) {
      BIO_set_mem_eof_return(fresh, -1);
      SSL_set0_wbio(ssl_, fresh);  // frees the old one, empty now
      out_ = fresh;
    }
  }
}

}  // namespace rmq::tls
