// TLS over one TCP socket, with the socket's own operations and completion rules (io/tcp.hpp),
// so that a connection drives it exactly as it drives a plain socket:
//   connect  the TCP connect, then the handshake, both bounded by the connect's deadline;
//   send     one gathered send at a time: the frames are encrypted into one run of records
//            (coalesced as the plain writes are) and written in one socket send;
//   receive  what the socket receives is decrypted and handed on as lent received_buffers;
//   close    completes after every operation, like the socket's.
// The socket I/O stays on the loop; OpenSSL only turns bytes into bytes (tls::session). No
// call blocks, and no completion runs inside the call that started its operation.
//
// The receive starts with the handshake (its answers are read there); chunks that arrive
// between the end of the handshake and start_receive() wait in the session.
#pragma once

#include "io/tcp.hpp"
#include "tls/session.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace rmq::tls {

class channel final : private io::receiver {
 public:
  /// Over `tcp` (not yet connected), with `ssl` (owned; nullptr when it could not be made: the
  /// connect then fails with the OpenSSL error).
  channel(io::tcp_socket& tcp, SSL* ssl);
  ~channel();
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  /// Connects and handshakes by `deadline`: `op` completes with {} once the handshake is done,
  /// rmq::errc::timed_out when the deadline passed, operation_aborted after close() or when the
  /// loop stops, a system error of the TCP connect, or a tls::category() error (the certificate
  /// was refused, the server closed the connection mid-handshake, or — TLS 1.2 — the server
  /// refused ours). With TLS 1.3 the server checks the client's certificate after the client
  /// has finished: a refusal then ends the receive with the alert's tls::category() error.
  void connect(io::connect_op& op, const io::endpoint& peer, io::clock::time_point deadline);
  /// As tcp_socket::send: `op` completes with every plaintext byte once their records are
  /// written, or with an error (and 0 bytes): the stream is then unusable.
  void send(io::write_op& op, const iovec* iov, std::size_t count);
  /// As tcp_socket::start_receive, after the connect completed: plaintext chunks, then
  /// on_receive_end once (eof when the peer closed, with or without close_notify; the TLS error
  /// of a bad record or an alert; the error of our own output when it failed with no send
  /// waiting).
  void start_receive(io::receiver& r);
  /// As tcp_socket::close.
  void close(io::close_op& op);

  /// Decrypted bytes handed on per on_receive at most (several records).
  static constexpr std::size_t plaintext_chunk = 64 * 1024;

 private:
  // io::receiver: the TCP socket's chunks and end.
  void on_receive(io::received_buffer buf) noexcept override;
  void on_receive_end(std::error_code ec) noexcept override;

  void on_tcp_connected(std::error_code ec) noexcept;
  void advance_handshake() noexcept;
  void finish_connect(std::error_code ec) noexcept;
  void on_deadline(std::error_code ec) noexcept;
  /// Hands every complete decrypted chunk to the receiver.
  void deliver() noexcept;
  void end_receive(std::error_code ec) noexcept;
  /// Sends what the session has for the peer, unless a send is in flight or closing.
  void flush() noexcept;
  void on_flushed(std::error_code ec, std::size_t bytes) noexcept;
  void complete_write(std::error_code ec, std::size_t bytes) noexcept;
  void defer() noexcept;
  void run_deferred() noexcept;
  void on_tcp_closed(std::error_code ec) noexcept;
  void finish_close() noexcept;

  struct deferred_state final : io::task {
    explicit deferred_state(channel& c) noexcept : task(&run), owner(c) {}
    static void run(io::task* t, action a) noexcept {
      auto& self = static_cast<deferred_state*>(t)->owner;
      self.deferred_queued_ = false;
      // The socket closed while this was queued: its close completes now, whatever the loop
      // does with its tasks.
      if (self.close_result_) return self.finish_close();
      if (a == action::run) self.run_deferred();
    }
    channel& owner;
  };

  io::tcp_socket& tcp_;
  std::optional<session> session_;
  std::error_code setup_error_;  // why session_ could not be made

  io::member_op<io::connect_op, &channel::on_tcp_connected> connect_op_{*this};
  io::member_op<io::write_op, &channel::on_flushed> write_op_{*this};
  io::member_op<io::close_op, &channel::on_tcp_closed> close_op_{*this};
  io::member_op<io::timer_node, &channel::on_deadline> deadline_{*this};
  deferred_state deferred_{*this};
  bool deferred_queued_ = false;

  io::clock::time_point handshake_deadline_{};
  io::connect_op* connecting_ = nullptr;         // the caller's, until the handshake ends
  io::close_op* closing_ = nullptr;              // the caller's, from close() on
  std::optional<std::error_code> close_result_;  // the socket closed; closing_ completes next
  bool broken_ = false;                          // TLS failed: nothing more is read or written
  std::error_code failure_;  // why, when the receiver is to hear it (our output)

  // Writing: the caller's send waits until its records are written.
  io::write_op* writing_ = nullptr;
  std::size_t writing_bytes_ = 0;                // its plaintext size, what it completes with
  bool writing_sent_ = false;                    // its records are in the send in flight
  std::optional<std::error_code> write_result_;  // a send completed without I/O (deferred)
  std::string staged_;  // a gather list's plaintext, made contiguous (one record run)
  std::string out_;     // the ciphertext of the send in flight
  iovec out_iov_{};
  bool flushing_ = false;

  // Reading.
  io::receiver* receiver_ = nullptr;
  bool receive_ended_ = false;  // on_receive_end was delivered
  bool tcp_ended_ = false;      // the socket's receive ended (tcp_end_), not yet told
  std::error_code tcp_end_;
  std::unique_ptr<char[]> plaintext_;
};

}  // namespace rmq::tls
