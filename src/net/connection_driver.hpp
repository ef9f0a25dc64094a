// The members of basic_connection (net/connection.hpp): the driver that turns socket, resolver
// and timer completions into lifecycle events and runs the actions the lifecycle returns.
// Included by connection.cpp (the TCP instantiation) and by tests over other transports.
#pragma once

#include "io/resolve.hpp"
#include "net/connection.hpp"
#include "tls/error.hpp"

#include <asio/error.hpp>

#include <algorithm>
#include <cassert>
#include <utility>

namespace rmq::net {

template <class Transport>
basic_connection<Transport>::basic_connection(io::loop& loop, std::string address,
                                              connection_options options, Transport transport)
    : loop_(loop),
      address_(std::move(address)),
      options_(options),
      core_(options.core),
      transport_(std::move(transport)),
      // Parsed once: a numeric address needs no resolver, and one that is not "host:port" with
      // a valid port (a bad route entry) can never connect, so no request ever starts I/O for it.
      peer_(io::parse_endpoint(address_, address_error_)),
      lifecycle_({options.failures_before_backoff, options.backoff_initial, options.backoff_max},
                 peer_ ? address_kind::numeric : address_kind::name,
                 options.trace != nullptr || options.logger != nullptr ||
                         options.observer.on_step != nullptr
                     ? lifecycle_trace{&trace_step, this}
                     : lifecycle_trace{}) {
  if (options.peer_requests.handle != nullptr) core_.set_request_handler({&on_peer_request, this});
}

template <class Transport>
void basic_connection<Transport>::on_peer_request(void* self, const wire::command_view& request) {
  auto& conn = *static_cast<basic_connection*>(self);
  conn.options_.peer_requests.handle(conn.options_.peer_requests.context, conn.address_, conn.core_,
                                     request);
}

template <class Transport>
basic_connection<Transport>::~basic_connection() = default;

template <class Transport>
void basic_connection<Transport>::after_submit(clock::time_point deadline) {
  switch (lifecycle_.state()) {
    case state::disconnected:
      dispatch(link_event::demand);
      break;
    case state::connected:
      schedule_flush();
      break;
    default:
      break;  // flushed once connected; a closing socket reconnects when its close completes
  }
  if (!timer_.armed() || deadline < timer_.deadline()) arm_timer();
}

// --- the lifecycle ---------------------------------------------------------------------------

template <class Transport>
void basic_connection<Transport>::dispatch(link_event e, errc failure) {
  const link_step step = lifecycle_.handle(e, clock::now(), failure);
  assert(step.outcome != link_step::verdict::illegal);
  run(step);
}

template <class Transport>
void basic_connection<Transport>::run(const link_step& step) {
  // In the order of link_action. fail_requests runs waiters, which may re-enter (submit,
  // close): the machine has already moved, so they see the new state; a socket that turned out
  // closed already is reported only after them, as its close would have been.
  const bool closed_now = has(step.actions, link_action::close_socket) && !close_socket();
  if (has(step.actions, link_action::restart_stream)) core_.restart_stream();
  if (has(step.actions, link_action::fail_requests)) {
    core_.fail_all(make_error_code(step.failure));
  }
  if (has(step.actions, link_action::resolve)) start_resolve();
  if (has(step.actions, link_action::connect)) connect();
  if (has(step.actions, link_action::start_io)) start_io();
  if (has(step.actions, link_action::reconnect_waiting)) reconnect_waiting();
  if (has(step.actions, link_action::finish_close)) {
    finish_close();  // last: the connection may be gone afterwards
    return;
  }
  if (closed_now) on_socket_closed();
}

template <class Transport>
void basic_connection<Transport>::trace_step(void* self, const link_step& step) noexcept {
  auto& conn = *static_cast<basic_connection*>(self);
  if (conn.options_.trace != nullptr) conn.options_.trace(conn.address_, step);
  // The lifecycle has taken the step already: its failure count includes this one.
  const unsigned failures = conn.lifecycle_.consecutive_failures();
  if (conn.options_.observer.on_step != nullptr) {
    // Backing off: requests fail fast (connect failures in a row, or told to go away twice).
    conn.options_.observer.on_step(conn.options_.observer.context, conn.address_, step,
                                   failures >= conn.options_.failures_before_backoff ||
                                       conn.lifecycle_.go_aways_in_a_row() >= 2);
  }
  if (conn.options_.logger == nullptr) return;
  link_log_facts facts{conn.last_error_, conn.connects_, failures,
                       reconnect_delay({conn.options_.failures_before_backoff,
                                        conn.options_.backoff_initial, conn.options_.backoff_max},
                                       failures)};
  const bool loss =
      step.outcome == link_step::verdict::taken &&
      ((step.event == link_event::link_failed && step.failure != errc::shutting_down) ||
       step.event == link_event::stream_corrupt);
  if (loss) {
    // A peer that accepts and then drops connections resets the connect failure count every
    // time: the losses have a limiter of their own (the clock is read on a loss only).
    const log::rate_limiter::verdict v = conn.losses_.occur(clock::now());
    conn.loss_quiet_ = !v.log;
    facts.losses = v.count;
    facts.losses_not_logged = v.suppressed;
  } else if (step.event == link_event::connect_failed || step.event == link_event::resolve_failed) {
    conn.loss_quiet_ = false;  // an outage now: the failures' own lines tell it
  }
  facts.quiet = conn.loss_quiet_;
  facts.go_aways_in_a_row = conn.lifecycle_.go_aways_in_a_row();
  if (step.event == link_event::go_away_again) {
    facts.retry_in =
        std::max(clock::duration::zero(), conn.lifecycle_.go_away_retry_after() - clock::now());
  }
  log_link_step(*conn.options_.logger, conn.address_, step, facts);
}

template <class Transport>
void basic_connection<Transport>::start_resolve() {
  transport_.resolve(loop_, address_, clock::now() + options_.connect_timeout,
                     {&basic_connection::on_resolved, this});
}

template <class Transport>
void basic_connection<Transport>::on_resolved(void* self, std::error_code ec,
                                              const io::endpoint& peer) noexcept {
  auto& conn = *static_cast<basic_connection*>(self);
  if (ec) {
    conn.last_error_ = ec;
    conn.dispatch(link_event::resolve_failed);
    return;
  }
  conn.peer_ = peer;
  conn.dispatch(link_event::resolved);
}

template <class Transport>
void basic_connection<Transport>::connect() {
  assert(peer_.has_value());
  transport_.open(socket_, loop_, address_);
  socket_->connect(connect_op_, *peer_, clock::now() + options_.connect_timeout);
}

template <class Transport>
void basic_connection<Transport>::on_connected(std::error_code ec) {
  if (!ec) {
    dispatch(link_event::connect_succeeded);
    return;
  }
  if (lifecycle_.state() == state::connecting) last_error_ = ec;
  // A refused certificate is told apart from a refused connect: retrying elsewhere is the
  // same, but the fix is not.
  dispatch(link_event::connect_failed,
           tls::is_tls_error(ec) ? errc::tls_handshake_failed : errc::connect_failed);
}

template <class Transport>
void basic_connection<Transport>::start_io() {
  ++connects_;
  answered_ = false;
  core_.new_socket();
  last_activity_ = clock::now();
  socket_->start_receive(*this, options_.receive_pool);
  schedule_flush();
  arm_timer();  // nothing may be in flight any more (all expired while resolving): the idle close
}

template <class Transport>
bool basic_connection<Transport>::close_socket() {
  if (socket_ && socket_->is_open()) {
    socket_->close(close_op_);
    return true;
  }
  return false;
}

template <class Transport>
void basic_connection<Transport>::on_socket_closed() {
  socket_.reset();
  dispatch(link_event::socket_closed);
}

template <class Transport>
void basic_connection<Transport>::reconnect_waiting() {
  if (core_.in_flight() == 0) return;
  // Requests submitted while the old socket was closing (retries by waiters, resends after
  // GO_AWAY).
  if (const std::error_code ec = admit()) {
    core_.fail_all(ec);
    maybe_finish_drain();  // last: a drain's callback may destroy the connection
  } else {
    dispatch(link_event::demand);
  }
}

template <class Transport>
void basic_connection<Transport>::finish_close() {
  loop_.cancel_timer(timer_);
  // Moved out first: a callback may destroy the connection, or close it again.
  std::vector<close_callback> callbacks = std::exchange(close_callbacks_, {});
  for (const close_callback& c : callbacks) c.done(c.context);
}

template <class Transport>
void basic_connection<Transport>::close(void (*done)(void*) noexcept, void* context) {
  close_callbacks_.push_back({done, context});
  dispatch(link_event::close, errc::shutting_down);
}

template <class Transport>
void basic_connection<Transport>::close_when_idle(void (*done)(void*) noexcept, void* context) {
  close_callbacks_.push_back({done, context});
  // Already closed, the drain step runs the callback at once, and the connection may be
  // destroyed from inside it: nothing may touch `this` after that.
  const bool closed = lifecycle_.state() == state::closed;
  dispatch(link_event::drain);
  if (!closed) maybe_finish_drain();
}

template <class Transport>
void basic_connection<Transport>::maybe_finish_drain() {
  if (lifecycle_.draining() && core_.in_flight() == 0) dispatch(link_event::drained);
}

// --- GO_AWAY ---------------------------------------------------------------------------------

template <class Transport>
void basic_connection<Transport>::notice_go_away() {
  if (!core_.take_go_away() || lifecycle_.state() != state::connected) return;
  // A socket that served first starts a streak; one whose first answer was GO_AWAY goes on
  // with it (after a retired socket: the new one was told to go away as well).
  dispatch(core_.first_answer_go_away() ? link_event::go_away_again : link_event::go_away);
}

template <class Transport>
void basic_connection<Transport>::maybe_retire() {
  if (lifecycle_.state() == state::retiring && core_.socket_quiet()) {
    dispatch(link_event::retired);
  }
}

// --- writing ---------------------------------------------------------------------------------

template <class Transport>
void basic_connection<Transport>::schedule_flush() {
  // Deferred to the loop's next run of ready tasks, which comes before its next enter: every
  // request submitted until then goes out in the same gathered send.
  if (flush_deferred_) return;
  flush_deferred_ = true;
  loop_.defer(flush_task_);
}

template <class Transport>
void basic_connection<Transport>::flush() {
  // wants_write() is false while a send is in flight: one write at a time. A retiring socket
  // only finishes the gather list it is in.
  const bool may_write = lifecycle_.state() == state::connected ||
                         (lifecycle_.state() == state::retiring && core_.mid_send());
  if (!may_write || !core_.wants_write()) return;
  const auto iov = core_.prepare_write();
  if (iov.empty()) return;  // every pending frame had expired
  send_size_ = 0;
  for (const iovec& v : iov) send_size_ += v.iov_len;
  socket_->send(write_op_, iov.data(), iov.size());
}

template <class Transport>
void basic_connection<Transport>::on_sent(std::error_code ec, std::size_t bytes) {
  if (ec || bytes != send_size_) {
    // MSG_WAITALL: a short count means the stream broke mid-frame.
    core_.abort_write();
    if (socket_live()) {
      last_error_ = ec ? ec : make_error_code(asio::error::broken_pipe);
      dispatch(link_event::link_failed,
               loop_.stopping() ? errc::shutting_down : errc::connection_lost);
    }
    return;
  }
  core_.commit_write(bytes);  // may complete oneway requests, whose waiters may close us
  if (socket_live() && core_.wants_write()) schedule_flush();  // flush() decides what may go
  maybe_finish_drain();
  maybe_retire();
}

// --- reading ---------------------------------------------------------------------------------

template <class Transport>
void basic_connection<Transport>::on_receive(io::received_buffer buf) noexcept {
  if (!socket_live()) {
    // A closing socket's last bytes (its close may complete after receives already posted):
    // they belong to a stream the core has forgotten (retired or failed), not to the next one.
    buf.release();
    return;
  }
  last_activity_ = loop_.now();
  answered_ = true;
  const std::error_code ec = core_.on_received(buf.data());
  buf.release();  // parsed in place; split frames were copied by the decoder
  if (ec && socket_live()) {
    // The core has already failed every request with protocol_error.
    last_error_ = ec;
    dispatch(link_event::stream_corrupt);
    return;
  }
  notice_go_away();
  // Answers to the peer's own requests, queued while the read was parsed, go out now.
  if (lifecycle_.state() == state::connected && core_.wants_write()) schedule_flush();
  maybe_finish_drain();
  maybe_retire();
}

template <class Transport>
void basic_connection<Transport>::on_receive_end(std::error_code ec) noexcept {
  if (!socket_live()) return;  // our own close ended it
  const bool stopping = loop_.stopping() || ec == asio::error::operation_aborted;
  last_error_ = ec ? ec : make_error_code(asio::error::eof);
  // A TLS alert before the server's first answer: with TLS 1.3 the server checks the client's
  // certificate after the client has finished its side of the handshake, so this is how a
  // refused certificate shows.
  const bool handshake_refused = !answered_ && tls::is_tls_error(ec);
  dispatch(link_event::link_failed, stopping            ? errc::shutting_down
                                    : handshake_refused ? errc::tls_handshake_failed
                                                        : errc::connection_lost);
}

// --- deadlines and idleness ------------------------------------------------------------------

template <class Transport>
void basic_connection<Transport>::arm_timer() {
  if (lifecycle_.state() >= state::closing) return;
  clock::time_point next = core_.next_deadline();
  if (lifecycle_.state() == state::connected && core_.in_flight() == 0) {
    next = std::min(next, last_activity_ + options_.idle_timeout);
  }
  if (next == clock::time_point::max()) return;
  if (timer_.armed()) {
    if (timer_.deadline() <= next) return;  // fires early, then re-arms
    loop_.cancel_timer(timer_);
  }
  loop_.add_timer(timer_, next);
}

template <class Transport>
void basic_connection<Transport>::on_timer(std::error_code ec) {
  if (ec) return;  // the loop is stopping: the socket's operations end every request
  const clock::time_point now = clock::now();
  core_.expire(now);
  if (lifecycle_.state() == state::connected && core_.in_flight() == 0 &&
      now - last_activity_ >= options_.idle_timeout) {
    dispatch(link_event::idle_timeout);
  }
  maybe_finish_drain();
  maybe_retire();
  arm_timer();
}

}  // namespace rmq::net
