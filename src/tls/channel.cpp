#include "tls/channel.hpp"

#include "rmq/error.hpp"
#include "tls/error.hpp"

#include <asio/error.hpp>

#include <cassert>
#include <new>
#include <utility>

namespace rmq::tls {

channel::channel(io::tcp_socket& tcp, SSL* ssl) : tcp_(tcp) {
  if (ssl == nullptr) {
    setup_error_ = take_openssl_error(std::make_error_code(std::errc::not_enough_memory));
    return;
  }
  try {
    session_.emplace(ssl);  // owns ssl, even when it throws
  } catch (const std::bad_alloc&) {
    setup_error_ = std::make_error_code(std::errc::not_enough_memory);
  }
}

channel::~channel() {
  // close() completes only once the deferred task has run (on_tcp_closed, run_deferred).
  assert(!deferred_queued_);
}

// --- connect and handshake -------------------------------------------------------------------

void channel::connect(io::connect_op& op, const io::endpoint& peer,
                      io::clock::time_point deadline) {
  connecting_ = &op;
  handshake_deadline_ = deadline;
  tcp_.connect(connect_op_, peer, deadline);
}

void channel::on_tcp_connected(std::error_code ec) noexcept {
  if (!ec && closing_ != nullptr) ec = asio::error::operation_aborted;
  if (!ec && !session_) ec = setup_error_;
  if (ec) {
    finish_connect(ec);
    return;
  }
  if (plaintext_ == nullptr) plaintext_.reset(new (std::nothrow) char[plaintext_chunk]);
  if (plaintext_ == nullptr) {
    finish_connect(std::make_error_code(std::errc::not_enough_memory));
    return;
  }
  tcp_.get_loop().add_timer(deadline_, handshake_deadline_);
  tcp_.start_receive(*this);  // the handshake's answers, then the application's data
  advance_handshake();
}

void channel::advance_handshake() noexcept {
  const session::progress p = session_->handshake();
  flush();  // the ClientHello, the client's Finished, or the alert of a failure
  if (p == session::progress::more) return;
  if (p == session::progress::failed) broken_ = true;
  finish_connect(p == session::progress::done ? std::error_code{} : session_->error());
}

void channel::finish_connect(std::error_code ec) noexcept {
  (void)tcp_.get_loop().cancel_timer(deadline_);
  if (io::connect_op* op = std::exchange(connecting_, nullptr)) op->done_(op, ec);
}

void channel::on_deadline(std::error_code ec) noexcept {
  // With an error the loop is stopping: the socket's operations end the handshake.
  if (ec || connecting_ == nullptr) return;
  broken_ = true;
  finish_connect(make_error_code(errc::timed_out));
}

// --- reading ---------------------------------------------------------------------------------

void channel::on_receive(io::received_buffer buf) noexcept {
  if (broken_ || receive_ended_ || closing_ != nullptr || !session_) return;
  try {
    session_->feed(buf.data());
  } catch (const std::bad_alloc&) {
    broken_ = true;
    if (connecting_ != nullptr) {
      finish_connect(std::make_error_code(std::errc::not_enough_memory));
    } else {
      end_receive(std::make_error_code(std::errc::not_enough_memory));
    }
    return;
  }
  buf.release();  // copied into the session
  if (connecting_ != nullptr) {
    advance_handshake();
    // Done: records that came with the server's last flight may hold data already.
    if (connecting_ != nullptr || broken_) return;
  }
  if (receiver_ != nullptr) deliver();
}

void channel::deliver() noexcept {
  while (receiver_ != nullptr && !receive_ended_ && closing_ == nullptr) {
    std::size_t got = 0;
    const session::read_status status = session_->read(plaintext_.get(), plaintext_chunk, got);
    if (got > 0) {
      // May close us, or fail the connection.
      receiver_->on_receive(io::received_buffer(std::string_view(plaintext_.get(), got)));
      if (closing_ != nullptr || receive_ended_) return;
    }
    if (status == session::read_status::failed) {
      broken_ = true;
      end_receive(session_->error());
      return;
    }
    if (status == session::read_status::eof) {
      end_receive(asio::error::eof);
      return;
    }
    if (got < plaintext_chunk) break;  // nothing complete is left
  }
  flush();  // a read may have produced an answer (a key update's)
}

void channel::end_receive(std::error_code ec) noexcept {
  if (receive_ended_ || receiver_ == nullptr) return;
  receive_ended_ = true;
  if (!tcp_ended_) tcp_.cancel_receive();  // its own end is then ignored
  receiver_->on_receive_end(ec);
}

void channel::on_receive_end(std::error_code ec) noexcept {
  tcp_ended_ = true;
  tcp_end_ = ec;
  if (connecting_ != nullptr) {
    broken_ = true;
    const bool peer_closed = ec == asio::error::eof || ec == asio::error::connection_reset;
    finish_connect(peer_closed ? closed_during_handshake() : ec);
    return;
  }
  if (receiver_ == nullptr) return;  // told once start_receive comes
  if (!broken_) deliver();           // what came before the end
  end_receive(ec);
}

void channel::start_receive(io::receiver& r) {
  receiver_ = &r;
  // Never inline: what waits in the session (records that came with the handshake's last
  // flight, or between its end and now), or a failure of our own output, is told from the loop.
  if ((session_ && session_->has_input()) || tcp_ended_ || failure_) defer();
}

// --- writing ---------------------------------------------------------------------------------

void channel::send(io::write_op& op, const iovec* iov, std::size_t count) {
  writing_ = &op;
  writing_bytes_ = 0;
  for (std::size_t i = 0; i < count; ++i) writing_bytes_ += iov[i].iov_len;
  if (closing_ != nullptr || broken_ || !session_) {
    write_result_ = closing_ != nullptr ? std::error_code(asio::error::bad_descriptor)
                                        : std::error_code(asio::error::broken_pipe);
    defer();
    return;
  }
  if (writing_bytes_ == 0) {  // nothing to encrypt: done, from the loop
    write_result_ = std::error_code{};
    defer();
    return;
  }
  bool encrypted = false;
  if (count == 1) {
    encrypted = session_->write({static_cast<const char*>(iov[0].iov_base), iov[0].iov_len});
  } else {
    // One run of full records for the whole gather list, not one record per frame.
    staged_.clear();
    for (std::size_t i = 0; i < count; ++i) {
      staged_.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    }
    encrypted = session_->write(staged_);
  }
  if (!encrypted) {
    broken_ = true;
    write_result_ = session_->error();
    defer();
    return;
  }
  if (staged_.capacity() > session::large_output) std::string().swap(staged_);
  flush();
}

void channel::flush() noexcept {
  // After a failure nothing more is written (a failed handshake's alert went before).
  if (flushing_ || broken_ || closing_ != nullptr || !session_ || session_->output_size() == 0) {
    return;
  }
  if (out_.capacity() > session::large_output) std::string().swap(out_);  // the last was big
  out_.clear();
  try {
    session_->take_output(out_);
  } catch (const std::bad_alloc&) {
    // Called by send() and by the handshake: the failure is told from the loop.
    broken_ = true;
    failure_ = std::make_error_code(std::errc::not_enough_memory);
    if (writing_ != nullptr) write_result_ = failure_;
    defer();
    return;
  }
  // A caller's send waiting now has its records in this output (it was not in the last one).
  writing_sent_ = writing_ != nullptr;
  out_iov_ = {out_.data(), out_.size()};
  flushing_ = true;
  tcp_.send(write_op_, &out_iov_, 1);
}

void channel::on_flushed(std::error_code ec, std::size_t bytes) noexcept {
  flushing_ = false;
  if (!ec && bytes != out_.size()) ec = asio::error::broken_pipe;  // cut mid-record
  if (ec) {
    broken_ = true;
    if (closing_ != nullptr) return;  // the close completes what is left
    // Someone must hear of it: the waiting send, else the handshake, else the receiver.
    if (writing_ != nullptr) {
      complete_write(ec, 0);
    } else if (connecting_ != nullptr) {
      finish_connect(ec);
    } else {
      failure_ = ec;
      end_receive(ec);  // told once start_receive comes, when it has not yet
    }
    return;
  }
  if (writing_sent_) complete_write({}, writing_bytes_);  // may send again, or close us
  if (!broken_) flush();
}

void channel::complete_write(std::error_code ec, std::size_t bytes) noexcept {
  writing_sent_ = false;
  if (io::write_op* op = std::exchange(writing_, nullptr)) op->done_(op, ec, bytes);
}

// --- deferred completions and close ----------------------------------------------------------

void channel::defer() noexcept {
  if (deferred_queued_) return;
  deferred_queued_ = true;
  tcp_.get_loop().defer(deferred_);
}

void channel::run_deferred() noexcept {
  // A send that completes without I/O (refused, or empty): its records were never sent.
  if (write_result_ && writing_ != nullptr && !writing_sent_) {
    const std::error_code ec = *std::exchange(write_result_, std::nullopt);
    complete_write(ec, 0);  // may close us
  }
  if (closing_ != nullptr) return;
  if (connecting_ != nullptr && failure_) return finish_connect(failure_);  // the handshake's
  if (receiver_ == nullptr || receive_ended_) return;
  if (!broken_ && session_) deliver();
  if (failure_) end_receive(failure_);
  if (tcp_ended_) end_receive(tcp_end_);
}

void channel::close(io::close_op& op) {
  closing_ = &op;
  // The socket's close ends the connect or the handshake (operation_aborted), the send in
  // flight and the receive; the deadline is ours to stop.
  (void)tcp_.get_loop().cancel_timer(deadline_);
  tcp_.close(close_op_);
}

void channel::on_tcp_closed(std::error_code ec) noexcept {
  // Every operation of the socket has completed, and each completed ours. A send that waits
  // for its deferred completion completes now.
  if (writing_ != nullptr) {
    const bool refused = write_result_ && *write_result_;
    complete_write(refused ? *write_result_ : asio::error::operation_aborted, 0);
    write_result_.reset();
  }
  if (connecting_ != nullptr) finish_connect(asio::error::operation_aborted);
  close_result_ = ec;
  // Our deferred task may be queued still (the loop runs a task deferred by a task one turn
  // later): the owner may destroy us once the close completes, so that waits for the task.
  if (!deferred_queued_) finish_close();
}

void channel::finish_close() noexcept {
  if (io::close_op* op = std::exchange(closing_, nullptr)) {
    op->done_(op, *std::exchange(close_result_, std::nullopt));  // may destroy us
  }
}

}  // namespace rmq::tls
