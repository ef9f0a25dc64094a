#include "net/connection.hpp"

#include <asio/error.hpp>

#include <algorithm>

#include "io/resolve.hpp"

namespace rmq::net {

connection::connection(io::loop& loop, std::string address, connection_options options)
    : loop_(loop),
      address_(std::move(address)),
      options_(options),
      core_(options.core) {
  // Parsed once: a numeric address needs no resolver, and one that is not "host:port" with a
  // valid port (a bad route entry) can never connect, so no request ever starts I/O for it.
  std::error_code ec;
  peer_ = io::parse_endpoint(address_, ec);
  invalid_address_ = static_cast<bool>(ec);
}

connection::~connection() = default;

std::error_code connection::admit() const noexcept {
  if (closing_for_good_ || loop_.stopping()) return make_error_code(errc::shutting_down);
  if (invalid_address_) return make_error_code(errc::invalid_address);
  if (draining_) return make_error_code(errc::connection_lost);  // the address left every route
  const bool has_socket = state_ == state::connected || state_ == state::connecting;
  if (!has_socket && consecutive_failures_ >= options_.failures_before_backoff &&
      clock::now() < retry_after_) {
    return make_error_code(errc::connect_failed);  // fail fast: the pipeline tries elsewhere
  }
  return {};
}

void connection::after_submit(clock::time_point deadline) {
  switch (state_) {
    case state::disconnected:
      start_connect();
      break;
    case state::connected:
      schedule_flush();
      break;
    default:
      break;  // flushed once connected; a closing socket reconnects when its close completes
  }
  if (!timer_.armed() || deadline < timer_.deadline()) arm_timer();
}

// --- connecting ----------------------------------------------------------------------------

void connection::start_connect() {
  if (peer_) {
    connect_to(*peer_);
    return;
  }
  // A host name (numeric addresses were parsed by the constructor): resolve off the loop.
  state_ = state::resolving;
  resolve_pending_ = true;
  io::async_resolve(loop_, address_, clock::now() + options_.connect_timeout,
                    [this](std::error_code rec, io::endpoint endpoint) {
                      resolve_pending_ = false;
                      if (closing_for_good_) {
                        on_socket_closed();  // close() was waiting for us
                        return;
                      }
                      if (state_ != state::resolving) return;  // failed meanwhile
                      state_ = state::disconnected;
                      if (rec) {
                        last_error_ = rec;
                        ++consecutive_failures_;
                        core_.fail_all(make_error_code(errc::connect_failed));
                        return;
                      }
                      peer_ = endpoint;
                      if (core_.in_flight() > 0) connect_to(*peer_);
                    });
}

void connection::connect_to(const io::endpoint& peer) {
  socket_.emplace(loop_);
  state_ = state::connecting;
  socket_->connect(connect_op_, peer, clock::now() + options_.connect_timeout);
}

void connection::connect_state::done(io::connect_op* op, std::error_code ec) noexcept {
  static_cast<connect_state*>(op)->owner.on_connected(ec);
}

void connection::on_connected(std::error_code ec) {
  if (state_ != state::connecting) return;  // closing: the close completes the requests
  if (ec) {
    ++consecutive_failures_;
    if (consecutive_failures_ >= options_.failures_before_backoff) {
      const unsigned doublings = std::min(consecutive_failures_ - options_.failures_before_backoff, 16u);
      const auto backoff = std::min(options_.backoff_max, options_.backoff_initial * (1u << doublings));
      retry_after_ = clock::now() + backoff;
    }
    fail(make_error_code(errc::connect_failed), ec);
    return;
  }
  consecutive_failures_ = 0;
  ++connects_;
  state_ = state::connected;
  last_activity_ = clock::now();
  receiving_ = true;
  socket_->start_receive(*this, options_.receive_pool);
  schedule_flush();
}

// --- writing -------------------------------------------------------------------------------

void connection::schedule_flush() {
  // Deferred to the loop's next run of ready tasks, which comes before its next enter: every
  // request submitted until then goes out in the same gathered send.
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  loop_.defer(flush_task_);
}

void connection::flush_task::run(io::task* t, action a) noexcept {
  auto& self = static_cast<flush_task*>(t)->owner;
  self.flush_scheduled_ = false;
  if (a == action::run) self.flush();
}

void connection::flush() {
  if (state_ != state::connected || sending_) return;
  const auto iov = core_.prepare_write();
  if (iov.empty()) return;
  sending_ = true;
  send_size_ = 0;
  for (const iovec& v : iov) send_size_ += v.iov_len;
  socket_->send(send_op_, iov.data(), iov.size());
}

void connection::send_state::done(io::send_op* op, std::error_code ec, std::size_t bytes) noexcept {
  static_cast<send_state*>(op)->owner.on_sent(ec, bytes);
}

void connection::on_sent(std::error_code ec, std::size_t bytes) {
  sending_ = false;
  if (ec || bytes != send_size_) {
    // MSG_WAITALL: a short count means the stream broke mid-frame.
    core_.abort_write();
    if (state_ == state::connected) {
      fail(make_error_code(loop_.stopping() ? errc::shutting_down : errc::connection_lost),
           ec ? ec : make_error_code(asio::error::broken_pipe));
    }
    return;
  }
  core_.commit_write(bytes);  // may complete oneway requests, whose waiters may close us
  if (state_ == state::connected && core_.wants_write()) schedule_flush();
  maybe_finish_drain();
}

// --- reading -------------------------------------------------------------------------------

void connection::on_receive(io::received_buffer buf) noexcept {
  last_activity_ = loop_.now();
  const std::error_code ec = core_.on_received(buf.data());
  buf.release();  // parsed in place; split frames were copied by the decoder
  if (ec && state_ == state::connected) {
    // The core has already failed every request with protocol_error.
    last_error_ = ec;
    close_socket();
    return;
  }
  maybe_finish_drain();
}

void connection::on_receive_end(std::error_code ec) noexcept {
  receiving_ = false;
  if (state_ != state::connected) return;
  const bool stopping = loop_.stopping() || ec == asio::error::operation_aborted;
  fail(make_error_code(stopping ? errc::shutting_down : errc::connection_lost),
       ec ? ec : make_error_code(asio::error::eof));
}

// --- failing and closing -------------------------------------------------------------------

void connection::fail(std::error_code request_error, std::error_code cause) {
  last_error_ = cause;
  close_socket();                   // first: waiters that submit again see a closing socket
  core_.fail_all(request_error);
}

void connection::close_socket() {
  if (state_ == state::closing || state_ == state::closed) return;
  if (state_ == state::resolving) {
    state_ = state::disconnected;  // the resolver's answer will be ignored
  }
  if (socket_ && socket_->is_open()) {
    state_ = state::closing;
    socket_->close(close_op_);
    return;
  }
  socket_.reset();
  state_ = state::disconnected;
}

void connection::close_state::done(io::close_op* op, std::error_code) noexcept {
  static_cast<close_state*>(op)->owner.on_socket_closed();
}

void connection::on_socket_closed() {
  socket_.reset();
  sending_ = false;
  receiving_ = false;
  if (closing_for_good_) {
    if (resolve_pending_) return;  // its handler references us: finish when it has run
    state_ = state::closed;
    loop_.cancel_timer(timer_);
    if (close_done_ != nullptr) std::exchange(close_done_, nullptr)(close_context_);
    return;
  }
  state_ = state::disconnected;
  if (core_.in_flight() > 0) {
    // Requests submitted while the old socket was closing (retries by waiters).
    if (const std::error_code ec = admit()) {
      core_.fail_all(ec);
    } else {
      start_connect();
    }
  }
}

void connection::close(void (*done)(void*) noexcept, void* context) {
  if (state_ == state::closed) {
    done(context);
    return;
  }
  close_done_ = done;
  close_context_ = context;
  if (closing_for_good_) return;  // already closing: the new callback replaces the old one
  closing_for_good_ = true;
  core_.fail_all(make_error_code(errc::shutting_down));  // waiters cannot submit any more
  if (state_ == state::closing) return;  // a failure's close is under way and completes us
  if (state_ == state::resolving) state_ = state::disconnected;
  if (socket_ && socket_->is_open()) {
    state_ = state::closing;
    socket_->close(close_op_);
    return;
  }
  on_socket_closed();
}

void connection::close_when_idle(void (*done)(void*) noexcept, void* context) {
  draining_ = true;
  close_done_ = done;
  close_context_ = context;
  maybe_finish_drain();
}

void connection::maybe_finish_drain() {
  if (draining_ && !closing_for_good_ && core_.in_flight() == 0) close(close_done_, close_context_);
}

// --- deadlines and idleness ------------------------------------------------------------------

void connection::arm_timer() {
  if (closing_for_good_) return;
  clock::time_point next = core_.next_deadline();
  if (state_ == state::connected && core_.in_flight() == 0) {
    next = std::min(next, last_activity_ + options_.idle_timeout);
  }
  if (next == clock::time_point::max()) return;
  if (timer_.armed()) {
    if (timer_.deadline() <= next) return;  // fires early, then re-arms
    loop_.cancel_timer(timer_);
  }
  loop_.add_timer(timer_, next);
}

void connection::timer_state::fire(io::timer_node* t, std::error_code ec) noexcept {
  static_cast<timer_state*>(t)->owner.on_timer(ec);
}

void connection::on_timer(std::error_code ec) {
  if (ec) return;  // the loop is stopping: the socket's operations end every request
  const clock::time_point now = clock::now();
  core_.expire(now);
  if (state_ == state::connected && core_.in_flight() == 0 &&
      now - last_activity_ >= options_.idle_timeout) {
    close_socket();
  }
  maybe_finish_drain();
  arm_timer();
}

}  // namespace rmq::net
