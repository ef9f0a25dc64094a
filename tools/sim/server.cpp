#include "server.hpp"

#include "tls.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <openssl/ssl.h>

#include <chrono>
#include <utility>
#include <vector>

namespace rmq::sim {

namespace {
// A client that stops reading must not make the simulator buffer without bound: above this
// the reader waits for the writer to drain.
constexpr std::size_t high_water = 32u * 1024 * 1024;
constexpr std::size_t read_buffer_size = 256u * 1024;
// Two-way requests a connection may have outstanding: bounds the table when a client never
// answers (each entry also ends at its timeout).
constexpr std::size_t max_outstanding = 65536;
}  // namespace

class server::connection : public std::enable_shared_from_this<server::connection> {
 public:
  using tls_stream = asio::ssl::stream<asio::ip::tcp::socket&>;

  connection(server& owner, asio::ip::tcp::socket socket)
      : server_(&owner),
        id_(owner.next_connection_++),
        socket_(std::move(socket)),
        drained_(socket_.get_executor()),
        writer_idle_(socket_.get_executor()),
        decoder_(owner.max_frame_) {
    std::error_code ec;
    const auto remote = socket_.remote_endpoint(ec);
    if (!ec) peer_ = remote.address().to_string() + ":" + std::to_string(remote.port());
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  }

  void start() {
    server_->connections_.emplace(id_, this);
    if (server_->tls_) {
      asio::co_spawn(socket_.get_executor(), open(shared_from_this(), server_->tls_),
                     asio::detached);
      return;
    }
    transport_chosen_ = true;
    asio::co_spawn(socket_.get_executor(), read_loop(shared_from_this(), socket_), asio::detached);
  }

  /// Closes the socket; `reset` makes the peer see a connection reset instead of EOF.
  void close(bool reset = false) {
    if (closed_) return;
    closed_ = true;
    std::error_code ec;
    if (reset) socket_.set_option(asio::socket_base::linger(true, 0), ec);
    socket_.close(ec);
    drained_.cancel();
    writer_idle_.cancel();
    server_->connections_.erase(id_);
    auto outstanding = std::move(outstanding_);
    outstanding_.clear();
    for (auto& [opaque, entry] : outstanding) entry.timer->cancel();
    if (server_->destroying_) return;
    for (auto& [opaque, entry] : outstanding) {
      ++server_->extra_.request_timeouts;
      entry.on_response(nullptr);
    }
    server_->handler_.connection_closed(id_);
  }

  /// Appends a frame the server sends on its own (a request, or a late response).
  bool write(std::string_view frame) {
    if (closed_ || reset_) return false;
    out_.append(frame);
    flush();
    return true;
  }

  bool expect_response(std::int32_t opaque, std::chrono::milliseconds timeout,
                       response_handler on_response) {
    if (outstanding_.size() >= max_outstanding || outstanding_.contains(opaque)) return false;
    auto timer = std::make_unique<asio::steady_timer>(socket_.get_executor(), timeout);
    timer->async_wait([weak = weak_from_this(), opaque](std::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->response_missing(opaque);
    });
    outstanding_.emplace(opaque, outstanding_request{std::move(on_response), std::move(timer)});
    return true;
  }

 private:
  // A server with TLS looks at the first byte the client sends, as the real server's
  // TlsModeHandler does, and then serves the connection over TLS, in the clear, or closes it.
  // `context` stays alive with the connection even if the server drops TLS meanwhile.
  asio::awaitable<void> open(std::shared_ptr<connection> self,
                             std::shared_ptr<tls_server_context> context) {
    std::uint8_t first = 0;
    std::error_code ec;
    co_await socket_.async_receive(asio::buffer(&first, 1), asio::socket_base::message_peek,
                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec || closed_) {
      close();
      co_return;
    }
    switch (classify_first_byte(first, context->mode())) {
      case first_byte_verdict::tls:
        if (co_await handshake(*context)) co_await read_loop(self, *tls_);
        break;
      case first_byte_verdict::plain:
        use_chosen_transport();
        co_await read_loop(self, socket_);
        break;
      case first_byte_verdict::refuse:
        co_await refuse_plain();
        break;
    }
    close();
  }

  // True once the connection is encrypted; on false the caller closes it.
  asio::awaitable<bool> handshake(tls_server_context& context) {
    if (server_->faults_.spec().close_mid_handshake) {
      co_await read_client_hello();
      ++server_->extra_.faults_injected;
      server_->notify_progress();
      co_return false;
    }
    tls_ = std::make_unique<tls_stream>(socket_, context.context());
    // Asio lets OpenSSL free its record buffers whenever they are empty, so that a busy
    // connection would allocate them again for every read and every write: keep them.
    SSL_clear_mode(tls_->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    std::error_code ec;
    co_await tls_->async_handshake(asio::ssl::stream_base::server,
                                   asio::redirect_error(asio::use_awaitable, ec));
    if (closed_) co_return false;  // the server closed it: not the handshake's failure
    if (ec) {
      ++server_->extra_.tls_handshake_failures;
      server_->notify_progress();
      co_return false;
    }
    ++server_->extra_.tls_handshakes;
    server_->notify_progress();
    use_chosen_transport();
    co_return true;
  }

  // The close_mid_handshake fault: the client's first record (its ClientHello) is read, so that
  // closing sends FIN rather than a reset, and nothing is answered.
  asio::awaitable<void> read_client_hello() {
    std::array<std::uint8_t, tls_record_header_size> header{};
    std::error_code ec;
    co_await asio::async_read(socket_, asio::buffer(header),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec || closed_) co_return;
    std::vector<std::uint8_t> body(tls_record_length(header));
    co_await asio::async_read(socket_, asio::buffer(body),
                              asio::redirect_error(asio::use_awaitable, ec));
  }

  // Enforcing: the real server closes a plain connection on its first read. The bytes that read
  // delivered are consumed, so that the client sees EOF rather than a reset, and not handled
  // (the real server's decoder may still see them while the channel closes, but never answers).
  asio::awaitable<void> refuse_plain() {
    ++server_->extra_.plain_connections_refused;
    std::vector<char> discarded(read_buffer_size);
    std::error_code ec;
    co_await socket_.async_read_some(asio::buffer(discarded),
                                     asio::redirect_error(asio::use_awaitable, ec));
    close();
    server_->notify_progress();
  }

  // From now on the writer may write: a TLS connection's frames must not go out before its
  // handshake is done.
  void use_chosen_transport() {
    transport_chosen_ = true;
    if (tls_) {
      writing_ = true;  // until the writer finds nothing pending
      asio::co_spawn(socket_.get_executor(), write_loop<true>(shared_from_this(), *tls_),
                     asio::detached);
      return;
    }
    flush();
  }

  // `self` keeps the connection alive for as long as the coroutine runs. `Stream` is the socket
  // or the TLS stream over it.
  template <class Stream>
  asio::awaitable<void> read_loop([[maybe_unused]] std::shared_ptr<connection> self,
                                  Stream& stream) {
    std::string buffer(read_buffer_size, '\0');
    for (;;) {
      std::error_code ec;
      const std::size_t n = co_await stream.async_read_some(
          asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
      if (ec || closed_) break;
      const auto error =
          decoder_.feed(std::string_view(buffer.data(), n),
                        [this](const wire::command_view& request) { on_request(request); });
      if (reset_) {
        close(true);
        break;
      }
      if (error) {
        // A real server closes the channel on any decode error.
        ++server_->extra_.decode_errors;
        close();
        break;
      }
      flush();
      if (server_->progress_) server_->progress_();
      if (out_.size() > high_water && !closed_) {
        drained_.expires_at(std::chrono::steady_clock::time_point::max());
        co_await drained_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (closed_) break;
      }
    }
    close();
  }

  void on_request(const wire::command_view& request) {
    if (reset_ || closed_) return;
    if (request.is_response()) {
      on_response(request);
      return;
    }
    server_->count_request(request.fields.code);

    fault_decision fault;
    auto& faults = server_->faults_;
    if (faults.request_faults()) {
      if (fault_generation_ != server_->fault_generation_) {
        fault_generation_ = server_->fault_generation_;
        fault_matches_ = 0;
      }
      fault = faults.decide(request.fields.code,
                            server_->handler_.in_default_fault_scope(request.fields.code),
                            fault_matches_);
      if (fault.reset) {
        ++server_->extra_.faults_injected;
        reset_ = true;
        return;
      }
      if (fault.silent || fault.error_code || fault.latency.count() > 0) {
        ++server_->extra_.faults_injected;
      }
      if (fault.silent) return;
    }

    if (request.is_oneway()) {
      discard_.clear();
      server_->handler_.handle(request, fault, source(), discard_);
      return;
    }
    if (fault.latency.count() > 0) {
      std::string delayed;
      server_->handler_.handle(request, fault, source(), delayed);
      if (!delayed.empty()) {
        ++server_->extra_.responses;
        asio::co_spawn(socket_.get_executor(),
                       write_later(shared_from_this(), std::move(delayed), fault.latency),
                       asio::detached);
      }
      return;
    }
    const std::size_t before = out_.size();
    server_->handler_.handle(request, fault, source(), out_);
    if (out_.size() != before) ++server_->extra_.responses;
  }

  // A client's answer to a request the server sent: matched by opaque, never handled as a
  // request (its code is a response code).
  void on_response(const wire::command_view& response) {
    const auto it = outstanding_.find(response.fields.opaque);
    if (it == outstanding_.end()) {
      ++server_->extra_.unmatched_responses;
      return;
    }
    auto entry = std::move(it->second);
    outstanding_.erase(it);
    entry.timer->cancel();
    ++server_->extra_.client_responses;
    entry.on_response(&response);
  }

  void response_missing(std::int32_t opaque) {
    const auto it = outstanding_.find(opaque);
    if (it == outstanding_.end()) return;
    auto entry = std::move(it->second);
    outstanding_.erase(it);
    ++server_->extra_.request_timeouts;
    entry.on_response(nullptr);
    flush();
    server_->notify_progress();
  }

  asio::awaitable<void> write_later([[maybe_unused]] std::shared_ptr<connection> self,
                                    std::string frame, std::chrono::microseconds delay) {
    asio::steady_timer timer(socket_.get_executor(), delay);
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (closed_) co_return;
    out_.append(frame);
    flush();
  }

  void flush() {
    if (writing_ || out_.empty() || closed_ || !transport_chosen_) return;
    writing_ = true;
    if (tls_) {
      writer_idle_.cancel();  // wakes the TLS connection's writer
      return;
    }
    asio::co_spawn(socket_.get_executor(), write_loop<false>(shared_from_this(), socket_),
                   asio::detached);
  }

  // Writes everything pending with one write, as long as something is. `Stream` is the socket
  // or the TLS stream over it. A plain connection spawns a writer whenever something is to be
  // written; a TLS connection keeps one (`stays`) that waits on writer_idle_ in between: a
  // multi-record TLS write keeps more coroutine frames alive than Asio's per-thread frame cache
  // holds, so spawning a writer per flush would allocate on every flush.
  template <bool stays, class Stream>
  asio::awaitable<void> write_loop([[maybe_unused]] std::shared_ptr<connection> self,
                                   Stream& stream) {
    for (;;) {
      while (!out_.empty() && !closed_) {
        writing_buffer_.swap(out_);
        out_.clear();
        std::error_code ec;
        if (server_->faults_.spec().split_writes) {
          for (std::size_t i = 0; i < writing_buffer_.size() && !ec && !closed_; ++i) {
            co_await asio::async_write(stream, asio::buffer(writing_buffer_.data() + i, 1),
                                       asio::redirect_error(asio::use_awaitable, ec));
            ++server_->extra_.writes;
          }
        } else {
          co_await asio::async_write(stream, asio::buffer(writing_buffer_),
                                     asio::redirect_error(asio::use_awaitable, ec));
          ++server_->extra_.writes;
        }
        writing_buffer_.clear();
        drained_.cancel();
        if (ec) {
          close();
          break;
        }
      }
      if constexpr (stays) {
        if (closed_) break;
        writing_ = false;  // flush() wakes it again
        writer_idle_.expires_at(std::chrono::steady_clock::time_point::max());
        std::error_code ec;
        co_await writer_idle_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      } else {
        break;
      }
    }
    writing_ = false;
  }

  [[nodiscard]] request_source source() const noexcept { return {id_, peer_}; }

  struct outstanding_request {
    response_handler on_response;
    std::unique_ptr<asio::steady_timer> timer;
  };

  server* server_;
  connection_id id_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<tls_stream> tls_;  // over socket_, once the client opened a TLS handshake
  asio::steady_timer drained_;
  asio::steady_timer writer_idle_;  // a TLS connection's writer waits on it while idle
  wire::frame_decoder decoder_;
  std::string peer_;
  std::string out_;
  std::string writing_buffer_;
  std::string discard_;
  std::unordered_map<std::int32_t, outstanding_request> outstanding_;  // by opaque
  std::uint64_t fault_matches_ = 0;
  std::uint64_t fault_generation_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  bool reset_ = false;
  bool transport_chosen_ = false;  // plain or TLS decided (and the handshake done): may write
};

server::server(asio::io_context& io, std::string host, std::size_t max_frame,
               request_handler& handler)
    : io_(io), host_(std::move(host)), max_frame_(max_frame), handler_(handler) {}

server::~server() {
  // Connections still alive belong to coroutine frames that the io_context destroys; they
  // must not reach back into this object.
  destroying_ = true;
  close_listener();
  close_connections();
  std::error_code ec;
  port_holder_.close(ec);
}

std::error_code server::listen(std::uint16_t port) {
  using asio::ip::tcp;
  std::error_code ec;
  const auto address = asio::ip::make_address(host_, ec);
  if (ec) return ec;
  auto acceptor = std::make_shared<tcp::acceptor>(io_);
  const tcp::endpoint endpoint(address, port);
  port_holder_.close(ec);  // the port it kept while closed: free for the listener
  ec.clear();
  acceptor->open(endpoint.protocol(), ec);
  if (ec) return ec;
  acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return ec;
  acceptor->bind(endpoint, ec);
  if (ec) return ec;
  acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  port_ = acceptor->local_endpoint(ec).port();
  if (ec) return ec;
  acceptor_ = acceptor;
  refusing_ = false;

  asio::co_spawn(
      io_,
      [this, acceptor]() -> asio::awaitable<void> {
        for (;;) {
          std::error_code accept_ec;
          auto socket =
              co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, accept_ec));
          if (!acceptor->is_open()) co_return;  // closed: `this` may be gone or relistening
          if (accept_ec) continue;              // e.g. the peer gave up before we accepted
          ++extra_.connections_accepted;
          std::make_shared<connection>(*this, std::move(socket))->start();
        }
      },
      asio::detached);
  return {};
}

void server::close_listener() {
  if (!acceptor_) return;
  std::error_code ec;
  const asio::ip::tcp::endpoint endpoint = acceptor_->local_endpoint(ec);
  acceptor_->close(ec);
  acceptor_.reset();
  if (ec) return;
  // Connects to a bound socket that does not listen are refused, as to no socket at all; an
  // ephemeral port left unbound could be taken by an outgoing connection meanwhile, and the
  // server could not listen there again.
  port_holder_.open(endpoint.protocol(), ec);
  if (!ec) port_holder_.set_option(asio::ip::tcp::socket::reuse_address(true), ec);
  if (!ec) port_holder_.bind(endpoint, ec);
  if (ec) port_holder_.close(ec);  // best effort: the port is only left unguarded
}

void server::close_connections() {
  // close() erases from the map: iterate over a copy.
  std::vector<connection*> all;
  all.reserve(connections_.size());
  for (const auto& [id, c] : connections_) all.push_back(c);
  for (auto* c : all) c->close();
}

bool server::send_request(connection_id to, std::int32_t code, std::int32_t opaque,
                          std::string_view frame, std::chrono::milliseconds timeout,
                          response_handler on_response) {
  const auto it = connections_.find(to);
  if (it == connections_.end()) return false;
  if (on_response && !it->second->expect_response(opaque, timeout, std::move(on_response))) {
    return false;
  }
  it->second->write(frame);
  ++extra_.requests_sent[code];
  notify_progress();
  return true;
}

bool server::send_response(connection_id to, std::string_view frame) {
  const auto it = connections_.find(to);
  if (it == connections_.end() || !it->second->write(frame)) return false;
  ++extra_.responses;
  notify_progress();
  return true;
}

void server::set_faults(fault_spec spec) {
  const bool refuse = spec.refuse_connections;
  faults_.set(std::move(spec));
  ++fault_generation_;
  if (refuse && acceptor_) {
    close_listener();
    refusing_ = true;
  } else if (!refuse && refusing_) {
    refusing_ = false;
    (void)listen(port_);
  }
}

void server::count_request(std::int32_t code) noexcept {
  if (code >= 0 && static_cast<std::size_t>(code) < by_code_.size()) {
    ++by_code_[static_cast<std::size_t>(code)];
  } else {
    ++other_codes_[code];
  }
}

server_counters server::counters() const {
  server_counters result = extra_;
  for (std::size_t code = 0; code < by_code_.size(); ++code) {
    if (by_code_[code] != 0) result.requests[static_cast<std::int32_t>(code)] = by_code_[code];
  }
  for (const auto& [code, count] : other_codes_) result.requests[code] = count;
  return result;
}

}  // namespace rmq::sim
