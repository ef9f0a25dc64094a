// A small blocking remoting client over plain sockets, for tests of rmq-sim (and of anything
// else that speaks the protocol): send requests, read responses with a deadline, observe how the
// peer closes.
#pragma once

#include "wire/command.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace rmq::sim {

class blocking_client {
 public:
  /// Connects to "host:port"; connected() tells whether it worked, connect_error() why not.
  explicit blocking_client(const std::string& address);
  ~blocking_client();
  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  [[nodiscard]] bool connected() const noexcept { return fd_ >= 0 && !closed_; }
  [[nodiscard]] std::error_code connect_error() const noexcept { return connect_error_; }

  /// Writes raw bytes; false when the connection is gone.
  bool send_raw(std::string_view bytes);
  /// Encodes `request` (with a fresh opaque unless `keep_opaque`) and writes it; returns the
  /// opaque used.
  std::int32_t send(wire::remoting_command request, wire::serialize_type type,
                    bool keep_opaque = false);

  /// Next frame the peer sends, waiting at most `timeout`. nullopt on timeout, close or error.
  std::optional<wire::remoting_command> read(std::chrono::milliseconds timeout);
  /// Serialization type byte of the last frame read().
  [[nodiscard]] wire::serialize_type last_type() const noexcept { return last_type_; }

  /// send() then read() until the response with the same opaque arrives. Other responses are
  /// dropped; requests the server sent meanwhile (a broker's checks and reply pushes) stay
  /// queued for read().
  std::optional<wire::remoting_command> call(const wire::remoting_command& request,
                                             wire::serialize_type type,
                                             std::chrono::milliseconds timeout);

  /// The next request with `code` the server sent (a broker's CHECK_TRANSACTION_STATE or
  /// PUSH_REPLY_MESSAGE_TO_CLIENT); frames read before it stay queued for read(), in order.
  std::optional<wire::remoting_command> read_request(std::int32_t code,
                                                     std::chrono::milliseconds timeout);
  /// Answers a request the server sent, as the Java client does: `code`, flag 1, same opaque,
  /// no extFields (JSON unless given).
  bool respond(std::int32_t opaque, std::int32_t code = 0,
               wire::serialize_type type = wire::serialize_type::json);

  /// Waits until the peer closes the connection (EOF or reset). True if it did in time.
  bool wait_closed(std::chrono::milliseconds timeout);
  [[nodiscard]] bool closed() const noexcept { return closed_; }
  /// True if the peer reset the connection (ECONNRESET) rather than closing it.
  [[nodiscard]] bool reset_by_peer() const noexcept { return reset_; }
  /// Number of successful reads with data, to observe how the peer split its writes.
  [[nodiscard]] std::uint64_t reads() const noexcept { return reads_; }

 private:
  /// One recv with a deadline; false on timeout or close.
  bool fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::error_code connect_error_;
  bool closed_ = false;
  bool reset_ = false;
  std::uint64_t reads_ = 0;
  std::int32_t next_opaque_ = 1;
  wire::frame_decoder decoder_;
  std::deque<std::pair<wire::serialize_type, wire::remoting_command>> frames_;
  wire::serialize_type last_type_ = wire::serialize_type::json;
};

/// A request with the given code and extFields (language CPP, version 409 unless changed).
[[nodiscard]] wire::remoting_command make_request(
    std::int32_t code, std::initializer_list<std::pair<std::string, std::string>> fields,
    std::string body = {}, std::int32_t version = 409);

}  // namespace rmq::sim
